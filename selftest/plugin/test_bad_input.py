"""Bad input never becomes a verdict: corrupt dumps, impossible dates, unwritable outputs, interrupted
runs. Each run is a user's: pytester runs of small kubeproof suites, `python -m kubeproof` as a process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from selftest.lab.record import kubeproof_dump, recorded
from selftest.support.paths import HEALTHY, REPO
from selftest.support.suites import make_suites, one_line_error

from kubeproof.errors import KubeproofError
from kubeproof.kube.client import api_client
from kubeproof.nodes.probe import STOP_TIMEOUT, ProbePods

CORRUPTIONS = {
    "truncated pods.json": ("pods.json", lambda text: text[:2000], "pods.json is corrupt at byte 2000"),
    "events.json not JSON": ("events.json", lambda text: "not json\n", "events.json is corrupt at byte 0"),
    "binary bytes": ("nodes.json", lambda text: text[:100] + "\udcff", "nodes.json is corrupt at byte 100: not UTF-8"),
    "items of another kind": ("services.json", lambda text: text.replace('"kind": "Service"', '"kind": "Pod"'),
                              "services.json: item 0 is not a Service"),
    "items not a list": ("secrets.json", lambda text: '{"kind": "List", "items": {"a": 1}}',
                         "secrets.json is not a Kubernetes List"),
    "description's date": ("kubeproof-dump.json", lambda text: text.replace('"created": "', '"created": "x'),
                           "kubeproof-dump.json is corrupt: created"),
}


def corrupt_dump(tmp_path: Path, name: str, change) -> Path:
    dump = tmp_path / "dump"
    shutil.copytree(HEALTHY, dump)
    path = dump / name
    path.write_bytes(change(path.read_text()).encode("utf-8", "surrogateescape"))
    return dump


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_a_corrupt_dump_file_stops_the_run_naming_file_and_offset(pytester: pytest.Pytester, tmp_path: Path,
                                                                   case: str) -> None:
    name, change, said = CORRUPTIONS[case]
    make_suites(pytester)
    result = pytester.runpytest("suite_cluster", f"--from-dump={corrupt_dump(tmp_path, name, change)}")
    one_line_error(result, said)
    result.stdout.no_fnmatch_line("*passed*")  # before any test


@pytest.mark.parametrize("content, said", [
    (lambda text: text[:1000], "kubeproof-lab-worker.json is corrupt at byte"),
    (lambda text: "[1, 2]", "kubeproof-lab-worker.json holds no node facts (not a JSON object)"),
])
def test_a_corrupt_node_facts_file_stops_the_run_before_any_node_is_judged(pytester: pytest.Pytester,
                                                                           tmp_path: Path, content, said) -> None:
    """Node facts are read a node at a time when its tests run; the dump's check still reads each
    file first, so one bad node stops the run instead of erroring its tests and judging the rest."""
    dump = tmp_path / "dump"
    shutil.copytree(kubeproof_dump(recorded()[-1]), dump)
    facts = dump / "nodes-facts" / "kubeproof-lab-worker.json"
    facts.write_text(content(facts.read_text()))
    make_suites(pytester)
    result = pytester.runpytest("suite_node", f"--from-dump={dump}")
    one_line_error(result, said)
    result.stdout.no_fnmatch_line("*passed*")


@pytest.mark.parametrize("option, said", [
    ("--as-of=0001-01-01", "--as-of 0001-01-01 is before the dump's date (2026-09-14T12:00:00Z)"),
    ("--as-of=2026-09-13", "--as-of 2026-09-13 is before the dump's date"),
    ("--as-of=9999-12-31", "--as-of 9999-12-31 is more than 100 years ahead"),
    ("--as-of=2027-02-30", "--as-of '2027-02-30': not a date"),
    ("--hosts=bogus://x", "--hosts 'bogus://x' is not a host URL"),
    ("--hosts=ssh://", "--hosts 'ssh://' is not a host URL"),
    ("--hosts=ssh://node:99999", "--hosts 'ssh://node:99999' is not a host URL"),
    ("--report-dir=audit.json/reports", "--report-dir audit.json/reports: cannot write there (Not a directory)"),
])
def test_bad_options_stop_the_run_before_any_test(pytester: pytest.Pytester, option: str, said: str) -> None:
    make_suites(pytester)
    pytester.makefile(".json", audit="{}")  # a file where a directory is needed: unwritable, as root too
    extra = [] if option.startswith("--hosts") else [f"--from-dump={HEALTHY}"]
    one_line_error(pytester.runpytest("suite_cluster", option, *extra), said)


def test_as_of_today_on_a_dump_of_today_judges_at_the_dump_s_moment(pytester: pytest.Pytester) -> None:
    make_suites(pytester)
    result = pytester.runpytest("suite_cluster", f"--from-dump={HEALTHY}", "--as-of=2026-09-14")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*judged as of 2026-09-14T12:00:00Z (--as-of)*"])


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "soon"])
def test_node_timeout_must_be_seconds_above_zero(pytester: pytest.Pytester, value: str) -> None:
    make_suites(pytester)
    result = pytester.runpytest("suite_cluster", f"--from-dump={HEALTHY}", f"--node-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"argument --node-timeout: '{value}' is not a number of seconds above 0" in result.stderr.str()


def test_kind_cluster_without_kind_says_so(pytester: pytest.Pytester, without_kind) -> None:
    make_suites(pytester)
    one_line_error(pytester.runpytest("suite_cluster", "--kind-cluster=lab"), "--kind-cluster lab: kind is not installed")


def test_kind_node_access_without_the_container_engine_says_so(pytester: pytest.Pytester, kubeconfig: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """kind's nodes are the engine's containers: without podman here, one line before any test."""
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "podman")
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(d) / "podman").exists()))
    make_suites(pytester)
    one_line_error(pytester.runpytest("suite_node", f"--kubeconfig={kubeconfig}", "--node-access=kind"),
                   "--node-access kind: podman is not installed (the nodes of a kind cluster are its containers)")


class Started:
    """ProbePods' API: the namespace and pods are created; nothing else is asked of it."""

    def create_namespace(self, *args, **kwargs) -> None:
        pass

    create_namespaced_pod = create_namespace


