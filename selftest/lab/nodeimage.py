"""The lab's kind node image, assembled the way `kind build node-image` assembles one.

kind's base image (images/base/Dockerfile) downloads containerd, runc, crictl and the CNI plugins
from GitHub, and `kind build node-image` pulls images from registries: neither is reachable here.
So the node image is put together from the same parts, offline:

- kind's base files (entrypoint, systemd units, containerd config) taken from the kind module;
- Debian's containerd 1.6, runc and CNI plugins in place of kind's builds;
- kubeadm, kubelet and kubectl from the lab's build, /kind/version;
- every image the node runs imported into containerd's store as kind does it
  (`ctr images import --no-unpack`, pinned), so nothing is ever pulled;
- kind's default CNI manifest replaced by the lab CNI (files/lab-cni.yaml): kindnetd's source is
  not on the module proxy.

One change is for this machine, not for kind: containerd restricts oom_score_adj (see docs/lab.md).
"""

from __future__ import annotations

import hashlib
import json
import os
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


def _recipe(archives: list[Path]) -> str:
    parts = [str(images.rootfs("node")), *(a.name for a in archives), Path(__file__).read_text(),
             (pins.FILES / "lab-cni.yaml").read_text(),
             *(f"{n}:{(pins.BIN / n).stat().st_mtime_ns}" for n in ("kubeadm", "kubelet", "kubectl", "crictl"))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def current_recipe() -> str | None:
    proc = subprocess.run(["podman", "image", "inspect", "--format",
                           f'{{{{index .Labels "{IMAGE_LABEL}"}}}}', pins.NODE_IMAGE],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_node_image() -> str:
    archives = images.ensure_archives()
    recipe = _recipe(archives)
    if current_recipe() != recipe:
        _build(archives, recipe)
    return pins.NODE_IMAGE


def _copy_kind_base_files(root: Path) -> None:
    files = kind_source() / "images" / "base" / "files"
    for source in files.rglob("*"):
        if source.is_file():
            target = root / source.relative_to(files)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            executable = "bin" in source.relative_to(files).parts
            target.chmod(0o755 if executable else 0o644)


def _link(root: Path, path: str, target: str) -> None:
    link = root / path.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def _configure(root: Path) -> None:
    """What kind's base Dockerfile does after installing packages."""
    config = root / "etc/containerd/config.toml"
    # runc cannot write a negative oom_score_adj without CAP_SYS_RESOURCE, which this machine's
    # containers never get: containerd must clamp it (kind does the same for rootless nodes).
    config.write_text(config.read_text().replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true"))
    _link(root, "/usr/local/bin/containerd", "/usr/bin/containerd")
    for plugin in ("host-local", "loopback", "ptp", "portmap", "bridge"):
        _link(root, f"/opt/cni/bin/{plugin}", f"/usr/lib/cni/{plugin}")
    spec = json.loads(subprocess.run(["chroot", str(root), "ctr", "oci", "spec"], capture_output=True,
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


def _install_kubernetes(root: Path) -> None:
    for name in ("kubeadm", "kubelet", "kubectl"):
        shutil.copy2(pins.BIN / name, root / "usr/bin" / name)
    shutil.copy2(pins.BIN / "crictl", root / "usr/local/bin/crictl")
    (root / "kind/version").write_text(pins.KUBERNETES)
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
        config.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        daemon = subprocess.Popen([str(root / "usr/bin/containerd"), "--config", str(config),
                                   "--root", str(root / "var/lib/containerd"), "--state", f"{state}/state",
                                   "--address", socket], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ctr = [str(root / "usr/bin/ctr"), "--address", socket, "--namespace", "k8s.io"]
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


def _build(archives: list[Path], recipe: str) -> None:
    say(f"assembling node image {pins.NODE_IMAGE} ...")
    started = time.monotonic()
    work = pins.CACHE / "node-build"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["cp", "-a", str(images.rootfs("node")), str(work)], check=True)
    try:
        _copy_kind_base_files(work)
        _configure(work)
        _install_kubernetes(work)
        _import_images(work, archives)
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "-C", str(work), "-c", "."],
                               stdout=subprocess.PIPE)
        subprocess.run(["podman", "import",
                        "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]',
                        "--change", "ENV container=docker", "--change", "STOPSIGNAL SIGRTMIN+3",
                        "--change", f"LABEL {IMAGE_LABEL}={recipe}", "-", pins.NODE_IMAGE],
                       stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL, env={**os.environ, **podman.env()})
        tar.stdout.close()
        if tar.wait() != 0:
            raise SystemExit("lab: tar of the node rootfs failed")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"node image ready in {time.monotonic() - started:.0f} s")
