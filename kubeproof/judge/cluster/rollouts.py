"""affinity-rollout-stall: Deployments whose required anti-affinity leaves a rollout nowhere to go.

Required pod anti-affinity on kubernetes.io/hostname against the Deployment's own pods allows one
of its pods per node. A rolling update runs up to replicas + maxSurge pods at once; the surge pod
needs a node the scheduler's filters admit (node selector and affinity, taints: scheduling.py), that
holds none of the Deployment's pods yet, and whose allocatable CPU and memory still fit its requests
beside the pods already there (the NodeResourcesFit filter: requests, not usage). When no node is
left, the surge pod stays Pending ("didn't match pod anti-affinity rules ... Insufficient cpu", 004:
3 nodes, 2 short of resources, the third holding the old pod) and with maxUnavailable 0 no old pod
makes room: the rollout stalls for good. Fewer eligible nodes than replicas is worse: pods are
Pending already.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Callable

from ..judgement import Findings, Judgement
from ..units import quantity, size
from .objects import labels, name, namespace, ref
from .scheduling import eligible_nodes, selector_matches

FAILURE_IDS = ("affinity-rollout-stall",)  # the catalog entries this module's judges decide

HOSTNAME = "kubernetes.io/hostname"
DEFAULT_STEP = "25%"  # a RollingUpdate's maxSurge and maxUnavailable when not given


def _scaled(value: int | str, replicas: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(deployment: dict) -> tuple[int, int]:
    """maxSurge and maxUnavailable resolved as the Deployment controller does (ResolveFenceposts):
    percentages of replicas, surge rounded up, unavailable down, and 0/0 becomes 0/1. Recreate: 0/all."""
    spec = deployment.get("spec") or {}
    replicas = spec.get("replicas", 1)
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", DEFAULT_STEP), replicas, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", DEFAULT_STEP), replicas, round_up=False)
    return (surge, 1) if surge == 0 and unavailable == 0 else (surge, unavailable)


def one_per_node(deployment: dict) -> dict | None:
    """The required anti-affinity term on hostname that selects the Deployment's own pods, if any."""
    template = (deployment.get("spec") or {}).get("template") or {}
    own = (template.get("metadata") or {}).get("labels") or {}
    anti = ((template.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        # Its namespaces: the pod's own unless listed, or a namespaceSelector (then all it selects).
        in_own_namespace = (not term.get("namespaces") or namespace(deployment) in term["namespaces"]
                            or term.get("namespaceSelector") is not None)
        if term.get("topologyKey") == HOSTNAME and in_own_namespace and selector_matches(term.get("labelSelector"), own):
            return term
    return None


def _eligible_names(nodes: list[dict]) -> Callable[[dict], list[str]]:
    """The sorted names of the nodes a pod spec may land on, worked out once per distinct placement
    (what eligible_nodes reads: node selector, node affinity, tolerations). Deployments mostly
    share theirs, and each computation walks every node: 1,000 Deployments on 5,000 nodes would
    otherwise take 5,000,000 node checks."""
    @functools.cache
    def by_placement(placement: str) -> list[str]:
        return sorted(name(n) for n in eligible_nodes(json.loads(placement), nodes))

    def eligible(spec: dict) -> list[str]:
        placement = {"nodeSelector": spec.get("nodeSelector"), "tolerations": spec.get("tolerations"),
                     "affinity": {"nodeAffinity": (spec.get("affinity") or {}).get("nodeAffinity")}}
        # A list of its own: evidence is dumped as YAML, which writes a shared one as an alias.
        return list(by_placement(json.dumps(placement, sort_keys=True)))
    return eligible


RESOURCES = ("cpu", "memory")


def pod_requests(spec: dict) -> dict[str, float]:
    """A pod's effective requests as the scheduler counts them: the larger of its containers' sum and
    its largest init container, plus its overhead."""
    def total(containers: list[dict]) -> dict[str, float]:
        return {r: sum(quantity(((c.get("resources") or {}).get("requests") or {}).get(r, 0)) for c in containers)
                for r in RESOURCES}
    init = [total([c]) for c in spec.get("initContainers") or []]
    regular = total(spec.get("containers") or [])
    overhead = spec.get("overhead") or {}
    return {r: max([regular[r], *(i[r] for i in init)]) + quantity(overhead.get(r, 0)) for r in RESOURCES}


def free_resources(nodes: list[dict], pods: list[dict]) -> dict[str, dict[str, float] | None]:
    """node name -> allocatable CPU and memory minus the requests of the pods bound to it and not
    finished; None where the Node shows no allocatable (nothing to count against)."""
    used: dict[str, dict[str, float]] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        if spec.get("nodeName") and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            requests = pod_requests(spec)
            bucket = used.setdefault(spec["nodeName"], dict.fromkeys(RESOURCES, 0.0))
            for r in RESOURCES:
                bucket[r] += requests[r]
    free = {}
    for node in nodes:
        allocatable = (node.get("status") or {}).get("allocatable")
        taken = used.get(name(node), dict.fromkeys(RESOURCES, 0.0))
        free[name(node)] = ({r: quantity(allocatable.get(r, 0)) - taken[r] for r in RESOURCES}
                            if allocatable else None)
    return free


def stalling_rollouts(deployments: list[dict], nodes: list[dict], pods: list[dict]) -> Judgement:
    """Rollouts that cannot place their pods; judged: every Deployment with one-per-node anti-affinity."""
    found = Findings()
    judged = found.judged["deployments_with_one_per_node"] = []
    eligible_names = _eligible_names(nodes)
    free = free_resources(nodes, pods)
    by_namespace: dict[str, list[dict]] = {}
    for pod in pods:
        by_namespace.setdefault(namespace(pod), []).append(pod)
    for deployment in deployments:
        spec = deployment.get("spec") or {}
        replicas = spec.get("replicas", 1)
        term = one_per_node(deployment)
        if term is None or replicas == 0 or spec.get("paused"):
            continue
        surge, unavailable = surge_and_unavailable(deployment)
        template = (spec.get("template") or {}).get("spec") or {}
        eligible = eligible_names(template)
        need = pod_requests(template)
        holding = sorted({(p.get("spec") or {}).get("nodeName") for p in by_namespace.get(namespace(deployment), [])
                          if selector_matches(spec.get("selector"), labels(p)) and (p.get("spec") or {}).get("nodeName")})
        short = {n: [f"{r} {_amount(r, free[n][r])} free < {_amount(r, need[r])} requested" for r in RESOURCES
                     if free[n][r] < need[r]] for n in eligible if free.get(n) is not None}
        short = {n: why for n, why in short.items() if why}
        room = [n for n in eligible if n not in holding and n not in short]
        evidence = {"deployment": ref(deployment), "replicas": replicas, "maxSurge": surge,
                    "maxUnavailable": unavailable, "eligibleNodes": eligible, "antiAffinity": term,
                    "podLabels": labels({"metadata": (spec.get("template") or {}).get("metadata") or {}}),
                    "requests": {r: _amount(r, need[r]) for r in RESOURCES}, "nodesHoldingItsPods": holding,
                    "nodesShortOfResources": short, "nodesWithRoom": room}
        judged.append(evidence)
        where = f"{len(eligible)} eligible node{'s' * (len(eligible) != 1)} ({', '.join(eligible) or 'none'})"
        if len(eligible) < replicas:
            found.flag(
                f"Deployment {ref(deployment)}: {replicas} replicas with required anti-affinity on {HOSTNAME} "
                f"need {replicas} nodes, {where}: {replicas - len(eligible)} pod(s) stay Pending", evidence)
        elif len(room) < surge + max(0, replicas - len(holding)) and unavailable == 0:  # and its Pending pods
            crowded = "; ".join(f"{n}: {', '.join(why)}" for n, why in short.items())
            found.flag(
                f"Deployment {ref(deployment)}: a rollout adds maxSurge {surge} pod(s) with required anti-affinity "
                f"on {HOSTNAME}, {where}, {len(room)} of them without its pod and with room"
                + (f" ({crowded})" if crowded else "") + ", and maxUnavailable 0 frees none: the rollout stalls "
                "Pending; use maxSurge 0 / maxUnavailable 1, add nodes, or preferred anti-affinity", evidence)
    return found.verdict()


def _amount(resource: str, value: float) -> str:
    return f"{value * 1000:.0f}m" if resource == "cpu" else size(value)
