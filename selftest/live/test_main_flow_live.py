"""The mission's main flow, for real: plain `pytest` in the repository where kind and its container
engine are present creates a throwaway kind cluster, audits it (every node and cluster test), runs
every scenario on it and deletes it.

With the lab's environment (selftest/run exports it: kind's podman provider, the lab's node image as
KUBEPROOF_KIND_IMAGE, its probe and tools images) the cluster is kubeproof's own, from
kubeproof/kind/cluster.yaml; its worker's kubelet gets a filesystem of its own
(kubeproof/kind/nodefs.py), so nodefs-pressure runs too. Each scenario must pass its eight steps
(kubeproof/scenario/runner.py prove): fault, field symptom, verdict, restore, nothing left, and the history
scan finding the symptom where it happened and nowhere else. The profile's nofile minimum is the
sandbox's ceiling (docs/lab.md: no process here can have more than 20000 open files).

It needs no lab cluster, so it holds no lab lock: it runs beside the tests that share the lab.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kubeproof import kind
from selftest.lab import pins
from selftest.support.audits import audit, results
from selftest.support.lab_cluster import assert_every_node_test_on, assert_fresh_kind_failures, kind_clusters
from selftest.support.suites import scenario_tests

pytestmark = [
    pytest.mark.skipif(kind.available() is not None, reason=f"needs kind and its engine: {kind.available()}"),
    pytest.mark.skipif(not os.environ.get(kind.IMAGE_ENV), reason=f"{kind.IMAGE_ENV} is not set: no node image "
                       "without a registry (eval \"$(python3 -m selftest.lab up | tail -1)\")"),
]


def node_container_clusters() -> set[str]:
    """The cluster of every kind node container, running or not."""
    out = subprocess.run([kind.engine(), "ps", "-a", "--filter", f"label={kind.CLUSTER_LABEL}",
                          "--format", f'{{{{index .Labels "{kind.CLUSTER_LABEL}"}}}}'],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_plain_pytest_audits_a_throwaway_cluster_proves_every_scenario_and_deletes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = kind_clusters()
    monkeypatch.setenv("KUBEPROOF_TOOLS_IMAGE", pins.TOOLS_IMAGE)  # open_files' python3
    proc, document = audit(tmp_path, "-rA", timeout=2700)
    out = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "(created for this run)" in proc.stdout, out
    assert kind_clusters() == before and node_container_clusters() <= before, "the throwaway cluster is left"
    assert document, out
    found = results(document)
    assert [t for t, r in found.items() if r["outcome"] == "error"] == [], out

    assert_every_node_test_on({r["node"] for r in found.values() if r["suite"] == "node"}, found)
    assert len({r["node"] for r in found.values() if r["suite"] == "node"}) == 2  # kubeproof/kind/cluster.yaml's
    assert_fresh_kind_failures(found, pins.DEFAULT.kubernetes)  # the lab's node image, KUBEPROOF_KIND_IMAGE

    proven = {t: r for t, r in found.items() if r["suite"] == "scenario"}
    assert sorted({t.split("[")[0] for t in proven}) == sorted(scenario_tests()), out  # each, none skipped
    unproven = {t: (r["outcome"], r["message"][:500]) for t, r in proven.items() if r["outcome"] != "passed"}
    assert not unproven, out
    for test, r in proven.items():
        assert "7. happened here" in r["evidence"] and "8. nothing left" in r["evidence"], (test, list(r["evidence"]))