def test_pod_access_needs_kubectl_only_for_nodes_whose_log_gave_no_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl exec is only the fallback: without kubectl the probe pods run, and a node whose log
    gave no facts says why it has none."""
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(d) / "kubectl").exists()))
    probe = ProbePods(None, session="abc123", kubeconfig=None, context=None)
    probe.core = Started()
    monkeypatch.setattr(ProbePods, "_follow", lambda self, problems, *args: {"node-b": "its log is gone (404)"})
    problems = probe.start(["node-a", "node-b"], script="true", keep=lambda node, output: "")
    assert problems == {"node-a": "", "node-b": "its log is gone (404); its fallback, kubectl exec, "
                                                "needs kubectl installed"}


UNJUDGEABLE = """
import pytest

@pytest.mark.failure("cert-expiry")
def test_judge_meets_a_value_it_cannot_hold(cluster):
    cluster.now().replace(year=cluster.now().year + 8000)

@pytest.mark.failure("namespace-stuck")
def test_a_finding(verdict):
    verdict.fail_if(["namespace x stuck"])
"""


def test_a_judge_meeting_bad_input_errors_and_reports_no_finding(pytester: pytest.Pytester,
                                                                  tmp_path: Path) -> None:
    make_suites(pytester, cluster=UNJUDGEABLE)
    result = pytester.runpytest("suite_cluster", f"--from-dump={HEALTHY}", f"--report-dir={tmp_path}")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*cannot judge this input: ValueError: year 10026 is out of range*not a finding"])
    assert "Traceback" not in result.stdout.str()
    doc = json.loads(next(tmp_path.glob("*/audit.json")).read_text())
    assert doc["summary"]["failures"]["cert-expiry"] == "error"
    assert doc["summary"]["failures"]["namespace-stuck"] == "fail"


INTERRUPTED = """
import pytest

@pytest.mark.failure("cert-expiry")
def test_1_ran(cluster):
    pass

@pytest.mark.failure("critical-pod-eviction")
def test_2_interrupted(cluster):
    raise KeyboardInterrupt

@pytest.mark.failure("namespace-stuck")
def test_3_never_ran(cluster):
    pass
