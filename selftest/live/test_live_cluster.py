"""The live paths, on a real cluster: probe pods through real kubelets, the audit through the real API
server and RBAC, dumps of a real cluster, cleanup after Ctrl-C and kill -9 (kind's lifecycle, with
every scenario, is test_main_flow_live.py's).

They run on the lab (selftest/lab, docs/lab.md): `selftest/run` starts it and exports
KUBEPROOF_SELFTEST_CONTEXT (a context of $KUBECONFIG where pods may be created), KIND_EXPERIMENTAL_PROVIDER
and KUBEPROOF_KIND_IMAGE. Without them they skip with that reason.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubeproof import kind
from selftest.support.audits import audit, outcomes, results
from selftest.support.lab_cluster import (CONTEXT, assert_every_node_test_on, assert_fresh_kind_failures,
                                          audit_log, kind_clusters, kubectl, lab_contexts, managed_namespaces,
                                          needs_context, nodes, server_version)
from selftest.support.paths import RBAC, REPO

pytestmark = pytest.mark.live_cluster

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


# --- probe pods through real kubelets ----------------------------------------------------------

@needs_context
def test_pod_access_removes_its_probe_pods(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    result = pytester.runpytest_subprocess(f"--kube-context={CONTEXT}", "--node-access=pod", "suite_node", "-v")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=len(nodes()))  # a probe pod answered on every node
    assert managed_namespaces() == []


def _hanging_run_with_probes(pytester: pytest.Pytester) -> tuple[subprocess.Popen, str]:
    """A pod-access run whose node test hangs, once its probe pods exist: (process, their namespace).
    Its output goes to output.txt."""
    make_suites(pytester)
    (pytester.path / "suite_node" / "test_n.py").write_text(
        "import pytest, time\n\n@pytest.mark.failure('hostname-drift')\n"
        "def test_n(node):\n    time.sleep(600)\n")
    with (pytester.path / "output.txt").open("w") as output:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", f"--kube-context={CONTEXT}",
                                 "--node-access=pod", "suite_node"], cwd=pytester.path,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # read while it runs
    return proc, _wait_for_probes(pytester.path / "output.txt")


# Room for a loaded machine, not a speed goal: the run's own waits on the way out are bounded (the
# namespace's DELETE, log reads in flight); this only keeps a hung run from hanging the selftests.
EXIT_ROOM = 300


@needs_context
@pytest.mark.parametrize("when", ["while probe pods start", "during a test"])
def test_pod_access_cleans_up_after_ctrl_c(pytester: pytest.Pytester, when: str) -> None:
    """Ctrl-C: the run asks for its namespace's deletion, says so and exits; the cluster finishes
    the deletion, so what is left is Terminating, and it is labelled for `cleanup`."""
    proc, namespace = _hanging_run_with_probes(pytester)
    output = pytester.path / "output.txt"
    if when == "during a test":
        _wait_until(lambda: "suite_node/test_n.py " in output.read_text(), "the node test never started")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=EXIT_ROOM) == pytest.ExitCode.INTERRUPTED, output.read_text()
    said = output.read_text()
    assert (f"kubeproof: probe namespace {namespace} is being deleted; python -m kubeproof cleanup removes it "
            "if this is cut short") in said, said
    assert namespace not in managed_namespaces()  # gone or Terminating: the cluster finishes the deletion


@needs_context
def test_kill_9_then_cleanup_leaves_nothing(pytester: pytest.Pytester) -> None:
    proc, namespace = _hanging_run_with_probes(pytester)
    os.killpg(proc.pid, signal.SIGKILL)  # no finalizer runs: the namespace stays
    proc.wait(timeout=30)
    assert namespace in managed_namespaces()
    swept = subprocess.run([sys.executable, "-m", "kubeproof", "cleanup", "--kube-context", CONTEXT],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert swept.returncode == 0, swept.stderr
    assert namespace in swept.stderr, swept.stderr
    assert managed_namespaces() == []  # nothing of kubeproof's is left that is not on its way out


def _wait_for_probes(output: Path) -> str:
    """The namespace the run says it starts its probe pods in, once they exist (the lab may hold
    other runs' namespaces)."""
    found: list[str] = []

    def probes() -> bool:
        found[:] = re.findall(r"starting \d+ probe pods in namespace (\S+)", output.read_text())
        return bool(found) and bool(json.loads(kubectl("get", "pods", "-n", found[0], "-o", "json").stdout)["items"])

    _wait_until(probes, "the run never started its probe pods")
    return found[0]


def _wait_until(condition, failure: str, timeout: float = EXIT_ROOM) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(2)


# --- the audit through the real API and kubelets -------------------------------------------------

# Each lab release: the newest supported, and the oldest beside it (OLDEST_CONTEXT).
every_lab_release = pytest.mark.parametrize("context", lab_contexts() or [CONTEXT])


@needs_context
@every_lab_release
@pytest.mark.parametrize("access", ["kind", "pod"])
def test_live_audit_judges_every_node_test_on_every_node(tmp_path: Path, access: str, context: str) -> None:
    if access == "kind" and kind.cluster_of_context(context) not in kind_clusters():
        pytest.skip(f"{context} is not a kind cluster of this machine")
    proc, document = audit(tmp_path, f"--kube-context={context}", f"--node-access={access}", "-n", "2",
                           "tests_node", "tests_cluster")
    assert document, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = results(document)
    assert [t for t, r in found.items() if r["outcome"] == "error"] == []
    assert_every_node_test_on(set(nodes(context)), found)
    assert_fresh_kind_failures(found, server_version(context))


# --- RBAC: the audit role reads, the probe role writes only its own namespace --------------------

@pytest.fixture()
def service_account_kubeconfig(tmp_path: Path) -> Iterator:
    """kubeconfig(role_file, name, context) -> a kubeconfig of a fresh ServiceAccount bound to that
    ClusterRole on that lab cluster."""
    made: list[tuple[str, str, str | None]] = []

    def make(role_file: Path, name: str, context: str | None = CONTEXT) -> tuple[Path, str]:
        def on_cluster(*args: str, **kwargs) -> subprocess.CompletedProcess:
            return kubectl(*args, context=context, **kwargs)

        namespace = f"kubeproof-selftest-{name}"
        role = next(d for d in yaml.safe_load_all(role_file.read_text()) if d and d["kind"] == "ClusterRole")
        on_cluster("create", "namespace", namespace)
        made.append(("namespace", namespace, context))
        on_cluster("create", "serviceaccount", name, "-n", namespace)
        on_cluster("apply", "-f", "-", input=yaml.safe_dump(role))
        binding = f"kubeproof-selftest-{name}"
        on_cluster("create", "clusterrolebinding", binding, f"--clusterrole={role['metadata']['name']}",
                   f"--serviceaccount={namespace}:{name}")
        made.append(("clusterrolebinding", binding, context))
        token = on_cluster("create", "token", name, "-n", namespace, "--duration=1h").stdout.strip()
        raw = yaml.safe_load(on_cluster("config", "view", "--raw", "--minify", "-o", "yaml").stdout)
        raw["users"] = [{"name": name, "user": {"token": token}}]
        raw["contexts"] = [{"name": name, "context": {"cluster": raw["clusters"][0]["name"], "user": name}}]
        raw["current-context"] = name
        path = tmp_path / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(raw))
        return path, f"system:serviceaccount:{namespace}:{name}"

    yield make
    for kind_, name, context in reversed(made):
        kubectl("delete", kind_, name, "--wait=false", context=context, check=False)


