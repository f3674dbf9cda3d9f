"""The audit at scale, proven at small sizes (the numbers are in docs/benchmark.md, not here):
requests grow with pages, never with nodes; what the view trims is gone from the view, the cache
and dumps, while every verdict stays what it is on whole objects; the benchmark runs end to end.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kubeproof import cli
from kubeproof.kube import view as views
from kubeproof.kube.client import api_client
from kubeproof.kube.kinds import KINDS
from kubeproof.kube.replay import Objects, ReplayServer
from kubeproof.kube.trimming import READ
from kubeproof.kube.view import ClusterView
from kubeproof.sharing import SessionCache
from selftest.support.paths import CLUSTERS, REPO

BENCHMARKS = REPO / "benchmarks"
SERVING_TEST = "test_cluster_certificates.py::test_api_server_serving_certificate"  # none over plain HTTP


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic():
    """benchmarks/synthetic.py: clusters of any size in the real API shapes."""
    return _load("synthetic")


def _served(synthetic, nodes: int) -> Objects:
    healthy = synthetic.builders([])
    return Objects(synthetic.cluster(nodes), version=healthy.SERVER_VERSION, now=healthy.DUMPED)


def _lists_per_kind(server: ReplayServer) -> dict[str, int]:
    return {kind.name: sum(verb == "list" and path == kind.list_path for verb, path, _ in server.requests)
            for kind in KINDS}


def test_requests_grow_with_pages_never_with_nodes(synthetic, tmp_path):
    """20 and 200 nodes, 100 objects a page: one LIST request per page of each kind, nothing per node."""
    page = 100
    seen = {}
    for nodes in (20, 200):
        with ReplayServer(_served(synthetic, nodes)) as server:
            with api_client(str(server.write_kubeconfig(tmp_path / f"kubeconfig-{nodes}")), "replay") as api:
                view = ClusterView.live(api, page_size=page)
                counts = {kind.name: len(view.list(kind.name)) for kind in KINDS}
        assert {verb for verb, _, _ in server.requests} == {"list"}
        assert _lists_per_kind(server) == {name: max(1, math.ceil(count / page)) for name, count in counts.items()}
        seen[nodes] = counts, _lists_per_kind(server)
    (small, small_lists), (large, large_lists) = seen[20], seen[200]
    assert (small["nodes"], large["nodes"]) == (20, 200) and large["pods"] > 10 * small["pods"] - 100
    # Kinds whose number does not grow with the nodes take as many requests at 200 nodes as at 20.
    steady = [name for name in small if small[name] == large[name]]
    assert "daemonsets.apps" in steady and all(small_lists[name] == large_lists[name] for name in steady)
    assert sum(large_lists.values()) < large["nodes"]  # far fewer requests than nodes, let alone pods


def test_trimmed_fields_are_gone_from_the_view_and_the_cache(synthetic, tmp_path):
    served = list(synthetic.cluster(12))
    heavy = ("managedFields", "kubectl.kubernetes.io/last-applied-configuration", '"images"', '"volumes"')
    source = json.dumps(served)
    assert all(field in source for field in heavy)  # the server does send them
    healthy = synthetic.builders([])
    cache = tmp_path / "cache"
    with ReplayServer(Objects(served, version=healthy.SERVER_VERSION, now=healthy.DUMPED)) as server:
        with api_client(str(server.write_kubeconfig(tmp_path / "kubeconfig")), "replay") as api:
            view = ClusterView.live(api, cache=SessionCache(cache))
            kept = {kind.name: view.list(kind.name) for kind in KINDS}
    assert sum(map(len, kept.values())) == len(served)
    for text in [json.dumps(kept)] + [path.read_text() for path in cache.glob("*.json")]:
        assert [field for field in heavy if field in text] == []
    pod = next(p for p in kept["pods"] if p["metadata"]["namespace"].startswith("tenant-"))
    assert set(pod) == {"apiVersion", "kind", "metadata", "spec", "status"}
    # the synthetic tenant pods set no command or startupProbe; restartPolicy is a sidecar's, an init container's
    assert set(pod["spec"]["containers"][0]) == set(READ["pods"]["spec"]["containers"]) - {
        "command", "startupProbe", "restartPolicy"}
    assert set(pod["status"]) == {"phase", "containerStatuses"}
    assert set(kept["nodes"][0]["status"]) == {"conditions", "addresses", "nodeInfo", "allocatable"}
    assert kept["daemonsets.apps"][0]["spec"]["template"]  # kinds that do not grow with the cluster: whole


def _untrimmed(kind, item: dict) -> dict:
    return {"apiVersion": kind.api_version, "kind": kind.kind, **item}


def _verdicts(pytester: pytest.Pytester, dump: Path) -> dict[str, dict]:
    """tests_cluster run in-process on the dump: {test: outcome, message and evidence} from audit.json."""
    reports = Path(tempfile.mkdtemp(prefix="reports-", dir=pytester.path))
    result = pytester.runpytest(str(REPO / "tests_cluster"), f"--from-dump={dump}", "--node-access=none",
                                f"--report-dir={reports}", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    [audit] = reports.glob("*/audit.json")
    return {r["test"].removeprefix("tests_cluster/"): {k: r[k] for k in ("outcome", "message", "evidence")}
            for f in json.loads(audit.read_text())["failures"] for r in f["results"]}


@pytest.mark.parametrize("variant", sorted(p.name for p in CLUSTERS.iterdir()))
def test_every_verdict_survives_trimming_and_dumping(pytester: pytest.Pytester, monkeypatch, tmp_path, variant):
    """Each test cluster judged on whole objects, then on what `python -m kubeproof dump` writes of
    it (read live, trimmed): the same outcome, message and evidence for every test."""
    with ReplayServer(CLUSTERS / variant) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        assert cli.main(["dump", str(tmp_path / "dump"), f"--kubeconfig={kubeconfig}", "--node-access=none"]) == 0
    trimmed = _verdicts(pytester, tmp_path / "dump")
    with monkeypatch.context() as whole:
        whole.setattr(views, "trim", _untrimmed)
        untrimmed = _verdicts(pytester, CLUSTERS / variant)
    assert untrimmed.pop(SERVING_TEST)["outcome"] != "skipped"
    assert trimmed.pop(SERVING_TEST)["outcome"] == "skipped"
    assert trimmed == untrimmed
    assert any(r["outcome"] == "failed" for r in untrimmed.values()) == (variant != "healthy")


RECORD_WORKER = """
import os, time
import pytest

