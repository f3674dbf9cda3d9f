"""The console at fleet scale: a node test failing the same way on many nodes is one line.

When one failure id fails on more than FLEET nodes, pytest's FAILURES section and short summary
would hold one full report per node, thousands at 5,000 nodes, and its failure summary scans every
report once per failure (`TerminalReporter._get_teardown_reports`), quadratic in the run's size.
Such a failure id gets one line instead (`nodefs-pressure: 4,998/5,000 nodes, e.g. ...`, naming
the few nodes it does not fail on), and its full reports are left out of those two sections.

pytest's conventions stay: `-v`, an explicit `--tb` or `-r` other than the defaults show every
failure in full as before, and the counts line and the reports (audit.*, JUnit, Allure) keep
every test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest

from .report.grouping import EXAMPLES, FLEET


@dataclass
class Group:
    failure_id: str
    failing: list[str]  # nodes, sorted
    judged: int  # nodes whose tests of this id reported at all
    spared: list[str]  # nodes judged that it does not fail on, sorted
    tests: list[str]  # test functions failing (ids without the node)

    def line(self) -> str:
        examples = ", ".join(self.failing[:EXAMPLES]) + (", ..." if len(self.failing) > EXAMPLES else "")
        said = f"{self.failure_id}: {len(self.failing):,}/{self.judged:,} nodes, e.g. {examples}"
        if 0 < len(self.spared) <= EXAMPLES:
            said += f"; not on {', '.join(self.spared)}"
        return f"{said} ({', '.join(self.tests)})"


def _node_data(report: pytest.TestReport) -> dict | None:
    data = getattr(report, "kubeproof", None)
    return data if data and data.get("node") else None


def groups(reports: list[pytest.TestReport], failed: list[pytest.TestReport]) -> list[Group]:
    """The failure ids failing on more than FLEET nodes: node tests' findings (call phase), not
    errors."""
    judged: dict[str, set[str]] = defaultdict(set)
    for report in reports:
        data = _node_data(report)
        if data and report.when == "call" and not report.skipped:
            for failure_id in data["failure_ids"]:
                judged[failure_id].add(data["node"])
    failing: dict[str, set[str]] = defaultdict(set)
    tests: dict[str, set[str]] = defaultdict(set)
    for report in failed:
        data = _node_data(report)
        if data and report.when == "call" and not data.get("unjudged"):
            for failure_id in data["failure_ids"]:
                failing[failure_id].add(data["node"])
                tests[failure_id].add(report.nodeid.split("[")[0].rpartition("::")[2])
    return [Group(i, sorted(nodes), len(judged[i] | nodes), sorted(judged[i] - nodes), sorted(tests[i]))
            for i, nodes in sorted(failing.items()) if len(nodes) > FLEET]


def everything_asked(config: pytest.Config) -> bool:
    """-v, or --tb / -r other than their defaults: the user asked to see each failure."""
    option = config.option
    return option.verbose > 0 or option.tbstyle != "auto" or option.reportchars != "fE"


class FleetSummary:
    """Registered by the plugin in the controller: decides the groups once the run is over, and
    hides their reports from pytest's own failure sections while they are written."""

    def __init__(self) -> None:
        self.groups: list[Group] = []

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # around pytest's own summary, which is a wrapper too
    def pytest_terminal_summary(self, terminalreporter, config: pytest.Config):
        stats = terminalreporter.stats
        saved = {key: stats[key] for key in ("failed", "") if key in stats}
        failed = stats.get("failed", [])
        if failed and not everything_asked(config):
            reports = [r for key, listed in stats.items() if key != "" for r in listed
                       if isinstance(r, pytest.TestReport)]
            self.groups = groups(reports, failed)
        hidden = {id(r) for r in failed if self._grouped(r)}
        if hidden:
            stats["failed"] = [r for r in failed if id(r) not in hidden]
        if "" in stats:
            # What _get_teardown_reports scans for each failure shown: a report with no captured
            # section prints nothing there, and leaving those out keeps the scan short.
            stats[""] = [r for r in stats[""] if getattr(r, "sections", None)]
        try:
            return (yield)
        finally:
            stats.update(saved)

    def _grouped(self, report: pytest.TestReport) -> bool:
        data = _node_data(report)
        return bool(data and report.when == "call" and not data.get("unjudged") and any(
            g.failure_id in data["failure_ids"] for g in self.groups))

    def lines(self) -> list[str]:
        if not self.groups:
            return []
        n = len(self.groups)
        return [g.line() for g in self.groups] + [
            f"{n} failure id{'s' * (n != 1)} failing on more than {FLEET} nodes, one line each; "
            "-v, -rA or --tb=short shows each failure in full"]
