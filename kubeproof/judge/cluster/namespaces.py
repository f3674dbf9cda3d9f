"""namespace-stuck: namespaces Terminating too long, with why and the safe way out, and the
aggregated APIs whose unavailability blocks every namespace's deletion.

The namespace controller deletes a namespace's content through discovery: an unavailable
APIService (NamespaceDeletionDiscoveryFailure) or objects whose finalizers no controller releases
(NamespaceFinalizersRemaining) keep it Terminating. 004 forced the finalize call, which leaves the
content orphaned in etcd; the remedy offered here is the one that does not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..judgement import Findings, Judgement
from .objects import conditions, condition, name
from ...times import parse_time, span, stamp

FAILURE_IDS = ("namespace-stuck",)  # the catalog entries this module's judges decide

DELETION_CONDITIONS = ("NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                       "NamespaceDeletionContentFailure", "NamespaceContentRemaining", "NamespaceFinalizersRemaining")
NO_FORCE = ("Do not PUT /finalize (004's fix): it drops the namespace and orphans whatever it still holds in "
            "etcd, to resurface when a namespace of that name is created again.")


def unavailable_apiservices(apiservices: list[dict]) -> Judgement:
    found = Findings()
    found.judged["apiservices"] = [name(s) for s in apiservices]
    for service in apiservices:
        available = condition(service, "Available") or {}
        if available.get("status") != "True":
            backend = (service.get("spec") or {}).get("service") or {}
            found.flag(
                f"APIService {name(service)} is unavailable ({available.get('reason', 'no Available condition')}: "
                f"{available.get('message', '')}); its backend is service "
                f"{backend.get('namespace')}/{backend.get('name')} — until it answers, no namespace can finish "
                "deleting and garbage collection stalls", {"apiService": name(service), "service": backend,
                                                            "available": available})
    return found.verdict()


def _remedy(reasons: set[str], unavailable: list[str]) -> str:
    steps = []
    if unavailable or reasons & {"NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure"}:
        steps.append("bring back the unavailable APIService's backend"
                     + (f" ({', '.join(unavailable)})" if unavailable else "")
                     + ", or delete the APIService if its API was uninstalled")
    if "NamespaceFinalizersRemaining" in reasons:
        steps.append("let the controllers owning the finalizers above run; only if one is gone for good, remove "
                     "its finalizer from the objects that carry it")
    elif reasons & {"NamespaceContentRemaining", "NamespaceDeletionContentFailure"}:
        steps.append("find the remaining objects (kubectl api-resources --verbs=list --namespaced -o name | "
                     "xargs -n1 kubectl get -n NAMESPACE) and fix what keeps them")
    if not steps:
        steps.append("read the namespace's status.conditions (kubectl get namespace NAME -o yaml)")
    return "; ".join(steps) + ". " + NO_FORCE


def stuck_namespaces(namespaces: list[dict], apiservices: list[dict] | None, now: datetime,
                     limit_minutes: int) -> Judgement:
    """Namespaces Terminating longer than the limit, with finalizers, conditions and a remedy.
    apiservices None: they could not be listed, so the unavailable ones are not named."""
    unavailable = [name(s) for s in apiservices or [] if (condition(s, "Available") or {}).get("status") != "True"]
    found = Findings()
    found.judged.update(now=stamp(now), limit_minutes=limit_minutes)
    for namespace in namespaces:
        deleted = parse_time((namespace.get("metadata") or {}).get("deletionTimestamp"))
        if (namespace.get("status") or {}).get("phase") != "Terminating" or deleted is None:
            continue
        age = now - deleted
        if age <= timedelta(minutes=limit_minutes):
            continue
        finalizers = (namespace.get("spec") or {}).get("finalizers") or []
        why = [c for c in conditions(namespace) if c.get("type") in DELETION_CONDITIONS and c.get("status") == "True"]
        reasons = {c["type"] for c in why}
        explained = "; ".join(f"{c['type']}: {c.get('message', '')}" for c in why) or "no deletion condition reported"
        found.flag(
            f"namespace {name(namespace)} Terminating for {span(age)} (limit {limit_minutes} min), finalizers "
            f"{', '.join(finalizers) or 'none'}; {explained}"
            + (f"; unavailable APIServices: {', '.join(unavailable)}" if unavailable else "")
            + f" — remedy: {_remedy(reasons, unavailable)}",
            {"namespace": name(namespace), "deletionTimestamp": namespace["metadata"]["deletionTimestamp"],
             "terminatingMinutes": int(age.total_seconds() // 60), "finalizers": finalizers, "conditions": why,
             "unavailableAPIServices": unavailable})
    return found.verdict()
