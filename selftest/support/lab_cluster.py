"""The lab clusters the live selftests run on (selftest/run starts them and exports their contexts),
read with kubectl, and what a fresh one must be found to fail."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from kubeproof import kind
from selftest.lab.cluster import AUDIT_LOG
from selftest.lab.findings import EXPLAINED_NODE_SKIPS, HAPPENED_TESTS, fresh_kind_fails

from .audits import base_test

CONTEXT = os.environ.get("KUBEPROOF_SELFTEST_CONTEXT")
# The lab cluster of the oldest supported release, beside CONTEXT's newest (selftest/run).
OLDEST_CONTEXT = os.environ.get("KUBEPROOF_SELFTEST_OLDEST_CONTEXT")
MANAGED = "app.kubernetes.io/managed-by=kubeproof"

needs_context = pytest.mark.skipif(not CONTEXT, reason="set KUBEPROOF_SELFTEST_CONTEXT to a context "
                                                       "where pods may be created (selftest/run starts the lab)")


def lab_contexts() -> list[str]:
    return [c for c in (CONTEXT, OLDEST_CONTEXT) if c]


def kubectl(*args: str, context: str | None = CONTEXT, kubeconfig: Path | None = None,
            input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    command = ["kubectl", *([f"--kubeconfig={kubeconfig}"] if kubeconfig else []),
               *([f"--context={context}"] if context else []), *args]
    return subprocess.run(command, capture_output=True, text=True, input=input, check=check, timeout=120)


def kind_clusters() -> set[str]:
    return set(subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split())


def managed_namespaces() -> list[str]:
    """Namespaces kubeproof made (probe pods, scenarios) that are not already on their way out."""
    items = json.loads(kubectl("get", "namespaces", "-l", MANAGED, "-o", "json").stdout)["items"]
    return [n["metadata"]["name"] for n in items if n.get("status", {}).get("phase") != "Terminating"]


def nodes(context: str | None = CONTEXT) -> list[str]:
    return kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}", context=context).stdout.split()


def server_version(context: str | None = CONTEXT) -> str:
    """The cluster's Kubernetes version, "v1.37.2"."""
    return json.loads(kubectl("get", "--raw", "/version", context=context).stdout)["gitVersion"]


def audit_log(context: str | None = CONTEXT) -> list[dict]:
    """The API server's audit log, read from the lab's control-plane node."""
    control_plane = next(n for n in nodes(context) if n.endswith("control-plane"))
    out = subprocess.run([kind.engine(), "exec", control_plane, "cat", AUDIT_LOG],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def assert_every_node_test_on(names: set[str], found: dict[str, dict]) -> None:
    """Each node test judged on every node; a skip only for a reason the lab explains, never access."""
    node_tests = {base_test(t) for t, r in found.items() if r["suite"] == "node"}
    for test in node_tests:
        judged = {r["node"] for t, r in found.items() if base_test(t) == test}
        assert judged == names, f"{test} not run on every node"
        for t, r in found.items():
            if base_test(t) == test and r["outcome"] == "skipped":
                # never a lack of access
                assert r["message"].startswith(tuple(f"node {r['node']}: {why}" for why in EXPLAINED_NODE_SKIPS)), \
                    (t, r["message"])


def assert_fresh_kind_failures(found: dict[str, dict], kubernetes: str) -> None:
    """What fails is what kind leaves unhardened on that Kubernetes version (selftest/lab/findings.py),
    each with its remediation."""
    failed = {t: r for t, r in found.items() if r["outcome"] == "failed" and r["suite"] != "scenario"}
    hardening = {base_test(t) for t in failed if not t.startswith(HAPPENED_TESTS)}
    assert hardening == fresh_kind_fails(kubernetes), {t: r["message"][:300] for t, r in failed.items()}
    for test, r in failed.items():
        assert r["message"].strip() and "remediation" in r["message"], test
