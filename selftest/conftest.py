"""Fixtures every tier of kubeproof's own tests may use: selftest/data's generators, and node
containers under the real Docker engine.

The tiers are directories, by what their tests need: offline/ (nothing), plugin/ (pytester runs of
kubeproof's suites, no engine), containers/ (Docker, this host), live/ (the lab clusters
selftest/run starts); support/ holds what they share."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from selftest.support import node_containers
from selftest.support.paths import DATA


def _docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="session")
def data_script() -> Callable[[str], ModuleType]:
    """Load a generator of selftest/data by name (they are scripts, not a package): the committed
    fixtures are checked against what they generate."""
    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def node_image() -> str:
    """The Debian node image's tag, built on first use (~40 s) and cached across runs."""
    if not _docker_available():
        pytest.skip("needs a running Docker engine (.ci/run starts one)")
    return node_containers.ensure_image()


@pytest.fixture(scope="session")
def node_container(node_image: str) -> Iterator[Callable[..., str]]:
    """Start node containers: node_container("--ulimit", "nofile=1024:1024") -> container name.

    The arguments go to `docker run` before the image. Every container started is removed at the
    end of the session, whatever happened; each name is recorded before `docker run`, so one
    that failed half-way is removed too.
    """
    started: list[str] = []

    def start(*docker_run_args: str) -> str:
        name = node_containers.container_name()
        started.append(name)
        return node_containers.start_node(node_image, name, docker_run_args)

    yield start
    failures = []
    for name in started:
        try:
            node_containers.remove_node(name)
        except RuntimeError as exc:  # remove the others all the same, then tell
            failures.append(str(exc))
    if failures:
        raise RuntimeError("; ".join(failures))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The main flow first (a throwaway cluster and every scenario, a quarter hour, no lab lock):
    under -n 2 xdist hands tests out in this order, so it runs beside all the others instead of
    starting after half of them."""
    items.sort(key=lambda item: item.path.name != "test_main_flow_live.py")
