"""service-no-endpoints: Services with nothing ready behind them, above all those behind an Ingress.

An Ingress routing to a Service with no ready endpoints answers 503 (004: the Service was kept by
Rancher, which was down). Readiness is read from the Endpoints object the endpoints controller (or,
for a Service without a selector, whoever manages it) keeps beside each Service.
"""

from __future__ import annotations

from collections import defaultdict

from ..judgement import Findings, Judgement
from .objects import name, namespace, ref

FAILURE_IDS = ("service-no-endpoints",)  # the catalog entries this module's judges decide


def _addresses(endpoints: dict | None) -> tuple[int, int]:
    """(ready, not ready) addresses of an Endpoints object (None: there is none)."""
    subsets = (endpoints or {}).get("subsets") or []
    return (sum(len(s.get("addresses") or []) for s in subsets),
            sum(len(s.get("notReadyAddresses") or []) for s in subsets))


def _by_ref(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(namespace(o), name(o)): o for o in objects}


def services_without_endpoints(services: list[dict], endpoints: list[dict]) -> Judgement:
    """Services with a selector and no ready address; judged: how many Services were judged."""
    kept = _by_ref(endpoints)
    judged, found = 0, Findings()
    for service in services:
        spec = service.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            continue
        judged += 1
        ready, not_ready = _addresses(kept.get((namespace(service), name(service))))
        if not ready:
            selector = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"].items()))
            found.flag(
                f"Service {ref(service)} (selector {selector}) has no ready endpoints ({not_ready} not ready): "
                "no running, ready pod matches it", {"service": ref(service), "selector": spec["selector"],
                                                      "readyAddresses": ready, "notReadyAddresses": not_ready})
    found.judged["services_judged"] = judged
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


def ingress_backends_without_endpoints(ingresses: list[dict], services: list[dict],
                                       endpoints: list[dict]) -> Judgement:
    """(findings, how many backends were judged): every Service an Ingress routes to must exist and
    have ready endpoints, whoever maintains them."""
    known, kept = _by_ref(services), _by_ref(endpoints)
    judged, found = 0, Findings()
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
            ready, not_ready = _addresses(kept.get(key))
            if not ready:
                managed = "its selector matches no ready pod" if (service.get("spec") or {}).get("selector") else \
                    "it has no selector, so whoever maintains its Endpoints has none ready"
                found.flag(f"Ingress {ref(ingress)} routes {', '.join(routes)} to Service {ref(service)} "
                                        f"with no ready endpoints ({not_ready} not ready; {managed}): 503 (004)",
                                        {**evidence, "readyAddresses": ready, "notReadyAddresses": not_ready})
    found.judged["backends_judged"] = judged
    return found.verdict()
