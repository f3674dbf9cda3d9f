"""Every catalog pattern against real log lines: each must match its hits and no near miss, with
Python's re (which counts) and with the real `grep -E -i` that filters on the node (issue 15).

Data: selftest/data/logs/<failure-id>.yaml (README there says where each line comes from).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kubeproof import catalog
from kubeproof.judge.cluster.history import event_text

LOGS = Path(__file__).parent / "data" / "logs"
WITH_PATTERNS = [e for e in catalog.load().entries if e.patterns]


def _lines(entry: catalog.Entry) -> list[dict]:
    data = yaml.safe_load((LOGS / f"{entry.id}.yaml").read_text(encoding="utf-8"))
    assert data["failure"] == entry.id
    for line in data["lines"]:
        if "event" in line:  # the text the cluster judge matches, built the way it builds it
            e = line["event"]
            line["line"] = event_text({"involvedObject": {"kind": e["kind"], "namespace": e.get("namespace"),
                                                          "name": e["name"]},
                                       "reason": e["reason"], "message": e["message"]})
    return data["lines"]


def _grep(match: str, lines: list[str]) -> set[int]:
    """Indexes of the lines GNU grep -E -i matches, as gather.sh runs it (LC_ALL=C)."""
    out = subprocess.run(["grep", "-n", "-E", "-i", "-e", match], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    assert out.returncode in (0, 1), out.stderr
    return {int(row.partition(":")[0]) - 1 for row in out.stdout.splitlines()}


@pytest.mark.parametrize("entry", WITH_PATTERNS, ids=[e.id for e in WITH_PATTERNS])
def test_patterns_match_their_lines_and_no_near_miss(entry: catalog.Entry) -> None:
    assert shutil.which("grep")
    lines = _lines(entry)
    texts = [line["line"] for line in lines]
    rules = {(log, p.reason): p for p in entry.patterns for log in p.logs}
    assert len(rules) == sum(len(p.logs) for p in entry.patterns), "one pattern per (log, reason)"
    grep = {p.match: _grep(p.match, texts) for p in entry.patterns}
    for i, line in enumerate(lines):
        in_log = [p for (log, _), p in rules.items() if log == line["in"]]
        by_re = {p.reason for p in in_log if p.regex().search(line["line"])}
        by_grep = {p.reason for p in in_log if i in grep[p.match]}
        expected = {line["hits"]} if "hits" in line else set()
        assert (by_re, by_grep) == (expected, expected), line
    hit = {(p.reason, p.match) for p in entry.patterns for line in lines
           if line.get("hits") == p.reason and line["in"] in p.logs}
    near = {(p.reason, p.match) for p in entry.patterns for line in lines
            if line.get("near") == p.reason and line["in"] in p.logs}
    every = {(p.reason, p.match) for p in entry.patterns}
    assert (every - hit, every - near) == (set(), set()), "each pattern needs a line it matches and a near miss"


def test_every_failure_with_a_check_says_where_its_symptoms_land() -> None:
    """patterns, or no_patterns saying why; a log file for each failure with patterns and no other."""
    entries = catalog.load().entries
    assert [e.id for e in entries if not e.no_assertion and not e.patterns and not e.no_patterns] == []
    assert sorted(p.stem for p in LOGS.glob("*.yaml")) == sorted(e.id for e in WITH_PATTERNS)
