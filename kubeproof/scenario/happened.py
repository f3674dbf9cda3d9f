"""Step 7, happened here: the history tests' judges, over what happened since the scenario began,
find its symptom in the logs it declares on the nodes it acted on, and nothing on the others."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from ..errors import FaultError, Unavailable
from ..judge.cluster import history as cluster_history
from ..judge.node import history as node_history
from ..nodes.facts import NodeFacts
from ..times import parse_time

CLOCK_SLACK = timedelta(seconds=5)  # log lines are stamped by the node's clock, the start by ours


def began() -> datetime:
    """Where the scan of a scenario starting now begins."""
    return datetime.now(timezone.utc) - CLOCK_SLACK


def sightings(ids: list[str], since: datetime, *, nodes: Iterable[str], facts: Callable[[str], NodeFacts],
              events: Callable[[], list[dict]], days: int) -> tuple[list[dict], dict[str, str]]:
    """Every node's and the Events' findings for ids last seen since then; and the nodes not read."""
    judgements, unread = [], {}
    for name in nodes:
        try:
            read = facts(name)
        except (Unavailable, FaultError) as exc:
            unread[name] = str(exc)
            continue
        judgements += [node_history.seen_on_node(read, i, days) for i in ids]
    listed = events()
    now = datetime.now(timezone.utc)
    judgements += [cluster_history.seen_in_events(listed, i, now, days) for i in ids]
    found = [{key: f[key] for key in ("where", "in", "reason", "sightings", "last")} | {"line": f["lines"][0]}
             for j in judgements for f in j.offenders
             if f["last"] and parse_time(f["last"]) >= since]
    return found, unread


def misplaced(found: list[dict], *, acted: set[str], nodes: set[str], found_in: Iterable[str],
              found_anywhere: bool) -> tuple[list[str], list[dict]]:
    """Step 7's verdict on the history scan's findings ({"where": "node X" or another place, "in": log}):
    (the logs of found_in with no finding where the scenario acted, the findings where they may not be).
    Where it acted: its nodes ("node X" in acted), or no node at all (a scheduler's Event)."""
    others = {f"node {name}" for name in nodes} - acted
    here = [f for f in found if f["where"] not in others]
    missing = [log for log in found_in if not any(f["in"] == log for f in here)]
    if found_anywhere:
        return missing, []
    return missing, [f for f in found if f not in here] if found_in else list(found)
