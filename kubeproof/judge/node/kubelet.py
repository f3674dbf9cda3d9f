"""The kubelet as its facts show it: whether the node has one, its effective flags, its directories.

The running kubelet's command line is the truth; while it is down, the flags configured in its
env files and systemd units stand in (kubeadm-flags.env, /etc/default/kubelet, drop-ins).
"""

from __future__ import annotations

from ...nodes.facts import NodeFacts

DEFAULT_ROOT_DIR = "/var/lib/kubelet"
ABSENT = f"no kubelet on this node (no kubelet process, no kubelet config or flags file, no {DEFAULT_ROOT_DIR})"


def present(facts: NodeFacts) -> bool:
    """A kubelet runs, or is installed and configured, on this node."""
    kubelet = facts.kubelet
    return bool(facts.kubelet_running or kubelet.get("config") is not None
                or kubelet.get("configured_flags") or facts.filesystem(DEFAULT_ROOT_DIR))


def flags(facts: NodeFacts) -> tuple[dict[str, list[str]], str]:
    """(flags, where they come from): the running kubelet's, else the configured files' merged in
    path order (later files override, as systemd drop-ins sorted by name do)."""
    if facts.kubelet_running:
        return facts.kubelet_flags, f"the running kubelet's command line (pid {facts.kubelet['pid']})"
    merged: dict[str, list[str]] = {}
    configured = facts.kubelet.get("configured_flags") or {}
    for path in sorted(configured):
        merged.update(configured[path])
    return merged, ("the kubelet's flag files " + ", ".join(sorted(configured)) if configured
                    else "no kubelet command line or flag file")


def flag(facts: NodeFacts, name: str) -> str | None:
    values = flags(facts)[0].get(name)
    return values[-1] if values else None


def config(facts: NodeFacts) -> tuple[dict | None, str]:
    """(the KubeletConfiguration read from the node or None, its path)."""
    return facts.kubelet_config, facts.kubelet.get("config_path") or "/var/lib/kubelet/config.yaml"


def root_dir(facts: NodeFacts) -> str:
    return flag(facts, "root-dir") or DEFAULT_ROOT_DIR


def runtime_endpoint(facts: NodeFacts) -> str | None:
    """--container-runtime-endpoint, else containerRuntimeEndpoint of the config, else None."""
    configured = config(facts)[0] or {}
    return flag(facts, "container-runtime-endpoint") or configured.get("containerRuntimeEndpoint")
