"""namespace-stuck (004): an object whose finalizer nobody releases keeps its namespace Terminating.

inject   a labelled namespace holding a ConfigMap with the finalizer kubeproof.io/hold (no
         controller will ever remove it), then delete the namespace;
observe  the namespace stays Terminating and says why (NamespaceFinalizersRemaining names the
         finalizer), as 004's kubesphere-system did;
judge    namespaces.stuck_namespaces flags it (with a 0-minute limit: the profile's limit is
         about time, the scenario about the cause) and names the finalizer; after the release it
         is silent;
restore  remove the finalizer: the namespace finishes deleting (cleanup strips kubeproof.io/
         finalizers from labelled objects if the run dies first).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kubeproof.faults.cluster import FINALIZER_PREFIX, labels
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.cluster.namespaces import stuck_namespaces

FINALIZER = FINALIZER_PREFIX + "hold"


@pytest.mark.failure("namespace-stuck")
def test_a_finalizer_keeps_the_namespace_terminating_until_released(scenario, evidence):
    scenario.hold()
    cluster = scenario.cluster
    namespace = scenario.namespace()
    holder = "kubeproof-held"
    with scenario.phase("inject", f"ConfigMap {namespace}/{holder} with finalizer {FINALIZER}; "
                                  f"delete namespace {namespace}"):
        cluster.create(namespace, {"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": holder, "labels": labels(scenario.id),
                                                "finalizers": [FINALIZER]}})
        # Released before the namespace is waited for at restore, should the test stop early.
        scenario.defer(f"release {namespace}/{holder}", lambda: cluster.release(namespace, holder, []))
        cluster.call(f"delete namespace {namespace}", cluster.core.delete_namespace, namespace)

    def read() -> dict:
        return cluster.as_dict(cluster.call(f"read namespace {namespace}", cluster.core.read_namespace,
                                            namespace))

    with scenario.phase("observe", f"namespace {namespace} stays Terminating on {FINALIZER}"):
        stuck = wait_for(f"namespace {namespace} Terminating with NamespaceFinalizersRemaining", read,
                         until=lambda ns: ns["status"].get("phase") == "Terminating" and any(
                             c["type"] == "NamespaceFinalizersRemaining" and c["status"] == "True"
                             and FINALIZER in (c.get("message") or "")
                             for c in ns["status"].get("conditions") or []), timeout=60)
        evidence.attach("stuck namespace", stuck)

    with scenario.phase("judge", "stuck_namespaces flags it and names the finalizer"):
        view = scenario.view()
        found = stuck_namespaces(view.list("namespaces"), view.list("apiservices.apiregistration.k8s.io"),
                                 datetime.now(timezone.utc), 0)
        ours = [p for p, o in zip(found.problems, found.offenders) if o["namespace"] == namespace]
        evidence.attach("findings while stuck", ours)
        assert ours and FINALIZER in ours[0], f"stuck_namespaces missed {namespace}: {found}"

    with scenario.phase("restore", f"release {FINALIZER}; the namespace goes"):
        cluster.release(namespace, holder, [])
        cluster.delete_namespace(namespace)
        view = scenario.view()
        after = stuck_namespaces(view.list("namespaces"), view.list("apiservices.apiregistration.k8s.io"),
                                 datetime.now(timezone.utc), 0)
        assert not [o for o in after.offenders if o["namespace"] == namespace], after.problems
