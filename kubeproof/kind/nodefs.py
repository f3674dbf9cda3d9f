"""A filesystem of its own for the kubelet of one worker of a kind cluster kubeproof created.

kind's nodes keep /var/lib/kubelet on the host's disk, shared with the runtime's images and every
other writer: the nodefs-pressure scenario cannot fill that (the margin is lost in the disk's size
and the fill would reach the host), so it skips there. A throwaway cluster is kubeproof's own, so
its last worker gets a small loop-mounted ext4 at its kubelet directory: the kubelet is stopped,
its pods' sandboxes and volume mounts removed, the directory's content copied onto the new
filesystem, that mounted in its place and the kubelet started again (it recreates its pods). The
image file lives in the node's /var and the mount in the node's mount namespace: both go with the
cluster (`mount -o loop` frees the loop device when the node's namespace goes). Idempotent.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from typing import Callable

from ..errors import KubeproofError

SIZE = "1G"  # a few times what the scenario fills; mkfs -m 0 so df and statvfs agree
IMAGE = "/var/lib/kubeproof-nodefs.img"
KUBELET_DIR = "/var/lib/kubelet"
MOVED = "moved"

# The filesystem is made and mounted aside before the kubelet stops: a node image without
# mkfs.ext4 or a host without loop devices leaves the node as it was. Once stopped, the kubelet
# starts again whatever happens.
SCRIPT = f"""
set -e
[ "$(findmnt -n -o TARGET --target {KUBELET_DIR})" != {KUBELET_DIR} ] || exit 0
truncate -s {SIZE} {IMAGE}
mkfs.ext4 -q -F -m 0 {IMAGE}
staging=$(mktemp -d)
mount -o loop {IMAGE} "$staging"
trap 'set +e; umount "$staging" 2>/dev/null; rmdir "$staging"; systemctl start kubelet' EXIT
systemctl stop kubelet
# Right after kind create, a container still starting cannot be removed yet.
for _ in $(seq 30); do crictl rmp --force --all >/dev/null 2>&1 && break; sleep 1; done
crictl rmp --force --all >/dev/null
findmnt -rn -o TARGET | grep '^{KUBELET_DIR}/' | sort -r | xargs -r umount
cp -a {KUBELET_DIR}/. "$staging"/
umount "$staging"
mount -o loop {IMAGE} {KUBELET_DIR}
echo {MOVED}
"""


def give_own_filesystem(engine: str, container: str) -> bool:
    """Move the node's kubelet directory onto a filesystem of its own; False when it already was."""
    done = subprocess.run([engine, "exec", container, "sh", "-c", SCRIPT], capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        # podman prints warnings of its own (level=warning) before the script's error.
        said = [line for line in (done.stderr + done.stdout).splitlines() if line.strip() and "level=warning" not in line]
        why = said[-1] if said else f"exit {done.returncode}"
        raise KubeproofError(f"{container}: a filesystem of its own for {KUBELET_DIR} failed: {why}")
    return MOVED in done.stdout.split()


def wait_pods_back(api, node: str, since: datetime, say: Callable[[str], None], timeout: float = 240) -> None:
    """Until the node is schedulable as scenarios judge it (Ready, untainted) and every pod bound to
    it runs ready again in containers the kubelet started after since. Right after the move the API
    still shows the statuses from before it (the kubelet has not reported yet): ready, and the node
    about to turn NotReady while its CNI agent restarts. The node lifecycle controller lifts the
    not-ready taint only after the node reads Ready again: in between, no pod may be scheduled there."""
    from ..kube import client as kube_client
    from ..kube.nodes import unschedulable
    from ..times import parse_time
    from ..waiting import wait_for

    def started_again(container: dict) -> bool:
        started = parse_time((container.get("state", {}).get("running") or {}).get("startedAt"))
        return bool(container.get("ready") and started and started >= since)

    def not_back() -> list[str]:
        state = kube_client.get_json(api, f"/api/v1/nodes/{node}") or {}
        pods = kube_client.get_json(api, "/api/v1/pods", [("fieldSelector", f"spec.nodeName={node}")]) or {}
        return [f"node {why}" for why in unschedulable(state)] + [
            f"pod {p['metadata']['name']} not running again" for p in pods.get("items") or []
            if not all(map(started_again, p.get("status", {}).get("containerStatuses") or [{}]))]

    wait_for(f"{node} and its pods back after its kubelet moved to a filesystem of its own", not_back,
             until=lambda left: not left, timeout=timeout, interval=2, progress=lambda line: say(f"kubeproof: {line}"))
