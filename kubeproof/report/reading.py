"""What a reader of an audit needs first, shared by audit.html and audit.md: failures worst first,
each failure's results grouped (failing, passed, skipped by reason), a failing test's problems
without the remediation its failure states once, and where each field report can be read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..catalog import SEVERITIES

VERDICT_LABEL = {"fail": "FAIL", "error": "ERROR", "waived": "WAIVED", "pass": "PASS", "skip": "SKIPPED",
                 "not-run": "NOT RUN"}
READING_ORDER = ("fail", "error", "waived", "pass", "skip", "not-run")  # what to fix first
REMEDIATION_PREFIX = "remediation ("  # Verdict.fail_if's closing lines, one per failure id
# Keys naming the offending object of an evidence row, most specific first; a namespace key is folded into it.
OBJECT_KEYS = ("where", "event", "workload", "daemonset", "pod", "name", "path")


def ordered(failures: list[dict]) -> list[dict]:
    """Failing ids first, the most severe first; catalog order within a rank."""
    return sorted(failures, key=lambda f: (READING_ORDER.index(f["verdict"]), SEVERITIES.index(f["severity"])))


@dataclass
class Grouped:
    failing: list[dict] = field(default_factory=list)
    waived: list[dict] = field(default_factory=list)
    passed: list[dict] = field(default_factory=list)
    skipped: dict[str, list[dict]] = field(default_factory=dict)  # reason -> its results


def grouped(results: list[dict]) -> Grouped:
    groups = Grouped()
    for result in results:
        if result["outcome"] in ("failed", "error"):
            groups.failing.append(result)
        elif result["outcome"] == "waived":
            groups.waived.append(result)
        elif result["outcome"] == "passed":
            groups.passed.append(result)
        else:
            groups.skipped.setdefault(result["message"] or "no reason given", []).append(result)
    return groups


def skip_reasons(doc: dict) -> Counter:
    """Reason -> how many tests of the whole run skipped for it (each test once)."""
    tests = {r["test"]: r for f in doc["failures"] for r in f["results"] if r["outcome"] == "skipped"}
    return Counter(r["message"] or "no reason given" for r in tests.values())


def without_remediation(message: str) -> str:
    """A failing test's message without the remediation lines: the failure's section states it once."""
    return "\n".join(line for line in message.splitlines() if not line.startswith(REMEDIATION_PREFIX))


def object_key(row: dict) -> str | None:
    return next((k for k in OBJECT_KEYS if isinstance(row.get(k), str)), None)


def object_name(row: dict) -> str | None:
    """The object an evidence row is about, `namespace/name` where it has a namespace; None if it names none."""
    key = object_key(row)
    if key is None:
        return None
    name, namespace = row[key], row.get("namespace")
    return f"{namespace}/{name}" if isinstance(namespace, str) and "/" not in name else name


def waiver_line(result: dict) -> str:
    """What a waiver did to this result: waived it until a date, or expired and left it failing; "" if none."""
    waiver = result.get("waiver")  # absent from documents written before waivers
    if not waiver:
        return ""
    if waiver["expired"]:
        return f"Waiver {waiver['number']} EXPIRED on {waiver['expires']}, so this fails again: {waiver['reason']}"
    return f"Waived until {waiver['expires']} by waiver {waiver['number']}: {waiver['reason']}"


def waiver_summary(entry: dict) -> str:
    """One line about a waiver as the document lists it (waivers.summary): what it names, what it did, why."""
    named = f"waiver {entry['number']} ({entry['failure']}{' ' + entry['subject'] if entry['subject'] else ''})"
    n = len(entry["tests"])
    tests = f"{n} failing test{'s' * (n != 1)}"
    said = {"waived": f"waived {tests} until {entry['expires']}",
            "expired": f"EXPIRED on {entry['expires']}: it waives nothing" + (f"; {tests} it names fail" if n else ""),
            "unused": f"unused: no failing test matched it (until {entry['expires']})"}[entry["status"]]
    return f"{named} {said}. Reason: {entry['reason']}"


def sources(failure: dict) -> list[tuple[str, str]]:
    """(text, url) per field report the failure comes from; url "" when the report has no public copy."""
    out = []
    for s in failure["sources"]:
        text = f"report {s['report']}: {s['title']}" + (f", {s['section']}" if s["section"] else "")
        out.append((text if s["url"] else text + " (no public link is known for this report)", s["url"]))
    return out


def headline(doc: dict) -> str:
    target = (doc["target"] or {}).get("description", "no target")
    counts = ", ".join(f"{n} {o}" for o, n in doc["summary"]["counts"].items())
    gate = doc["gate"]
    return ((f"INCOMPLETE: {doc['incomplete']}. " if doc.get("incomplete") else "") +
            f"Target: {target}. Verdict: {VERDICT_LABEL[doc['summary']['verdict']]} ({counts}). "
            f"Gate: fail on {gate['fail_on']} and above, exit status {gate['exit_status']}. "
            f"Created {doc['created']} by kubeproof {doc['kubeproof_version']}.")


def happened(failure: dict) -> str:
    """The history tests' count for the summary: "-" when none looked, "at least 12", "0"."""
    seen = failure.get("happened")  # absent from documents written before kubeproof looked
    if not seen:
        return "-"
    return "at least " * seen["at_least"] + str(seen["sightings"])


def happened_line(failure: dict) -> str:
    """Where and when the failure's symptoms were seen, one sentence; "" when no history test looked."""
    seen = failure.get("happened")
    if not seen:
        return ""
    said = f"{happened(failure)} sightings within {seen['window_days']} days"
    if not seen["sightings"]:
        return said + " in the logs and Events read."
    where = ", ".join(f"{place} {n}" for place, n in seen["by"].items())
    return f"{said} (first {seen['first'] or 'undated'}, last {seen['last'] or 'undated'}): {where}."


def tally(failure: dict) -> str:
    """"2 failed of 5 tests", or "3 tests"."""
    results = failure["results"]
    failing = sum(r["outcome"] in ("failed", "error") for r in results)
    total = f"{len(results)} test{'s' * (len(results) != 1)}"
    return f"{failing} failed of {total}" if failing else total
