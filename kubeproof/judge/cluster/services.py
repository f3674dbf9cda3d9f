"""service-no-endpoints: Services with nothing ready behind them, above all those behind an Ingress.

An Ingress routing to a Service with no ready endpoints answers 503 (004: the Service was kept by
Rancher, which was down). What is ready behind a Service is read, in order, from:
- its EndpointSlices (discovery.k8s.io/v1, labelled kubernetes.io/service-name), the API's current
  source, which kube-proxy reads: an endpoint counts as ready unless conditions.ready is false
  (EndpointConditions: "nil should be interpreted as ready");
- its Endpoints object, the legacy mirror (subsets' addresses and notReadyAddresses);
- where neither is there (`kubectl cluster-info dump` holds no Endpoints or EndpointSlices), what
  the endpoint controllers would derive: the Running, not terminating pods of its namespace its
  selector matches, ready when every container is (publishNotReadyAddresses counts them all).
  A Service without a selector is kept by whoever writes its endpoints: with neither source listed
  there is nothing to judge it by.
"""

from __future__ import annotations

from collections import defaultdict

from ..judgement import Findings, Judgement
from .objects import labels, name, namespace, ref

FAILURE_IDS = ("service-no-endpoints",)  # the catalog entries this module's judges decide

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class Readiness:
    """(ready, not ready) endpoints behind each Service, from the best source listed."""

    def __init__(self, pods: list[dict], endpoints: list[dict] | None, slices: list[dict] | None):
        self.source = ("EndpointSlices" if slices is not None else "Endpoints" if endpoints is not None
                       else "the Service's selector and the ready pods (no Endpoints or EndpointSlices listed)")
        self._slices: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for s in slices or []:
            self._slices[namespace(s), labels(s).get(SERVICE_NAME_LABEL, "")].append(s)
        self._endpoints = {(namespace(e), name(e)): e for e in endpoints or []}
        self._slices_listed, self._endpoints_listed = slices is not None, endpoints is not None
        self._pods: dict[str, list[dict]] = defaultdict(list)
        for pod in pods:
            self._pods[namespace(pod)].append(pod)

    def of(self, service: dict) -> tuple[int, int] | None:
        """(ready, not ready) behind the Service; None when nothing listed can tell."""
        key = (namespace(service), name(service))
        if self._slices_listed:
            points = [p for s in self._slices.get(key, []) for p in s.get("endpoints") or []]
            ready = sum((p.get("conditions") or {}).get("ready") is not False for p in points)
            return ready, len(points) - ready
        if self._endpoints_listed:
            subsets = (self._endpoints.get(key) or {}).get("subsets") or []
            return (sum(len(s.get("addresses") or []) for s in subsets),
                    sum(len(s.get("notReadyAddresses") or []) for s in subsets))
        spec = service.get("spec") or {}
        selector = spec.get("selector")
        if not selector:
            return None
        selected = [p for p in self._pods.get(key[0], [])
                    if all(labels(p).get(k) == v for k, v in selector.items())
                    and (p.get("status") or {}).get("phase") == "Running"
                    and not (p.get("metadata") or {}).get("deletionTimestamp")]
        ready = sum(spec.get("publishNotReadyAddresses") or _ready(p) for p in selected)
        return ready, len(selected) - ready


def _ready(pod: dict) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") for s in statuses)


def services_without_endpoints(services: list[dict], pods: list[dict], endpoints: list[dict] | None,
                               slices: list[dict] | None) -> Judgement:
    """Services with a selector and nothing ready behind them."""
    readiness = Readiness(pods, endpoints, slices)
    found = Findings()
    judged = 0
    for service in services:
        spec = service.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            continue
        judged += 1
        ready, not_ready = readiness.of(service)
        if not ready:
            selector = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"].items()))
            found.flag(f"Service {ref(service)} (selector {selector}) has no ready endpoints ({not_ready} not ready, "
                       f"from {readiness.source}): no running, ready pod matches it",
                       {"service": ref(service), "selector": spec["selector"], "ready": ready,
                        "notReady": not_ready, "source": readiness.source})
    found.judged.update(services_judged=judged, source=readiness.source)
    return found.verdict()


def _backends(ingress: dict) -> dict[str, list[str]]:
    """Service name -> the routes (`host/path`, or `default`) of the Ingress that send traffic to it."""
    spec = ingress.get("spec") or {}
    routes: dict[str, list[str]] = defaultdict(list)
    default = ((spec.get("defaultBackend") or {}).get("service") or {}).get("name")
    if default:
        routes[default].append("default")
    for rule in spec.get("rules") or []:
        for path in (rule.get("http") or {}).get("paths") or []:
            service = ((path.get("backend") or {}).get("service") or {}).get("name")
            if service:
                routes[service].append(f"{rule.get('host', '*')}{path.get('path', '/')}")
    return routes


def ingress_backends_without_endpoints(ingresses: list[dict], services: list[dict], pods: list[dict],
                                       endpoints: list[dict] | None, slices: list[dict] | None) -> Judgement:
    """Every Service an Ingress routes to exists and has ready endpoints, whoever maintains them."""
    readiness = Readiness(pods, endpoints, slices)
    known = {(namespace(s), name(s)): s for s in services}
    found = Findings()
    judged, unknown = 0, []
    for ingress in ingresses:
        for backend, routes in _backends(ingress).items():
            key = (namespace(ingress), backend)
            service = known.get(key)
            judged += 1
            evidence = {"ingress": ref(ingress), "service": f"{key[0]}/{backend}", "routes": routes}
            if service is None:
                found.flag(f"Ingress {ref(ingress)} routes {', '.join(routes)} to Service "
                           f"{key[0]}/{backend}, which does not exist: 503", evidence)
                continue
            if (service.get("spec") or {}).get("type") == "ExternalName":
                continue
            counted = readiness.of(service)
            if counted is None:
                unknown.append(ref(service))
                continue
            ready, not_ready = counted
            if not ready:
                managed = "its selector matches no ready pod" if (service.get("spec") or {}).get("selector") else \
                    "it has no selector, so whoever maintains its endpoints has none ready"
                found.flag(f"Ingress {ref(ingress)} routes {', '.join(routes)} to Service {ref(service)} "
                           f"with no ready endpoints ({not_ready} not ready, from {readiness.source}; {managed}): "
                           "503 (004)", {**evidence, "ready": ready, "notReady": not_ready, "source": readiness.source})
    found.judged.update(backends_judged=judged, source=readiness.source,
                        not_judged=[f"{s}: no selector, and no Endpoints or EndpointSlices listed" for s in unknown])
    return found.verdict()
