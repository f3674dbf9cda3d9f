"""Compare two audit.json files: what regressed, what was fixed, between two nightly runs.

Results are keyed by the stable test id (file::function[node]): many tests share a failure id and a
subject ("cluster"), so any coarser key lets a passing test hide a failing one.
"""

from __future__ import annotations

from .. import catalog as catalogs

FAILING = ("failed", "error")
ABSENT = "absent"  # the test did not exist (or was not collected) in that run


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
    """Per test: regressions (failing now, passed/skipped/absent before), fixes, verdict changes per id."""
    before, after = _tests(old), _tests(new)

    def was(test: str) -> str:
        return before[test]["outcome"] if test in before else ABSENT

    regressions = sorted(t for t, r in after.items() if r["outcome"] in FAILING and was(t) not in FAILING)
    fixes = sorted(t for t, r in before.items()
                   if r["outcome"] in FAILING and t in after and after[t]["outcome"] not in FAILING)
    changed = {fid: (old["summary"]["failures"].get(fid, "not-run"), verdict)
               for fid, verdict in new["summary"]["failures"].items()
               if old["summary"]["failures"].get(fid, "not-run") != verdict}
    return {
        "regressions": [{"test": t, "failure_ids": after[t]["failure_ids"], "subject": after[t]["subject"],
                         "severity": after[t]["severity"], "was": was(t), "outcome": after[t]["outcome"],
                         "message": after[t]["message"]} for t in regressions],
        "fixed": [{"test": t, "failure_ids": before[t]["failure_ids"], "subject": before[t]["subject"],
                   "outcome": after[t]["outcome"]} for t in fixes],
        "verdicts": {fid: {"old": o, "new": n} for fid, (o, n) in sorted(changed.items())},
    }


def _first_line(message: str) -> str:
    return message.splitlines()[0] if message else ""


def render(result: dict) -> str:
    lines = [f"REGRESSED  {','.join(r['failure_ids'])} [{r['severity']}] {r['test']} "
             f"({r['was']} -> {r['outcome']}): {_first_line(r['message'])}" for r in result["regressions"]]
    lines += [f"FIXED      {','.join(r['failure_ids'])} {r['test']}" for r in result["fixed"]]
    lines += [f"VERDICT    {fid}: {v['old']} -> {v['new']}" for fid, v in result["verdicts"].items()]
    n, f = len(result["regressions"]), len(result["fixed"])
    lines.append(f"{n} regression{'s' * (n != 1)}, {f} fixed")
    return "\n".join(lines)
