"""service-no-endpoints (004's 503): a Service behind an Ingress whose selector matches no pod.

arrange  a ready pod, a Service selecting it and an Ingress routing to the Service: the judges pass;
inject   the Service's selector broken;
observe  its endpoints lose every ready address and kube-proxy on a node rejects its ClusterIP
         ("has no endpoints", the rule an ingress controller's upstream meets as 503; no ingress
         controller runs on kind, so the 503 itself is not fetched: scenario_limits in the catalog);
judge    services.ingress_backends_without_endpoints and services_without_endpoints name it;
restore  the selector back: a ready endpoint again, the judges pass.
"""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from kubeproof.judge.cluster.services import (SERVICE_NAME_LABEL, Readiness, ingress_backends_without_endpoints,
                                              services_without_endpoints)
from kubeproof.scenario import container, pause_image, pod
from kubeproof.waiting import wait_for

APP = "kubeproof-web"
# kube-proxy's iptables rule for a Service without endpoints: its comment, on every node. Both
# backends are read: kube-proxy picks the one with rules, not the node's default alternative.
NO_ENDPOINTS = ("for save in iptables-nft-save iptables-legacy-save iptables-save; do $save -t filter 2>/dev/null; "
                "done | grep -F 'has no endpoints' || true")


@pytest.mark.failure("service-no-endpoints")
def test_a_broken_selector_leaves_the_ingress_backend_without_endpoints(scenario):
    cluster = scenario.cluster
    name, namespace = scenario.pods_on_worker()
    node = scenario.node(name)

    def ready() -> int:
        """Ready endpoints in the Service's EndpointSlices: what kube-proxy and the judges read (the
        Endpoints object is written by another controller and may lead them)."""
        slices = cluster.as_dict(cluster.call(
            f"list EndpointSlices of {namespace}/{APP}", k8s.DiscoveryV1Api(cluster.api).list_namespaced_endpoint_slice,
            namespace, label_selector=f"{SERVICE_NAME_LABEL}={APP}"))["items"]
        return Readiness([], None, slices).of({"metadata": {"namespace": namespace, "name": APP}})[0]

    def select(app: str) -> None:
        cluster.call(f"patch Service {namespace}/{APP}", cluster.core.patch_namespaced_service, APP, namespace,
                     {"spec": {"selector": {"app": app}}})

    def arrange() -> None:
        cluster.create(namespace, pod(APP, scenario.id, container(pause_image([cluster.node(name)])), node=name))
        cluster.create(namespace, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP},
                                   "spec": {"selector": {"app": APP}, "ports": [{"port": 80}]}})
        cluster.create(namespace, {
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": APP},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                "service": {"name": APP, "port": {"number": 80}}}}]}}]}})
        cluster.wait_running(namespace, [APP])
        wait_for(f"Service {namespace}/{APP} has a ready endpoint", ready, timeout=60)

    def inject() -> None:
        select(APP + "-typo")
        scenario.defer(f"Service {namespace}/{APP}'s selector back", lambda: select(APP))

    def observe() -> list[str]:
        wait_for(f"Service {namespace}/{APP} without ready endpoints", ready, until=lambda n: n == 0, timeout=60)
        return wait_for(f"kube-proxy on {name} rejecting {namespace}/{APP}", lambda: [
            line for line in node.check(NO_ENDPOINTS, what="read kube-proxy's rules").splitlines()
            if f"{namespace}/{APP}" in line], timeout=60)

    def judge() -> list[str]:
        view = scenario.view()
        ours = lambda objs: [o for o in objs if o["metadata"].get("namespace") == namespace]  # noqa: E731
        services, pods, slices = (ours(view.list(kind))
                                  for kind in ("services", "pods", "endpointslices.discovery.k8s.io"))
        return (ingress_backends_without_endpoints(ours(view.list("ingresses.networking.k8s.io")), services,
                                                   pods, None, slices).problems
                + services_without_endpoints(services, pods, None, slices).problems)

    scenario.prove(arrange=arrange, judge=judge, inject=inject, observe=observe, symptoms=["has no endpoints"],
                   offender=f"Ingress {namespace}/{APP}",
                   recovered=lambda: wait_for(f"Service {namespace}/{APP} has a ready endpoint again", ready,
                                              timeout=60))
