"""Fixtures of the pytester runs: a PATH without kind, and the replay API server with its kubeconfig."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeproof.kube.replay import ReplayServer
from selftest.support.paths import HEALTHY


@pytest.fixture
def without_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which no `kind` can be found, so a no-target run never creates a cluster."""
    keep = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "kind").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))


@pytest.fixture
def replay(tmp_path: Path):
    with ReplayServer(HEALTHY) as server:
        server.write_kubeconfig(tmp_path / "kubeconfig", context="replay")
        yield server


@pytest.fixture
def kubeconfig(tmp_path: Path, replay: ReplayServer) -> str:
    return str(tmp_path / "kubeconfig")


@pytest.fixture(autouse=True)
def _cpus_for_two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPUs enough for `-n 2` on a dump (two workers and the controller's), whatever this machine
    has: the runs that ask for workers test xdist's paths (kubeproof/scheduling.py fit_workers would
    judge a dump in process on 2 CPUs)."""
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
