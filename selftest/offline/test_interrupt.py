"""Ctrl-C ends a run promptly and leaves nothing `cleanup` cannot find: each wait on the way out is
bounded or dropped, and what is still being deleted is said. Offline: fakes stand for the API server,
kind and the nodes (the live Ctrl-C and kill -9 runs are test_live_cluster.py's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubeproof import kind
from kubeproof.evidence import Evidence
from kubeproof.nodes import probe, transport
from kubeproof.scenario import Scenario


class FakeCluster:
    """Scenario's Cluster: records namespace deletions and whether they were waited for."""

    def __init__(self):
        self.deleted: list[tuple[str, bool]] = []

    def delete_namespace(self, name: str, *, wait: bool = True) -> None:
        self.deleted.append((name, wait))


def scenario(tmp_path: Path) -> tuple[Scenario, FakeCluster, list[str]]:
    running = Scenario(["namespace-stuck"], SimpleNamespace(workdir=tmp_path), image="busybox",
                       evidence=Evidence(SimpleNamespace(stash={})))
    running._cluster = cluster = FakeCluster()
    said: list[str] = []
    running.say = said.append
    return running, cluster, said


def test_a_restore_after_ctrl_c_deletes_namespaces_without_waiting_and_says_so(tmp_path: Path) -> None:
    running, cluster, said = scenario(tmp_path)
    running.defer("delete namespace ns-a", lambda: running._delete_namespace("ns-a"))
    running.restore(interrupted=True)
    assert cluster.deleted == [("ns-a", False)]
    assert "namespace ns-a is being deleted; python -m kubeproof cleanup removes it" in said


def test_a_restore_of_a_whole_run_waits_for_its_namespaces(tmp_path: Path) -> None:
    running, cluster, _ = scenario(tmp_path)
    running.defer("delete namespace ns-a", lambda: running._delete_namespace("ns-a"))
    running.restore()
    assert cluster.deleted == [("ns-a", True)]


def test_a_ctrl_c_during_a_restore_is_held_back_and_stops_the_waiting(tmp_path: Path) -> None:
    running, cluster, _ = scenario(tmp_path)
    running.defer("delete namespace ns-a", lambda: running._delete_namespace("ns-a"))
    running.defer("an undo during which Ctrl-C comes", lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):  # raised once every undo ran
        running.restore()
    assert cluster.deleted == [("ns-a", False)]


def test_a_ctrl_c_while_the_namespace_is_being_created_still_deletes_it(monkeypatch) -> None:
    """The request may have reached the API server: stop() must delete what it may have created."""
    pods = probe.ProbePods(None, session="abc123", kubeconfig=None, context=None)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    deleted = []
    pods.core = SimpleNamespace(create_namespace=interrupted,
                                delete_namespace=lambda name, **kwargs: deleted.append(name))
    with pytest.raises(KeyboardInterrupt):
        pods.start(["node-a"], script="true", keep=lambda node, output: "")
    pods.stop()
    assert deleted == ["kubeproof-probe-abc123"]


def test_a_pool_left_by_ctrl_c_drops_its_queued_work() -> None:
    ran, release = [], threading.Event()
    with pytest.raises(KeyboardInterrupt):
        with probe._pool(1) as pool:
            pool.submit(release.wait, 10)
            for n in range(5):
                pool.submit(ran.append, n)
            raise KeyboardInterrupt
    release.set()
    time.sleep(0.5)  # long enough for the queued work to run, had it been kept
    assert ran == []


def test_a_ctrl_c_kills_the_client_a_node_command_spawned(tmp_path: Path) -> None:
    """Node commands run in a session of their own (the deadline kills the whole group): a Ctrl-C
    must kill it too, or the client (kubectl exec, docker exec, ssh) outlives the run."""
    pid_file = tmp_path / "pid"
    host = transport.open_host("local://")
    timer = threading.Timer(2, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        transport.run(host, f"echo $$ > {pid_file}; exec sleep 60", timeout=60)
    timer.join()
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def fake_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `kind` on PATH that records its arguments; `delete` takes KIND_DELETE_SECONDS, `create` never ends."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kind.log"
    script = bin_dir / "kind"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                      "case \"$1\" in delete) sleep \"${KIND_DELETE_SECONDS:-0}\"; "
                      f"echo deleted >> {log};; create) exec sleep 60;; esac\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_deleting_the_kind_cluster_is_waited_for_a_bounded_time_and_goes_on(fake_kind: Path,
                                                                             monkeypatch) -> None:
    monkeypatch.setenv("KIND_DELETE_SECONDS", "3")
    monkeypatch.setattr(kind, "DELETE_WAIT", 0.5)
    said: list[str] = []
    kind.delete("kubeproof-abc", said.append)
    assert said == ["kubeproof: kind cluster kubeproof-abc is being deleted; kind delete cluster --name "
                    "kubeproof-abc removes it if this is cut short",
                    f"kubeproof: kind cluster kubeproof-abc still being deleted after 0.5 s "
                    f"(process {said[1].split('process ')[1].split()[0]} goes on)"]
    assert "deleted" not in fake_kind.read_text()
    deadline = time.monotonic() + 30
    while "deleted" not in fake_kind.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "deleted" in fake_kind.read_text()  # finished after delete() returned


def test_a_ctrl_c_while_kind_creates_the_cluster_deletes_it(fake_kind: Path, tmp_path: Path) -> None:
    """kind, killed half way, leaves its node containers: the run deletes what it began."""
    code = ("import os, signal, threading, sys\n"
            "from pathlib import Path\n"
            "from kubeproof import kind\n"
            "threading.Timer(2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
            "try:\n"
            f"    kind.create('kubeproof-abc', Path({str(tmp_path / 'kubeconfig')!r}), print)\n"
            "except KeyboardInterrupt:\n"
            "    sys.exit(130)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ)
    assert done.returncode == 130, done.stderr
    assert "kind cluster kubeproof-abc is being deleted" in done.stdout
    assert "delete cluster --name kubeproof-abc" in fake_kind.read_text()
