"""The node half at fleet scale (issue 22): a finding on many nodes is one console line and one
block of audit.html, naming the nodes it spares; -v, -rA and --tb still show every failure.

Runs a small node suite on a dump of FLEET + 4 nodes built by benchmarks/node_fleet.py from the
lab's recorded facts; the test fails on every node but two named ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubeproof.report.grouping import FLEET

from benchmarks.node_fleet import build_dump

NODES = FLEET + 4
SPARED = ("node-00003", "node-00007")
SUITE = f"""
import pytest

@pytest.mark.failure("nofile-exhaustion")
def test_limits(node, verdict):
    if node.name not in {SPARED!r}:
        verdict.fail_if([f"kubelet on {{node.name}}: nofile 1024 < 102400"])

@pytest.mark.failure("nodefs-pressure")
def test_one_node(node, verdict):
    verdict.fail_if(["imagefs unset"] if node.name == "node-00001" else [])

@pytest.mark.failure("cert-expiry")
def test_control_plane(node, verdict):
    pytest.skip(f"node {{node.name}}: not a control-plane node")
"""


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dump(NODES, tmp_path_factory.mktemp("fleet"))


def _run(pytester: pytest.Pytester, dump: Path, *args: str) -> tuple[pytest.RunResult, str]:
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_node:node\n")
    (pytester.mkdir("suite_node") / "test_fleet.py").write_text(SUITE)
    reports = pytester.path / f"reports{len(list(pytester.path.glob('reports*')))}"
    result = pytester.runpytest_subprocess("suite_node", f"--from-dump={dump}", f"--report-dir={reports}",
                                           "-p", "no:randomly", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=2 + NODES - 1, failed=NODES - 2 + 1, skipped=NODES)
    return result, next(reports.glob("*/audit.html")).read_text() + next(reports.glob("*/audit.md")).read_text()


def test_a_finding_on_many_nodes_is_one_line_naming_the_nodes_it_spares(pytester, dump) -> None:
    result, _ = _run(pytester, dump)
    out = result.stdout.str()
    line = (f"kubeproof: nofile-exhaustion: {NODES - 2}/{NODES} nodes, e.g. node-00000, node-00001, "
            f"node-00002, ...; not on {', '.join(SPARED)} (test_limits)")
    assert line in out, out
    assert "failing on more than" in out
    # The grouped failures are in neither of pytest's failure sections; the single one is, in full.
    assert "kubelet on node-00005" not in out, out
    assert "FAILED suite_node/test_fleet.py::test_limits" not in out, out
    assert "[nodefs-pressure] node node-00001: 1 problem" in out, out
    assert "FAILED suite_node/test_fleet.py::test_one_node[node-00001]" in out, out
    assert f"{NODES - 1} failed" in out, "the counts line counts every failure"


@pytest.mark.parametrize("asked", [["-rA"], ["-v"], ["--tb=short"]], ids=lambda a: a[0])
def test_asking_for_everything_shows_every_failure(pytester, dump, asked: list[str]) -> None:
    result, _ = _run(pytester, dump, *asked)
    out = result.stdout.str()
    assert "failing on more than" not in out, out
    failing = [f"node-{i:05d}" for i in range(NODES) if f"node-{i:05d}" not in SPARED]
    if asked == ["--tb=short"]:
        assert all(f"kubelet on {n}: nofile 1024" in out for n in failing), out
    else:
        assert all(f"test_limits[{n}]" in out for n in failing), out


def test_audit_html_and_md_show_a_shared_finding_once_with_its_nodes(pytester, dump) -> None:
    _, page = _run(pytester, dump)  # audit.html, then audit.md
    shared = re.findall(r'<div class="result shared"><p>(.*?)</p>', page)
    assert len(shared) == 1, shared
    said = re.sub(r"<[^>]+>", "", shared[0])
    assert said == f"FAIL {NODES - 2}/{NODES} nodes; not on {', '.join(SPARED)} — suite_node/test_fleet.py::test_limits"
    shown = set(re.findall(r"kubelet on (node-\d+)", page))
    assert shown == {"node-00000"}, "the finding is shown for its first node only"
    assert (f"- **FAIL** {NODES - 2}/{NODES} nodes; not on {', '.join(SPARED)} — `suite_node/test_fleet.py::"
            "test_limits`, the same on each (shown for node-00000): node-00000, node-00001, node-00002, node-00004"
            in page)
    # The one-node finding is shown as before, and a passed test is one row, with how many of its nodes.
    assert "[nodefs-pressure] node node-00001: 1 problem" in page
    assert (f'<code title="suite_node/test_fleet.py::test_one_node">test_one_node</code></td><td>{NODES - 1}/{NODES} '
            "nodes</td>") in page
    assert f"| `suite_node/test_fleet.py::test_one_node` | {NODES - 1}/{NODES} nodes |" in page
    # A skip reason naming each node is one reason for all of them.
    assert f"<li>{NODES} tests skipped: node &lt;node&gt;: not a control-plane node</li>" in page
    assert f"- **SKIPPED** {NODES} tests: node <node>: not a control-plane node" in page


def test_audit_json_keeps_every_result(pytester, dump) -> None:
    _run(pytester, dump)
    doc = json.loads(next(pytester.path.glob("reports*/*/audit.json")).read_text())
    results = [r for f in doc["failures"] for r in f["results"]]
    assert len(results) == 3 * NODES
    assert sum(r["outcome"] == "failed" for r in results) == NODES - 1


def test_under_xdist_a_nodes_tests_are_one_unit_of_work(pytester, dump, monkeypatch) -> None:
    """kubeproof/scheduling.py: each node's tests go to one worker together, the nodes spread."""
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")  # CPUs enough for 2 workers and the controller
    result, _ = _run(pytester, dump, "-n", "2", "-v")
    workers: dict[str, set[str]] = {}
    for worker, node in re.findall(r"^\[(gw\d+)\] \[\s*\d+%\] \w+ suite_node/test_fleet.py::\w+\[(node-\d+)\]",
                                   result.stdout.str(), re.M):
        workers.setdefault(node, set()).add(worker)
    assert len(workers) == NODES, result.stdout.str()
    assert all(len(w) == 1 for w in workers.values()), workers
    assert len(set().union(*workers.values())) == 2, workers


