"""Locks between the xdist workers of one run, reader-writer flocks in its work directory: a fault
on a node holds that node exclusively, a pod scheduled on it holds it shared, and a control-plane
disruption holds the API exclusively while every other scenario holds it shared, so `-n8` never runs
two faults on one node or under a restarting API server."""

from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path
from typing import Callable

from ..errors import FaultError

API_LOCK = "api"
NODE_LOCK_PREFIX = "node-"
LOCK_TIMEOUT = 1800.0  # another scenario may hold a node for a long eviction run


def node_lock(name: str) -> str:
    return NODE_LOCK_PREFIX + name


class Locks:
    """Reader-writer locks between the processes of one run: flock on files in a directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def acquire(self, *, exclusive: set[str], shared: set[str], timeout: float) -> Callable[[], None]:
        """Take every lock (in name order, so that two scenarios cannot deadlock); the release."""
        held: list[int] = []
        deadline = time.monotonic() + timeout

        def release() -> None:
            while held:
                os.close(held.pop())  # closing the descriptor drops its flock

        try:
            for name in sorted(exclusive | shared):
                path = self.directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                held.append(fd)
                mode = fcntl.LOCK_EX if name in exclusive else fcntl.LOCK_SH
                while True:
                    try:
                        fcntl.flock(fd, mode | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise FaultError(f"lock {name}: still held by another scenario after "
                                             f"{timeout:g} s") from None
                        time.sleep(0.2)
        except BaseException:
            release()
            raise
        return release
