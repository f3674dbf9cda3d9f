"""The audit at a glance, shared by audit.html and audit.md: the verdict banner's counts per
severity, one row per failing failure id (where, the worst measured value), the passing checks with
what they measured, the skips by reason, and no path of the machine that ran the audit."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..catalog import SEVERITIES
from ..times import parse_time
from . import grouping, reading

# Failure ids per severity, by what their tests concluded (errors: no verdict, shown only if any).
BANNER_COLUMNS = (("failing", ("fail",)), ("errors", ("error",)), ("waived", ("waived",)),
                  ("passed", ("pass",)), ("not judged", ("skip", "not-run")))
OBJECTS_SHOWN = 3  # offending objects named in a row before "and N more"
VALUE_CHARS = 240  # a problem line in a summary cell; the failure's section holds it whole
MEASURES_SHOWN = 6  # values of what a passing test judged, in its row
SCALAR_CHARS = 60  # longer strings in what was judged are not a measured value
MOMENTS = ("now", "since")  # when it was judged, not what was measured
# "(short by 82400)", "(short by 1.2 GiB)", "(short by 3 days)": the gap the judges write, as one scale.
GAP = re.compile(r"short by ([\d,.]+) ?(TiB|GiB|MiB|KiB|B|days|h|min|inodes)?\b")
UNITS = {"TiB": 2 ** 40, "GiB": 2 ** 30, "MiB": 2 ** 20, "KiB": 2 ** 10, "days": 86400, "h": 3600, "min": 60}
CERTIFICATE_COLUMNS = ("where", "subject", "issuer", "notAfter", "days left")


@dataclass
class Banner:
    verdict: str  # the whole run's (document.VERDICT_ORDER)
    gate: str
    incomplete: str | None
    columns: list[str]
    rows: list[tuple[str, list[int]]]  # severity, failure ids per column; the last row: "all"


def banner(doc: dict) -> Banner:
    kept = [(name, verdicts) for name, verdicts in BANNER_COLUMNS
            if name != "errors" or any(f["verdict"] == "error" for f in doc["failures"])]
    rows = [(severity, [sum(f["verdict"] in verdicts for f in doc["failures"] if f["severity"] == severity)
                        for _, verdicts in kept]) for severity in SEVERITIES]
    rows.append(("all", [sum(column) for column in zip(*(counts for _, counts in rows))]))
    gate = doc["gate"]
    status = gate["exit_status"]
    decided = {0: "passed", 1: "failed"}.get(status, f"exit status {status}")
    return Banner(doc["summary"]["verdict"], f"Gate {decided}: fails on {gate['fail_on']} and above",
                  doc.get("incomplete"), [name for name, _ in kept], rows)


@dataclass
class Failing:
    failure: dict
    where: str
    worst: str
    problems: int  # different problems over its failing tests (a pid is no difference), the worst one included
    waivers: list[str]


def failing(failures: list[dict]) -> list[Failing]:
    """A row per failure id that fails, errs or is waived, in the order given (reading.ordered)."""
    rows = []
    for f in failures:
        if f["verdict"] not in ("fail", "error", "waived"):
            continue
        bad = [r for r in f["results"] if r["outcome"] in ("failed", "error")] or \
              [r for r in f["results"] if r["outcome"] == "waived"]
        lines = [line for r in bad for line in _problems(r)]
        rows.append(Failing(f, _where(bad, f["results"]), _worst(bad, lines), len({grouping.PID.sub("pid", line) for line in lines}),
                            list(dict.fromkeys(reading.waiver_line(r) for r in bad if reading.waiver_line(r)))))
    return rows


def _where(bad: list[dict], results: list[dict]) -> str:
    """"3/3 nodes" of the nodes its node tests ran on, and the offending objects of its cluster tests."""
    said = []
    nodes = {r["node"] for r in bad if r["node"]}
    if nodes:
        tested = {r["node"] for r in results if r["node"] and r["outcome"] != "skipped"}
        said.append(f"{len(nodes):,}/{len(tested):,} node{'s' * (len(tested) != 1)}")
    cluster = [r for r in bad if not r["node"]]
    objects = list(dict.fromkeys(name for r in cluster for row in _list(r["evidence"].get("offenders"))
                                 if isinstance(row, dict) and (name := reading.object_name(row))))
    if objects:
        more = len(objects) - OBJECTS_SHOWN
        said.append(", ".join(objects[:OBJECTS_SHOWN]) + (f" and {more:,} more" if more > 0 else ""))
    elif cluster:
        said.append("cluster")
    return "; ".join(said)


def _problems(result: dict) -> list[str]:
    """A failing result's problem lines: as judged, else its message's (an error: the message)."""
    problems = result["evidence"].get("problems")
    if isinstance(problems, list) and problems:
        return [str(p) for p in problems]
    lines = reading.without_remediation(result["message"]).splitlines()
    listed = [line.strip()[2:] for line in lines if line.strip().startswith("- ")]
    return listed or [line for line in lines[:1] if line]


def _gap(line: str) -> float:
    match = GAP.search(line)
    if not match:
        return -1.0
    return float(match.group(1).replace(",", "")) * UNITS.get(match.group(2) or "", 1)


def _worst(bad: list[dict], lines: list[str]) -> str:
    """The earliest certificate among the failing tests' evidence, else the problem line with the
    widest gap ("short by ..."), else the first."""
    earliest = _earliest(bad)
    if earliest:
        return earliest
    if not lines:
        return "-"
    line = max(lines, key=_gap)  # max keeps the first of equals: the first line when none has a gap
    return line if len(line) <= VALUE_CHARS else line[:VALUE_CHARS].rsplit(" ", 1)[0] + " …"


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def certificates(rows: list, now: Any) -> list[dict]:
    """The certificate rows among rows (subject and notAfter), each as CERTIFICATE_COLUMNS, days
    left computed from now (the judged moment) where the judge gave none."""
    return [certificate(r, now) for r in rows if isinstance(r, dict) and is_certificate(r)]


def is_certificate(row: dict) -> bool:
    return "subject" in row and ("notAfter" in row or "not_after" in row)


def certificate(row: dict, now: Any) -> dict:
    not_after = row.get("notAfter") or row.get("not_after")
    days = row.get("daysLeft")
    expiry, moment = _time(not_after), _time(now)
    if days is None and expiry and moment:
        days = round((expiry - moment).total_seconds() / 86400, 1)
    where = row.get("where") or row.get("path") or ", ".join(row.get("places") or [])
    return {"where": where or None, "subject": row.get("subject"), "issuer": row.get("issuer"),
            "notAfter": not_after, "days left": days}


def _time(value: Any):
    return parse_time(value) if isinstance(value, str) else None


def _earliest(results: list[dict]) -> str:
    """"notAfter 2027-12-07T16:43:57Z, 365.0 days left (CN=kube-apiserver, node cp) of 12 certificates"."""
    found = []
    for r in results:
        judged = r["evidence"].get("judged")
        judged = judged if isinstance(judged, dict) else {}
        rows = _list(judged.get("certificates")) + _list(r["evidence"].get("offenders"))
        found += [(c, r["node"]) for c in certificates(rows, judged.get("now")) if _time(c["notAfter"])]
    if not found:
        return ""
    cert, node = min(found, key=lambda pair: _time(pair[0]["notAfter"]))
    days = f", {cert['days left']} days left" if cert["days left"] is not None else ""
    on = f", node {node}" if node else ""
    return f"earliest notAfter {cert['notAfter']}{days} ({cert['subject']}{on}) of {len(found):,} certificate{'s' * (len(found) != 1)}"


@dataclass
class Passing:
    failure: dict
    test: str
    where: str
    measured: str
    span: int = 0  # on the first row of its failure id, its rows; 0 on the others


def passing(failures: list[dict]) -> list[Passing]:
    """A row per passed test (its nodes together), under the first failure id it guards, with what it measured."""
    tests: dict[str, tuple[dict, list[dict]]] = {}
    for f in failures:
        for r in (r for r in f["results"] if r["outcome"] == "passed"):
            owner, passed = tests.setdefault(grouping.test_of(r), (f, []))
            if owner is f:  # a test guarding several ids: under the first
                passed.append(r)
    rows: list[Passing] = []
    for test, (f, passed) in tests.items():
        tested = {r["node"] for r in f["results"] if r["node"] and grouping.test_of(r) == test
                  and r["outcome"] != "skipped"}
        where = f"{len(passed):,}/{len(tested):,} node{'s' * (len(tested) != 1)}" if passed[0]["node"] else "cluster"
        rows.append(Passing(f, test, where, measured(passed)))
    first: dict[str, Passing] = {}
    for row in rows:  # a failure id's rows are together
        first.setdefault(row.failure["id"], row).span += 1
    return rows


def measured(results: list[dict]) -> str:
    """What passing results judged: the earliest certificate, the history tests' sightings, else
    the first one's numbers, flags and short values (and counts of what it listed)."""
    earliest = _earliest(results)
    if earliest:
        return earliest
    # Read one result at a time: a history test's sightings are summed over every node, any other
    # test shows its first node's (at 5,000 nodes each result read is a parse of its evidence).
    judged = (j for r in results if isinstance(j := r["evidence"].get("judged"), dict))
    first = next(judged, None)
    if first is None:
        return "-"
    if isinstance(first.get("happened"), dict):
        seen = [first["happened"], *(j["happened"] for j in judged if isinstance(j.get("happened"), dict))]
        return f"{sum(h['sightings'] for h in seen):,} sightings within {seen[0]['window_days']} days"
    values = list(_scalars(first, ""))[:MEASURES_SHOWN]
    on = f" (shown for node {results[0]['node']})" if len(results) > 1 and results[0]["node"] else ""
    return ", ".join(values) + on if values else "-"


