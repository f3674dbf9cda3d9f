"""hostname-drift: every machine is registered once, and per-node network records name real nodes.

In field report 001 §5 a host was renamed and calico registered it a second time, leaving the old
record behind and the node's pod network broken. Seen from the API today:

- the kubelet registers under the hostname, so a renamed host appears as a second Node object with
  the first one's InternalIP and machine-id, the old one going NotReady;
- calico (Kubernetes datastore) keeps its per-node IPAM state in BlockAffinity objects keyed by node
  name; one whose node does not exist is the renamed or removed host's leftover, holding its block.
"""

from __future__ import annotations

from collections import defaultdict

from ..judgement import Findings, Judgement
from .objects import condition, name

FAILURE_IDS = ("hostname-drift",)  # the catalog entries this module's judges decide

# 001 used calico's etcd datastore: its per-node records (calicoctl get nodes, /calico/ipam/v2/host/*)
# live in calico's own etcd, which the Kubernetes API does not serve. What the API shows is the
# Kubernetes datastore's view (Node objects and BlockAffinity CRDs); said in every verdict's evidence.
NOT_VISIBLE = ("calico nodes and IPAM blocks kept in calico's own etcd datastore (calicoctl with "
               "DATASTORE_TYPE=etcdv3, as in 001) are not served by the Kubernetes API; check them with "
               "calicoctl get nodes / calicoctl ipam check against that etcd")


def _registration(node: dict) -> dict:
    status = node.get("status") or {}
    ready = condition(node, "Ready") or {}
    return {"node": name(node), "created": (node.get("metadata") or {}).get("creationTimestamp"),
            "ready": ready.get("status", "Unknown"), "readyMessage": ready.get("message"),
            "machineID": (status.get("nodeInfo") or {}).get("machineID"),
            "internalIPs": [a["address"] for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]}


def duplicate_registrations(nodes: list[dict]) -> Judgement:
    """Node objects sharing an InternalIP: one host registered under two names, the renamed host's
    old Node beside its new one (001 §5). A machine-id shared by nodes with their own addresses is
    an image cloned without a fresh /etc/machine-id (kind's entrypoint makes one per node), not a
    renamed host: reported in the evidence, not judged here."""
    registrations = [_registration(n) for n in nodes]
    by_ip: dict[str, list[dict]] = defaultdict(list)
    by_machine: dict[str, list[str]] = defaultdict(list)
    for registration in registrations:
        for ip in registration["internalIPs"]:
            by_ip[ip].append(registration)
        if registration["machineID"]:
            by_machine[registration["machineID"]].append(registration["node"])
    found = Findings()
    found.judged.update(nodes=[r["node"] for r in registrations], not_visible=NOT_VISIBLE,
                        shared_machine_ids={m: names for m, names in by_machine.items() if len(names) > 1})
    shared: dict[tuple[str, ...], list[str]] = defaultdict(list)  # the same nodes may share several addresses
    for ip, members in by_ip.items():
        if len(members) > 1:
            names = tuple(sorted(m["node"] for m in members))
            shared[names].append(f"InternalIP {ip}")
    by_name = {r["node"]: r for r in registrations}
    for names, identifiers in shared.items():
        members = [by_name[n] for n in names]
        machine = {m["machineID"] for m in members}
        if len(machine) == 1 and None not in machine:
            identifiers.append(f"machine-id {machine.pop()}")
        states = ", ".join(f"{m['node']} (Ready={m['ready']}, registered {m['created']})" for m in members)
        found.flag(f"nodes {' and '.join(names)} share {', '.join(identifiers)}: one host registered "
                   f"under {len(names)} names ({states}); delete the stale Node and its CNI records",
                   {"nodes": members, "shared": identifiers})
    return found.verdict()


def orphaned_block_affinities(affinities: list[dict], nodes: list[dict]) -> Judgement:
    """calico BlockAffinities naming a node that does not exist."""
    found = Findings()
    found.judged.update(block_affinities=len(affinities), not_visible=NOT_VISIBLE)
    known = {name(n) for n in nodes}
    by_node: dict[str, list[dict]] = defaultdict(list)
    for affinity in affinities:
        spec = affinity.get("spec") or {}
        if spec.get("node") not in known and spec.get("deleted") != "true":
            by_node[spec.get("node")].append({"blockAffinity": name(affinity), "cidr": spec.get("cidr"),
                                              "state": spec.get("state")})
    for node, blocks in sorted(by_node.items()):
        found.flag(f"calico block affinities {', '.join(b['blockAffinity'] for b in blocks)} "
                   f"({', '.join(b['cidr'] for b in blocks)}) belong to node {node!r}, which does not exist: "
                   "a renamed or removed host's network state (001 §5); release them (calicoctl ipam check / "
                   "release) once the host is gone", {"node": node, "blocks": blocks})
    return found.verdict()
