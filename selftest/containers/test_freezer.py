"""A node container holding a frozen cgroup, as a runc killed inside a kind node leaves one: the
engine cannot remove it until kubeproof/kind/freezer.py thaws it (what kind.delete does while it
waits). Real Docker, a real cgroup v1 freezer; nothing is left behind."""

from __future__ import annotations

import subprocess
import time

import pytest

from kubeproof.kind import freezer

pytestmark = pytest.mark.skipif(not (freezer.FREEZER / "tasks").exists(),
                                reason="needs the cgroup v1 freezer at /sys/fs/cgroup/freezer")


def _host_pid_of(cgroup, comm: str, timeout: float = 60) -> str:
    """The host pid of the container's process named comm, once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in (cgroup / "tasks").read_text().split():
            try:
                if open(f"/proc/{pid}/comm").read().strip() == comm:
                    return pid
            except OSError:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no {comm} in {cgroup}")


def _running(name: str) -> bool:
    return subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", name],
                          capture_output=True, text=True).stdout.strip() == "true"


def test_a_node_container_with_a_frozen_cgroup_stops_only_once_thawed(node_container) -> None:
    name = node_container()
    [cgroup] = freezer.node_cgroups("docker", [name])
    frozen = cgroup / "kubeproof-frozen"
    frozen.mkdir()
    sleeper = subprocess.Popen(["docker", "exec", name, "sleep", "600"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (frozen / "tasks").write_text(_host_pid_of(cgroup, "sleep"))
        (frozen / "freezer.state").write_text("FROZEN")
        # The failure: SIGKILL cannot end a frozen task. Docker gives up ("did not receive an exit
        # event"), podman waits for good (the lab's kind node "Stopping"): either way it stays.
        try:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        assert _running(name)
        assert freezer.thaw([cgroup]) == [frozen]
        removed = subprocess.run(["docker", "rm", "-f", name], capture_output=True, text=True, timeout=120)
        assert removed.returncode == 0, removed.stderr
        assert not _running(name)
    finally:
        if frozen.exists():
            (frozen / "freezer.state").write_text("THAWED")
        sleeper.kill()
        sleeper.wait()
    assert not cgroup.exists()  # the container's cgroups went with it


def test_nothing_to_thaw_is_no_work() -> None:
    assert freezer.node_cgroups("docker", []) == []
    assert freezer.thaw([freezer.FREEZER / "kubeproof-no-such-cgroup"]) == []
