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
the user's choice and kept. Every worker starts Python, imports pytest and kubeproof and collects
every test of the run (130,000 at 5,000 nodes), so a worker that would wait on nothing only adds
that work (docs/benchmark.md): when the cluster suite is all that runs, there is one unit of work
and the run stays in the pytest process, as under `-n 0`. A dump is judged from local files, so
nothing waits on a node: its workers get the CPUs (what `-n auto` counts) but one, which the
controller needs to read their reports (at 2,000 nodes about half the CPU of the whole `-n 0` run),
and with two CPUs or fewer the run stays in process (`-n 2` took 2.2x to 4.1x the wall time of
`-n 0` on 2 CPUs, docs/benchmark.md).
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

    def __init__(self, config: pytest.Config, suite_dirs: dict[Path, str], log=None):
        super().__init__(config, log)
        self._dirs = suite_dirs
        self._root = config.rootpath
        self._suites: dict[str, str | None] = {}
        self._indexes: dict[str, int] | None = None

    def _split_scope(self, nodeid: str) -> str:
        suite = self._suite_of_file(nodeid.split("::", 1)[0])
        if suite == "cluster":
            return CLUSTER_UNIT
        if suite == "node" and nodeid.endswith("]"):
            return "kubeproof: node tests [" + nodeid.rsplit("[", 1)[1]
        return nodeid

    def _suite_of_file(self, file: str) -> str | None:
        """Once per file: xdist asks for every test and again as each completes, and resolving its
        path each time was a quarter of the controller's CPU at 200 nodes."""
        if file not in self._suites:
            self._suites[file] = suite_of((self._root / file).resolve(), self._dirs)
        return self._suites[file]

    # xdist's LoadScopeScheduling keeps every unit a worker ever had and counts their pending tests
    # at each test's end, and finds each test's index by a scan of the collection: both grow with
    # the run (units x tests), at 2,000 nodes most of the controller's time. Here a finished unit
    # leaves the worker's workload and indexes come from one dict.

    def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
        nodeid = self.registered_collections[node][item_index]
        workload = self.assigned_work[node]
        scope = self._split_scope(nodeid)
        workload[scope][nodeid] = True
        if all(workload[scope].values()):
            del workload[scope]
        self._reschedule(node)

    def _assign_work_unit(self, node) -> None:
        scope, work_unit = self.workqueue.popitem(last=False)
        self.assigned_work.setdefault(node, {})[scope] = work_unit
        if self._indexes is None:  # every registered collection is this one (xdist checks)
            self._indexes = {nodeid: i for i, nodeid in enumerate(self.collection)}
        node.send_runtest_some([self._indexes[nodeid] for nodeid, done in work_unit.items() if not done])


def suite_of(path: Path, dirs: dict[Path, str]) -> str | None:
    """The suite (node, cluster, scenario) of the suite directory a test file is in, by kubeproof_suites."""
    for parent in path.parents:
        if parent in dirs:
            return dirs[parent]
    return None


def fit_workers(config: pytest.Config, suites: set[str]) -> str | None:
    """Before xdist starts its workers: no more of them than can work (module docstring). Returns
    what to tell the user, None when -n is kept."""
    numprocesses = config.getoption("numprocesses", None)
    if (not numprocesses or config.getoption("dist", "no") != "load"
            or hasattr(config, "workerinput")):  # a worker's options are its controller's
        return None
    if suites == {"cluster"}:
        workers, why = 0, "only the cluster suite runs, one unit of work for one process"
    elif config.getoption("from_dump", None):
        cpus = config.hook.pytest_xdist_auto_num_workers(config=config)
        workers, why = (cpus - 1 if cpus > 2 else 0), f"a dump is judged from local files ({cpus} CPUs)"
        if workers >= numprocesses:
            return None
    else:
        return None
    config.option.numprocesses, config.option.tx = workers, config.option.tx[:workers]
    if not workers:
        config.option.dist = "no"
    return f"kubeproof: {why}: -n {numprocesses} starts {workers or 'no'} worker{'s' * (workers != 1)}"


def make_scheduler(config: pytest.Config, suite_dirs: dict[Path, str], log) -> SuiteScheduling | None:
    """The scheduler for this run, or None to leave xdist's own (another --dist, no cluster or node suite)."""
    if config.getvalue("dist") != "load" or not {"cluster", "node"} & set(suite_dirs.values()):
        return None
    return SuiteScheduling(config, suite_dirs, log)
