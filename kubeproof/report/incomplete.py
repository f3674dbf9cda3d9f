"""An interrupted run in JUnit and Allure, as audit.json/md/html and the console mark it.

The test a Ctrl-C cuts short gets no call report: JUnit would write it as a testcase with no
outcome (a pass, to a JUnit reader) and Allure keeps what its setup said (passed). Tests that never
started are in neither.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.junitxml import xml_key
from allure_commons.model2 import Status, StatusDetails

NO_VERDICT = "interrupted before it finished: no verdict"
PROPERTY = "kubeproof_incomplete"  # JUnit testsuite property and Allure environment entry


def mark_cut_short(item: pytest.Item) -> None:
    """Say in JUnit and Allure that item was running when the run was interrupted."""
    xml = item.config.stash.get(xml_key, None)
    if xml is not None:
        report = pytest.TestReport(item.nodeid, item.location, {}, "skipped",
                                   (str(item.path), item.location[1] + 1, NO_VERDICT), "call",
                                   user_properties=item.user_properties)
        reporter = xml.node_reporter(report)  # the testcase its setup report opened
        reporter.record_testreport(report)
        reporter.append_skipped(report)
        for name, value in item.user_properties:  # failure_id, severity, subject, as JUnit's teardown would
            reporter.add_property(name, str(value))
    listener = item.config.pluginmanager.get_plugin("allure_listener")
    test = listener.allure_logger.get_test(None) if listener is not None else None
    if test is not None:  # the test's result, still open: allure closes it after this
        test.status, test.statusDetails = Status.UNKNOWN, StatusDetails(message=NO_VERDICT)


def mark_incomplete(config: pytest.Config, incomplete: str) -> None:
    """INCOMPLETE: a property of JUnit's testsuite (written after this) and an Allure environment entry."""
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property(PROPERTY, f"INCOMPLETE: {incomplete}")
    directory = config.getoption("allure_report_dir", None)
    if directory:  # appended: users put their own environment entries in that file
        Path(directory).mkdir(parents=True, exist_ok=True)
        with (Path(directory) / "environment.properties").open("a", encoding="utf-8") as properties:
            properties.write(f"{PROPERTY}=INCOMPLETE: {incomplete}\n")
