"""Compare two audit.json files: what regressed, what was fixed, between two nightly runs.

Results are keyed by the stable test id (file::function[node]): many tests share a failure id and a
subject ("cluster"), so any coarser key lets a passing test hide a failing one.
"""

from __future__ import annotations

from .. import catalog as catalogs
from ..errors import KubeproofError
from .document import OUTCOME_VERDICT, SCHEMA, VERDICT_ORDER

FAILING = ("failed", "error")
ABSENT = "absent"  # the test did not exist (or was not collected) in that run


def check(document, path: str) -> None:
    """Refuse what is not a kubeproof audit.json: every field diff reads, of the type it has."""
    def bad(what: str) -> KubeproofError:
        return KubeproofError(f"{path} is not a kubeproof audit report ({SCHEMA}): {what}")

    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise bad(f"its schema is {document.get('schema') if isinstance(document, dict) else None!r}")
    summary = document.get("summary")
    if not isinstance(summary, dict) or not isinstance(summary.get("failures"), dict) or any(
            v not in VERDICT_ORDER for v in summary["failures"].values()):
        raise bad("summary.failures is not a map of failure ids to verdicts")
    if not isinstance(document.get("failures"), list):
        raise bad("failures is not a list")
    if not isinstance(document.get("target"), (dict, type(None))) or not isinstance(
            document.get("incomplete"), (str, type(None))):
        raise bad("target or incomplete is of another type")
    for number, failure in enumerate(document["failures"]):
        if not (isinstance(failure, dict) and isinstance(failure.get("id"), str)
                and failure.get("severity") in catalogs.SEVERITIES and isinstance(failure.get("results"), list)
                and all(isinstance(r, dict) and isinstance(r.get("test"), str) and r.get("outcome") in OUTCOME_VERDICT
                        and isinstance(r.get("subject"), str) and isinstance(r.get("message"), str)
                        for r in failure["results"])):
            raise bad(f"failures[{number}] lacks an id, a severity or results with test, outcome, "
                      "subject and message")


def _target(document: dict) -> str:
    return str((document["target"] or {}).get("description") or "no target")


def warnings(old: dict, new: dict) -> list[str]:
    """What makes the comparison less than like for like: other targets, a run that did not finish."""
    said = []
    if _target(old) != _target(new):
        said.append(f"the reports are of different targets: {_target(old)} (OLD), {_target(new)} (NEW)")
    said += [f"{which} is INCOMPLETE: {doc['incomplete']}" for which, doc in (("OLD", old), ("NEW", new))
             if doc.get("incomplete")]
    return said


def _tests(document: dict) -> dict[str, dict]:
    """Test id -> its result, with every failure id it guards and the worst of their severities."""
    tests: dict[str, dict] = {}
    for failure in document["failures"]:
        for result in failure["results"]:
            test = tests.setdefault(result["test"], {**result, "failure_ids": [], "severities": []})
            test["failure_ids"].append(failure["id"])
            test["severities"].append(failure["severity"])
    for test in tests.values():
        test["severity"] = min(test.pop("severities"), key=catalogs.SEVERITIES.index)
    return tests


def diff(old: dict, new: dict) -> dict:
    """Per test: regressions (failing now, passed/skipped/waived/absent before: a waiver's expiry is one),
    fixes, newly waived findings (not fixed), verdict changes per id."""
    before, after = _tests(old), _tests(new)

    def was(test: str) -> str:
        return before[test]["outcome"] if test in before else ABSENT

    regressions = sorted(t for t, r in after.items() if r["outcome"] in FAILING and was(t) not in FAILING)
    fixes = sorted(t for t, r in before.items()
                   if r["outcome"] in FAILING and t in after and after[t]["outcome"] not in (*FAILING, "waived"))
    waived = sorted(t for t, r in after.items() if r["outcome"] == "waived" and was(t) != "waived")
    changed = {fid: (old["summary"]["failures"].get(fid, "not-run"), verdict)
               for fid, verdict in new["summary"]["failures"].items()
               if old["summary"]["failures"].get(fid, "not-run") != verdict}
    return {
        "warnings": warnings(old, new),
        "regressions": [{"test": t, "failure_ids": after[t]["failure_ids"], "subject": after[t]["subject"],
                         "severity": after[t]["severity"], "was": was(t), "outcome": after[t]["outcome"],
                         "message": after[t]["message"]} for t in regressions],
        "fixed": [{"test": t, "failure_ids": before[t]["failure_ids"], "subject": before[t]["subject"],
                   "outcome": after[t]["outcome"]} for t in fixes],
        "waived": [{"test": t, "failure_ids": after[t]["failure_ids"], "subject": after[t]["subject"],
                    "was": was(t), "waiver": after[t].get("waiver")} for t in waived],
        "verdicts": {fid: {"old": o, "new": n} for fid, (o, n) in sorted(changed.items())},
    }


def _first_line(message: str) -> str:
    return message.splitlines()[0] if message else ""


def render(result: dict) -> str:
    lines = [f"WARNING    {w}" for w in result["warnings"]]
    lines += [f"REGRESSED  {','.join(r['failure_ids'])} [{r['severity']}] {r['test']} "
             f"({r['was']} -> {r['outcome']}): {_first_line(r['message'])}" for r in result["regressions"]]
    lines += [f"FIXED      {','.join(r['failure_ids'])} {r['test']}" for r in result["fixed"]]
    lines += [f"WAIVED     {','.join(r['failure_ids'])} {r['test']} ({r['was']} -> waived until "
              f"{r['waiver']['expires']})" for r in result["waived"]]
    lines += [f"VERDICT    {fid}: {v['old']} -> {v['new']}" for fid, v in result["verdicts"].items()]
    n, f = len(result["regressions"]), len(result["fixed"])
    lines.append(f"{n} regression{'s' * (n != 1)}, {f} fixed")
    return "\n".join(lines)
