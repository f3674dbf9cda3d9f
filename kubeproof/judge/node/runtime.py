"""Container runtimes on a node: which are there, the storage driver each uses, where it keeps images.

001 §2: docker 1.12 picked its storage driver by priority (aufs, btrfs, zfs, devicemapper, overlay,
vfs); after a kernel upgrade dropped aufs it fell to devicemapper and filled the disk. The failure is
that fall: devicemapper (loop-lvm by default, thin pools that fill), aufs (gone with a kernel
upgrade, whereupon the runtime falls further) and vfs (a full copy of every layer, docker's last
resort), and containerd's devmapper, the same thin pool. Drivers chosen for the filesystem or the
mode are not it: overlay2/overlayfs/overlay, fuse-overlayfs (rootless runtimes, where kernel overlay
is not allowed), btrfs and zfs, and containerd's native snapshotter, which kind configures on zfs
hosts where overlayfs cannot work (kind's node image entrypoint).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...nodes.facts import NodeFacts
from . import kubelet
from ..judgement import Findings, Judgement

FAILURE_IDS = ("storage-driver",)  # the catalog entries this module's judges decide

SECTIONS = ("processes", "runtime-config", "docker-info", "docker-root", "containerd-snapshots")
OVERLAY = {"docker": ("overlay2",), "containerd": ("overlayfs",), "cri-o": ("overlay", "overlay2")}
# 001 §2's fall, and where it ends; containerd's devmapper snapshotter is the same device-mapper
# thin pool under containerd's name (docs/snapshotters/devmapper.md), filling as 001's did.
FALLBACK_DRIVERS = ("devicemapper", "devmapper", "aufs", "vfs")
# Directories docker leaves under its root for each graph driver it has used.
DOCKER_DRIVER_DIRS = ("overlay2", "overlay", "devicemapper", "aufs", "vfs", "btrfs", "zfs", "fuse-overlayfs")
# Where containerd's CRI plugin reads the snapshotter (docs/cri/config.md, containerd v2.3.4): version
# 2 configs (containerd 1.x, still read by 2.x) under the grpc CRI plugin, version 3 and later
# (containerd 2.x; 2.3.4's version.ConfigVersion is 4) under the CRI image plugin. Version 1 names
# plugins without the URI (v1MigratePluginName: "cri" is io.containerd.grpc.v1.cri).
CRI_V2_PLUGIN, CRI_IMAGES_PLUGIN, CRI_RUNTIME_PLUGIN = ("io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",
                                                        "io.containerd.cri.v1.runtime")
CONTAINERD_CONFIG_VERSION = 4  # version.ConfigVersion of containerd v2.3.4: configs below it are migrated
# Which runtime a kubelet's --container-runtime-endpoint socket belongs to.
ENDPOINT_RUNTIME = (("containerd", "containerd"), ("crio", "cri-o"), ("cri-dockerd", "docker"),
                    ("dockershim", "docker"), ("docker.sock", "docker"))


@dataclass(frozen=True)
class Runtime:
    name: str               # docker | containerd | cri-o
    running: bool
    drivers: tuple[str, ...]  # the storage driver(s) / snapshotter(s) in effect
    driver_source: str      # where that was read
    root: str               # where it keeps images and container layers (imagefs)
    root_source: str

    def as_dict(self) -> dict:
        return dict(vars(self), drivers=list(self.drivers))


def _running(facts: NodeFacts, comm: str) -> dict | None:
    """The node's own daemon process named comm (not one of a container nested in the node)."""
    return next((p for p in facts.process(comm) if p["node_pid_namespace"]), None)


def _flag(proc: dict | None, *names: str) -> str | None:
    if proc is None:
        return None
    values = [v for n in names for v in proc["flags"].get(n, [])]
    return values[-1] if values else None


def _docker(facts: NodeFacts) -> Runtime | None:
    docker = facts.runtime.get("docker") or {}
    info, daemon_json, entries = docker.get("info"), docker.get("daemon_json"), docker.get("root_entries")
    proc = _running(facts, "dockerd")
    if not (proc or info or daemon_json is not None or entries):  # an empty /var/lib/docker is no docker
        return None
    daemon_json = daemon_json or {}
    if info and info.get("Driver"):
        drivers, source = (info["Driver"],), "docker info (the running daemon)"
    elif driver := _flag(proc, "storage-driver", "s"):
        drivers, source = (driver,), "dockerd --storage-driver"
    elif daemon_json.get("storage-driver"):
        drivers, source = (daemon_json["storage-driver"],), "/etc/docker/daemon.json storage-driver"
    else:  # not pinned: the state directories tell which drivers it has used
        used = tuple(d for d in DOCKER_DRIVER_DIRS if d in (entries or []))
        drivers, source = used, ("the driver directories under /var/lib/docker" if used
                                 else "not determinable (docker not running, driver not pinned)")
    if info and info.get("DockerRootDir"):
        root, root_source = info["DockerRootDir"], "docker info"
    elif flagged := _flag(proc, "data-root", "graph", "g"):
        root, root_source = flagged, "dockerd --data-root"
    elif configured := daemon_json.get("data-root") or daemon_json.get("graph"):
        root, root_source = configured, "/etc/docker/daemon.json data-root"
    else:
        root, root_source = "/var/lib/docker", "docker's default"
    return Runtime("docker", bool(proc or info), drivers, source, root, root_source)


