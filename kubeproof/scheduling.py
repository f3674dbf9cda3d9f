"""How `pytest -n N` spreads a kubeproof run: every cluster test on one worker, the rest spread.

The cluster tests read one view of the cluster (150,000 pods at the supported limits); on N
workers each would build or load its own copy of it, N times the memory and, on a machine with
fewer cores than workers, longer than one process (docs/benchmark.md). So the cluster suite is
one unit of work, given to one worker; a node's tests are one unit (one worker reads or waits
for that node's facts, and at 5,000 nodes xdist hands out 5,000 units, not 130,000 tests one at
a time: that was most of a `-n 8` run), scenario tests each a unit of their own, spread over the
other workers. Test ids stay as they are (unlike `--dist loadgroup`, which appends the group to
every id).

Applied when xdist distributes by `load`, what `-n` implies; an explicit other `--dist` mode is
the user's choice and kept. When the cluster suite is all that runs, there is one unit of work
and nothing to spread: the run stays in the pytest process, as under `-n 0`, instead of starting
workers of which one would work (each costs a second of CPU to start, docs/benchmark.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

CLUSTER_UNIT = "kubeproof: the cluster suite"


class SuiteScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with the cluster suite as one scope, each node's tests one (by the
    test's parameters: its node), and every other test its own.

    Scopes are handed out largest first, so one worker starts on the cluster suite while the
    others take the node tests one by one; workers left without work are shut down early.
    """

    def __init__(self, config: pytest.Config, cluster_dirs: list[Path], node_dirs: list[Path], log=None):
        super().__init__(config, log)
        self._cluster_dirs, self._node_dirs = cluster_dirs, node_dirs
        self._root = config.rootpath

    def _split_scope(self, nodeid: str) -> str:
        path = (self._root / nodeid.split("::", 1)[0]).resolve()
        if any(path == d or d in path.parents for d in self._cluster_dirs):
            return CLUSTER_UNIT
        if nodeid.endswith("]") and any(path == d or d in path.parents for d in self._node_dirs):
            return "kubeproof: node tests [" + nodeid.rsplit("[", 1)[1]
        return nodeid


def one_unit_in_process(config: pytest.Config, suites: set[str]) -> str | None:
    """Before xdist starts its workers: turn distribution off when the run is one unit of work
    (only the cluster suite); returns what to tell the user, None when workers are kept."""
    numprocesses = config.getoption("numprocesses", None)
    if (suites != {"cluster"} or not numprocesses or config.getoption("dist", "no") != "load"
            or hasattr(config, "workerinput")):  # a worker's options are its controller's
        return None
    config.option.dist, config.option.tx, config.option.numprocesses = "no", [], 0
    return (f"kubeproof: only the cluster suite runs, one unit of work for one process: -n {numprocesses} "
            "starts no workers")


def make_scheduler(config: pytest.Config, suite_dirs: dict[Path, str], log) -> SuiteScheduling | None:
    """The scheduler for this run, or None to leave xdist's own (another --dist, no cluster suite)."""
    cluster_dirs = [d for d, suite in suite_dirs.items() if suite == "cluster"]
    node_dirs = [d for d, suite in suite_dirs.items() if suite == "node"]
    if config.getvalue("dist") != "load" or not (cluster_dirs or node_dirs):
        return None
    return SuiteScheduling(config, cluster_dirs, node_dirs, log)
