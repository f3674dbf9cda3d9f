"""One lab cluster shared by the selftests that use it: a lock per cluster, across processes.

The scenarios' own locks live in each pytest run's work directory, so they cannot see an audit run by
another selftest against the same cluster. Every live_cluster selftest holds `exclusive(cluster)`
(selftest/conftest.py): an audit never meets a restarting API server or a node under pressure, and
no test counting leftovers sees another's objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

from . import pins


@contextlib.contextmanager
def _held(cluster: str, mode: int) -> Iterator[None]:
    pins.CACHE.mkdir(parents=True, exist_ok=True)
    fd = os.open(pins.CACHE / f"{cluster}.disruption.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)  # blocks: a whole scenario run may take minutes
        yield
    finally:
        os.close(fd)


def exclusive(cluster: str):
    return _held(cluster, fcntl.LOCK_EX)
