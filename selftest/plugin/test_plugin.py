"""The plugin, driven as a user drives it: pytester runs of small kubeproof suites.

Live-cluster paths go through the real kubernetes client to the replay API server; node paths
through real hosts (local, Docker). Nothing here mocks kubeproof or the client.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kubeproof.kube.replay import ReplayServer
from selftest.support.paths import HEALTHY, NODES, REPO
from selftest.support.suites import make_suites, one_line_error


def test_options_in_one_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    group = text[text.index("kubeproof: audit a Kubernetes cluster"):]
    group = group[:group.index("\n\n")]
    for option in ("--kube-context", "--kubeconfig", "--kind-cluster", "--keep-cluster", "--from-dump",
                   "--node-access", "--nodes", "--allow-disruptive", "--profile"):
        assert option in group, f"{option} missing from the kubeproof group:\n{group}"


def test_no_target_audits_this_host_and_skips_the_rest_with_one_line(
        pytester: pytest.Pytester, without_kind) -> None:
    make_suites(pytester)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3)
    out = result.stdout.str()
    assert "kubeproof: target this host as a node (no cluster)" in out
    assert f"test_node_seen[{socket.gethostname()}] PASSED" in pytester.runpytest("-v").stdout.str()
    reason = "no cluster: no --kube-context given and kind is not installed"
    assert f"kubeproof: 2 cluster tests skipped: {reason}" in out
    assert "kubeproof: 1 scenario tests skipped: disruptive scenarios need a live cluster" in out


def test_unknown_context_is_one_line(pytester: pytest.Pytester, kubeconfig: str) -> None:
    make_suites(pytester)
    result = pytester.runpytest(f"--kubeconfig={kubeconfig}", "--kube-context", "prod")
    one_line_error(result, "context 'prod' not found")
    assert "known contexts: replay" in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("content", [None, "{not: [yaml", "- just\n- a list\n"])
def test_unreadable_kubeconfig_is_one_line(pytester: pytest.Pytester, tmp_path: Path, content) -> None:
    make_suites(pytester)
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    result = pytester.runpytest(f"--kubeconfig={path}")
    one_line_error(result, str(path))


def test_unreachable_api_server_fails_once_before_any_worker(pytester: pytest.Pytester,
                                                             tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
    }))
    make_suites(pytester)
    result = pytester.runpytest_subprocess(f"--kubeconfig={path}", "-n", "2")
    one_line_error(result, "cannot reach the API server")
    assert "[gw0]" not in result.stdout.str() and "created: 2/2 workers" not in result.stdout.str()


def test_a_rootdir_taken_from_an_option_value_is_refused(pytester: pytest.Pytester, kubeconfig: str) -> None:
    """`--kubeconfig PATH` would make pytest root the run at PATH's directory and lose the suites."""
    make_suites(pytester)
    one_line_error(pytester.runpytest("--kubeconfig", kubeconfig), "write --kubeconfig=PATH")


def test_profile_with_an_unknown_threshold_is_one_line(pytester: pytest.Pytester, tmp_path: Path,
                                                        without_kind) -> None:
    make_suites(pytester)
    profile = tmp_path / "profile.yaml"
    profile.write_text("nofile_minimum: 1024\n")
    one_line_error(pytester.runpytest(f"--profile={profile}"), "unknown threshold 'nofile_minimum'")


def test_disruptive_scenarios_skip_unless_the_target_is_named(pytester: pytest.Pytester,
                                                              kubeconfig: str) -> None:
    make_suites(pytester, node="")
    base = (f"--kubeconfig={kubeconfig}", "--node-access", "none", "-rs", "suite_scenario")
    skipped = pytester.runpytest(*base)
    skipped.assert_outcomes(skipped=1)
    assert "pass --allow-disruptive=replay to run it there" in skipped.stdout.str()

    allowed = pytester.runpytest(*base, "--allow-disruptive", "replay")
    allowed.assert_outcomes(passed=1)

    one_line_error(pytester.runpytest(*base, "--allow-disruptive", "prod"),
                   "--allow-disruptive=prod does not match the target")


@pytest.mark.parametrize("declaration, message", [
    ('@pytest.mark.failure("no-such-failure")', "unknown failure id 'no-such-failure'"),
    ("", "declares no failure id"),
])
def test_failure_ids_are_checked_at_collection(pytester: pytest.Pytester, without_kind,
                                               declaration: str, message: str) -> None:
    make_suites(pytester, node=f"import pytest\n\n{declaration}\ndef test_x(node):\n    pass\n")
    result = pytester.runpytest("suite_node")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting suite_node/test_node.py*", f"*{message}*",
                                 "*1 error*"])


