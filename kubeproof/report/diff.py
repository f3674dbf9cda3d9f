"""Compare two audit.json files: what regressed, what was fixed, between two nightly runs."""

from __future__ import annotations

def _failing(result: dict | None) -> bool:
    return result is not None and result["outcome"] in ("failed", "error")


def _results(document: dict) -> dict[tuple[str, str], dict]:
    return {(f["id"], r["subject"]): {**r, "severity": f["severity"]}
            for f in document["failures"] for r in f["results"]}


def diff(old: dict, new: dict) -> dict:
    """Per (failure id, subject): regressions (now failing), fixes, and verdict changes per id."""
    before, after = _results(old), _results(new)
    regressions = sorted(k for k in after if _failing(after[k]) and not _failing(before.get(k)))
    fixes = sorted(k for k in before if _failing(before[k]) and k in after and not _failing(after[k]))
    changed = {fid: (old["summary"]["failures"].get(fid, "not-run"), verdict)
               for fid, verdict in new["summary"]["failures"].items()
               if old["summary"]["failures"].get(fid, "not-run") != verdict}
    return {
        "regressions": [{"id": i, "subject": s, "severity": after[(i, s)]["severity"],
                         "message": after[(i, s)]["message"]} for i, s in regressions],
        "fixed": [{"id": i, "subject": s} for i, s in fixes],
        "verdicts": {fid: {"old": o, "new": n} for fid, (o, n) in sorted(changed.items())},
    }


def render(result: dict) -> str:
    lines = []
    for r in result["regressions"]:
        first = r["message"].splitlines()[0] if r["message"] else ""
        lines.append(f"REGRESSED  {r['id']} [{r['severity']}] {r['subject']}: {first}")
    lines += [f"FIXED      {r['id']} {r['subject']}" for r in result["fixed"]]
    lines += [f"VERDICT    {fid}: {v['old']} -> {v['new']}" for fid, v in result["verdicts"].items()]
    n, f = len(result["regressions"]), len(result["fixed"])
    lines.append(f"{n} regression{'s' * (n != 1)}, {f} fixed")
    return "\n".join(lines)
