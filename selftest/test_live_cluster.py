"""The live paths no recorded cluster can stand in for: kind cluster lifecycle and probe pods.

They run whenever a cluster is at hand: kind with a Docker daemon for the kind target, and
KUBEPROOF_SELFTEST_CONTEXT naming a context (of $KUBECONFIG) on which pods may be created for the
pod node access. On the development and CI machines neither exists (no registry for kind's node
image), so they skip there with that reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubeproof import kind

pytestmark = pytest.mark.live_cluster
REPO = Path(__file__).resolve().parent.parent
CONTEXT = os.environ.get("KUBEPROOF_SELFTEST_CONTEXT")

needs_kind = pytest.mark.skipif(kind.available() is not None,
                                reason=f"kind target needs kind and Docker: {kind.available()}")
needs_context = pytest.mark.skipif(not CONTEXT, reason="set KUBEPROOF_SELFTEST_CONTEXT to a context "
                                                       "where pods may be created")

NODE_AND_CLUSTER = {
    "suite_node/test_n.py": "import pytest\n\n@pytest.mark.failure('hostname-drift')\n"
                            "def test_n(node):\n    assert node.facts.hostname\n",
    "suite_cluster/test_c.py": "import pytest\n\n@pytest.mark.failure('namespace-stuck')\n"
                               "def test_c(cluster):\n    assert cluster.list('nodes')\n",
}


def make_suites(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_node:node\n    suite_cluster:cluster\n")
    for path, body in NODE_AND_CLUSTER.items():
        (pytester.path / path).parent.mkdir(exist_ok=True)
        (pytester.path / path).write_text(body)


def kind_clusters() -> set[str]:
    return set(subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split())


def probe_namespaces() -> list[str]:
    out = subprocess.run(["kubectl", "--context", CONTEXT, "get", "namespaces", "-l",
                          "app.kubernetes.io/managed-by=kubeproof", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    return [n["metadata"]["name"] for n in json.loads(out)["items"]
            if n.get("status", {}).get("phase") != "Terminating"]


@needs_kind
def test_plain_pytest_creates_audits_and_deletes_a_kind_cluster(pytester: pytest.Pytester) -> None:
    before = kind_clusters()
    make_suites(pytester)
    result = pytester.runpytest_subprocess("-v", timeout=900)
    result.assert_outcomes(passed=3)  # the node test on both nodes of the checked-in config, the cluster test
    assert "(created for this run)" in result.stdout.str()
    assert kind_clusters() == before


@needs_context
def test_pod_access_removes_its_probe_pods(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    result = pytester.runpytest_subprocess(f"--kube-context={CONTEXT}", "--node-access=pod", "suite_node")
    assert result.ret == 0, result.stdout.str()
    assert probe_namespaces() == []


@needs_context
def test_pod_access_cleans_up_after_ctrl_c(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    (pytester.path / "suite_node" / "test_n.py").write_text(
        "import pytest, time\n\n@pytest.mark.failure('hostname-drift')\n"
        "def test_n(node):\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", f"--kube-context={CONTEXT}",
                             "--node-access=pod", "suite_node"], cwd=pytester.path)
    deadline = time.monotonic() + 180
    while not probe_namespaces() and time.monotonic() < deadline:
        time.sleep(2)
    assert probe_namespaces(), "the run never started its probe pods"
    time.sleep(10)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert probe_namespaces() == []
