"""Has it already happened here? A failure's field symptoms counted where they land (issue 15).

Node logs (the kernel log, the kubelet's and the runtime's journals) and the cluster's Events are
turned into Sightings; the catalog's patterns for that log decide which ones are the failure's.
Every finding gives its count, first and last seen, and a few matching lines, newest first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from ..catalog import Entry
from ..times import stamp
from .judgement import Findings, Judgement

LOG_NAMES = {"kernel": "kernel log", "kubelet": "kubelet's journal", "runtime": "container runtime's journal",
             "events": "cluster's Events"}
LINES_SHOWN = 5  # matching lines kept per finding, newest first: enough to recognise it, never a flood
LINE_CHARS = 500


@dataclass(frozen=True)
class Sighting:
    """One log line or Event: where it happened (a node, or "cluster"), in which log, when (None if
    the line carries no time), how many times (an Event's count) and since when."""

    where: str
    log: str
    text: str
    last: datetime | None
    count: int = 1
    first: datetime | None = None


def judge(entry: Entry, sightings: Iterable[Sighting], found: Findings, *, now: datetime, days: int,
          at_least: set[str] = frozenset()) -> Judgement:
    """Every sighting since now - days matched by the entry's patterns for its log, as one finding per
    (where, log, pattern reason), into found. at_least: the logs of which only the newest matches
    were read (the byte cap), so that their counts are minimums."""
    since = now - timedelta(days=days)
    findings: dict[tuple[str, str, str], dict] = {}
    for s in sightings:
        if s.last is not None and s.last < since:
            continue
        pattern = next((p for p in entry.patterns_in(s.log) if p.matches(s.text)), None)
        if pattern is None:
            continue
        f = findings.setdefault((s.where, s.log, pattern.reason), {
            "where": s.where, "in": s.log, "reason": pattern.reason, "pattern": pattern.match,
            "sightings": 0, "at_least": s.log in at_least, "first": None, "last": None, "lines": []})
        f["sightings"] += s.count
        f["first"] = min(filter(None, (f["first"], s.first or s.last)), default=None)
        f["last"] = max(filter(None, (f["last"], s.last)), default=None)
        if len(f["lines"]) < LINES_SHOWN:
            f["lines"].append(s.text[:LINE_CHARS])
    found.judged.update(now=stamp(now), window_days=days, since=stamp(since),
                        patterns=[p.as_dict() for p in entry.patterns])
    by: Counter = Counter()
    for f in findings.values():
        f["first"], f["last"] = stamp(f["first"]), stamp(f["last"])
        times = "at least " * f["at_least"] + f"{f['sightings']}x"
        found.flag(f"{f['where']}: {f['reason']} {times} in the {LOG_NAMES[f['in']]} within {days} days "
                   f"(first {f['first'] or 'undated'}, last {f['last'] or 'undated'}): {f['lines'][0]}", f)
        by[f"{f['where']} {LOG_NAMES[f['in']]}"] += f["sightings"]
    found.judged["happened"] = {
        "sightings": sum(f["sightings"] for f in findings.values()),
        "at_least": any(f["at_least"] for f in findings.values()),
        "first": min((f["first"] for f in findings.values() if f["first"]), default=None),
        "last": max((f["last"] for f in findings.values() if f["last"]), default=None),
        "window_days": days,
        "by": dict(by),
    }
    return found.verdict()
