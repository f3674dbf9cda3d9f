"""Has it already happened on this node? Each failure's patterns over the node's kernel log and the
kubelet's and the container runtime's journals, as gathered (issue 15)."""

from __future__ import annotations

from datetime import datetime

from ... import catalog
from ...nodes.facts import NodeFacts
from ..history import LOG_NAMES, Sighting, judge
from ..judgement import Findings, Judgement

# The catalog entries with a pattern for a node log.
FAILURE_IDS = tuple(e.id for e in catalog.load().entries if any(e.patterns_in(log) for log in catalog.NODE_LOGS))
KIND_KERNEL = ("the ring buffer of the running kernel, this boot only: journald here keeps no kernel messages "
               "(ReadKMsg=no). In a kind node that kernel is the host's, shared by every node container on it, "
               "so a kernel symptom shows on each of them")


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def seen_on_node(facts: NodeFacts, failure_id: str, days: int) -> Judgement:
    entry = catalog.load()[failure_id]
    logs = [log for log in catalog.NODE_LOGS if entry.patterns_in(log)]
    found = Findings(sections=tuple(f"history-{log}" for log in logs), facts=facts)
    read = {log: facts.history(log) for log in logs}
    found.judged["logs"] = {log: {"read from": h["source"] or f"not read: {h['why']}", "truncated": h["truncated"],
                                  **({"note": KIND_KERNEL} if h["source"] == "dmesg" else {})}
                            for log, h in read.items()}
    readable = [log for log, h in read.items() if h["read"]]
    if not readable:
        return found.nothing("; ".join(f"{LOG_NAMES[log]} not read: {h['why']}" for log, h in read.items()))
    sightings = [Sighting(f"node {facts.name}", log, line["line"], _moment(line["at"]))
                 for log in readable for line in read[log]["lines"]]
    now = _moment(facts.node_time) or _moment(facts.gathered_at)
    return judge(entry, sightings, found, now=now, days=days,
                 at_least={log for log in readable if read[log]["truncated"]})
