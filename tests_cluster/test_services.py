"""service-no-endpoints (004): Ingresses route to Services with ready endpoints; selectors select."""

import pytest

from kubeproof.judge import services


@pytest.mark.failure("service-no-endpoints")
def test_ingress_backends_have_ready_endpoints(cluster, conclude):
    findings, judged = services.ingress_backends_without_endpoints(
        cluster.list("ingresses.networking.k8s.io"), cluster.list("services"), cluster.list("endpoints"))
    conclude(findings, backends_judged=judged)


@pytest.mark.failure("service-no-endpoints")
def test_services_with_selectors_have_ready_endpoints(cluster, conclude):
    findings, judged = services.services_without_endpoints(cluster.list("services"), cluster.list("endpoints"))
    conclude(findings, services_judged=judged)
