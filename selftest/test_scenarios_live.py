"""Every scenario on a real cluster, the lab's (KUBEPROOF_SELFTEST_CONTEXT), run the way a user runs them:
`pytest scenarios --kube-context=C --allow-disruptive=C` in a process of its own. Each must pass its
seven steps (kubeproof/scenario.py prove), none may skip, and nothing may be left on the cluster:
no object labelled by a scenario, no journal on any node.

The lab's last worker gets a filesystem of its own for its kubelet first (selftest/lab/nodefs.py), so
the nodefs-pressure scenario runs instead of skipping; the profile's nofile minimum is the sandbox's
ceiling (LAB-NOTES: no process here can have more than 20000 open files). Other selftests that audit
the same cluster wait for it: every live_cluster test holds the cluster's lock (selftest/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from selftest.lab import nodefs, pins
from selftest.lab.findings import LAB_PROFILE

REPO = Path(__file__).resolve().parent.parent
CONTEXT = os.environ.get("KUBEPROOF_SELFTEST_CONTEXT", "")
pytestmark = [pytest.mark.live_cluster,
              pytest.mark.skipif(not CONTEXT, reason="KUBEPROOF_SELFTEST_CONTEXT is not set: no lab cluster "
                                                     "(eval \"$(python3 -m selftest.lab up | tail -1)\")")]
SCENARIO_LABEL = "kubeproof.io/scenario"


def _kubectl(*args: str) -> str:
    return subprocess.run(["kubectl", f"--context={CONTEXT}", *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def _left_on_the_cluster() -> list[str]:
    objects = _kubectl("get", "namespaces,pods,daemonsets,deployments", "--all-namespaces", "-l", SCENARIO_LABEL,
                       "-o", "name").split()
    journals = [f"{node}: {name}" for node in _kubectl("get", "nodes", "-o", "name").replace("node/", "").split()
                for name in subprocess.run(["podman", "exec", node, "sh", "-c", "ls /var/lib/kubeproof/journal "
                                            "2>/dev/null; true"], capture_output=True, text=True,
                                           timeout=60).stdout.split()]
    return objects + journals


def test_every_scenario_passes_on_the_lab_and_leaves_nothing(tmp_path: Path):
    cluster = CONTEXT.removeprefix("kind-")
    profile, junit = tmp_path / "lab-profile.yaml", tmp_path / "scenarios.xml"
    profile.write_text(LAB_PROFILE)
    nodefs.ensure(cluster)
    assert not _left_on_the_cluster(), "left by an earlier run (python -m kubeproof cleanup)"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", f"--kube-context={CONTEXT}", f"--allow-disruptive={CONTEXT}",
         f"--profile={profile}", f"--junitxml={junit}", f"--report-dir={tmp_path / 'reports'}",
         "-p", "no:cacheprovider", "-rA"],
        cwd=REPO, env={**os.environ, "KUBEPROOF_TOOLS_IMAGE": pins.TOOLS_IMAGE}, capture_output=True, text=True,
        timeout=1800)
    left = _left_on_the_cluster()
    cases = {f"{c.get('classname')}::{c.get('name')}": [e.tag for e in c if e.tag in ("failure", "error", "skipped")]
             for c in ET.parse(junit).iter("testcase")}
    expected = len(list((REPO / "scenarios").glob("test_*.py")))
    unproven = {case: outcome for case, outcome in cases.items() if outcome}
    assert len(cases) >= expected and not unproven, f"{unproven or 'too few scenarios ran'}\n{run.stdout[-6000:]}"
    assert run.returncode == 0, run.stdout[-3000:]
    assert not left, f"left on the cluster: {left}"
