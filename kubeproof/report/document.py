"""The audit document: verdicts per failure id and per node, with evidence. Written as audit.json.

Schema "kubeproof.audit/v1" (documented in docs/audit-json.md); fields are only ever added, so a
reader of v1 keeps working across kubeproof versions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Iterable

from .. import __version__
from .. import catalog as catalogs
from .records import Result

SCHEMA = "kubeproof.audit/v1"
# Most decisive first: one failed test makes the failure id "fail", whatever else happened.
VERDICT_ORDER = ("fail", "error", "waived", "pass", "skip", "not-run")
OUTCOME_VERDICT = {"failed": "fail", "error": "error", "waived": "waived", "passed": "pass", "skipped": "skip"}


def combine(outcomes: Iterable[str]) -> str:
    verdicts = {OUTCOME_VERDICT[o] for o in outcomes}
    return next((v for v in VERDICT_ORDER if v in verdicts), "not-run")


def happened(results: Iterable[Result]) -> dict | None:
    """What the history tests of one failure id saw (their judged "happened"), summed over nodes and
    Events; None when no history test looked."""
    seen = [judged["happened"] for r in results if r.outcome in ("passed", "failed")
            and isinstance(judged := r.evidence.get("judged"), dict) and "happened" in judged]
    if not seen:
        return None
    by: Counter = Counter()
    for h in seen:
        by.update(h["by"])
    return {"sightings": sum(h["sightings"] for h in seen), "at_least": any(h["at_least"] for h in seen),
            "first": min((h["first"] for h in seen if h["first"]), default=None),
            "last": max((h["last"] for h in seen if h["last"]), default=None),
            "window_days": max(h["window_days"] for h in seen), "by": dict(by)}


def build(results: Iterable[Result], *, target: dict | None, gate: dict,
          created: datetime | None = None, incomplete: str | None = None, waivers: list[dict] = ()) -> dict:
    """`incomplete` says why the run did not run every test (None when it did); a test that
    never reached its call is left out, never counted as passed. `waivers`: waivers.summary()."""
    catalog = catalogs.load()
    results = [r for r in results if r.outcome != "not-run"]
    by_id: dict[str, list[Result]] = defaultdict(list)
    by_node: dict[str, list[Result]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        counts[result.outcome] += 1
        for failure_id in result.failure_ids:
            by_id[failure_id].append(result)
        if result.node:
            by_node[result.node].append(result)
    failures = []
    for entry in catalog.entries:
        mine = by_id.get(entry.id, [])
        failures.append({**entry.as_dict(), "verdict": combine(r.outcome for r in mine),
                         "happened": happened(mine), "results": [r.as_dict() for r in mine]})
    nodes = {name: {"verdict": combine(r.outcome for r in mine),
                    "failing": sorted({i for r in mine if r.outcome in ("failed", "error")
                                       for i in r.failure_ids})}
             for name, mine in sorted(by_node.items())}
    return {
        "schema": SCHEMA,
        "kubeproof_version": __version__,
        "created": (created or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "target": target,
        "gate": gate,
        "incomplete": incomplete,
        "waivers": list(waivers),
        "summary": {
            "verdict": combine(o for o, n in counts.items() for _ in range(n)),
            "counts": {o: counts.get(o, 0) for o in ("passed", "failed", "error", "waived", "skipped")},
            "failures": {f["id"]: f["verdict"] for f in failures},
            "happened": {f["id"]: f["happened"]["sightings"] if f["happened"] else None for f in failures},
            "nodes": nodes,
        },
        "failures": failures,
    }
