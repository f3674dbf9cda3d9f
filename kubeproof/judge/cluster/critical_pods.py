"""critical-pod-eviction: node agents and cluster DNS are pods the kubelet neither evicts nor refuses.

In field report 001 §3 (kubelet 1.9) the kubelet evicted a static kube-proxy pod to reclaim imagefs
and Service IPs died on that node. What protects a pod today is the kubelet's IsCriticalPod
(pkg/kubelet/types/pod_update.go): a static or mirror pod, or a priority of at least
SystemCriticalPriority (2000000000: system-cluster-critical, system-node-critical). The eviction
manager never evicts a critical pod (pkg/kubelet/eviction/eviction_manager.go evictPod), and under
DiskPressure its admission refuses every pod that is not critical, whatever it tolerates (Admit; the
DaemonSet controller adds the pressure tolerations to every pod it makes anyway, so tolerations are
not judged). Static pods count as critical since kubelet 1.16 (PR #80491) and their mirrors since
1.17 (PR #83325), so a static kube-proxy is 001's failure only on an older kubelet.

The guard, then:
- node agents: every DaemonSet meant for every node (no node selector or required node affinity
  beyond kubernetes.io/os and kubernetes.io/arch: CNI, kube-proxy, log and storage agents) carries
  a system-node-critical or system-cluster-critical priority class;
- kube-proxy, CNI agents and cluster DNS outside a DaemonSet: run by a controller with that priority,
  or as static pods on kubelets that treat them as critical; never as bare pods.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..judgement import Findings, Judgement
from .objects import controller, is_static, kubelet_version, name, namespace, ref, repository_is, workload_of

FAILURE_IDS = ("critical-pod-eviction",)  # the catalog entries this module's judges decide
CRITICAL_CLASSES = ("system-node-critical", "system-cluster-critical")
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000  # scheduling.SystemCriticalPriority
STATIC_CRITICAL_SINCE = (1, 17)  # static pods (1.16, PR #80491) and their mirrors (1.17, PR #83325)
# Node labels every node carries: a DaemonSet selecting only on them still means "every node".
EVERY_NODE_LABELS = ("kubernetes.io/os", "kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/arch")


@dataclass(frozen=True)
class Component:
    role: str
    repositories: tuple[str, ...]  # image repository paths, matched with or without a registry prefix


# Recognised by image, which survives renamed pods and labels. Paths as the projects publish them.
COMPONENTS = (
    Component("kube-proxy", ("kube-proxy", "kube-proxy-amd64")),  # -amd64: the per-arch images before 1.10
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


def component_of(pod: dict) -> Component | None:
    images = [c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or []]
    return next((comp for comp in COMPONENTS if any(repository_is(i, *comp.repositories) for i in images)),
                None)


def critical_priority(spec: dict) -> bool:
    """A pod spec (or template) with a system-critical priority: its class, or the priority resolved from it."""
    return spec.get("priorityClassName") in CRITICAL_CLASSES or (spec.get("priority") or 0) >= SYSTEM_CRITICAL_PRIORITY


def _pod_evidence(pod: dict, component: Component, kubelet: tuple[int, ...] | None) -> dict:
    spec = pod.get("spec") or {}
    return {"namespace": namespace(pod), "name": name(pod), "node": spec.get("nodeName"),
            "component": component.role, "runBy": workload_of(pod),
            "priorityClassName": spec.get("priorityClassName"), "priority": spec.get("priority"),
            "kubelet": ".".join(map(str, kubelet)) if kubelet else None}


def unprotected_components(pods: list[dict], nodes: list[dict]) -> Judgement:
    """kube-proxy, CNI agents and cluster DNS not run by a DaemonSet (node_agents judges those): a
    bare pod, a static pod on a kubelet older than STATIC_CRITICAL_SINCE, or a controller whose pods
    lack a critical priority (one finding per controller)."""
    found = Findings()
    seen = found.judged["critical_pods_seen"] = []
    kubelets = {name(n): kubelet_version(n) for n in nodes}
    uncritical: dict[tuple[str, str], list[dict]] = {}  # (namespace, workload) -> its pods
    for pod in pods:
        component = component_of(pod)
        if component is None:
            continue
        spec = pod.get("spec") or {}
        kubelet = kubelets.get(spec.get("nodeName"))
        evidence = _pod_evidence(pod, component, kubelet)
        seen.append(evidence)
        owner = controller(pod)
        if critical_priority(spec) or (owner or {}).get("kind") == "DaemonSet":
            continue
        where = f"{ref(pod)} ({component.role} on {evidence['node']})"
        if is_static(pod):
            if kubelet is not None and kubelet < STATIC_CRITICAL_SINCE:
                found.flag(f"{where} is a static pod on kubelet {evidence['kubelet']}, which does not count static "
                           f"pods as critical before {'.'.join(map(str, STATIC_CRITICAL_SINCE))}: it is evicted "
                           "under pressure and never comes back (001 §3); run it from a DaemonSet with "
                           "priorityClassName system-node-critical", evidence)
        elif owner is None:
            found.flag(f"{where} is a bare pod: no controller brings it back, and without a critical priority "
                       "the kubelet evicts it under pressure", evidence)
        else:
            uncritical.setdefault((namespace(pod), evidence["runBy"]), []).append(evidence)
    for (ns, workload), members in uncritical.items():
        first = members[0]
        found.flag(f"{workload} in {ns} ({first['component']}): priorityClassName "
                   f"{first['priorityClassName'] or 'none'} (priority {first['priority'] or 0}) on its pods "
                   f"{', '.join(m['name'] for m in members)}; it needs {' or '.join(CRITICAL_CLASSES)}: the kubelet "
                   "evicts any other pod under node pressure and refuses it under DiskPressure",
                   {"namespace": ns, "workload": workload, "pods": members})
    return found.verdict()


def _every_node(template_spec: dict) -> bool:
    """Whether a DaemonSet's pods are meant for every node: nothing narrows its nodes but OS and arch."""
    if any(key not in EVERY_NODE_LABELS for key in template_spec.get("nodeSelector") or {}):
        return False
    required = ((template_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    return all(expression.get("key") in EVERY_NODE_LABELS
               for term in required.get("nodeSelectorTerms") or []
               for expression in (term.get("matchExpressions") or []) + (term.get("matchFields") or []))


def node_agents(daemonsets: list[dict]) -> Judgement:
    """Every DaemonSet meant for every node runs its pods with a system-critical priority class."""
    found = Findings()
    judged = found.judged["node_agents"] = []
    for ds in daemonsets:
        template = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        if not _every_node(template):
            continue
        evidence = {"daemonset": ref(ds), "priorityClassName": template.get("priorityClassName"),
                    "images": [c.get("image") for c in template.get("containers") or []]}
        judged.append(evidence)
        if not critical_priority(template):
            found.flag(f"DaemonSet {ref(ds)} runs on every node with priorityClassName "
                       f"{template.get('priorityClassName') or 'none'}: under node pressure the kubelet evicts its "
                       "pods and, under DiskPressure, refuses to start them again (001 §3); set priorityClassName "
                       "system-node-critical", evidence)
    return found.verdict()
