"""Node access end to end: kind access found through kind's container labels, --nodes, and dumps.

The "kind cluster" is what kind itself would leave: node containers under the real Docker engine
labelled as kind labels them, named as the Node objects that the real kubernetes client lists from
the replay API server under a `kind-<cluster>` context. Only the control plane is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import pytest

from kubeproof import kind
from kubeproof.kube.replay import ReplayServer
from selftest.support.paths import HEALTHY, REPO


NODE_TEST = """
import pytest

@pytest.mark.failure("hostname-drift")
def test_reached(node, evidence):
    evidence.attach("access", node.ref.access)
    assert node.facts.hostname == node.name
    assert node.object["metadata"]["name"] == node.name
    print("REACHED", node.name, node.ref.access, ",".join(node.roles) or "-")
"""


@pytest.fixture(scope="module")
def kind_like_cluster(node_container, tmp_path_factory):
    """Two node containers with kind's labels and a dump whose Nodes carry their names."""
    cluster = f"kpself-{uuid.uuid4().hex[:6]}"
    names = {}
    for role in ("control-plane", "worker"):
        probe = node_container("--label", f"{kind.CLUSTER_LABEL}={cluster}",
                               "--label", f"{kind.ROLE_LABEL}={role}")
        subprocess.run(["docker", "exec", probe, "hostname", probe], check=False)
        names[role] = probe
    dump = tmp_path_factory.mktemp("kind-like") / "dump"
    shutil.copytree(HEALTHY, dump)
    nodes = json.loads((dump / "nodes.json").read_text())
    for node in nodes["items"]:
        role = "control-plane" if "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"] else "worker"
        node["metadata"]["name"] = node["metadata"]["labels"]["kubernetes.io/hostname"] = names[role]
    (dump / "nodes.json").write_text(json.dumps(nodes))
    return cluster, names, dump


@pytest.fixture
def served(kind_like_cluster, tmp_path, monkeypatch):
    # These kind nodes are Docker containers, whatever engine the lab points kind at.
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "docker")
    cluster, names, dump = kind_like_cluster
    with ReplayServer(dump) as server:
        kubeconfig = tmp_path / "kubeconfig"
        server.write_kubeconfig(kubeconfig, context=kind.context_for(cluster))
        yield server, kubeconfig, names


def make_node_suite(pytester: pytest.Pytester, body: str = NODE_TEST) -> None:
    pytester.makeini("[pytest]\nkubeproof_suites = suite_node:node\n")
    pytester.mkdir("suite_node")
    (pytester.path / "suite_node" / "test_node.py").write_text(body)


def test_auto_access_reaches_kind_nodes_by_their_container_labels(pytester, served) -> None:
    server, kubeconfig, names = served
    make_node_suite(pytester)
    result = pytester.runpytest("suite_node", f"--kubeconfig={kubeconfig}", "-s")
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert f"REACHED {names['control-plane']} docker://{names['control-plane']} control-plane" in out
    assert f"REACHED {names['worker']} docker://{names['worker']} -" in out
    assert {r[0] for r in server.requests} <= {"get", "list"}, "an audit with kind access never writes"


def test_nodes_selector_limits_the_inventory(pytester, served) -> None:
    server, kubeconfig, names = served
    make_node_suite(pytester)
    result = pytester.runpytest("suite_node", f"--kubeconfig={kubeconfig}", "-v",
                                "--nodes=node-role.kubernetes.io/control-plane")
    result.assert_outcomes(passed=1)
    assert names["worker"] not in result.stdout.str()

    none = pytester.runpytest("suite_node", f"--kubeconfig={kubeconfig}", "--nodes=gpu=true")
    assert none.ret == pytest.ExitCode.USAGE_ERROR
    assert "--nodes 'gpu=true' matches none of the 2 nodes" in none.stdout.str() + none.stderr.str()


def test_dump_then_audit_offline(pytester, served, tmp_path) -> None:
    server, kubeconfig, names = served
    out = tmp_path / "audit-dump"
    dumped = subprocess.run([sys.executable, "-m", "kubeproof", "dump", "--kubeconfig", str(kubeconfig),
                             str(out)], capture_output=True, text=True, cwd=REPO)
    assert dumped.returncode == 0, dumped.stderr
    assert {r[0] for r in server.requests} <= {"get", "list"}
    facts = {p.stem: json.loads(p.read_text()) for p in (out / "nodes-facts").glob("*.json")}
    assert set(facts) == set(names.values())
    assert all(f["hostname"] == name for name, f in facts.items())
    assert json.loads((out / "kubeproof-dump.json").read_text())["context"].startswith("kind-")

    make_node_suite(pytester)
    server.stop()  # offline: nothing may be asked of the cluster any more
    result = pytester.runpytest("suite_node", f"--from-dump={out}", "-s")
    result.assert_outcomes(passed=2)
    assert f"REACHED {names['worker']} dump" in result.stdout.str()


def test_kubectl_dump_without_node_facts_skips_node_tests_with_the_reason(pytester, tmp_path) -> None:
    dump = tmp_path / "kubectl-dump"
    dump.mkdir()
    shutil.copy(HEALTHY / "nodes.json", dump / "nodes.json")
    make_node_suite(pytester)
    result = pytester.runpytest("suite_node", f"--from-dump={dump}", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*kubeproof: node tests skip: the dump holds no node facts*",
                                 "SKIPPED ?2? *the dump holds no node facts*"])


def test_dump_needs_a_cluster() -> None:
    result = subprocess.run([sys.executable, "-m", "kubeproof", "dump", "/tmp/kubeproof-nowhere"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 4  # a usage error, as under pytest
    assert result.stderr.strip() == ("kubeproof: dump needs a cluster: --kube-context, --kubeconfig "
                                     "or --kind-cluster")


def test_podman_exec_failures_are_told_from_the_commands_own() -> None:
    """kind on podman: podman's own errors make the node unreachable; the command's stay its result."""
    from kubeproof.nodes.transport import CommandOutput, transport_failure

    gone = subprocess.run(["podman", "exec", "kubeproof-selftest-no-such-node", "true"], capture_output=True,
                          text=True) if shutil.which("podman") else None
    own_error = CommandOutput(1, "", "Error: the command's own message\n")
    assert transport_failure("podman", own_error) is None
    stderr = gone.stderr if gone else 'Error: no container with name or ID "x" found: no such container\n'
    reason = transport_failure("podman", CommandOutput(gone.returncode if gone else 125, "", stderr))
    assert reason and reason.startswith("podman exec: no container with name or ID"), reason