def test_forbidden_list_skips_with_the_verb_and_resource(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with ReplayServer(HEALTHY, forbidden={"secrets"}) as server:
        server.write_kubeconfig(tmp_path / "kc", context="replay")
        make_suites(pytester, node="")
        result = pytester.runpytest(f"--kubeconfig={tmp_path / 'kc'}", "--node-access", "none",
                                    "-rs", "suite_cluster")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*insufficient permission: list secrets*"])


def test_unreachable_node_errors_and_the_others_go_on(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    result = pytester.runpytest("suite_node", "--hosts=local://,docker://kubeproof-no-such-node")
    result.assert_outcomes(passed=1, errors=1)
    out = result.stdout.str()
    assert "node kubeproof-no-such-node unreachable:" in out
    assert "Traceback" not in out


def _copy_dump(tmp_path: Path) -> Path:
    dump = tmp_path / "dump"
    shutil.copytree(HEALTHY, dump)
    facts = dump / "nodes-facts"
    facts.mkdir(exist_ok=True)
    for node in json.loads((dump / "nodes.json").read_text())["items"]:
        name = node["metadata"]["name"]
        (facts / f"{name}.json").write_text(json.dumps({"node": name, "hostname": name}))
    return dump


def test_xdist_workers_collect_the_controllers_inventory(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Each worker changes the cluster (the dump) before collecting; collection stays identical."""
    dump = _copy_dump(tmp_path)
    make_suites(pytester)
    pytester.makeconftest(f"""
import json, os
def pytest_configure(config):
    if hasattr(config, "workerinput"):  # a node joins the cluster as each worker starts
        worker = config.workerinput["workerid"]
        path = {str(dump / "nodes.json")!r}
        nodes = json.load(open(path))
        nodes["items"].append({{**nodes["items"][0], "metadata": {{"name": "joined-" + worker}}}})
        # Replaced whole: the other worker may be reading the file at this moment.
        json.dump(nodes, open(path + "." + worker, "w"))
        os.replace(path + "." + worker, path)
""")
    result = pytester.runpytest_subprocess("suite_node", f"--from-dump={dump}", "-n", "2", "-v")
    result.assert_outcomes(passed=2)
    assert {"[gw0]", "[gw1]"} <= set(re.findall(r"\[gw\d\]", result.stdout.str()))  # the workers judged
    assert "joined-" not in result.stdout.str()
    assert "Different tests were collected" not in result.stdout.str() + result.stderr.str()


def test_xdist_workers_share_one_list_per_kind(pytester: pytest.Pytester, kubeconfig: str,
                                                replay: ReplayServer) -> None:
    make_suites(pytester, node="")
    result = pytester.runpytest_subprocess("suite_cluster", f"--kubeconfig={kubeconfig}",
                                           "--node-access", "none", "-n", "2")
    result.assert_outcomes(passed=2)
    lists = [r for r in replay.requests if r[0] == "list"]
    assert len([r for r in lists if r[1] == "/api/v1/namespaces"]) == 1, lists
    assert {r[0] for r in replay.requests} <= {"get", "list"}


def test_catalog_lists_every_documented_failure_with_its_tests() -> None:
    out = subprocess.run([sys.executable, "-m", "kubeproof", "catalog", "--format", "json"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    entries = {e["id"]: e for e in json.loads(out)["failures"]}
    design = (REPO.parent / "shared" / "DESIGN.md")
    table_ids = {line.split("|")[1].strip() for line in design.read_text().splitlines()
                 if line.startswith("| ") and not line.startswith("| id") and "---" not in line} \
        if design.exists() else set()
    documented = {"cgroup-kmem-leak", "cert-expiry", "storage-driver", "critical-pod-eviction",
                  "nofile-exhaustion", "hostname-drift", "nodefs-pressure", "apiserver-anonymous-probe",
                  "dashboard-exposure", "pleg-unhealthy", "namespace-stuck", "affinity-rollout-stall",
                  "service-no-endpoints", "workload-crashes", "node-sysctls"}
    assert documented | table_ids <= set(entries)
    for entry in entries.values():
        assert entry["severity"] in ("blocker", "critical", "normal", "minor")
        assert entry["sources"] and entry["symptoms"] and entry["remediation"]
        assert {"node_tests", "cluster_tests", "scenarios"} <= set(entry)


def test_verdict_names_failure_node_every_problem_and_remediation(pytester: pytest.Pytester,
                                                                   without_kind) -> None:
    make_suites(pytester, node="""
import pytest

@pytest.mark.failure("nofile-exhaustion")
def test_limits(node, verdict):
    verdict.fail_if(["kubelet nofile 1024 < 102400", "dockerd nofile 4096 < 102400"])

@pytest.mark.failure("nofile-exhaustion")
def test_fine(node, verdict):
    verdict.fail_if([])
""")
    result = pytester.runpytest("suite_node")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    for line in (f"[nofile-exhaustion] node {socket.gethostname()}: 2 problems",
                 "  - kubelet nofile 1024 < 102400", "  - dockerd nofile 4096 < 102400",
                 "remediation (nofile-exhaustion): Raise nofile for the kubelet"):
        assert line in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_node_access_none_skips_node_tests_with_one_reason(pytester: pytest.Pytester, without_kind,
                                                           workers) -> None:
    make_suites(pytester)
    reports = pytester.path / "reports"
    runner = pytester.runpytest_subprocess if workers else pytester.runpytest
    result = runner("--node-access=none", f"--report-dir={reports}", *workers)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    result.assert_outcomes(skipped=4)
    assert "kubeproof: node tests skip: node tests disabled by --node-access none" in out
    assert "kubeproof: 1 node tests skipped: node tests disabled by --node-access none" in out
    runs = list(reports.iterdir())
    assert len(runs) == 1 and {p.name for p in runs[0].iterdir()} == {"audit.json", "audit.md", "audit.html"}
    doc = json.loads((runs[0] / "audit.json").read_text())
    assert doc["summary"]["nodes"] == {}
    assert doc["summary"]["failures"]["nofile-exhaustion"] == "skip"


@pytest.mark.parametrize("content, message", [
    ("sysctl_min:\n  net.core.somaxconn: lots\n", "sysctl_min.net.core.somaxconn must be a whole number"),
    ("sysctl_min:\n  net.core.somaxcon: 4096\n", "does not read sysctl 'net.core.somaxcon'"),
    ("nofile_min: 1e5\n", "nofile_min must be a whole number"),
    ("restart_limit: -1\n", "restart_limit must be a whole number >= 0"),
])
def test_profile_values_are_checked_before_any_test(pytester: pytest.Pytester, tmp_path: Path, without_kind,
                                                    content: str, message: str) -> None:
    """A bad value must not reach a judge, where it would be a traceback reported as a test failure;
    an unread sysctl must not be silently ignored."""
    make_suites(pytester)
    profile = tmp_path / "profile.yaml"
    profile.write_text(content)
    one_line_error(pytester.runpytest(f"--profile={profile}"), message)


def test_probe_pods_refused_names_the_way_out(pytester: pytest.Pytester, kubeconfig: str,
                                              replay: ReplayServer) -> None:
    """The replay server is read-only: creating the probe namespace gets HTTP 405, as on a cluster
    that refuses it."""
    make_suites(pytester)
    result = pytester.runpytest(f"--kubeconfig={kubeconfig}", "--node-access", "pod", "suite_node")
    one_line_error(result, "cannot start probe pods (create namespaces: HTTP 405")
    line = next(x for x in result.stderr.str().splitlines() if "cannot start probe pods" in x)
    assert "--node-access none" in line and str(REPO / "kubeproof" / "rbac" / "node-probe.yaml") in line


def test_a_mistyped_allow_disruptive_stops_the_run_before_any_probe_pod(
        pytester: pytest.Pytester, kubeconfig: str, replay: ReplayServer) -> None:
    make_suites(pytester)
    result = pytester.runpytest(f"--kubeconfig={kubeconfig}", "--node-access", "pod",
                                "--allow-disruptive", "prod")
    one_line_error(result, "--allow-disruptive=prod does not match the target")
    assert {verb for verb, _, _ in replay.requests} <= {"get", "list"}, replay.requests


def test_a_dump_without_node_facts_says_so_once_with_the_dumps_date(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    result = pytester.runpytest(f"--from-dump={HEALTHY}", "suite_node", "suite_cluster")
    result.assert_outcomes(passed=2, skipped=2)  # a node test for each of the dump's two nodes
    out = result.stdout.str()
    assert ("kubeproof: every expiry and age is judged as of the dump's date, 2026-09-14T12:00:00Z "
            "(--as-of DATE for another)") in out
    assert "kubeproof: node tests skip: the dump holds no node facts" in out
    assert "kubeproof: 2 node tests skipped: the dump holds no node facts" in out
    assert "scenario tests skip" not in out, "scenarios are not part of this run"


RECORDED_NODE = NODES / "kubeadm-node.gather.txt"
CERTIFICATE_TESTS = ["tests_node/test_certificates.py", "tests_cluster/test_cluster_certificates.py"]


@pytest.fixture
def dump_with_node_pki(tmp_path: Path) -> Path:
    """The healthy cluster, node cp-1's facts recorded on a kubeadm-shaped node (certificates
    valid from 2026-11-21 for one year)."""
    from kubeproof.nodes import gather

    dump = tmp_path / "dump"
    shutil.copytree(HEALTHY, dump)
    facts = gather.parse(RECORDED_NODE.read_text())
    facts.update(node="cp-1", gathered_at=facts["node_time"])
    (dump / "nodes-facts").mkdir()
    (dump / "nodes-facts" / "cp-1.json").write_text(json.dumps(facts))
    return dump


def _failing_certificate_tests(tmp_path: Path, dump: Path, *args: str) -> dict[str, str]:
    """Test id -> message of every certificate test that failed."""
    reports = tmp_path / f"reports{len(list(tmp_path.glob('reports*')))}"
    subprocess.run([sys.executable, "-m", "pytest", *CERTIFICATE_TESTS, "-p", "no:randomly",
                    f"--from-dump={dump}", "--nodes=kubernetes.io/hostname=cp-1", f"--report-dir={reports}",
                    *args], cwd=REPO, capture_output=True, check=False)
    doc = json.loads(next(reports.glob("*/audit.json")).read_text())
    assert doc["summary"]["counts"]["passed"], "the certificate tests ran"
    return {r["test"]: r["message"] for f in doc["failures"] for r in f["results"] if r["outcome"] == "failed"}


def test_as_of_judges_every_expiry_at_that_date(tmp_path: Path, dump_with_node_pki: Path) -> None:
    today = _failing_certificate_tests(tmp_path, dump_with_node_pki)
    assert not [t for t in today if "expire" in today[t]], today
    later = _failing_certificate_tests(tmp_path, dump_with_node_pki, "--as-of", "2027-12-01")
    expired = {t.split("/")[0] for t, message in later.items() if "expired" in message}
    # the node's PKI (one year from 2026-11-21) and the dump's own certificates are expired by then
    assert expired == {"tests_node", "tests_cluster"}, later


def test_as_of_that_is_no_date_is_one_line(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    one_line_error(pytester.runpytest(f"--from-dump={HEALTHY}", "--as-of", "next quarter"),
                   "--as-of 'next quarter': not a date")


def test_a_long_list_tells_pages_and_objects_so_far(kubeconfig: str) -> None:
    from kubeproof.kube import client as kube_client
    from kubeproof.kube.view import ClusterView

    said: list[str] = []
    view = ClusterView.live(kube_client.api_client(kubeconfig), page_size=2, progress=said.append,
                            progress_every=2)
    pods = view.list("pods")
    pages = -(-len(pods) // 2)
    assert pages >= 4, "the recorded cluster holds enough pods for several pages"
    assert said[0] == "kubeproof: listing pods: 2 pages, 4 objects so far"
    assert said[-1] == f"kubeproof: listed {len(pods)} pods in {pages} pages"
    assert len(said) == pages // 2 + 1
    view.list("nodes")  # one page: nothing to tell
    assert len(said) == pages // 2 + 1


def test_progress_is_quiet_under_q_but_errors_are_not(pytester: pytest.Pytester, kubeconfig: str) -> None:
    make_suites(pytester)
    args = (f"--kubeconfig={kubeconfig}", "--node-access", "pod", "suite_node")
    loud = pytester.runpytest(*args)
    assert "kubeproof: starting 2 probe pods" in loud.stdout.str()
    quiet = pytester.runpytest(*args, "-q")
    one_line_error(quiet, "cannot start probe pods")
    assert "starting 2 probe pods" not in quiet.stdout.str() + quiet.stderr.str()
