"""What each test contributes to the reports, attached to its pytest report so xdist carries it.

pytest serializes a report's attributes for the controller (`_report_to_json` copies __dict__),
so a JSON-able `report.kubeproof` reaches the controller from every worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from ..evidence import node_param
from ..kube.redaction import redact

EVIDENCE_LIMIT = 32_000  # characters per evidence item: enough to judge, bounded at 5,000 nodes


def _bounded(value: Any) -> str:
    """An evidence item as JSON text, bounded. Every test's evidence passes here: orjson, json for
    what orjson refuses (an integer past 64 bits, such as a certificate's serial)."""
    try:
        text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = json.dumps(value, default=str)
    if len(text) <= EVIDENCE_LIMIT:
        return text
    return json.dumps({"truncated": True, "characters": len(text), "head": text[:EVIDENCE_LIMIT]})


class EvidenceTexts(Mapping):
    """A test's evidence as the JSON texts its reports carried, each item parsed when read (a fresh
    value each time; json, exact for any integer). Results are held to the run's end: at 5,000 nodes
    their evidence parsed was twice its text, and a text several tests share is held once
    (Collector)."""

    __slots__ = ("_texts",)

    def __init__(self, texts: Mapping[str, str] | None = None):
        self._texts = dict(texts or {})

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> "EvidenceTexts":
        return cls({name: _bounded(value) for name, value in values.items()})

    def __getitem__(self, name: str) -> Any:
        return json.loads(self._texts[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __repr__(self) -> str:
        return f"EvidenceTexts({list(self._texts)})"

    def add(self, texts: Mapping[str, str], held: dict[str, str]) -> None:
        """Take a report's evidence texts, each the one already held where the same text is."""
        self._texts.update((name, held.setdefault(text, text)) for name, text in texts.items())


def evidence_value(data: dict, name: str) -> Any:
    """An evidence item of a report's data (test_data with_evidence), parsed; None if absent."""
    text = data["evidence"].get(name)
    return None if text is None else json.loads(text)


def test_data(item: pytest.Item, suite: str | None) -> dict:
    """The JSON-able facts about one test the reports need, the same for each of its phases; a
    phase's report carries them with its evidence (with_evidence)."""
    node = node_param(item)
    return {
        "failure_ids": [a for m in item.iter_markers("failure") for a in m.args],
        "suite": suite,
        "subject": f"node/{node}" if node else "cluster",
        "node": node,
        "evidence": {},
    }


def with_evidence(data: dict, evidence: dict[str, Any]) -> dict:
    """A phase's report data: the test's, with its evidence (redacted on attach) bounded."""
    return {**data, "evidence": {name: _bounded(value) for name, value in evidence.items()}}


@dataclass
class Result:
    """One test's outcome over its setup, call and teardown phases."""

    test: str
    failure_ids: list[str]
    suite: str | None
    subject: str
    node: str | None
    outcome: str = "not-run"  # passed | failed | error | skipped | waived; not-run until its call reports
    message: str = ""
    duration: float = 0.0
    evidence: EvidenceTexts = field(default_factory=EvidenceTexts)
    waiver: dict | None = None  # the waiver covering its finding (waivers.Waiver.as_dict), live or expired

    def absorb(self, report: pytest.TestReport, held: dict[str, str]) -> None:
        """Take a phase's report; `held` is every evidence text held so far (EvidenceTexts.add)."""
        self.duration += report.duration
        data = getattr(report, "kubeproof", None) or {}
        self.evidence.add(data.get("evidence", {}), held)
        self.waiver = data.get("waiver", self.waiver)
        if report.skipped and data.get("waiver"):  # a finding a live waiver covers (waivers.judge)
            self.outcome, self.message = "waived", redact(_failure_text(report))
        elif report.skipped and self.outcome == "not-run":
            self.outcome = "skipped"
            self.message = report.longrepr[2].removeprefix("Skipped: ") if isinstance(report.longrepr, tuple) else ""
        elif report.failed and self.outcome in ("not-run", "passed", "skipped", "waived"):
            self.outcome = "failed" if report.when == "call" and not data.get("unjudged") else "error"
            self.message = redact(_failure_text(report))
        elif report.passed and report.when == "call" and self.outcome == "not-run":
            self.outcome = "passed"  # a test interrupted before its call ends is never shown as passed

    def as_dict(self) -> dict:
        return {"test": self.test, "subject": self.subject, "node": self.node, "suite": self.suite,
                "outcome": self.outcome, "message": self.message, "duration": round(self.duration, 3),
                "evidence": self.evidence, "waiver": self.waiver}


def _failure_text(report: pytest.TestReport) -> str:
    """The exception text without the traceback: the verdict's message, or the assertion."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is None:
        return str(report.longrepr or "")
    return crash.message.removeprefix("Failed: ")


class Collector:
    """A plugin gathering results in the controller from every worker's reports, in arrival order."""

    def __init__(self) -> None:
        self.results: dict[str, Result] = {}
        self.finished: set[str] = set()  # every test that ran to its end, kubeproof's or not
        self.running: dict[str, pytest.TestReport] = {}  # setup reports of tests not ended yet
        self._held: dict[str, str] = {}  # every evidence text, once

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup":
            self.running[report.nodeid] = report
        if report.when == "teardown":
            self.finished.add(report.nodeid)
            self.running.pop(report.nodeid, None)
        data = getattr(report, "kubeproof", None)
        if data is None:
            return
        result = self.results.get(report.nodeid)
        if result is None:
            result = self.results[report.nodeid] = Result(
                report.nodeid, data["failure_ids"], data["suite"], data["subject"], data["node"])
        result.absorb(report, self._held)
