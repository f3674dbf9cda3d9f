"""The scenarios as shipped (scenarios/), collected and gated the way a user's run meets them.

No cluster exists here, so no scenario can reproduce anything; what can be proven is that every
scenario declares catalog failure ids, skips with the gate's reason unless the target is a cluster
kubeproof created or one named by --allow-disruptive, refuses a mismatched name, and, allowed
against the read-only replay API server, fails in one line per scenario when its first write is
refused (or skips for want of node access) — without hanging and without writing anything else.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from selftest.support.paths import REPO
from selftest.support.suites import scenario_files, scenario_tests

# The documented failures the issue asks a reproduction of.
REPRODUCED = {"nodefs-pressure", "critical-pod-eviction", "cert-expiry", "cgroup-kmem-leak", "nofile-exhaustion",
              "apiserver-anonymous-probe", "namespace-stuck", "affinity-rollout-stall",
              "service-no-endpoints", "hostname-drift", "workload-crashes", "hostnetwork-dns-policy"}
INI = "[pytest]\nkubeproof_suites =\n    scenarios:scenario\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """The shipped scenarios as the only suite of a fresh project."""
    pytester.makeini(INI)
    shutil.copytree(REPO / "scenarios", pytester.path / "scenarios")
    return pytester


def test_every_scenario_declares_failure_ids_from_the_catalog(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text(INI)
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    # The catalog command collects the suites offline; an undeclared or unknown id fails it.
    done = subprocess.run([sys.executable, "-m", "kubeproof", "catalog", "--format", "json", "--root",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)["failures"]
    declared = {e["id"] for e in entries if e["scenarios"]}
    assert REPRODUCED <= declared, f"no scenario for {sorted(REPRODUCED - declared)}"
    files = {test.split("::")[0].split("/")[-1] for e in entries for test in e["scenarios"]}
    assert files == set(scenario_files())
    missing = [e["id"] for e in entries if not e["scenarios"] and not e["no_scenario"]]
    assert not missing, f"catalog entries with neither a scenario nor a no_scenario reason: {missing}"


def test_without_a_cluster_every_scenario_skips_with_the_gates_reason(suite, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(d) / "kind").exists()))
    result = suite.runpytest("-rs", "scenarios")
    result.assert_outcomes(skipped=len(scenario_tests()))
    assert (f"kubeproof: {len(scenario_tests())} scenario tests skipped: disruptive scenarios need a live "
            "cluster") in result.stdout.str()


def test_a_cluster_kubeproof_did_not_create_is_skipped_unless_named(suite, replay, kubeconfig):
    server = replay
    result = suite.runpytest(f"--kubeconfig={kubeconfig}", "--node-access", "none", "-rs", "scenarios")
    result.assert_outcomes(skipped=len(scenario_tests()))
    assert "pass --allow-disruptive=replay to run it there" in result.stdout.str()
    assert {verb for verb, _, _ in server.requests} <= {"get", "list"}


def test_a_mismatched_allow_disruptive_is_refused(suite, kubeconfig):
    result = suite.runpytest(f"--kubeconfig={kubeconfig}", "--node-access", "none",
                             "--allow-disruptive", "prod", "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--allow-disruptive=prod does not match the target" in result.stdout.str() + result.stderr.str()


def test_allowed_by_name_against_a_read_only_server_each_scenario_fails_cleanly(suite, replay, kubeconfig):
    server = replay
    started = time.monotonic()
    result = suite.runpytest(f"--kubeconfig={kubeconfig}", "--node-access", "none",
                             "--allow-disruptive", "replay", "-rA", "scenarios")
    elapsed = time.monotonic() - started
    outcomes = result.parseoutcomes()
    out = result.stdout.str()
    assert outcomes.get("passed", 0) == 0 and outcomes.get("error", 0) == 0, out
    assert outcomes.get("failed", 0) + outcomes.get("skipped", 0) == len(scenario_tests()), out
    failures = [line for line in out.splitlines() if line.startswith("[") and "] scenario: " in line]
    assert len(failures) == outcomes["failed"] >= 3, out
    assert all("HTTP 405" in line for line in failures), failures
    assert "Traceback" not in out and "During handling" not in out
    assert "is not in the inventory" in out  # node scenarios want node access they were not given
    writes = [(verb, path) for verb, path, _ in server.requests if verb not in ("get", "list")]
    assert writes == [("create", "/api/v1/namespaces")] * outcomes["failed"], writes
    assert elapsed < 30, f"{elapsed:.0f} s: a refused write must fail at once, not wait"
