"""The inventory: which nodes a run audits, their roles, and how each is reached.

Resolved once per session in the controller and handed to xdist workers as plain data, so every
worker collects the same node parametrization even if the cluster changes mid-run.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass

from . import kind
from .errors import KubeproofError
from .kube import selectors
from .nodes.transport import host_name
from .target import Options, Target

ROLE_PREFIX = "node-role.kubernetes.io/"
POD_ACCESS = "pod"  # reached through a probe pod the controller starts (see nodes/probe.py)
DUMP_ACCESS = "dump"  # facts read from the dump, no network


@dataclass(frozen=True)
class NodeRef:
    name: str
    roles: tuple[str, ...]
    access: str  # a testinfra host URL (docker://, podman://, ssh://, local://, kubectl://), "pod" or "dump"
    root: str = "/"  # where the node's root filesystem appears to the transport
    has_object: bool = True  # a Kubernetes Node object exists for it
    unavailable: str = ""  # why its facts cannot be had (e.g. probe pod forbidden): its tests skip

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NodeRef":
        return cls(**{**data, "roles": tuple(data["roles"])})


def roles_of(node: dict) -> tuple[str, ...]:
    labels = node.get("metadata", {}).get("labels", {}) or {}
    return tuple(sorted(key[len(ROLE_PREFIX):] for key in labels if key.startswith(ROLE_PREFIX)))


def _select(nodes: list[dict], selector: str | None) -> list[dict]:
    if not selector:
        return nodes
    match = selectors.parse(selector)
    return [n for n in nodes if match(n.get("metadata", {}).get("labels", {}) or {})]


def _live_access(opts: Options, target: Target) -> str:
    if opts.node_access != "auto":
        return opts.node_access
    if target.kind_cluster and kind.node_containers(target.kind_cluster):
        return "kind"
    return POD_ACCESS


def ungatherable(node: dict) -> str:
    """Why gather.sh cannot run on node, by what it reports, or "".

    Talos (osImage "Talos (v1.x.y)", its os-release PRETTY_NAME) has "no shell or interactive console"
    (its README) and no sshd: a probe pod's `chroot /host /bin/sh` finds no shell, ssh no server. Its
    Pod Security default (enforce baseline outside kube-system) is not what stops it: the probe
    namespace is labelled privileged."""
    image = ((node.get("status") or {}).get("nodeInfo") or {}).get("osImage") or ""
    if image.startswith("Talos"):
        return (f"{image} has no shell on the host and no sshd: gather.sh cannot run there (a probe pod's "
                "chroot /host finds no /bin/sh), so the node's facts cannot be gathered")
    return ""


def _ref_for(node: dict, access: str) -> NodeRef:
    name = node["metadata"]["name"]
    roles = roles_of(node)
    if access == DUMP_ACCESS:
        return NodeRef(name, roles, DUMP_ACCESS)
    why = ungatherable(node)
    if access == "kind":
        return NodeRef(name, roles, kind.node_url(name), unavailable=why)
    if access == "ssh":
        return NodeRef(name, roles, f"ssh://{name}", unavailable=why)
    return NodeRef(name, roles, POD_ACCESS, root="/host", unavailable=why)


def resolve(opts: Options, target: Target, nodes: list[dict] | None,
            dump_facts_nodes: tuple[str, ...] = ()) -> list[NodeRef]:
    """Build the inventory. `nodes` is the cluster's Node list (None without a cluster)."""
    if opts.node_access == "none":
        return []
    if target.hosts:  # --hosts: exactly these hosts, with or without a cluster beside them
        names = {n["metadata"]["name"]: n for n in nodes or []}
        return [NodeRef(host_name(url), roles_of(names.get(host_name(url), {})), url,
                        has_object=host_name(url) in names) for url in target.hosts]
    if target.mode == "local":
        return [NodeRef(socket.gethostname(), (), "local://", has_object=False)]
    selected = _select(nodes or [], opts.nodes)
    if opts.nodes and not selected:
        raise KubeproofError(f"--nodes {opts.nodes!r} matches none of the {len(nodes or [])} nodes")
    if target.mode == "dump":
        refs = [_ref_for(n, DUMP_ACCESS) for n in selected]
        known = {r.name for r in refs}  # facts of hosts without a Node object are audited too
        return refs + [NodeRef(name, (), DUMP_ACCESS, has_object=False)
                       for name in dump_facts_nodes if name not in known and not opts.nodes]
    access = _live_access(opts, target)
    if access == "local":
        here = socket.gethostname()
        match = [n for n in selected if n["metadata"]["name"] == here]
        return [NodeRef(here, roles_of(match[0]) if match else (), "local://", has_object=bool(match))]
    if access == "kind":
        why_not = kind.engine_problem()
        if why_not:  # said now, not as "no kind node container" for each node
            raise KubeproofError(f"--node-access kind: {why_not} (the nodes of a kind cluster are its containers)")
        containers = kind.node_containers(target.kind_cluster or "")
        missing = [n["metadata"]["name"] for n in selected if n["metadata"]["name"] not in containers]
        if missing:
            raise KubeproofError(f"--node-access kind: no kind node container for {', '.join(missing)}")
    return [_ref_for(n, access) for n in selected]
