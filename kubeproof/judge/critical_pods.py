"""critical-pod-eviction: the node's networking and the cluster's DNS must survive node pressure.

In field report 001 §3 the kubelet evicted a static kube-proxy pod to reclaim imagefs and Service
IPs died on that node. The guard: kube-proxy, the CNI agent and cluster DNS run from a DaemonSet or
Deployment (a controller brings them back; a static pod is nobody's to reschedule) with a critical
priority class (the kubelet evicts them last and the scheduler may preempt for them), and every
kube-system DaemonSet's pods tolerate the pressure taints, so they are recreated on a node under
pressure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .findings import Finding
from .objects import controller, is_static, name, namespace, ref, repository_is, workload_of
from .scheduling import tolerates

CRITICAL_CLASSES = ("system-node-critical", "system-cluster-critical")


@dataclass(frozen=True)
class Component:
    role: str
    repositories: tuple[str, ...]  # image repository paths, matched with or without a registry prefix


# Recognised by image, which survives renamed pods and labels. Paths as the projects publish them.
COMPONENTS = (
    Component("kube-proxy", ("kube-proxy",)),
    Component("CNI agent calico-node", ("calico/node",)),
    Component("CNI agent cilium", ("cilium/cilium",)),  # not cilium/operator-*: a Deployment, not per node
    Component("CNI agent flannel", ("flannel/flannel", "coreos/flannel", "mirrored-flannelcni-flannel")),
    Component("CNI agent weave-net", ("weaveworks/weave-kube",)),
    Component("CNI agent kindnet", ("kindest/kindnetd",)),
    Component("CNI agent kube-router", ("cloudnativelabs/kube-router",)),
    Component("CNI agent antrea", ("antrea/antrea-agent-ubuntu", "antrea/antrea-ubuntu")),
    Component("cluster DNS CoreDNS", ("coredns",)),  # coredns/coredns, and k8s.gcr.io/coredns before 1.21
    Component("cluster DNS kube-dns", ("k8s-dns-kube-dns", "k8s-dns-kube-dns-amd64")),
)

# The taints the node lifecycle controller puts on a node under pressure. Only NoSchedule: they keep
# new pods away; the kubelet's eviction itself ignores tolerations.
PRESSURE_TAINTS = (
    {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
)
RELIED_ON = ("Tolerations are judged on each DaemonSet's pods as they run, not on its template: the "
             "DaemonSet controller adds node.kubernetes.io/disk-pressure, memory-pressure, pid-pressure "
             "and unschedulable NoSchedule tolerations (and not-ready/unreachable NoExecute) to every pod "
             "it creates, so a template without them is fine and a pod without them was not made by it.")


def component_of(pod: dict) -> Component | None:
    images = [c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return next((comp for comp in COMPONENTS if any(repository_is(i, *comp.repositories) for i in images)),
                None)


def _pod_evidence(pod: dict, component: Component) -> dict:
    spec = pod.get("spec") or {}
    return {"namespace": namespace(pod), "name": name(pod), "node": spec.get("nodeName"),
            "component": component.role, "runBy": workload_of(pod),
            "priorityClassName": spec.get("priorityClassName"), "priority": spec.get("priority")}


def unprotected_components(pods: list[dict]) -> tuple[list[Finding], list[dict]]:
    """(findings, every critical pod seen): one finding per static or bare pod, and one per
    controller whose pods lack a critical priority class (a DaemonSet's fault is in its template)."""
    seen, findings = [], []
    uncritical: dict[tuple[str, str], list[dict]] = {}  # (namespace, workload) -> its pods
    for pod in pods:
        component = component_of(pod)
        if component is None:
            continue
        evidence = _pod_evidence(pod, component)
        seen.append(evidence)
        critical = evidence["priorityClassName"] in CRITICAL_CLASSES
        priority = "" if critical else (f"; priorityClassName {evidence['priorityClassName'] or 'none'} "
                                        f"(priority {evidence['priority'] or 0}), not {' or '.join(CRITICAL_CLASSES)}")
        if is_static(pod) or controller(pod) is None:
            how = ("a static pod: the kubelet may evict it under pressure and no controller brings it back "
                   "(001 §3)" if is_static(pod) else "a bare pod: no controller brings it back")
            findings.append(Finding(f"{ref(pod)} ({component.role} on {evidence['node']}) is {how}; "
                                    f"run it from a DaemonSet/Deployment{priority}", evidence))
        elif not critical:
            uncritical.setdefault((namespace(pod), evidence["runBy"]), []).append(evidence)
    for (ns, workload), members in uncritical.items():
        first = members[0]
        findings.append(Finding(
            f"{workload} in {ns} ({first['component']}): priorityClassName "
            f"{first['priorityClassName'] or 'none'} (priority {first['priority'] or 0}) on its pods "
            f"{', '.join(m['name'] for m in members)}; it needs {' or '.join(CRITICAL_CLASSES)} to be "
            "evicted last under node pressure", {"namespace": ns, "workload": workload, "pods": members}))
    return findings, seen


def intolerant_daemonsets(daemonsets: list[dict], pods: list[dict],
                          namespace_: str = "kube-system") -> tuple[list[Finding], list[dict]]:
    """(findings, DaemonSets judged): kube-system DaemonSets whose pods lack a pressure toleration."""
    findings, judged = [], []
    # One pass over the pods, however many DaemonSets: a cluster may run 150,000 of them.
    owned: dict[str, list[dict]] = {}
    for pod in pods:
        owner = controller(pod) if namespace(pod) == namespace_ else None
        if owner and owner.get("kind") == "DaemonSet":
            owned.setdefault(owner["name"], []).append(pod)
    for ds in (d for d in daemonsets if namespace(d) == namespace_):
        members = owned.get(name(ds), [])
        missing = {name(p): [f"{t['key']}:{t['effect']}" for t in PRESSURE_TAINTS
                             if not tolerates((p.get("spec") or {}).get("tolerations") or [], t)]
                   for p in members}
        missing = {pod: taints for pod, taints in missing.items() if taints}
        judged.append({"daemonset": ref(ds), "pods": sorted(name(p) for p in members)})
        if missing:
            lacking = sorted({t for taints in missing.values() for t in taints})
            findings.append(Finding(
                f"DaemonSet {ref(ds)}: pods {', '.join(sorted(missing))} do not tolerate {', '.join(lacking)}; "
                "on a node under pressure they cannot be recreated once evicted or deleted",
                {"daemonset": ref(ds), "podsMissingTolerations": missing,
                 "podTolerations": {name(p): (p.get("spec") or {}).get("tolerations") or []
                                    for p in members if name(p) in missing}}))
    return findings, judged
