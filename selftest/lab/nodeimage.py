"""The lab's kind node image, assembled the way `kind build node-image` assembles one.

kind's base image (images/base/Dockerfile) downloads containerd, runc, crictl and the CNI plugins
from GitHub, and `kind build node-image` pulls images from registries: neither is reachable here.
So the node image is put together from the same parts, offline:

- kind's base files (entrypoint, systemd units, containerd config) taken from the kind module;
- containerd 2, runc, the CNI plugins and crictl at kind's own pins, built by the lab (pins.py),
  installed where kind's base image puts them; kind's containerd config (version 2) rewritten by
  that containerd's own `containerd config migrate`, as a containerd 2 node carries it;
- kubeadm, kubelet and kubectl of the release from the lab's build, /kind/version;
- every image the node runs imported into containerd's store as kind does it
  (`ctr images import --no-unpack`, pinned), so nothing is ever pulled;
- kind's default CNI manifest replaced by the lab CNI (files/lab-cni.yaml): kindnetd's source is
  not on the module proxy.

Two changes are for this machine, not for kind (docs/lab.md): containerd restricts oom_score_adj,
and kubelets from 1.35 on get `failCgroupV1: false` in a drop-in of their --config-dir (this host
is cgroup v1).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from . import images, pins, podman
from .progress import say

IMAGE_LABEL = "kubeproof.lab.recipe"


def kind_source() -> Path:
    out = subprocess.run(["go", "mod", "download", "-json", "sigs.k8s.io/kind"], cwd=pins.GO_DIR / "kind",
                         capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["Dir"])


KUBELET_BINARIES = ("kubeadm", "kubelet", "kubectl")
# Where kind's base image (images/base/Dockerfile) installs the runtime it builds.
RUNTIME_PLACES = {"containerd": "/usr/local/bin", "ctr": "/usr/local/bin", "containerd-shim-runc-v2": "/usr/local/bin",
                  "crictl": "/usr/local/bin", "runc": "/usr/local/sbin",
                  **{plugin: "/opt/cni/bin" for plugin in pins.CNI_PLUGINS_IN}}
# The kubelet's drop-in directory on every lab node of a release that has one GA (1.35, KEP-3983).
DROP_IN_DIR = "/etc/kubernetes/kubelet.conf.d"
CGROUP_V1_DROP_IN = f"{DROP_IN_DIR}/10-kubeproof-lab-cgroup-v1.conf"


def _binaries(release: pins.Release) -> list[Path]:
    return [*(release.bin / n for n in KUBELET_BINARIES), *(pins.BIN / n for n in RUNTIME_PLACES)]


def _cgroup_v1_host() -> bool:
    return not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def has_drop_in_dir(release: pins.Release) -> bool:
    """The kubelet's --config-dir is GA from 1.35 (KEP-3983): lab nodes of those releases use it."""
    return tuple(map(int, release.minor.split("."))) >= (1, 35)


def _fails_on_cgroup_v1(release: pins.Release) -> bool:
    """From 1.35 the kubelet refuses a cgroup v1 host unless failCgroupV1 is false (KEP-5573)."""
    return has_drop_in_dir(release) and _cgroup_v1_host()


