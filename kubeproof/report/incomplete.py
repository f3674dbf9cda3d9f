"""An interrupted run in JUnit and Allure, as audit.json/md/html and the console mark it.

The test a Ctrl-C cuts short gets no call report: JUnit would write it as a testcase with no
outcome (a pass, to a JUnit reader) and Allure keeps what its setup said (passed). Tests that never
started are in neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from _pytest.junitxml import xml_key
from allure_commons.model2 import Status, StatusDetails

NO_VERDICT = "interrupted before it finished: no verdict"
PROPERTY = "kubeproof_incomplete"  # JUnit testsuite property and Allure environment entry


def mark_cut_short(item: pytest.Item) -> None:
    """Say in Allure, in the process that ran item, that it was running when the run was interrupted."""
    listener = item.config.pluginmanager.get_plugin("allure_listener")
    test = listener.allure_logger.get_test(None) if listener is not None else None
    if test is not None:  # the test's result, still open: allure closes it after this
        test.status, test.statusDetails = Status.UNKNOWN, StatusDetails(message=NO_VERDICT)


def mark_incomplete(config: pytest.Config, incomplete: str, cut_short: Iterable[pytest.TestReport]) -> None:
    """INCOMPLETE: a property of JUnit's testsuite (written after this) and an Allure environment
    entry. cut_short: the setup reports of the tests that never ended, on any worker: each JUnit
    testcase they opened is skipped with NO_VERDICT."""
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property(PROPERTY, f"INCOMPLETE: {incomplete}")
        for setup in cut_short:
            report = pytest.TestReport(setup.nodeid, setup.location, {}, "skipped",
                                       (setup.location[0], setup.location[1] + 1, NO_VERDICT), "call",
                                       user_properties=setup.user_properties)
            report.node = getattr(setup, "node", None)  # xdist's worker: part of JUnit's key for the testcase
            reporter = xml.node_reporter(report)
            reporter.record_testreport(report)
            reporter.append_skipped(report)
            for name, value in setup.user_properties:  # failure_id, severity, subject, as JUnit's teardown would
                reporter.add_property(name, str(value))
    directory = config.getoption("allure_report_dir", None)
    if directory:  # appended: users put their own environment entries in that file
        Path(directory).mkdir(parents=True, exist_ok=True)
        with (Path(directory) / "environment.properties").open("a", encoding="utf-8") as properties:
            properties.write(f"{PROPERTY}=INCOMPLETE: {incomplete}\n")
