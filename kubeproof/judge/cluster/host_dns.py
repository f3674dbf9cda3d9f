"""hostnetwork-dns-policy (004): hostNetwork pods left on dnsPolicy ClusterFirst resolve with the node's
resolver.

The kubelet gives a hostNetwork pod the cluster's DNS only with dnsPolicy ClusterFirstWithHostNet;
ClusterFirst (also what an unset dnsPolicy defaults to) falls back to the node's resolv.conf without
an Event or a log line (pkg/kubelet/network/dns, getPodDNSType), so the pod cannot resolve Service
names. 004's hostNetwork nginx-ingress-controller set ClusterFirstWithHostNet to reach its backends.

Not judged: dnsPolicy Default (the node's resolver, asked for) and None (the pod's own dnsConfig);
static pods (the control plane reaches what it needs by address) and the node networking components
(kube-proxy, CNI agents), which reach the API server by the address they are given and resolve no
cluster name: recognised by image as critical_pods does, or by the DaemonSet name the projects ship
them under (an image mirrored or rebuilt under another name, as the lab's kindnet). Problems are per owner: a DaemonSet's pods on every node
are one finding, naming its pods and nodes.
"""

from __future__ import annotations

from collections import defaultdict

from ..judgement import Findings, Judgement
from .critical_pods import COMPONENTS, component_of
from .objects import is_static, name, namespace, workload_of

FAILURE_IDS = ("hostnetwork-dns-policy",)  # the catalog entries this module's judges decide
NAMES_SHOWN = 3  # pods named per owner: enough to find them, never a flood
NODE_NETWORKING = {f"DaemonSet {c.role.split()[-1]}" for c in COMPONENTS if not c.role.startswith("cluster DNS")}


def _node_networking(pod: dict) -> bool:
    return component_of(pod) is not None or workload_of(pod) in NODE_NETWORKING


def _owner(pod: dict) -> str:
    owner = workload_of(pod)
    return f"{namespace(pod)}/{owner}" + f" {name(pod)}" * (owner == "bare pod")


def hostnetwork_pods_on_cluster_first(pods: list[dict]) -> Judgement:
    """Every owner of hostNetwork pods whose DNS policy is ClusterFirst, set or defaulted."""
    host = [p for p in pods if (p.get("spec") or {}).get("hostNetwork")]
    found = Findings(judged={"pods": len(pods), "hostNetwork pods": len(host)})
    by_owner: dict[str, list[dict]] = defaultdict(list)
    for pod in host:
        if (pod["spec"].get("dnsPolicy") or "ClusterFirst") == "ClusterFirst" and not is_static(pod) \
                and not _node_networking(pod):
            by_owner[_owner(pod)].append(pod)
    for owner, its in sorted(by_owner.items()):
        nodes = sorted({(p.get("spec") or {}).get("nodeName") or "unscheduled" for p in its})
        shown = ", ".join(name(p) for p in its[:NAMES_SHOWN]) + ", ..." * (len(its) > NAMES_SHOWN)
        found.flag(f"{owner}: {len(its)} hostNetwork pod(s) on dnsPolicy ClusterFirst ({shown}) on "
                   f"{', '.join(nodes)} resolve with the node's resolv.conf, not the cluster's DNS; "
                   "set dnsPolicy: ClusterFirstWithHostNet",
                   {"owner": owner, "namespace": namespace(its[0]), "pods": [name(p) for p in its],
                    "nodes": nodes, "dnsPolicy": its[0]["spec"].get("dnsPolicy") or "unset (ClusterFirst)"})
    return found.verdict()
