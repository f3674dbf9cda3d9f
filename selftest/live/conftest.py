"""The live tier: tests marked live_cluster share the lab clusters selftest/run started."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from selftest.lab import sharing


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