"""


def test_an_interrupted_run_is_marked_incomplete_and_never_passes_what_did_not_run(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    make_suites(pytester, cluster=INTERRUPTED)
    junit, allure_dir = pytester.path / "junit.xml", pytester.path / "allure"
    result = pytester.runpytest("suite_cluster", f"--from-dump={HEALTHY}", f"--report-dir={tmp_path}",
                                f"--junitxml={junit}", f"--alluredir={allure_dir}", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["kubeproof: INCOMPLETE: interrupted after 1 of 3 tests"])
    report = next(tmp_path.glob("*"))
    doc = json.loads((report / "audit.json").read_text())
    assert doc["incomplete"] == "interrupted after 1 of 3 tests"
    assert doc["summary"]["failures"]["cert-expiry"] == "pass"
    assert doc["summary"]["failures"]["critical-pod-eviction"] == "not-run"
    assert doc["summary"]["failures"]["namespace-stuck"] == "not-run"
    for name in ("audit.md", "audit.html"):
        assert "INCOMPLETE: interrupted after 1 of 3 tests" in (report / name).read_text()
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite.find("properties/property[@name='kubeproof_incomplete']").get("value") == (
        "INCOMPLETE: interrupted after 1 of 3 tests")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"test_1_ran", "test_2_interrupted"}  # one that never started is in no report
    assert cases["test_2_interrupted"].find("skipped").get("message") == "interrupted before it finished: no verdict"
    assert cases["test_2_interrupted"].find("properties/property[@name='failure_id']").get("value") == (
        "critical-pod-eviction")
    allure = {r["name"]: r["status"] for r in map(json.loads, map(Path.read_text, allure_dir.glob("*-result.json")))}
    assert allure == {"test_1_ran": "passed", "test_2_interrupted": "unknown"}
    assert "kubeproof_incomplete=INCOMPLETE: interrupted after 1 of 3 tests" in (
        allure_dir / "environment.properties").read_text().splitlines()



def test_a_ctrl_c_under_xdist_marks_the_tests_cut_short_on_every_worker(pytester: pytest.Pytester) -> None:
    """The workers' setup reports reach the controller, which writes JUnit: each test a worker was
    running is skipped there with no verdict, and Allure (written by the workers) says unknown."""
    started = pytester.path / "started"
    started.mkdir()
    make_suites(pytester, node=("import pytest, time\nfrom pathlib import Path\n\n"
                                "@pytest.mark.failure('nofile-exhaustion')\ndef test_n(node):\n"
                                f"    Path({str(started)!r}, node.name).touch()\n    time.sleep(600)\n"))
    junit, allure_dir = pytester.path / "junit.xml", pytester.path / "allure"
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "suite_node",
                            f"--from-dump={kubeproof_dump(recorded()[-1])}", f"--junitxml={junit}",
                            f"--alluredir={allure_dir}", f"--report-dir={pytester.path / 'reports'}"],
                           cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # room for a loaded machine
        while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:  # one test on each worker
            time.sleep(0.5)
        assert len(list(started.iterdir())) == 2, "a test on each worker"
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=300) == pytest.ExitCode.INTERRUPTED
    finally:
        run.kill()
    cases = list(ElementTree.parse(junit).getroot().iter("testcase"))
    assert sorted(case.get("name") for case in cases) == sorted(f"test_n[{n.name}]" for n in started.iterdir())
    assert all(case.find("skipped").get("message") == "interrupted before it finished: no verdict" for case in cases)
    assert {r["status"] for r in map(json.loads, map(Path.read_text, allure_dir.glob("*-result.json")))} == {"unknown"}


BELOW_THE_GATE = """
import pytest

@pytest.mark.failure("namespace-stuck")
def test_normal_1(verdict):
    verdict.fail_if(["one"])

@pytest.mark.failure("workload-crashes")
def test_normal_2(verdict):
    verdict.fail_if(["two"])
