"""A filesystem of its own for one lab worker's kubelet: the nodefs-pressure scenario fills it, not the host.

kind's nodes keep /var/lib/kubelet on the host's disk, shared with the runtime's images and every
other writer; a scenario filling that disk proves nothing (the margin is lost in 250 GB) and
endangers the machine. `ensure` gives the last worker a small loop-mounted ext4 at its kubelet root
directory, once: the kubelet is stopped, its pods' sandboxes and volume mounts removed, the
directory's content copied onto the new filesystem, the filesystem mounted in its place and the
kubelet started again (it recreates its pods' sandboxes). The image file lives in the node's /var
and the loop mount in the node's mount namespace: both go with the cluster. Idempotent.

`python -m selftest.lab.nodefs NAME` runs it for cluster NAME.
"""

from __future__ import annotations

import subprocess
import sys

from .cluster import run_env
from .progress import say

SIZE = "1G"  # a few times what the scenario fills; mkfs -m 0 so df and statvfs agree (LAB-NOTES)
IMAGE = "/var/lib/kubeproof-lab-nodefs.img"
KUBELET_DIR = "/var/lib/kubelet"

SCRIPT = f"""
set -e
[ "$(findmnt -n -o TARGET --target {KUBELET_DIR})" != {KUBELET_DIR} ] || exit 0
systemctl stop kubelet
crictl rmp --force --all >/dev/null
findmnt -rn -o TARGET | grep '^{KUBELET_DIR}/' | sort -r | xargs -r umount
truncate -s {SIZE} {IMAGE}
mkfs.ext4 -q -F -m 0 {IMAGE}
staging=$(mktemp -d)
mount -o loop {IMAGE} "$staging"
cp -a {KUBELET_DIR}/. "$staging"/
umount "$staging" && rmdir "$staging"
mount -o loop {IMAGE} {KUBELET_DIR}
systemctl start kubelet
echo moved
"""


def ensure(cluster: str) -> str:
    """The worker whose kubelet has a filesystem of its own (made now if need be)."""
    node = f"{cluster}-worker2"  # the last worker: scenarios pick the first one for everything else
    done = subprocess.run(["podman", "exec", node, "sh", "-c", SCRIPT], env=run_env(), capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"lab: {node}: a filesystem of its own for the kubelet failed: "
                         f"{(done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]}")
    if "moved" in done.stdout:
        say(f"{node}: {KUBELET_DIR} now on its own {SIZE} ext4 ({IMAGE}); the kubelet recreates its pods")
    return node


if __name__ == "__main__":
    ensure(sys.argv[1] if len(sys.argv) > 1 else "kubeproof-lab")
