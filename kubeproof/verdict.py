"""Verdicts: a failing assertion names the failure, the target, every offender and the remediation."""

from __future__ import annotations

from typing import Iterable

import pytest

from . import catalog as catalogs
from .evidence import Evidence, node_param
from .judge.judgement import Judgement


class Verdict:
    def __init__(self, item: pytest.Item, evidence: Evidence):
        self.item, self.evidence = item, evidence
        ids = [arg for mark in item.iter_markers("failure") for arg in mark.args]
        catalog = catalogs.load()
        self.entries = [catalog[i] for i in ids if i in catalog]

    @property
    def subject(self) -> str:
        node = node_param(self.item)
        return f"node {node}" if node else "cluster"

    def conclude(self, judgement: Judgement) -> None:
        """The one end of every node and cluster test: attach what was judged, the offending objects
        and gather.sh's exact output it came from, then skip with the reason when nothing could be
        judged, or fail naming every problem. The raw output goes with a failure or a skip only:
        a passing test's judged facts say enough, and at 5,000 nodes every passing test's raw output
        was most of the reports' size and of the run's time."""
        self.evidence.attach("judged", judgement.judged)
        self.evidence.attach("offenders", judgement.offenders)
        if judgement.skip or any(judgement.problems):
            for section, output in judgement.raw.items():
                self.evidence.attach(f"gather.sh {section}", output)
        if judgement.skip:
            pytest.skip(f"{self.subject}: {judgement.skip}")
        self.fail_if(judgement.problems)

    def fail_if(self, problems: str | Iterable[str]) -> None:
        """Fail listing every problem (not just the first) with the remediation; pass if there are none."""
        problems = [problems] if isinstance(problems, str) else [p for p in problems if p]
        if not problems:
            return
        self.evidence.attach("problems", problems)
        ids = ", ".join(e.id for e in self.entries)
        lines = [f"[{ids}] {self.subject}: {len(problems)} problem{'s' * (len(problems) > 1)}"]
        lines += [f"  - {p}" for p in problems]
        lines += [f"remediation ({e.id}): {e.remediation}" for e in self.entries]
        pytest.fail("\n".join(lines), pytrace=False)
