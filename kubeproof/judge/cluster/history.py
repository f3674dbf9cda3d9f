"""Has it already happened in this cluster? Each failure's patterns over the cluster's Events, per
node where an Event names one (issue 15). Events last as long as the API server keeps them
(--event-ttl, one hour by default), however long the window."""

from __future__ import annotations

from datetime import datetime

from ... import catalog
from ..history import Sighting, judge
from ..judgement import Findings, Judgement
from .node_conditions import event_node, event_time
from .objects import ref
from ...times import parse_time

FAILURE_IDS = tuple(e.id for e in catalog.load().entries if e.patterns_in("events"))


def event_text(event: dict) -> str:
    """What an Event's patterns match: "<Kind> <namespace/name> <reason>: <message>"."""
    involved = event.get("involvedObject") or {}
    return (f"{involved.get('kind')} {ref({'metadata': involved})} {event.get('reason')}: "
            f"{' '.join((event.get('message') or '').split())}")


def _where(event: dict) -> str:
    node = event_node(event)
    return "cluster" if node == "?" else f"node {node}"  # a scheduler's Event names no node


def _count(event: dict) -> int:
    return event.get("count") or (event.get("series") or {}).get("count") or 1


def seen_in_events(events: list[dict], failure_id: str, now: datetime, days: int) -> Judgement:
    entry = catalog.load()[failure_id]
    found = Findings(judged={"events": len(events)})
    newest_first = sorted(events, key=lambda e: event_time(e) or now, reverse=True)
    sightings = [Sighting(_where(e), "events", event_text(e), event_time(e),
                          _count(e), parse_time(e.get("firstTimestamp")) or parse_time(e.get("eventTime")))
                 for e in newest_first]
    return judge(entry, sightings, found, now=now, days=days)
