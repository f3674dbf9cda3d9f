"""namespace-stuck (004): no namespace stays Terminating, and no aggregated API blocks deletions."""

import pytest

from kubeproof.judge.cluster import namespaces

APISERVICES = "apiservices.apiregistration.k8s.io"


@pytest.mark.failure("namespace-stuck")
def test_no_namespace_stuck_terminating(cluster, profile, verdict):
    # Without APIServices (not listable) the namespaces are still judged, their blockers unnamed.
    apiservices = cluster.list(APISERVICES) if cluster.has(APISERVICES) else None
    verdict.conclude(namespaces.stuck_namespaces(cluster.list("namespaces"), apiservices, cluster.now(),
                                                 profile.namespace_terminating_minutes))


@pytest.mark.failure("namespace-stuck")
def test_aggregated_apis_available(cluster, verdict):
    verdict.conclude(namespaces.unavailable_apiservices(cluster.list(APISERVICES)))
