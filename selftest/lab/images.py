"""Container images without a registry: root filesystems from Debian, image archives written here.

Component images are docker-archive tarballs (what `docker save` writes) holding one layer each,
named exactly as kubeadm lists them, so containerd in the node finds them by the names the kubelet
asks for and never tries to pull. Root filesystems come from debootstrap and are cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import pins
from .progress import say

DEBIAN_MIRROR = "http://deb.debian.org/debian"
# What no image needs; dropping it halves a rootfs.
STRIP = ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/locale", "usr/share/man",
         "usr/share/info")

ROOTFS_PACKAGES = {
    # kind's base image (images/base/Dockerfile); containerd, runc and the CNI plugins are the
    # lab's builds of kind's own pins (nodeimage.py), libseccomp2 is what runc links.
    "node": ("systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount",
             "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq", "procps",
             "openssl", "psmisc", "e2fsprogs"),
    # kube-proxy's, the lab CNI's and the scenarios' userland: iptables for the proxy, ip for
    # routes, python3 for servers a scenario loads.
    "tools": ("iptables", "nftables", "conntrack", "iproute2", "python3-minimal", "procps"),
    # The base of kubeproof's own image (`kubeproof image --base`, selftest/live/test_in_cluster_live.py):
    # a Python the wheel's dependencies install for.
    "kubeproof": ("python3",),
}


def rootfs(name: str) -> Path:
    """A cached debootstrap of bookworm with the named package set."""
    packages = ROOTFS_PACKAGES[name]
    key = hashlib.sha256(" ".join(packages).encode()).hexdigest()[:12]
    target = pins.CACHE / f"rootfs-{name}-{key}"
    if target.exists():
        return target
    partial = target.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(f"debootstrap bookworm for the {name} rootfs ...")
    started = time.monotonic()
    subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", "bookworm",
                    str(partial), DEBIAN_MIRROR], check=True, stdout=subprocess.DEVNULL)
    for path in STRIP:
        for child in (partial / path).glob("*"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    partial.rename(target)
    say(f"{name} rootfs ready in {time.monotonic() - started:.0f} s")
    return target


@dataclass
class Image:
    ref: str
    entrypoint: list[str]
    files: dict[str, Path] = field(default_factory=dict)  # path in the image -> file here
    base: str | None = None   # a rootfs name: the layer starts from it
    links: dict[str, str] = field(default_factory=dict)   # path in the image -> symlink target
    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    cmd: list[str] | None = None  # like busybox's image: no entrypoint, so a pod's args are the command


def _layer(image: Image) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if image.base:
            tar.add(rootfs(image.base), arcname=".")
        for directory in ("tmp", "etc"):
            if not image.base:
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
                tar.addfile(info)
        for inside, here in image.files.items():
            tar.add(here, arcname=inside.lstrip("/"))
        for inside, target in image.links.items():
            info = tarfile.TarInfo(inside.lstrip("/"))
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def write_archive(image: Image, out: Path) -> None:
    """A docker-archive tarball (manifest.json, config, one layer), as `docker save` writes it."""
    layer = _layer(image)
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": image.entrypoint or None, "Cmd": image.cmd, "Env": list(image.env)},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "kubeproof lab (selftest/lab/images.py)"}],
    }).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [image.ref],
                            "Layers": [f"{layer_digest}/layer.tar"]}]).encode()
    with tarfile.open(out, "w") as tar:
        for name, data in ((f"{layer_digest}/layer.tar", layer), (config_name, config),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _control_plane(release: pins.Release, name: str) -> Image:
    return Image(f"registry.k8s.io/{name}:{release.kubernetes}", [f"/usr/local/bin/{name}"],
                 {f"/usr/local/bin/{name}": release.bin / name})


def _busybox_links() -> dict[str, str]:
    applets = subprocess.run(["busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    return {f"/bin/{applet}": "busybox" for applet in applets if applet != "busybox"}


def images(release: pins.Release) -> list[Image]:
    """Every image a lab node of this release holds: kubeadm's list, the lab CNI's and the scenarios'."""
    return [
        *(_control_plane(release, n) for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")),
        # kube-proxy programs iptables: it needs the userland beside it, as upstream's image has.
        Image(f"registry.k8s.io/kube-proxy:{release.kubernetes}", ["/usr/local/bin/kube-proxy"],
              {"/usr/local/bin/kube-proxy": release.bin / "kube-proxy"}, base="tools"),
        Image(f"registry.k8s.io/etcd:{release.etcd}", ["/usr/local/bin/etcd"],
              {"/usr/local/bin/etcd": release.bin / "etcd"}),
        Image(f"registry.k8s.io/coredns/coredns:{release.coredns}", ["/coredns"], {"/coredns": release.bin / "coredns"}),
        Image(f"registry.k8s.io/pause:{release.pause}", ["/pause"], {"/pause": release.bin / "pause"}),
        Image(pins.TOOLS_IMAGE, [], {"/usr/local/bin/kubectl": release.bin / "kubectl"}, base="tools", cmd=["sh"]),
        Image(pins.BUSYBOX_IMAGE, [], {"/bin/busybox": Path(shutil.which("busybox") or "/bin/busybox")},
              links=_busybox_links(), cmd=["sh"]),
    ]


def component_refs(release: pins.Release) -> list[str]:
    return [image.ref for image in images(release)]


def ensure_archives(release: pins.Release) -> list[Path]:
    """The image archives, rewritten when a binary or rootfs behind them changed."""
    out_dir = pins.CACHE / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    archives = []
    for image in images(release):
        inputs = [*image.files.values(), *([rootfs(image.base)] if image.base else [])]
        key = hashlib.sha256(json.dumps([image.ref, image.entrypoint, image.cmd, sorted(image.links),
                                         [f"{p}:{p.stat().st_mtime_ns}" for p in inputs]]).encode()).hexdigest()[:12]
        out = out_dir / f"{image.ref.replace('/', '_').replace(':', '_')}-{key}.tar"
        if not out.exists():
            say(f"image {image.ref}")
            write_archive(image, out)
        archives.append(out)
    return archives
