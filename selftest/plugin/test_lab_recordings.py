"""The judges against real clusters as recorded, one per Kubernetes release (selftest/data/lab/<version>,
`python -m selftest.lab record [--kubernetes MINOR]`): a kubeproof dump with every node's gather
output, and a real `kubectl cluster-info dump`. The lab's current releases and v1.32.4 (kept as
regression data) run everywhere, with or without the lab, and fail where a judge contradicts a real
cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftest.lab.findings import HAPPENED_TESTS, fresh_kind_fails
from selftest.lab.record import kubectl_dump, kubeproof_dump, recorded
from selftest.support.audits import audit, base_test, results

by_release = pytest.mark.parametrize("version", recorded())


def recorded_audit(tmp_path: Path, *args: str) -> dict[str, dict]:
    """The results of an offline audit of a recording, by test id."""
    proc, document = audit(tmp_path, *args)
    assert document, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results(document)

@by_release
def test_recorded_lab_fails_only_what_kind_leaves_unhardened(tmp_path: Path, version: str) -> None:
    found = recorded_audit(tmp_path, f"--from-dump={kubeproof_dump(version)}", "tests_node", "tests_cluster")
    assert [t for t, r in found.items() if r["outcome"] == "error"] == []
    failed = {base_test(t) for t, r in found.items() if r["outcome"] == "failed" and not t.startswith(HAPPENED_TESTS)}
    assert failed == fresh_kind_fails(version), {t: r["message"][:400] for t, r in found.items()
                                                 if r["outcome"] == "failed"}
    nodes = {p.stem for p in (kubeproof_dump(version) / "nodes-facts").glob("*.json")}
    assert len(nodes) == 3
    for test in {base_test(t) for t, r in found.items() if r["suite"] == "node"}:
        assert {r["node"] for t, r in found.items() if base_test(t) == test} == nodes, test


@by_release
def test_real_kubectl_dump_is_judged_like_the_kubeproof_dump(tmp_path: Path, version: str) -> None:
    # Same cluster, same moment: what a kubectl dump can judge must agree with the full dump.
    created = json.loads((kubeproof_dump(version) / "kubeproof-dump.json").read_text())["created"]
    kubectl = recorded_audit(tmp_path / "kubectl", f"--from-dump={kubectl_dump(version)}", f"--as-of={created}",
                             "tests_cluster")
    full = recorded_audit(tmp_path / "full", f"--from-dump={kubeproof_dump(version)}", "tests_cluster")
    assert [t for t, r in kubectl.items() if r["outcome"] == "error"] == []
    judged = {t: r["outcome"] for t, r in kubectl.items() if r["outcome"] in ("passed", "failed")}
    assert len(judged) >= 10, judged
    assert {t: o for t, o in judged.items() if full[t]["outcome"] != o} == {}
