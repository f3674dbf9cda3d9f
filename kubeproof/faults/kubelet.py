"""Edit the kubelet's config file on a node and restart it; the original comes back byte for byte.

kind writes /var/lib/kubelet/config.yaml at `kubeadm join` and ignores per-worker kubelet patches,
so the file in the node is what must change (as upstream's tempSetCurrentKubeletConfig changes
the running kubelet's config). The journal restores the file first, then restarts the kubelet.
"""

from __future__ import annotations

from typing import Callable

import yaml

from ..errors import FaultError
from ..waiting import wait_for
from . import files
from .journal import Journal
from .node import NodeShell

ROOT_DIR = "/var/lib/kubelet"
CONFIG = f"{ROOT_DIR}/config.yaml"


def read_config(node: NodeShell) -> dict:
    config = yaml.safe_load(node.read(CONFIG))
    if not isinstance(config, dict):
        raise FaultError(f"node {node.name}: {CONFIG} is not a KubeletConfiguration")
    return config


def reconfigure(journal: Journal, change: Callable[[dict], None], *, timeout: float = 120) -> dict:
    """Apply change to the node's kubelet config, restart the kubelet, wait until it is healthy.

    Returns the new config. The journal holds the backup and the restart, so `journal.undo()`
    followed by `wait_healthy` restores the kubelet as it was.
    """
    node = journal.node
    config = read_config(node)
    change(config)
    journal.record("restart", "kubelet")  # undone after the restore recorded below
    files.replace(journal, CONFIG, yaml.safe_dump(config, sort_keys=False).encode())
    restart(node, timeout=timeout)
    return config


def restart(node: NodeShell, *, timeout: float = 120) -> None:
    node.check("systemctl restart kubelet", what="restart the kubelet")
    wait_healthy(node, timeout=timeout)


def wait_healthy(node: NodeShell, *, timeout: float = 120) -> None:
    """Until the kubelet's own healthz answers ok (its address and port from its config)."""
    config = read_config(node)
    address = config.get("healthzBindAddress") or "127.0.0.1"
    port = config.get("healthzPort", 10248)
    wait_for(f"node {node.name}: kubelet healthz", lambda: node.run(
        f"curl -fsS --max-time 2 http://{address}:{port}/healthz", timeout=10).stdout.strip(),
        until=lambda answer: answer == "ok", timeout=timeout)
