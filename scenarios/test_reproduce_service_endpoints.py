"""service-no-endpoints (004's 503): a Service behind an Ingress whose selector matches no pod.

inject   a ready pod, a Service selecting it and an Ingress routing to the Service (the judges
         must pass on this), then the Service's selector is broken;
observe  its Endpoints lose every ready address — what an ingress controller turns into
         "503 Service Temporarily Unavailable" (no ingress controller runs on kind, so the 503
         itself is not fetched);
judge    services.ingress_backends_without_endpoints and services_without_endpoints pass before
         the break and flag the Service after it;
restore  the namespace is deleted with everything in it.
"""

from __future__ import annotations

import pytest

from kubeproof.faults.cluster import pause_image, pod
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.cluster.services import ingress_backends_without_endpoints, services_without_endpoints
from kubeproof.scenario import node_lock

APP = "kubeproof-web"


def _ready_addresses(endpoints: dict | None) -> int:
    return sum(len(s.get("addresses") or []) for s in (endpoints or {}).get("subsets") or [])


def _judged(scenario, namespace: str) -> list[str]:
    view = scenario.view()
    ours = lambda objs: [o for o in objs if o["metadata"].get("namespace") == namespace]  # noqa: E731
    services, pods, slices = (ours(view.list(kind))
                              for kind in ("services", "pods", "endpointslices.discovery.k8s.io"))
    behind_ingress = ingress_backends_without_endpoints(ours(view.list("ingresses.networking.k8s.io")), services,
                                                        pods, None, slices)
    alone = services_without_endpoints(services, pods, None, slices)
    return behind_ingress.problems + alone.problems


@pytest.mark.failure("service-no-endpoints")
def test_a_broken_selector_leaves_the_ingress_backend_without_endpoints(scenario, evidence):
    cluster = scenario.cluster
    node = scenario.worker()
    scenario.hold(shared={node_lock(node)})
    namespace = scenario.namespace()
    image = pause_image([cluster.node(node)])

    def endpoints() -> dict | None:
        return cluster.as_dict(cluster.call(f"read endpoints {namespace}/{APP}",
                                            cluster.core.read_namespaced_endpoints, APP, namespace, missing_ok=True))

    with scenario.phase("inject", f"pod, Service and Ingress {APP} in {namespace}, then break the selector"):
        cluster.create(namespace, pod(APP, scenario.id, image=image, node=node))
        cluster.create(namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP},
                                   "spec": {"selector": {"app": APP}, "ports": [{"port": 80}]}})
        cluster.create(namespace, {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": APP},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                "service": {"name": APP, "port": {"number": 80}}}}]}}]}})
        cluster.wait_running(namespace, [APP])
        wait_for(f"Service {namespace}/{APP} has a ready endpoint", endpoints, until=_ready_addresses,
                 timeout=60)
        before = _judged(scenario, namespace)
        evidence.attach("findings while healthy", before)
        assert not before, f"the judges flag a Service that has a ready endpoint: {before}"
        cluster.call(f"patch Service {namespace}/{APP}", cluster.core.patch_namespaced_service, APP, namespace,
                     {"spec": {"selector": {"app": APP + "-typo"}}})

    with scenario.phase("observe", f"Service {APP} loses its ready endpoints"):
        evidence.attach("endpoints after the break", wait_for(
            f"Service {namespace}/{APP} without ready endpoints", endpoints,
            until=lambda e: _ready_addresses(e) == 0, timeout=60))

    with scenario.phase("judge", "both Service judges flag it, the Ingress route first"):
        after = _judged(scenario, namespace)
        evidence.attach("findings after the break", after)
        assert any(f"Ingress {namespace}/{APP}" in p for p in after), after
        assert any(p.startswith(f"Service {namespace}/{APP}") for p in after), after