def _scalars(judged: dict, prefix: str):
    for key, value in judged.items():
        if key in MOMENTS:
            continue
        if value is None or isinstance(value, (bool, int, float)):
            yield f"{prefix}{key} {json.dumps(value)}"
        elif isinstance(value, str) and len(value) <= SCALAR_CHARS and not prefix:
            yield f"{prefix}{key} {value}"
        elif isinstance(value, dict) and not prefix:
            yield from _scalars(value, f"{key} ")
        elif isinstance(value, list) and not prefix:
            yield f"{key}: {len(value):,}"


def skips(doc: dict) -> list[tuple[str, int]]:
    """(reason, tests) for the whole run, most tests first; reasons naming each node merged."""
    return grouping.counted(reading.skip_reasons(doc)).most_common()


def happened_window(failures: list[dict]) -> int | None:
    """The history tests' window in days (the legend's), None where none looked."""
    return max((f["happened"]["window_days"] for f in failures if f.get("happened")), default=None)


def local_paths(doc: dict, escape: Callable[[str], str] = str) -> Callable[[str], str]:
    """What replaces the auditing machine's absolute paths in a report's text (escape: as the text
    writes them): the dump read by its name, the working directory as ".", home as "~", the
    temporary directory as "$TMPDIR". Paths on the nodes (/etc/kubernetes/...) stay."""
    places = {}
    target = doc.get("target") or {}
    cwd = Path.cwd()
    if target.get("mode") == "dump":
        dump = Path(target["description"].removeprefix("dump "))
        if dump.is_absolute() and not dump.is_relative_to(cwd):
            places[str(dump)] = dump.name
    for path, shown in ((cwd, "."), (Path.home(), "~"), (Path(tempfile.gettempdir()), "$TMPDIR")):
        if path.parent != path:  # "/" would take every path
            places.setdefault(str(path), shown)
            places.setdefault(os.path.realpath(path), shown)
    longest = sorted(places, key=len, reverse=True)
    # Whole paths only: not inside a URL's path or a longer name (a full stop may end the sentence).
    pattern = re.compile(r"(?<![\w.~/-])(?:" + "|".join(re.escape(escape(p)) for p in longest) + r")(?![\w-]|\.\w)")
    by_text = {escape(p): escape(places[p]) for p in longest}
    return lambda text: pattern.sub(lambda m: by_text[m.group(0)], text)
