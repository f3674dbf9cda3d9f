"""namespace-stuck (004): no namespace stays Terminating, and no aggregated API blocks deletions."""

import pytest

from kubeproof.judge import namespaces
from kubeproof.judge.objects import stamp

APISERVICES = "apiservices.apiregistration.k8s.io"


@pytest.mark.failure("namespace-stuck")
def test_no_namespace_stuck_terminating(cluster, profile, conclude):
    now = cluster.now()
    # Without APIServices (not listable) the namespaces are still judged, their blockers unnamed.
    apiservices = cluster.list(APISERVICES) if cluster.has(APISERVICES) else None
    conclude(namespaces.stuck_namespaces(cluster.list("namespaces"), apiservices, now,
                                         profile.namespace_terminating_minutes), now=stamp(now))


@pytest.mark.failure("namespace-stuck")
def test_aggregated_apis_available(cluster, conclude):
    apiservices = cluster.list(APISERVICES)
    conclude(namespaces.unavailable_apiservices(apiservices),
             apiservices=[s["metadata"]["name"] for s in apiservices])