def _requests_by(user: str, context: str | None = CONTEXT) -> list[dict]:
    return [e for e in audit_log(context) if e.get("user", {}).get("username") == user]


audit_logged = pytest.mark.skipif(not (CONTEXT or "").startswith("kind-kubeproof-lab"),
                                  reason="the API server's audit log is read from the lab's control-plane node")


@needs_context
@audit_logged
@every_lab_release
def test_read_only_role_loses_no_test_and_only_reads(tmp_path: Path, service_account_kubeconfig,
                                                     context: str) -> None:
    kubeconfig, user = service_account_kubeconfig(RBAC / "audit-readonly.yaml", "audit", context)
    proc, document = audit(tmp_path, f"--kubeconfig={kubeconfig}", "--node-access=none", "tests_cluster")
    assert document, proc.stdout[-3000:] + proc.stderr[-3000:]
    lost = {t: r["message"] for t, r in results(document).items() if "permission" in r["message"].lower()}
    assert lost == {}
    verbs = {e["verb"] for e in _requests_by(user, context)}
    assert verbs and verbs <= {"get", "list", "watch"}, verbs


@needs_context
@audit_logged
def test_probe_role_writes_only_in_its_own_namespace(tmp_path: Path, service_account_kubeconfig) -> None:
    service_account_kubeconfig(RBAC / "audit-readonly.yaml", "reader")  # the read-only ClusterRole exists
    kubeconfig, user = service_account_kubeconfig(RBAC / "node-probe.yaml", "probe")
    # One identity with both roles, as README's RBAC section says a node audit needs.
    kubectl("create", "clusterrolebinding", "kubeproof-selftest-probe-reads", "--clusterrole=kubeproof-audit-readonly",
            f"--serviceaccount={user.split(':')[2]}:probe")
    try:
        proc, document = audit(tmp_path, f"--kubeconfig={kubeconfig}", "--node-access=pod", "tests_node")
    finally:
        kubectl("delete", "clusterrolebinding", "kubeproof-selftest-probe-reads", check=False)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not [t for t, r in results(document).items() if r["outcome"] == "error"]
    writes = [e for e in _requests_by(user) if e["verb"] not in ("get", "list", "watch")]
    assert writes
    assert any(e["verb"] == "watch" and e["objectRef"].get("resource") == "pods" for e in _requests_by(user))
    for entry in writes:
        ref = entry.get("objectRef", {})
        own = ref.get("namespace") or (ref.get("name") if ref.get("resource") == "namespaces" else "")
        assert own.startswith("kubeproof-probe-"), (entry["verb"], ref)
    assert managed_namespaces() == []


