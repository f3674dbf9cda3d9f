"""Node hardening assertions: read-only, one test per (failure id, node), judged from node facts.

Each test hands a judge's Judgement (kubeproof/judge) to `conclude`, which attaches the facts
judged and gather.sh's exact output for the sections they came from, then skips with the reason
when nothing could be judged on the node, or fails through the verdict naming every problem.
"""

from __future__ import annotations

from typing import Callable

import pytest

from kubeproof.audit import AuditedNode
from kubeproof.evidence import Evidence
from kubeproof.judge.judgement import Judgement
from kubeproof.verdict import Verdict


@pytest.fixture
def conclude(node: AuditedNode, evidence: Evidence, verdict: Verdict) -> Callable[[Judgement], None]:
    def conclude(judgement: Judgement) -> None:
        evidence.attach("judged", judgement.judged)
        for section in judgement.sections:
            raw = node.facts.raw(section)
            evidence.attach(f"gather.sh {section}", raw["output"] if raw else "(not in the facts)")
        if judgement.skip:
            pytest.skip(f"node {node.name}: {judgement.skip}")
        verdict.fail_if(judgement.problems)
    return conclude