def containerd_snapshotters(config: dict) -> list[tuple[str, str]]:
    """[(snapshotter, where it is set)] the CRI plugin uses by the containerd config: its default
    snapshotter (overlayfs, defaults.DefaultSnapshotter, when none is set), then any a runtime
    handler names for its own pods.

    Below version.ConfigVersion the images plugin's configMigration (plugins/cri/images/plugin.go)
    copies the grpc CRI plugin's containerd.snapshotter over the images plugin's snapshotter: that
    key wins in version 2 and 3 files alike, and is the only one containerd 1.x reads.
    """
    version = config.get("version", 1)
    plugins = config.get("plugins") or {}
    grpc = plugins.get(CRI_V2_PLUGIN if isinstance(version, int) and version >= 2 else "cri") or {}
    old = (grpc.get("containerd") or {}) if isinstance(version, int) and version < CONTAINERD_CONFIG_VERSION else {}
    images = plugins.get(CRI_IMAGES_PLUGIN) or {}
    label = f"/etc/containerd/config.toml (version {version})"
    if old.get("snapshotter"):
        found = [(old["snapshotter"], f"{label} containerd.snapshotter of the {CRI_V2_PLUGIN} plugin")]
    elif images.get("snapshotter"):
        found = [(images["snapshotter"], f"{label} snapshotter of the {CRI_IMAGES_PLUGIN} plugin")]
    else:
        found = [("overlayfs", f"containerd's default snapshotter ({label} sets none)")]
    for plugin in (grpc, plugins.get(CRI_RUNTIME_PLUGIN) or {}):
        for handler, settings in ((plugin.get("containerd") or {}).get("runtimes") or {}).items():
            if isinstance(settings, dict) and settings.get("snapshotter"):  # "" is the default's
                found.append((settings["snapshotter"], f"{label} snapshotter of runtime handler {handler}"))
    return found


def _containerd(facts: NodeFacts) -> Runtime | None:
    containerd = facts.runtime.get("containerd") or {}
    config, snapshots = containerd.get("config"), containerd.get("snapshots") or {}
    proc = _running(facts, "containerd")
    if not (proc or config is not None or snapshots):
        return None
    used = containerd_snapshotters(config if isinstance(config, dict) else {})
    drivers = tuple(dict.fromkeys(name for name, _ in used))
    source = "; ".join(f"{name}: {where}" for name, where in used)
    if flagged := _flag(proc, "root"):
        root, root_source = flagged, "containerd --root"
    elif isinstance(config, dict) and isinstance(config.get("root"), str):
        root, root_source = config["root"], "/etc/containerd/config.toml root"
    else:
        root, root_source = "/var/lib/containerd", "containerd's default"
    return Runtime("containerd", proc is not None, drivers, source, root, root_source)


def _crio(facts: NodeFacts) -> Runtime | None:
    crio = facts.runtime.get("crio") or {}
    config = (crio.get("config") or {}).get("crio", {})
    storage = (crio.get("storage_conf") or {}).get("storage", {})
    proc = _running(facts, "crio")
    if not (proc or crio.get("config") is not None):  # storage.conf alone is podman's as well
        return None
    if driver := config.get("storage_driver"):
        drivers, source = (driver,), "/etc/crio/crio.conf storage_driver"
    elif driver := storage.get("driver"):
        drivers, source = (driver,), "/etc/containers/storage.conf driver"
    else:
        drivers, source = ("overlay",), "containers/storage's default driver"
    root, root_source = ((config["root"], "/etc/crio/crio.conf root") if config.get("root") else
                         (storage["graphroot"], "/etc/containers/storage.conf graphroot")
                         if storage.get("graphroot") else
                         ("/var/lib/containers/storage", "containers/storage's default"))
    return Runtime("cri-o", proc is not None, drivers, source, root, root_source)


def runtimes(facts: NodeFacts) -> list[Runtime]:
    """Every container runtime installed, configured or running on the node."""
    return [r for r in (_docker(facts), _containerd(facts), _crio(facts)) if r is not None]


def kubelet_runtimes(facts: NodeFacts) -> list[Runtime]:
    """The runtime(s) the kubelet uses: the one its endpoint names, else every runtime present."""
    present = runtimes(facts)
    endpoint = kubelet.runtime_endpoint(facts) or ""
    named = next((name for marker, name in ENDPOINT_RUNTIME if marker in endpoint), None)
    chosen = [r for r in present if r.name == named]
    return chosen or present


def storage_driver(facts: NodeFacts) -> Judgement:
    """No runtime stores containers with a fallback driver (devicemapper, aufs, vfs)."""
    found = Findings(SECTIONS, facts)
    present = runtimes(facts)
    found.judged["runtimes"] = [r.as_dict() for r in present]
    found.judged.update(failing=FALLBACK_DRIVERS, preferred=OVERLAY)
    if not present:
        return found.nothing("no container runtime on this node (no dockerd, containerd or crio "
                             "process, config file or state directory)")
    judged = [r for r in present if r.drivers]
    if not judged:
        return found.nothing("the storage driver of " + ", ".join(r.name for r in present)
                             + " is not determinable: not running and not pinned in a config file")
    for r in judged:
        found.problems += [f"{r.name} storage driver {driver} (from {r.driver_source}) is a fallback driver "
                           f"(001 §2: it fills the disk); pin {OVERLAY[r.name][0]}"
                           for driver in r.drivers if driver in FALLBACK_DRIVERS]
    return found.verdict()
