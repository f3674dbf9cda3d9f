"""Every judge against its passing and failing data, side by side per failure id.

selftest/data/checks/<failure-id>/{pass,fail}-<case>.yaml, as Polaris keeps test/checks/<check>/
{success,failure}: each file names its failure id (as its directory does, so `grep -rn` finds it), a
judge (kubeproof.judge.<judge>) deciding that id, the data it judges and, for a failing case, one
fragment per problem the judge must report (exactly that many). A passing case
must report nothing and must not skip: a healthy node or cluster is judged, not waved through.

The data, as a judge sees it:
- node: a recording of gather.sh's output (selftest/data/nodes) with the named sections replaced
  (or added, for a section gather.sh prints since the recording was made), parsed by the real parser;
- cluster: a committed dump (selftest/data/clusters, `from:`) and/or object lists by kind (`objects:`,
  replacing that kind's list); `now:` fixes the moment when there is no dump.
args are the judge's positional arguments: "$facts" the node's facts, "$KIND" that kind's objects,
"$now" the moment, "$hours=N" a window; anything else is passed as written.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kubeproof import catalog
from kubeproof.judge import cluster as cluster_judges, node as node_judges
from kubeproof.kube.kinds import kind_named
from kubeproof.kube.trimming import trim
from kubeproof.kube.view import ClusterView
from kubeproof.nodes import gather
from kubeproof.nodes.facts import NodeFacts
from selftest.support.paths import DATA

CASES = sorted((DATA / "checks").glob("*/*.yaml"))


def _node(spec: dict) -> NodeFacts:
    text = (DATA / "nodes" / f"{spec.get('recording', 'kubeadm-node')}.gather.txt").read_text()
    for section, output in (spec.get("sections") or {}).items():
        if f"@@kubeproof-section {section}\n" not in text:  # a section gather.sh learnt after the recording
            assert f"\nsection {section} " in gather.SCRIPT, f"gather.sh has no section {section}"
            empty = f"@@kubeproof-section {section}\n\n@@kubeproof-end {section} rc=0\n"
            text = text.replace(gather.END, empty + gather.END)
        text, found = re.subn(rf"(@@kubeproof-section {section}\n).*?(\n@@kubeproof-end {section} rc=)\d+",
                              lambda m: f"{m[1]}{output.rstrip(chr(10))}{m[2]}0", text, flags=re.S)
        assert found == 1, f"no section {section} in the recording"
    facts = gather.parse(text)
    facts.update(node="node-a", gathered_at=facts["node_time"])
    return NodeFacts(facts)


def _arguments(case: dict) -> list:
    facts = _node(case["node"]) if "node" in case else None
    cluster = case.get("cluster") or {}
    view = ClusterView.from_dump(DATA / "clusters" / cluster["from"]) if "from" in cluster else None
    # As a live view or a dump keeps them (trimming.py): a judge reading a field trimming drops
    # would pass here and misjudge every real cluster.
    objects = {name: [trim(kind_named(name), item) for item in items] if isinstance(items, list) else items
               for name, items in (cluster.get("objects") or {}).items()}
    now = view.now() if view else datetime.fromisoformat(cluster.get("now", "2026-09-14T12:00:00+00:00"))

    def value(arg):
        if not (isinstance(arg, str) and arg.startswith("$")):
            return arg
        name = arg[1:]
        if name == "facts":
            return facts
        if name == "now":
            return now
        if name.startswith("hours="):
            return timedelta(hours=float(name.removeprefix("hours=")))
        return objects[name] if name in objects else view.list(name)
    return [value(a) for a in case.get("args", ["$facts"])]


def _judge(dotted: str):
    module, _, function = dotted.rpartition(".")
    return getattr(importlib.import_module(f"kubeproof.judge.{module}"), function)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_check_data(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    failure_id, outcome = path.parent.name, path.stem.split("-", 1)[0]
    assert case["failure"] == failure_id, "a case names the failure id of its directory (so grep finds it)"
    assert failure_id in catalog.load(), f"{failure_id}: no such catalog entry"
    judge = _judge(case["judge"])
    assert failure_id in judge.__globals__["FAILURE_IDS"], f"{case['judge']} does not decide {failure_id}"
    judgement = judge(*_arguments(case))
    if outcome == "pass":
        assert (judgement.skip, judgement.problems) == (None, []), judgement
        return
    assert outcome == "fail", f"{path.name}: name it pass-* or fail-*"
    expected = case["problems"]
    assert len(judgement.problems) == len(expected), judgement.problems
    for fragment in expected:
        assert any(fragment in p for p in judgement.problems), f"{fragment!r} not in {judgement.problems}"


def test_every_failure_id_with_a_judge_has_passing_and_failing_data() -> None:
    decided = {failure_id for package in (node_judges, cluster_judges)
               for info in pkgutil.iter_modules(package.__path__)
               for failure_id in getattr(importlib.import_module(f"{package.__name__}.{info.name}"),
                                         "FAILURE_IDS", ())}
    have = {(p.parent.name, p.stem.split("-", 1)[0]) for p in CASES}
    assert sorted((i, o) for i in decided for o in ("pass", "fail") if (i, o) not in have) == []
