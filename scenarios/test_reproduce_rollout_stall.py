"""affinity-rollout-stall (004): a rollout that must surge onto a node its anti-affinity forbids.

arrange  a Deployment pinned to one node (nodeSelector), as many replicas as eligible nodes (1),
         required pod anti-affinity on kubernetes.io/hostname, maxSurge 0 / maxUnavailable 1 (the
         remedy): stalling_rollouts passes;
inject   maxSurge 1 / maxUnavailable 0 and a rollout (a template change);
observe  the surge pod stays Pending with the scheduler's "didn't match pod anti-affinity rules"
         and the Deployment reports ProgressDeadlineExceeded: the rollout stalls;
judge    rollouts.stalling_rollouts names the Deployment;
restore  maxSurge 0 / maxUnavailable 1 again: the rollout completes and the judge passes.
"""

from __future__ import annotations

import pytest

from kubeproof.judge.cluster.rollouts import stalling_rollouts
from kubeproof.kube.nodes import condition
from kubeproof.scenario import container, deployment, pause_image
from kubeproof.waiting import wait_for

APP = "kubeproof-spread"
SAFE = {"maxSurge": 0, "maxUnavailable": 1}


@pytest.mark.failure("affinity-rollout-stall")
def test_required_anti_affinity_with_surge_stalls_the_rollout(scenario):
    cluster = scenario.cluster
    node, namespace = scenario.pods_on_worker()

    def read() -> dict:
        return cluster.as_dict(cluster.call(f"read Deployment {namespace}/{APP}",
                                            cluster.apps.read_namespaced_deployment, APP, namespace))

    def patch(patch: dict) -> None:
        cluster.call(f"patch Deployment {namespace}/{APP}", cluster.apps.patch_namespaced_deployment,
                     APP, namespace, patch)

    def strategy(rolling: dict) -> None:
        patch({"spec": {"strategy": {"rollingUpdate": rolling}}})

    def rolled_out() -> dict:
        return wait_for(f"Deployment {namespace}/{APP} rolled out", read, until=lambda d: (
            (d.get("status") or {}).get("updatedReplicas") == 1 and (d.get("status") or {}).get("availableReplicas") == 1
            and not (d.get("status") or {}).get("unavailableReplicas") and condition(d, "Progressing") == "True"),
            timeout=120)

    def arrange() -> None:
        cluster.create(namespace, deployment(
            APP, scenario.id, container(pause_image([cluster.node(node)])), rolling_update=SAFE, progress_deadline=20,
            nodeSelector={"kubernetes.io/hostname": node},
            affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": APP}}, "topologyKey": "kubernetes.io/hostname"}]}}))
        rolled_out()

    def inject() -> None:
        strategy({"maxSurge": 1, "maxUnavailable": 0})
        scenario.defer(f"Deployment {namespace}/{APP} back to maxSurge 0", lambda: strategy(SAFE))
        patch({"spec": {"template": {"metadata": {"annotations": {"kubeproof.io/rollout": "1"}}}}})

    def observe() -> list[str]:
        pending = wait_for("a FailedScheduling event", lambda: [
            e["message"] for e in cluster.events(namespace) if e.get("reason") == "FailedScheduling"], timeout=60)
        stalled = wait_for(f"Deployment {namespace}/{APP} ProgressDeadlineExceeded", read, until=lambda d: any(
            c.get("reason") == "ProgressDeadlineExceeded" for c in (d.get("status") or {}).get("conditions") or []),
            timeout=90)
        return pending + [f"{c.get('reason')}: {c.get('message')}" for c in stalled["status"].get("conditions") or []]

    def judge() -> list[str]:
        view = scenario.view()
        mine = [d for d in view.list("deployments.apps") if d["metadata"].get("namespace") == namespace]
        return stalling_rollouts(mine, view.list("nodes"), view.list("pods")).problems

    scenario.prove(arrange=arrange, judge=judge, inject=inject, observe=observe,
                   symptoms=["didn't match pod anti-affinity rules"], offender=APP, recovered=rolled_out,
                   found_in=["events"])