@pytest.mark.parametrize(("cpus", "said", "workers"), [("4", "-n 4 starts 3 workers", {"gw0", "gw1", "gw2"}),
                                                       ("2", "-n 4 starts no workers", set()),
                                                       ("1", "-n 4 starts no workers", set())])
def test_a_dump_gets_a_worker_per_cpu_but_the_controllers(pytester, dump, monkeypatch, cpus, said, workers) -> None:
    """A dump is judged from local files: workers past the CPUs (what -n auto counts) would each start and
    collect every test for nothing, and the controller reading their reports needs a CPU of its own;
    the tests and outcomes stay."""
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", cpus)
    result, _ = _run(pytester, dump, "-n", "4", "-v")
    assert f"kubeproof: a dump is judged from local files ({cpus} CPUs): {said}" in result.stderr.str()
    assert set(re.findall(r"^\[(gw\d+)\] ", result.stdout.str(), re.M)) == workers


class _Worker:
    """What the scheduler sees of an xdist worker: the tests it is sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def test_the_scheduler_sends_each_test_once_and_forgets_finished_units(tmp_path) -> None:
    """scheduling.SuiteScheduling: a node's tests are one unit; a finished unit leaves the worker's
    workload (xdist's own kept them all and recounted them after every test)."""
    from kubeproof.scheduling import SuiteScheduling

    suite = tmp_path / "suite_node"
    suite.mkdir()
    config = SimpleNamespace(rootpath=tmp_path, getvalue=lambda name: ["popen", "popen"],
                             option=SimpleNamespace(loadscopereorder=True))
    nodes = [f"node-{i:05d}" for i in range(6)]
    collection = [f"suite_node/test_a.py::{test}[{n}]" for test in ("test_x", "test_y") for n in nodes]
    scheduler = SuiteScheduling(config, {suite.resolve(): "node"})
    workers = [_Worker("gw0"), _Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    while not scheduler.tests_finished:
        for worker in workers:
            pending = [t for unit in scheduler.assigned_work[worker].values() for t, done in unit.items() if not done]
            if pending:
                scheduler.mark_test_complete(worker, collection.index(pending[0]))
            assert all(not all(unit.values()) for unit in scheduler.assigned_work[worker].values())
    sent = sorted(i for w in workers for i in w.sent)
    assert sent == list(range(len(collection)))
    for worker in workers:  # a node's two tests went to the same worker
        assert {collection[i].rsplit("[", 1)[1] for i in worker.sent}.isdisjoint(
            {collection[i].rsplit("[", 1)[1] for w in workers if w is not worker for i in w.sent})


HOLDS_ONE_NODE = """
import pytest

@pytest.mark.failure("nofile-exhaustion")
def test_{name}(node, audit):
    assert set(audit._audited) == {{node.name}}  # the node's facts, and no other node's
"""


def test_a_worker_lets_a_nodes_facts_go_after_its_last_test(pytester, dump) -> None:
    """Audit.node_test_done: a worker, sent each node's tests together, held every node it had judged."""
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_node:node\n")
    suite = pytester.mkdir("suite_node")
    for name in ("a", "b"):
        (suite / f"test_{name}.py").write_text(HOLDS_ONE_NODE.format(name=name))
    result = pytester.runpytest_subprocess("suite_node", f"--from-dump={dump}", "-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=2 * NODES)