"""


@pytest.mark.parametrize("fail_on, code, line", [
    ("critical", 0, "kubeproof: gate: passed (2 normal-severity failures below --fail-on=critical)"),
    ("normal", 1, "kubeproof: gate: failed (2 failing tests at normal severity or worse: "
                  "namespace-stuck, workload-crashes)"),
])
def test_the_gate_says_what_it_decided(pytester: pytest.Pytester, tmp_path: Path, fail_on: str,
                                       code: int, line: str) -> None:
    make_suites(pytester, cluster=BELOW_THE_GATE)
    result = pytester.runpytest("suite_cluster", f"--from-dump={HEALTHY}", f"--fail-on={fail_on}",
                                f"--report-dir={tmp_path}")
    assert result.ret == code
    result.stdout.fnmatch_lines([line])


# --- python -m kubeproof ----------------------------------------------------------------------------

def kubeproof(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubeproof", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def refused(proc: subprocess.CompletedProcess, said: str) -> None:
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("kubeproof: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert said in proc.stderr


@pytest.mark.parametrize("args, said", [
    (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
    (["dump"], "dump: the following arguments are required: DIR"),
    (["diff", "only-one.json"], "diff: the following arguments are required: NEW"),
    (["catalog", "--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
    (["replay", str(HEALTHY), "--port", "99999"], "argument --port: '99999' is not a port"),
    (["dump", "--kube-context", "x", "--node-timeout", "-1", "out"], "'-1' is not a number of seconds above 0"),
])
def test_subcommand_usage_errors_are_one_line_and_exit_4(args: list[str], said: str) -> None:
    refused(kubeproof(*args), said)


def test_dump_into_an_unwritable_directory_is_refused_before_listing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    refused(kubeproof("dump", "--kube-context", "nowhere", str(tmp_path / "file" / "dump")),
            f"dump directory {tmp_path / 'file' / 'dump'}: cannot write there (Not a directory)")


def audit_json(pytester: pytest.Pytester, tmp_path: Path) -> dict:
    make_suites(pytester)
    pytester.runpytest("suite_cluster", f"--from-dump={HEALTHY}", f"--report-dir={tmp_path}")
    return json.loads(next(tmp_path.glob("*/audit.json")).read_text())


def test_diff_refuses_what_is_not_a_report_and_warns_of_other_targets(pytester: pytest.Pytester,
                                                                     tmp_path: Path) -> None:
    doc = audit_json(pytester, tmp_path / "reports")
    old, other, shape = tmp_path / "old.json", tmp_path / "other.json", tmp_path / "shape.json"
    old.write_text(json.dumps(doc))
    other.write_text(json.dumps({**doc, "target": {**doc["target"], "description": "context prod"}}))
    shape.write_text(json.dumps({**doc, "failures": [{"id": "x", "results": 3}]}))
    refused(kubeproof("diff", str(old), str(shape)), f"{shape} is not a kubeproof audit report")
    refused(kubeproof("diff", str(shape), str(old)), "failures[0] lacks an id, a severity or results")
    refused(kubeproof("diff", str(old), str(HEALTHY / "pods.json")), "its schema is None")
    compared = kubeproof("diff", str(old), str(other))
    assert compared.returncode == 0, compared.stderr  # a warning, not a regression
    assert compared.stdout.startswith(f"WARNING    the reports are of different targets: dump {HEALTHY} (OLD), "
                                      "context prod (NEW)\n"), compared.stdout


def test_replay_on_a_port_in_use_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused(kubeproof("replay", str(HEALTHY), "--port", str(port)),
                f"replay: cannot listen on 127.0.0.1:{port}: Address already in use")


def test_deleting_the_probe_namespace_on_the_way_out_is_bounded(tmp_path: Path) -> None:
    """An API server that accepts the connection and never answers: stop() gives up within its
    bound, says what was being deleted and how to remove it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config = tmp_path / "kubeconfig"
        config.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "silent",
            "clusters": [{"name": "silent", "cluster": {"server": f"http://127.0.0.1:{silent.getsockname()[1]}"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "silent", "context": {"cluster": "silent", "user": "u"}}]}))
        probe = ProbePods(api_client(str(config), "silent"), session="abc123", kubeconfig=str(config),
                          context="silent")
        probe.created = True  # as after start(): the namespace exists
        said: list[str] = []
        with pytest.raises(KubeproofError) as raised:
            probe.stop(said.append)
    assert said == ["kubeproof: probe namespace kubeproof-probe-abc123 is being deleted; "
                    "python -m kubeproof cleanup removes it if this is cut short"]
    assert f"could not delete probe namespace kubeproof-probe-abc123 within {sum(STOP_TIMEOUT)} s" in str(raised.value)
    assert "python -m kubeproof cleanup removes it" in str(raised.value)
