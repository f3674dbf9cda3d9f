"""Disruptive reproductions of the documented failures: kind or explicitly allowed clusters only.

Each scenario gets a `scenario` fixture (kubeproof/scenario/): phases logged as they happen,
locks between xdist workers, and a restore that runs in the fixture's finalizer whatever happened.
A scenario that cannot act (a write refused, a node that does not answer, a wait that times out)
fails with one line naming what it tried; one that lacks what it needs (node access that can write,
free disk) skips with why.
"""

from __future__ import annotations

import logging
import os

import pytest

from kubeproof.errors import KubeproofError, Unavailable
from kubeproof.scenario import TOOLS_IMAGE_ENV, Scenario, log

_HANDLER = pytest.StashKey[logging.Handler]()


class _TerminalLines(logging.Handler):
    """Phases as terminal lines while they happen, so a person can follow a long run."""

    def __init__(self, reporter, capture) -> None:
        super().__init__(logging.INFO)
        self.reporter, self.capture = reporter, capture

    def emit(self, record: logging.LogRecord) -> None:
        # Past the output capture of the running test, as pytest's own live logging does.
        with self.capture.global_and_fixture_disabled():
            self.reporter.write_line(f"kubeproof {self.format(record)}")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Not pytest_configure: this conftest may be loaded before the terminal reporter exists.
    config = session.config
    log.setLevel(logging.INFO)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    # xdist workers have no terminal: there the lines go to the captured log of each test.
    if reporter is not None and not hasattr(config, "workerinput"):
        config.stash[_HANDLER] = _TerminalLines(reporter, config.pluginmanager.get_plugin("capturemanager"))
        log.addHandler(config.stash[_HANDLER])


def pytest_sessionfinish(session: pytest.Session) -> None:
    handler = session.config.stash.get(_HANDLER, None)
    if handler is not None:
        log.removeHandler(handler)


def _failing_in_one_line():
    """A hook wrapper turning a KubeproofError of setup, call or teardown into a one-line failure."""
    @pytest.hookimpl(wrapper=True)
    def wrapper(item: pytest.Item):
        try:
            return (yield)
        except Unavailable:
            raise  # the plugin turns it into a skip with its reason
        except KubeproofError as exc:
            error = exc
        ids = ", ".join(a for mark in item.iter_markers("failure") for a in mark.args)
        pytest.fail(f"[{ids}] scenario: {error}", pytrace=False)  # outside except: no chained traceback
    return wrapper


pytest_runtest_setup = pytest_runtest_call = pytest_runtest_teardown = _failing_in_one_line()


@pytest.fixture
def scenario(request: pytest.FixtureRequest, audit, evidence, pytestconfig: pytest.Config):
    """The running scenario; everything it changed is restored when the test ends, however it ends."""
    ids = [a for mark in request.node.iter_markers("failure") for a in mark.args]
    running = Scenario(ids, audit, image=pytestconfig.getoption("probe_image"), evidence=evidence,
                       tools_image=os.environ.get(TOOLS_IMAGE_ENV, ""))
    try:
        yield running
    finally:  # after a Ctrl-C, pytest runs this at the session's end, its exit status already set
        running.restore(interrupted=request.session.exitstatus == pytest.ExitCode.INTERRUPTED)