# --- dumps of a real cluster ------------------------------------------------------------------

@needs_context
def test_dump_of_the_lab_gives_the_live_verdicts(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    made = subprocess.run([sys.executable, "-m", "kubeproof", "dump", "--kube-context", CONTEXT, str(dump)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    _, live = audit(tmp_path, f"--kube-context={CONTEXT}", "tests_node", "tests_cluster")
    _, offline = audit(tmp_path, f"--from-dump={dump}", "tests_node", "tests_cluster")
    live_outcomes, offline_outcomes = outcomes(live), outcomes(offline)
    assert offline_outcomes.keys() == live_outcomes.keys()
    differ = {t: (live_outcomes[t], offline_outcomes[t]) for t in live_outcomes
              if live_outcomes[t] != offline_outcomes[t]}
    assert differ == {}


@needs_context
def test_kubectl_cluster_info_dump_of_the_lab_is_audited_offline(tmp_path: Path) -> None:
    dump = tmp_path / "cluster-info"
    kubectl("cluster-info", "dump", "--all-namespaces", f"--output-directory={dump}")
    _, live = audit(tmp_path, f"--kube-context={CONTEXT}", "--node-access=none", "tests_cluster")
    proc, offline = audit(tmp_path, f"--from-dump={dump}", "tests_cluster")
    assert offline, proc.stdout[-3000:] + proc.stderr[-3000:]
    judged = {t: o for t, o in outcomes(offline).items() if o in ("passed", "failed")}
    assert judged, "no cluster test could judge a kubectl dump"
    live_outcomes = outcomes(live)
    assert {t: o for t, o in judged.items() if live_outcomes.get(t) != o} == {}
    assert not [t for t, o in outcomes(offline).items() if o == "error"]
