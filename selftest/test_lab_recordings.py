"""The judges against a real v1.32 cluster as recorded (selftest/data/lab, `python -m selftest.lab
record`): a kubeproof dump with every node's gather output, and a real `kubectl cluster-info dump`.
They run everywhere, with or without the lab, and fail where a judge contradicts the real cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

from lab.findings import FRESH_KIND_FAILS, HAPPENED_TESTS
from lab.record import KUBECTL_DUMP, KUBEPROOF_DUMP
from test_live_cluster import audit, base_test, results


def recorded_audit(tmp_path: Path, *args: str) -> dict[str, dict]:
    """The results of an offline audit of a recording, by test id."""
    proc, document = audit(tmp_path, *args)
    assert document, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results(document)

def test_recorded_lab_fails_only_what_kind_leaves_unhardened(tmp_path: Path) -> None:
    found = recorded_audit(tmp_path, f"--from-dump={KUBEPROOF_DUMP}", "tests_node", "tests_cluster")
    assert [t for t, r in found.items() if r["outcome"] == "error"] == []
    failed = {base_test(t) for t, r in found.items() if r["outcome"] == "failed" and not t.startswith(HAPPENED_TESTS)}
    assert failed == FRESH_KIND_FAILS, {t: r["message"][:400] for t, r in found.items() if r["outcome"] == "failed"}
    nodes = {p.stem for p in (KUBEPROOF_DUMP / "nodes-facts").glob("*.json")}
    assert len(nodes) == 3
    for test in {base_test(t) for t, r in found.items() if r["suite"] == "node"}:
        assert {r["node"] for t, r in found.items() if base_test(t) == test} == nodes, test


def test_real_kubectl_dump_is_judged_like_the_kubeproof_dump(tmp_path: Path) -> None:
    # Same cluster, same moment: what a kubectl dump can judge must agree with the full dump.
    created = json.loads((KUBEPROOF_DUMP / "kubeproof-dump.json").read_text())["created"]
    kubectl = recorded_audit(tmp_path / "kubectl", f"--from-dump={KUBECTL_DUMP}", f"--as-of={created}", "tests_cluster")
    full = recorded_audit(tmp_path / "full", f"--from-dump={KUBEPROOF_DUMP}", "tests_cluster")
    assert [t for t, r in kubectl.items() if r["outcome"] == "error"] == []
    judged = {t: r["outcome"] for t, r in kubectl.items() if r["outcome"] in ("passed", "failed")}
    assert len(judged) >= 10, judged
    assert {t: o for t, o in judged.items() if full[t]["outcome"] != o} == {}
