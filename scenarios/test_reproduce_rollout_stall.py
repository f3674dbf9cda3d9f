"""affinity-rollout-stall (004): a rollout that must surge onto a node its anti-affinity forbids.

inject   a Deployment pinned to one node (nodeSelector), as many replicas as eligible nodes (1),
         required pod anti-affinity on kubernetes.io/hostname, maxSurge 1 / maxUnavailable 0,
         then a rollout (a template change);
observe  the surge pod stays Pending with the scheduler's "didn't match pod anti-affinity rules"
         and the Deployment reports ProgressDeadlineExceeded: the rollout stalls;
judge    rollouts.stalling_rollouts flags the Deployment; with maxSurge 0 / maxUnavailable 1 it
         passes, and the rollout then completes (the remedy proven on the same objects);
restore  the namespace is deleted with everything in it.
"""

from __future__ import annotations

import pytest

from kubeproof.faults.cluster import condition, labels, pause_image
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.cluster.rollouts import stalling_rollouts
from kubeproof.scenario import node_lock

APP = "kubeproof-spread"
SYMPTOM = "didn't match pod anti-affinity rules"


@pytest.mark.failure("affinity-rollout-stall")
def test_required_anti_affinity_with_surge_stalls_the_rollout(scenario, evidence):
    cluster = scenario.cluster
    node = scenario.worker()
    scenario.hold(shared={node_lock(node)})
    namespace = scenario.namespace()
    own = {"app": APP}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "labels": labels(scenario.id)},
        "spec": {"replicas": 1, "progressDeadlineSeconds": 20, "selector": {"matchLabels": own},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {**own, **labels(scenario.id)}}, "spec": {
                     "terminationGracePeriodSeconds": 0,
                     "nodeSelector": {"kubernetes.io/hostname": node},
                     "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                         {"labelSelector": {"matchLabels": own}, "topologyKey": "kubernetes.io/hostname"}]}},
                     "containers": [{"name": "main", "image": pause_image([cluster.node(node)]),
                                     "imagePullPolicy": "IfNotPresent"}]}}}}

    def read() -> dict:
        return cluster.as_dict(cluster.call(f"read Deployment {namespace}/{APP}",
                                            cluster.apps.read_namespaced_deployment, APP, namespace))

    def rollout(patch: dict) -> None:
        cluster.call(f"patch Deployment {namespace}/{APP}", cluster.apps.patch_namespaced_deployment,
                     APP, namespace, patch)

    def judged() -> list[str]:
        view = scenario.view()
        mine = [d for d in view.list("deployments.apps") if d["metadata"].get("namespace") == namespace]
        return stalling_rollouts(mine, view.list("nodes"), view.list("pods")).problems

    with scenario.phase("inject", f"Deployment {APP} on {node}, then a rollout that must surge"):
        cluster.create(namespace, deployment)
        wait_for(f"Deployment {namespace}/{APP} available", read,
                 until=lambda d: (d.get("status") or {}).get("availableReplicas") == 1, timeout=120)
        rollout({"spec": {"template": {"metadata": {"annotations": {"kubeproof.io/rollout": "1"}}}}})

    with scenario.phase("observe", f"the surge pod Pending ({SYMPTOM}), the rollout past its deadline"):
        pending = wait_for("a FailedScheduling event naming the anti-affinity", lambda: [
            e["message"] for e in cluster.events(namespace) if e.get("reason") == "FailedScheduling"
            and SYMPTOM in (e.get("message") or "")], timeout=60)
        stalled = wait_for(f"Deployment {namespace}/{APP} ProgressDeadlineExceeded", read, until=lambda d: any(
            c.get("reason") == "ProgressDeadlineExceeded"
            for c in (d.get("status") or {}).get("conditions") or []), timeout=90)
        evidence.attach("scheduler", pending)
        evidence.attach("stalled deployment status", stalled["status"])

    with scenario.phase("judge", "stalling_rollouts flags it; with maxSurge 0 it passes and the rollout ends"):
        flagged = judged()
        evidence.attach("findings while stalled", flagged)
        assert any(APP in p for p in flagged), f"stalling_rollouts missed the stalled rollout: {flagged}"
        rollout({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}})
        assert not judged(), "stalling_rollouts still flags maxSurge 0 / maxUnavailable 1"
        done = wait_for(f"Deployment {namespace}/{APP} rolled out", read, until=lambda d: (
            (d.get("status") or {}).get("updatedReplicas") == 1
            and (d.get("status") or {}).get("availableReplicas") == 1
            and condition(d, "Progressing") == "True"), timeout=120)
        evidence.attach("rolled out", done["status"])