def _record(request, pause=0.0):
    time.sleep(pause)  # long enough that an idle worker would take the next unit
    path = os.path.join({directory!r}, request.node.nodeid.replace("/", "_").replace(":", "_"))
    with open(path, "w") as out:
        # workerinput, not $PYTEST_XDIST_WORKER: run from an xdist worker of the selftests, this
        # process inherits that variable even where it is no worker itself.
        worker = getattr(request.config, "workerinput", {{}}).get("workerid", "-")
        out.write(request.node.nodeid + " " + worker)
"""


def test_cluster_tests_share_one_worker_and_node_tests_spread(pytester: pytest.Pytester, tmp_path):
    """Under -n, the cluster suite is one unit of work (one view in one worker); node tests spread
    over the workers; every test id is the one pytest gives it without xdist."""
    ran = tmp_path / "ran"
    ran.mkdir()
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_cluster:cluster\n    suite_node:node\n")
    pytester.makeconftest(RECORD_WORKER.format(directory=str(ran)))
    for suite, failure, pause in (("cluster", "namespace-stuck", 0.1), ("node", "nofile-exhaustion", 0.5)):
        pytester.mkdir(f"suite_{suite}")
        (pytester.path / f"suite_{suite}" / f"test_{suite}.py").write_text(
            "import pytest\nfrom conftest import _record\n\n"
            + "".join(f"@pytest.mark.failure({failure!r})\ndef test_{suite}_{i}(request):\n"
                      f"    _record(request, {pause})\n\n" for i in range(4)))
    with ReplayServer(CLUSTERS / "healthy") as server:  # node tests reach each node as this host
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        args = ["suite_cluster", "suite_node", f"--kubeconfig={kubeconfig}", "--node-access=local",
                "-p", "no:cacheprovider"]
        expected = sorted(pytester.runpytest_subprocess(*args, "--collect-only", "-q").stdout.lines[:8])
        result = pytester.runpytest_subprocess(*args, "-n", "3", "-v")
    assert len(expected) == 8 and all("::test_" in nodeid for nodeid in expected)
    result.assert_outcomes(passed=8)
    workers = dict(path.read_text().split() for path in ran.iterdir())
    assert sorted(workers) == expected  # the ids are unchanged, and every test ran
    assert len({w for nodeid, w in workers.items() if "suite_cluster" in nodeid}) == 1
    assert len({w for nodeid, w in workers.items() if "suite_node" in nodeid}) >= 2


def test_the_cluster_suite_alone_runs_in_process_under_n(pytester: pytest.Pytester, tmp_path):
    """One unit of work: -n starts no workers (each would cost its start-up for nothing)."""
    ran = tmp_path / "ran"
    ran.mkdir()
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_cluster:cluster\n")
    pytester.makeconftest(RECORD_WORKER.format(directory=str(ran)))
    pytester.mkdir("suite_cluster")
    (pytester.path / "suite_cluster" / "test_cluster.py").write_text(
        "import pytest\nfrom conftest import _record\n\n"
        + "".join(f"@pytest.mark.failure('namespace-stuck')\ndef test_{i}(request):\n    _record(request)\n\n"
                  for i in range(3)))
    result = pytester.runpytest_subprocess("suite_cluster", f"--from-dump={CLUSTERS / 'healthy'}", "-n", "3")
    result.assert_outcomes(passed=3)
    assert "-n 3 starts no workers" in result.stderr.str()
    assert sorted(path.read_text().split()[1] for path in ran.iterdir()) == ["-", "-", "-"]


def test_benchmark_runs_end_to_end(tmp_path):
    numbers = tmp_path / "scale.json"
    run = subprocess.run([sys.executable, str(BENCHMARKS / "scale.py"), "--sizes", "10", "--workers", "0,2",
                          "--node-transports", "2", "--json", str(numbers)],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| 10 | 309 |" in run.stdout  # the table: 10 nodes, 30 pods each and the healthy cluster's 9
    [size] = json.loads(numbers.read_text())["sizes"]
    assert size["view"]["lists"] == size["bare"]["lists"] == sum(
        max(1, math.ceil(count / 500)) for count in size["view"]["items"].values())
    assert size["view"]["bytes"] == size["bare"]["bytes"] > 0
    for audit in size["audits"].values():
        assert audit["exit"] == 0 and "passed" in audit["summary"] and "failed" not in audit["summary"]
        # The kinds its tests read, each once whatever the workers, and /version.
        assert audit["lists"] <= size["view"]["lists"] and audit["requests"] - audit["lists"] <= 2
    facts = json.loads(numbers.read_text())["node_facts"]
    assert [(f["processes"], f["round_trips"]) for f in facts] == [(1, 2), (2, 2), (8, 2)]
