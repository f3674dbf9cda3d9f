"""What nodes report about themselves: pressure conditions (nodefs-pressure), the kubelet's eviction
events, and a stalled pod lifecycle event generator (pleg-unhealthy).

Conditions are the node's state now; events are history, judged only inside a recent window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..judgement import Findings, Judgement
from .objects import conditions, name, ref
from ...times import parse_time, span, stamp

FAILURE_IDS = ("nodefs-pressure", "pleg-unhealthy")  # the catalog entries this module's judges decide

PRESSURE_CONDITIONS = ("DiskPressure", "MemoryPressure", "PIDPressure")
# The kubelet's event reasons (pkg/kubelet/events, pkg/kubelet/eviction): a threshold met on the
# node, and each pod it evicted.
EVICTION_REASONS = ("EvictionThresholdMet", "Evicted")
PLEG_SYMPTOM = "PLEG is not healthy"  # the kubelet's runtime-state error, in the Ready condition (004)


def pressured_nodes(nodes: list[dict]) -> Judgement:
    found = Findings()
    found.judged["nodes"] = [name(n) for n in nodes]
    for node in nodes:
        for condition in conditions(node):
            if condition.get("type") in PRESSURE_CONDITIONS and condition.get("status") == "True":
                found.flag(
                    f"node {name(node)} has {condition['type']} since {condition.get('lastTransitionTime')}: "
                    f"{condition.get('message', '')} — it is tainted, refuses new pods and evicts running ones",
                    {"node": name(node), "condition": condition})
    return found.verdict()


def event_time(event: dict) -> datetime | None:
    """When an event last happened: lastTimestamp (core/v1), else its series or eventTime
    (events.k8s.io writers), else when it was created."""
    return (parse_time(event.get("lastTimestamp")) or parse_time((event.get("series") or {}).get("lastObservedTime"))
            or parse_time(event.get("eventTime")) or parse_time((event.get("metadata") or {}).get("creationTimestamp")))


def recent(events: list[dict], now: datetime, window: timedelta) -> list[dict]:
    """The events that last happened within window before now."""
    return [e for e in events if (when := event_time(e)) and when >= now - window]


def event_node(event: dict) -> str:
    """The node an event happened on: the Node it is about, else the reporting kubelet's host."""
    involved = event.get("involvedObject") or {}
    if involved.get("kind") == "Node":
        return involved.get("name", "?")
    return (event.get("source") or {}).get("host") or event.get("reportingInstance") or "?"


def _event_evidence(event: dict) -> dict:
    involved = event.get("involvedObject") or {}
    return {"event": ref(event), "node": event_node(event), "reason": event.get("reason"),
            "type": event.get("type"), "involvedObject": f"{involved.get('kind')} {ref({'metadata': involved})}",
            "count": event.get("count"), "lastTime": stamp(event_time(event)), "message": event.get("message")}


def _window(now: datetime, window: timedelta) -> Findings:
    found = Findings()
    found.judged.update(now=stamp(now), window_hours=window.total_seconds() / 3600)
    return found


def eviction_events(events: list[dict], now: datetime, window: timedelta) -> Judgement:
    found = _window(now, window)
    for event in recent(events, now, window):
        if event.get("reason") in EVICTION_REASONS:
            evidence = _event_evidence(event)
            found.flag(
                f"{evidence['reason']} on node {evidence['node']} ({evidence['involvedObject']}, "
                f"{event.get('count') or 1}x, last {span(now - event_time(event))} ago): {event.get('message', '')}",
                evidence)
    return found.verdict()


def pleg_reports(nodes: list[dict], events: list[dict], now: datetime, window: timedelta) -> Judgement:
    found = _window(now, window)
    for node in nodes:
        for c in conditions(node):
            if PLEG_SYMPTOM in (c.get("message") or ""):
                found.flag(f"node {name(node)} {c['type']}={c.get('status')}: {c.get('message')}",
                           {"node": name(node), "condition": c})
    for event in recent(events, now, window):
        if PLEG_SYMPTOM in (event.get("message") or ""):
            evidence = _event_evidence(event)
            found.flag(f"event {evidence['reason']} on node {evidence['node']} "
                       f"({span(now - event_time(event))} ago): {event.get('message')}", evidence)
    return found.verdict()
