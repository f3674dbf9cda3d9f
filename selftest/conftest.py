"""Fixtures of kubeproof's own tests: the node image and node containers under the real Docker engine."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # selftest/ is not a package: make nodeimage importable

import nodeimage  # noqa: E402
from lab import sharing  # noqa: E402


def _docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="session")
def data_script() -> Callable[[str], ModuleType]:
    """Load a generator of selftest/data by name (they are scripts, not a package): the committed
    fixtures are checked against what they generate."""
    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "data" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def node_image() -> str:
    """The Debian node image's tag, built on first use (~40 s) and cached across runs."""
    if not _docker_available():
        pytest.skip("needs a running Docker engine (.ci/run starts one)")
    return nodeimage.ensure_image()


@pytest.fixture(scope="session")
def node_container(node_image: str) -> Iterator[Callable[..., str]]:
    """Start node containers: node_container("--ulimit", "nofile=1024:1024") -> container name.

    The arguments go to `docker run` before the image. Every container started is removed at the
    end of the session, whatever happened; each name is recorded before `docker run`, so one
    that failed half-way is removed too.
    """
    started: list[str] = []

    def start(*docker_run_args: str) -> str:
        name = nodeimage.container_name()
        started.append(name)
        return nodeimage.start_node(node_image, name, docker_run_args)

    yield start
    failures = []
    for name in started:
        try:
            nodeimage.remove_node(name)
        except RuntimeError as exc:  # remove the others all the same, then tell
            failures.append(str(exc))
    if failures:
        raise RuntimeError("; ".join(failures))


@pytest.fixture(autouse=True)
def _one_live_test_at_a_time(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked live_cluster share one real cluster, count what is left on it, and the scenarios
    restart its API server: under -n 2 they take turns, holding the lab cluster's lock
    (selftest/lab/sharing.py), so one never meets another's probe pods or disruption."""
    contexts = [os.environ.get(v, "") for v in ("KUBEPROOF_SELFTEST_CONTEXT", "KUBEPROOF_SELFTEST_OLDEST_CONTEXT")]
    with contextlib.ExitStack() as held:
        if request.node.get_closest_marker("live_cluster") is not None:
            # Every lab cluster, always in this order: two tests never wait on each other's lock.
            for context in filter(None, contexts):
                held.enter_context(sharing.exclusive(context.removeprefix("kind-")))
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The main flow first (a throwaway cluster and every scenario, a quarter hour, no lab lock):
    under -n 2 xdist hands tests out in this order, so it runs beside all the others instead of
    starting after half of them."""
    items.sort(key=lambda item: item.path.name != "test_main_flow_live.py")
