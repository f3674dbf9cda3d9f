"""namespace-stuck (004): an object whose finalizer nobody releases keeps its namespace Terminating.

arrange  a labelled namespace holding a ConfigMap with the finalizer kubeproof.io/hold (no
         controller will ever remove it): stuck_namespaces passes;
inject   delete the namespace;
observe  it stays Terminating and says why (NamespaceFinalizersRemaining names the finalizer), as
         004's kubesphere-system did;
judge    namespaces.stuck_namespaces (with a 0-minute limit: the profile's limit is about time,
         the scenario about the cause) names the namespace and the finalizer;
restore  the finalizer removed: the namespace finishes deleting (cleanup strips kubeproof.io/
         finalizers from labelled objects if the run dies first).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kubeproof.faults.cluster import FINALIZER_PREFIX, labels
from kubeproof.judge.cluster.namespaces import stuck_namespaces
from kubeproof.waiting import wait_for

FINALIZER = FINALIZER_PREFIX + "hold"
HOLDER = "kubeproof-held"


@pytest.mark.failure("namespace-stuck")
def test_a_finalizer_keeps_the_namespace_terminating_until_released(scenario):
    scenario.hold()
    cluster = scenario.cluster
    namespace = scenario.namespace()

    def arrange() -> None:
        cluster.create(namespace, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": HOLDER, "labels": labels(scenario.id),
                                                "finalizers": [FINALIZER]}})

    def inject() -> None:
        scenario.defer(f"release {namespace}/{HOLDER}", lambda: cluster.release(namespace, HOLDER, []))
        cluster.call(f"delete namespace {namespace}", cluster.core.delete_namespace, namespace)

    def observe() -> list[str]:
        stuck = wait_for(f"namespace {namespace} Terminating on {FINALIZER}", lambda: cluster.as_dict(
            cluster.call(f"read namespace {namespace}", cluster.core.read_namespace, namespace)),
            until=lambda ns: any(c["type"] == "NamespaceFinalizersRemaining" and FINALIZER in c.get("message", "")
                                 for c in ns["status"].get("conditions") or []), timeout=60)
        return [f"{namespace} {stuck['status']['phase']}"] + [
            f"{c['type']}: {c.get('message', '')}" for c in stuck["status"].get("conditions") or []]

    def judge() -> list[str]:
        view = scenario.view()
        found = stuck_namespaces(view.list("namespaces"), view.list("apiservices.apiregistration.k8s.io"),
                                 datetime.now(timezone.utc), 0)
        return [p for p, o in zip(found.problems, found.offenders) if o["namespace"] == namespace]

    scenario.prove(arrange=arrange, judge=judge, inject=inject, observe=observe,
                   symptoms=["NamespaceFinalizersRemaining"], offender=FINALIZER,
                   recovered=lambda: cluster.delete_namespace(namespace))
