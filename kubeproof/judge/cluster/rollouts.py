"""affinity-rollout-stall: Deployments whose required anti-affinity leaves a rollout nowhere to go.

Required pod anti-affinity on kubernetes.io/hostname against the Deployment's own pods allows one
of its pods per node. A rolling update runs up to replicas + maxSurge pods at once; when the eligible
nodes number fewer, the surge pod stays Pending ("didn't match pod anti-affinity rules", 004), and
with maxUnavailable 0 no old pod makes room: the rollout stalls for good. Fewer eligible nodes than
replicas is worse: pods are Pending already. Eligibility is the scheduler's filters short of
resources (see scheduling.py); nodes short of CPU or memory only make it worse.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Callable

from ..judgement import Findings, Judgement
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


def stalling_rollouts(deployments: list[dict], nodes: list[dict]) -> Judgement:
    """Rollouts that cannot place their pods; judged: every Deployment with one-per-node anti-affinity."""
    found = Findings()
    judged = found.judged["deployments_with_one_per_node"] = []
    eligible_names = _eligible_names(nodes)
    for deployment in deployments:
        spec = deployment.get("spec") or {}
        replicas = spec.get("replicas", 1)
        term = one_per_node(deployment)
        if term is None or replicas == 0 or spec.get("paused"):
            continue
        surge, unavailable = surge_and_unavailable(deployment)
        eligible = eligible_names((spec.get("template") or {}).get("spec") or {})
        evidence = {"deployment": ref(deployment), "replicas": replicas, "maxSurge": surge,
                    "maxUnavailable": unavailable, "eligibleNodes": eligible, "antiAffinity": term,
                    "podLabels": labels({"metadata": (spec.get("template") or {}).get("metadata") or {}})}
        judged.append(evidence)
        where = f"{len(eligible)} eligible node{'s' * (len(eligible) != 1)} ({', '.join(eligible) or 'none'})"
        if len(eligible) < replicas:
            found.flag(
                f"Deployment {ref(deployment)}: {replicas} replicas with required anti-affinity on {HOSTNAME} "
                f"need {replicas} nodes, {where}: {replicas - len(eligible)} pod(s) stay Pending", evidence)
        elif len(eligible) < replicas + surge and unavailable == 0:
            found.flag(
                f"Deployment {ref(deployment)}: a rollout runs {replicas} + maxSurge {surge} pods with required "
                f"anti-affinity on {HOSTNAME}, {where}, and maxUnavailable 0 frees none: the rollout stalls "
                "Pending; use maxSurge 0 / maxUnavailable 1, add nodes, or preferred anti-affinity", evidence)
    return found.verdict()