def _recipe(release: pins.Release, archives: list[Path]) -> str:
    parts = [str(images.rootfs("node")), *(a.name for a in archives), Path(__file__).read_text(),
             (pins.FILES / "lab-cni.yaml").read_text(), str(_fails_on_cgroup_v1(release)),
             *(f"{p}:{p.stat().st_mtime_ns}" for p in _binaries(release))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def current_recipe(release: pins.Release) -> str | None:
    proc = subprocess.run(["podman", "image", "inspect", "--format",
                           f'{{{{index .Labels "{IMAGE_LABEL}"}}}}', release.node_image],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_node_image(release: pins.Release) -> str:
    archives = images.ensure_archives(release)
    recipe = _recipe(release, archives)
    if current_recipe(release) != recipe:
        _build(release, archives, recipe)
    return release.node_image


def _copy_kind_base_files(root: Path) -> None:
    files = kind_source() / "images" / "base" / "files"
    for source in files.rglob("*"):
        if source.is_file():
            target = root / source.relative_to(files)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            executable = "bin" in source.relative_to(files).parts
            target.chmod(0o755 if executable else 0o644)


def _install_runtime(root: Path, release: pins.Release) -> None:
    for name, directory in RUNTIME_PLACES.items():
        target = root / directory.lstrip("/") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pins.BIN / name, target)
    config = root / "etc/containerd/config.toml"
    # containerd 2 reads kind's version 2 file by migrating it at every start; a containerd 2
    # node carries the migrated form, which is what the storage-driver judge must read.
    migrated = subprocess.run([str(pins.BIN / "containerd"), "--config", str(config), "config", "migrate"],
                              capture_output=True, text=True, check=True).stdout
    # runc cannot write a negative oom_score_adj without CAP_SYS_RESOURCE, which this machine's
    # containers never get: containerd must clamp it (kind does the same for rootless nodes).
    migrated = migrated.replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")
    # The pod sandbox is the pause kubeadm lists for the release, the one the lab builds (kind
    # instead loads the one its base config names, 3.10, which the lab does not make).
    config.write_text(re.sub(r"(?m)^(\s*sandbox = )'registry\.k8s\.io/pause:[^']*'$",
                             rf"\1'registry.k8s.io/pause:{release.pause}'", migrated))


def _drop_in_dir(root: Path, release: pins.Release) -> None:
    """The kubelet's drop-in directory, and in it the lab-only patch of a kubelet >= 1.35 on this
    cgroup v1 host (a real node never gets it: docs/lab.md says what fails without it)."""
    (root / DROP_IN_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    # kind's own place for extra kubelet flags (10-kubeadm.conf reads it as KUBELET_EXTRA_ARGS).
    defaults = root / "etc/default/kubelet"
    defaults.write_text(defaults.read_text().rstrip("\n") + f" --config-dir={DROP_IN_DIR}\n")
    if _fails_on_cgroup_v1(release):
        (root / CGROUP_V1_DROP_IN.lstrip("/")).write_text(
            "# kubeproof lab only: this host mounts cgroup v1 (docs/lab.md)\n"
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfailCgroupV1: false\n")


def _configure(root: Path) -> None:
    """What kind's base Dockerfile does after installing packages."""
    spec = json.loads(subprocess.run(["chroot", str(root), "/usr/local/bin/ctr", "oci", "spec"], capture_output=True,
                                     text=True, check=True).stdout)
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
    spec["process"].pop("rlimits", None)
    (root / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2))
    for pattern in ("lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
                    "lib/systemd/system/multi-user.target.wants/*", "etc/systemd/system/*.wants/*",
                    "lib/systemd/system/local-fs.target.wants/*", "lib/systemd/system/sockets.target.wants/*udev*",
                    "lib/systemd/system/sockets.target.wants/*initctl*", "lib/systemd/system/basic.target.wants/*"):
        for path in root.glob(pattern):
            path.unlink()
    with open(root / "etc/systemd/journald.conf", "a") as journald:
        journald.write("ReadKMsg=no\n")
    subprocess.run(["systemctl", f"--root={root}", "enable", "kubelet.service", "containerd.service",
                    "undo-mount-hacks.service"], check=True, capture_output=True)
    subprocess.run(["systemctl", f"--root={root}", "mask", "systemd-binfmt.service"], check=True, capture_output=True)
    (root / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    # On this cgroup v1 host, controllers systemd does not manage (hugetlb, net_cls, perf_event)
    # get a hierarchy once any container's systemd mounts them (the selftests' Docker nodes do);
    # a node started after that has them mounted without a kubelet.slice, and the kubelet refuses
    # to start: 'cgroup ["kubelet"] has some missing paths: /sys/fs/cgroup/hugetlb/kubelet.slice'.
    (root / "etc/systemd/system/kubelet.service.d/20-kubeproof-lab.conf").write_text(
        "[Service]\nExecStartPre=/bin/sh -c 'if [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then "
        "for c in /sys/fs/cgroup/*/; do [ -d \"$c/kubelet.slice\" ] || mkdir -p \"$c/kubelet.slice\"; done; fi'\n")
    # kind's entrypoint regenerates /etc/machine-id with systemd-machine-id-setup, which copies
    # D-Bus's id when there is one: debootstrap left one, and every node would share it.
    for path in ("var/lib/dbus/machine-id", "etc/machine-id"):
        (root / path).unlink(missing_ok=True)


def _install_kubernetes(root: Path, release: pins.Release) -> None:
    for name in KUBELET_BINARIES:
        shutil.copy2(release.bin / name, root / "usr/bin" / name)
    (root / "kind/version").write_text(release.kubernetes)
    if has_drop_in_dir(release):
        _drop_in_dir(root, release)
    manifests = root / "kind/manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    # No default-storage.yaml: kind then falls back to a host-path StorageClass that runs no
    # provisioner pod (its local-path-provisioner image is not buildable offline here).
    shutil.copyfile(pins.FILES / "lab-cni.yaml", manifests / "default-cni.yaml")


def _import_images(root: Path, archives: list[Path]) -> None:
    """Fill the node's containerd store with the node's own containerd, run here for a moment."""
    with tempfile.TemporaryDirectory(prefix="kubeproof-lab-containerd-") as state:
        socket = f"{state}/containerd.sock"
        config = Path(state) / "config.toml"
        # Only the content and metadata stores are needed; the CRI plugin would start its own world.
        config.write_text('version = 3\ndisabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", '
                          '"io.containerd.cri.v1.runtime"]\n')
        daemon = subprocess.Popen([str(root / "usr/local/bin/containerd"), "--config", str(config),
                                   "--root", str(root / "var/lib/containerd"), "--state", f"{state}/state",
                                   "--address", socket], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ctr = [str(root / "usr/local/bin/ctr"), "--address", socket, "--namespace", "k8s.io"]
            for _ in range(100):
                if subprocess.run([*ctr, "version"], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            for archive in archives:
                subprocess.run([*ctr, "images", "import", "--label=io.cri-containerd.pinned=pinned",
                                "--all-platforms", "--no-unpack", "--digests", str(archive)],
                               check=True, capture_output=True)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)


def _build(release: pins.Release, archives: list[Path], recipe: str) -> None:
    say(f"assembling node image {release.node_image} ...")
    started = time.monotonic()
    work = pins.CACHE / "node-build"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["cp", "-a", str(images.rootfs("node")), str(work)], check=True)
    try:
        _copy_kind_base_files(work)
        _install_runtime(work, release)
        _configure(work)
        _install_kubernetes(work, release)
        _import_images(work, archives)
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "-C", str(work), "-c", "."],
                               stdout=subprocess.PIPE)
        subprocess.run(["podman", "import",
                        "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                        "--change", "ENV container=docker", "--change", "STOPSIGNAL SIGRTMIN+3",
                        "--change", f"LABEL {IMAGE_LABEL}={recipe}", "-", release.node_image],
                       stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL, env={**os.environ, **podman.env()})
        tar.stdout.close()
        if tar.wait() != 0:
            raise SystemExit("lab: tar of the node rootfs failed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"node image ready in {time.monotonic() - started:.0f} s")
