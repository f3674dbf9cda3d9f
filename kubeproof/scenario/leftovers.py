"""Step 8, nothing left: no object labelled with the scenario, and every node it faulted with the
kubelet config, images and journals it had before."""

from __future__ import annotations

from dataclasses import dataclass

from ..faults.cluster import SCENARIO_LABEL, Cluster
from ..faults.node import NodeShell

JOURNALS = "/var/lib/kubeproof/journal"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
_STATE = (f"sha256sum {KUBELET_CONFIG} 2>/dev/null | cut -d' ' -f1; echo @@; "
          f"crictl images -q 2>/dev/null | sort; echo @@; ls {JOURNALS} 2>/dev/null; true")


@dataclass(frozen=True)
class NodeState:
    """What a fault on a node must leave as it found it."""
    kubelet_config: str  # sha256 of the kubelet's config file, "" without one
    images: frozenset[str]
    journals: frozenset[str]

    def changes(self, now: "NodeState") -> list[str]:
        found = []
        if now.kubelet_config != self.kubelet_config:
            found.append(f"{KUBELET_CONFIG} changed (sha256 {self.kubelet_config[:12]} -> {now.kubelet_config[:12]})")
        if self.images - now.images:
            found.append(f"{len(self.images - now.images)} image(s) gone: {sorted(self.images - now.images)[:5]}")
        if now.journals - self.journals:
            found.append(f"journal(s) left in {JOURNALS}: {sorted(now.journals - self.journals)}")
        return found


def node_state(node: NodeShell) -> NodeState:
    config, images, journals = (part.split() for part in
                                node.check(_STATE, what="read the kubelet config's digest, images and journals")
                                .split("@@"))
    return NodeState("".join(config), frozenset(images), frozenset(journals))


def left_behind(cluster: Cluster, scenario: str, faulted: dict[str, tuple[NodeShell, NodeState]]) -> list[str]:
    """What the scenario left: labelled namespaces and pods, and on the nodes it faulted (each with its
    state before the fault) a changed kubelet config, images gone, journals left."""
    mine = f"{SCENARIO_LABEL}={scenario}"
    left = [f"namespace {ns.metadata.name}" for ns in cluster.call(
        "list namespaces", cluster.core.list_namespace, label_selector=mine).items]
    left += [f"pod {p.metadata.namespace}/{p.metadata.name}" for p in cluster.call(
        "list pods", cluster.core.list_pod_for_all_namespaces, label_selector=mine).items]
    for name, (node, before) in faulted.items():
        left += [f"node {name}: {change}" for change in before.changes(node_state(node))]
    return left
