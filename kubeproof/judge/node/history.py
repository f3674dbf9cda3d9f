"""Has it already happened on this node? Each failure's patterns over the node's kernel log and the
kubelet's and the container runtime's journals, as gathered (issue 15)."""

from __future__ import annotations

from ... import catalog
from ...nodes.facts import NodeFacts
from ...times import parse_time
from ..history import LINES_SHOWN, LOG_NAMES, Sighting, judge
from ..judgement import Findings, Judgement

# The catalog entries with a pattern for a node log.
FAILURE_IDS = tuple(e.id for e in catalog.load().entries if any(e.patterns_in(log) for log in catalog.NODE_LOGS))
DMESG = ("the ring buffer of the running kernel, this boot only: journald here keeps no kernel messages "
         "(ReadKMsg={readkmsg})")
SHARED_KERNEL = ("the node runs in a container ({container}): its kernel is its host's, shared by every container "
                 "there (a kind cluster's nodes, other clusters' pods), so a kernel message cannot be told to be "
                 "this node's; not judged here")


def seen_on_node(facts: NodeFacts, failure_id: str, days: int) -> Judgement:
    entry = catalog.load()[failure_id]
    logs = [log for log in catalog.NODE_LOGS if entry.patterns_in(log)]
    found = Findings(sections=tuple(f"history-{log}" for log in logs), facts=facts)
    read = {log: facts.history(log) for log in logs}
    found.judged["logs"] = {log: {"read from": h["source"] or f"not read: {h['why']}", "truncated": h["truncated"]}
                            for log, h in read.items()}
    for log, h in read.items():
        shared = SHARED_KERNEL.format(container=h["container"]) if h.get("container") else None
        notes = [DMESG.format(readkmsg=h.get("readkmsg"))] * (h["source"] == "dmesg") + [shared] * bool(shared)
        if notes:
            found.judged["logs"][log]["note"] = "; ".join(notes)
        if shared and h["read"]:  # shown, never counted as this node's
            mine = [line["line"] for line in h["lines"] if any(p.matches(line["line"]) for p in entry.patterns_in(log))]
            found.judged["logs"][log]["host lines"] = mine[:LINES_SHOWN]
            h.update(read=False, why=shared)
    readable = [log for log, h in read.items() if h["read"]]
    if not readable:
        return found.nothing("; ".join(f"{LOG_NAMES[log]} not read: {h['why']}" for log, h in read.items()))
    sightings = [Sighting(f"node {facts.name}", log, line["line"], parse_time(line["at"]))
                 for log in readable for line in read[log]["lines"]]
    now = parse_time(facts.node_time) or parse_time(facts.gathered_at)
    return judge(entry, sightings, found, now=now, days=days,
                 at_least={log for log in readable if read[log]["truncated"]})
