"""service-no-endpoints (004): Ingresses route to Services with ready endpoints; selectors select."""

import pytest

from kubeproof.judge.cluster import services


@pytest.mark.failure("service-no-endpoints")
def test_ingress_backends_have_ready_endpoints(cluster, verdict):
    verdict.conclude(services.ingress_backends_without_endpoints(
        cluster.list("ingresses.networking.k8s.io"), cluster.list("services"), cluster.list("endpoints")))


@pytest.mark.failure("service-no-endpoints")
def test_services_with_selectors_have_ready_endpoints(cluster, verdict):
    verdict.conclude(services.services_without_endpoints(cluster.list("services"), cluster.list("endpoints")))
