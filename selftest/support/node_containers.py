"""A Debian bookworm "node" image built locally, and node containers that run systemd as PID 1.

No image registry is reachable on the development and CI machines, so the image is built from a
debootstrap rootfs and `docker import`ed. The build takes ~40 s; it happens once per machine and
recipe: the image carries a hash of the recipe in a label, and a file lock keeps parallel xdist
workers from building it twice.

`docker run --privileged` fails on these machines (no CAP_SYS_RESOURCE in the bounding set), so
node containers get the flags measured in docs/lab.md instead: every capability but that one,
no seccomp/apparmor confinement, the host's cgroup tree bound read-write, tmpfs for /run and /tmp.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

IMAGE = "kubeproof-selftest-node:bookworm"
RECIPE_LABEL = "kubeproof.recipe"
CONTAINER_PREFIX = "kubeproof-selftest-"
CONTAINER_LABEL = "kubeproof.selftest=1"

RECIPE = {
    "debootstrap": ["--variant=minbase", "--include=systemd,systemd-sysv,procps,iproute2,dbus", "bookworm"],
    # What a node never needs; dropping it takes the image from ~200 MB to ~75 MB.
    "strip": ["var/lib/apt/lists/*", "var/cache/apt/*", "usr/share/doc/*", "usr/share/locale/*",
              "usr/share/man/*"],
    "changes": ['CMD ["/sbin/init"]', "ENV container=docker"],
}
RECIPE_HASH = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]

# docs/lab.md: systemd as PID 1 without --privileged, in under a second.
NODE_RUN_FLAGS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
    "--stop-signal", "SIGRTMIN+3",
)


def docker(*args: str, input: bytes | None = None, check: bool = True,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the docker CLI; on failure raise with docker's own message, not a bare exit status."""
    proc = subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {args[0]} failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def ensure_image() -> str:
    """The node image's tag, built first if this machine has no image of the current recipe."""
    lock = Path(tempfile.gettempdir()) / "kubeproof-selftest-node-image.lock"
    with FileLock(str(lock)):
        if _cached_recipe() != RECIPE_HASH:
            build_image()
    return IMAGE


def _cached_recipe() -> str | None:
    proc = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}',
                  IMAGE, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def build_image() -> None:
    # /var/tmp, not /tmp: the rootfs is ~200 MB and /tmp may be a small tmpfs.
    rootfs = Path(tempfile.mkdtemp(prefix="kubeproof-rootfs-", dir="/var/tmp"))
    try:
        subprocess.run(["debootstrap", *RECIPE["debootstrap"], str(rootfs)], check=True,
                       capture_output=True, timeout=900)
        for pattern in RECIPE["strip"]:
            for path in glob.glob(str(rootfs / pattern)):
                _remove(path)
        _import(rootfs)
    finally:
        _remove_rootfs(rootfs)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def _import(rootfs: Path) -> None:
    changes = [*RECIPE["changes"], f"LABEL {RECIPE_LABEL}={RECIPE_HASH}"]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        subprocess.run(["docker", "import", *(a for c in changes for a in ("--change", c)), "-", IMAGE],
                       stdin=tar.stdout, check=True, capture_output=True, timeout=300)
    finally:
        tar.stdout.close()
        tar.wait()


def _remove_rootfs(rootfs: Path) -> None:
    # An interrupted debootstrap leaves /proc and /sys mounted inside the rootfs: unmount them
    # first so that the removal never descends into the host's own proc or sys.
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{rootfs}/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    shutil.rmtree(rootfs, ignore_errors=True)


def container_name() -> str:
    return f"{CONTAINER_PREFIX}{uuid.uuid4().hex[:10]}"


def start_node(image: str, name: str, extra_args: Sequence[str] = (), *,
               ready_timeout: float = 30) -> str:
    """Start a node container running systemd; return once `docker exec NAME true` answers.

    extra_args go to `docker run` before the image (e.g. "--ulimit", "nofile=1024:1024",
    "--hostname", "node-a", "-v", "/dir:/var/lib/kubelet"). If the container never answers it is
    removed and the error carries its last log lines.
    """
    docker("run", "-d", "--name", name, "--label", CONTAINER_LABEL, *NODE_RUN_FLAGS, *extra_args,
           image, "/sbin/init")
    deadline = time.monotonic() + ready_timeout
    while docker("exec", name, "true", check=False).returncode != 0:
        if time.monotonic() > deadline:
            logs = docker("logs", "--tail", "20", name, check=False)
            remove_node(name)
            raise RuntimeError(f"node container {name} not ready after {ready_timeout:g} s: "
                               f"{(logs.stdout + logs.stderr).decode(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return name


def remove_node(name: str) -> None:
    """Remove a node container and its anonymous volumes; absent already is fine."""
    proc = docker("rm", "-f", "-v", name, check=False)
    if proc.returncode != 0 and b"No such container" not in proc.stderr:
        raise RuntimeError(f"docker rm {name} failed: {proc.stderr.decode(errors='replace').strip()}")


def put_file(name: str, path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file inside a running node container, creating its directory."""
    if isinstance(data, str):
        data = data.encode()
    script = 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"'
    docker("exec", "-i", name, "sh", "-c", script, "put_file", path, f"{mode:o}", input=data)
