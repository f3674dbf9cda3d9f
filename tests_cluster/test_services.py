"""service-no-endpoints (004): Ingresses route to Services with ready endpoints; selectors select.

Readiness comes from EndpointSlices, else Endpoints, else (a `kubectl cluster-info dump` holds
neither) the Services' selectors and the ready pods (judge/cluster/services.py).
"""

import pytest

from kubeproof.judge.cluster import services

SLICES = "endpointslices.discovery.k8s.io"


@pytest.fixture
def endpoint_sources(cluster) -> dict:
    return {"endpoints": cluster.list("endpoints") if cluster.has("endpoints") else None,
            "slices": cluster.list(SLICES) if cluster.has(SLICES) else None}


@pytest.mark.failure("service-no-endpoints")
def test_ingress_backends_have_ready_endpoints(cluster, verdict, endpoint_sources):
    verdict.conclude(services.ingress_backends_without_endpoints(
        cluster.list("ingresses.networking.k8s.io"), cluster.list("services"), cluster.list("pods"),
        **endpoint_sources))


@pytest.mark.failure("service-no-endpoints")
def test_services_with_selectors_have_ready_endpoints(cluster, verdict, endpoint_sources):
    verdict.conclude(services.services_without_endpoints(cluster.list("services"), cluster.list("pods"),
                                                         **endpoint_sources))
