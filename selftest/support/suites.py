"""Small kubeproof suites for pytester runs, the shipped scenarios' test ids, and what a usage error
must look like."""

from __future__ import annotations

import re

import pytest

from .paths import REPO

NODE_TEST = """
import pytest

@pytest.mark.failure("nofile-exhaustion")
def test_node_seen(node):
    assert node.facts.hostname
"""

CLUSTER_TEST = """
import pytest

@pytest.mark.failure("namespace-stuck")
def test_namespaces(cluster):
    assert cluster.list("namespaces")

@pytest.mark.failure("cert-expiry")
def test_secrets(cluster):
    assert cluster.list("secrets") is not None
"""

SCENARIO_TEST = """
import pytest

@pytest.mark.failure("nodefs-pressure")
def test_scenario_ran(audit):
    assert audit.target.live
"""


def make_suites(pytester: pytest.Pytester, node: str = NODE_TEST, cluster: str = CLUSTER_TEST,
                scenario: str = SCENARIO_TEST) -> None:
    pytester.makeini("[pytest]\nkubeproof_suites =\n    suite_node:node\n    suite_cluster:cluster\n"
                     "    suite_scenario:scenario\n")
    for suite, body in (("node", node), ("cluster", cluster), ("scenario", scenario)):
        directory = pytester.mkdir(f"suite_{suite}")
        (directory / f"test_{suite}.py").write_text(body)


def one_line_error(result: pytest.RunResult, fragment: str) -> None:
    """The run stopped with a usage error: the message once, on one line, no traceback."""
    output = result.stdout.str() + "\n" + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if fragment in line]
    assert len(lines) == 1, output
    assert lines[0].startswith("ERROR: kubeproof:"), lines[0]


def scenario_files() -> list[str]:
    return sorted(p.name for p in (REPO / "scenarios").glob("test_*.py"))


def scenario_tests() -> list[str]:
    """Every scenario function's test id (scenarios/test_x.py::test_y), as a run names it."""
    return [f"scenarios/{name}::{test}" for name in scenario_files()
            for test in re.findall(r"^def (test_\w+)", (REPO / "scenarios" / name).read_text(), re.M)]
