"""The one wait of the scenarios and primitives: poll a check until it holds or a deadline passes.

Scenarios never sleep for a guessed time: each wait names what it waits for, polls at a short
interval and fails with the last thing it saw, so a stuck phase reads as one line.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from .node import FaultError

T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T], *, timeout: float, interval: float = 1.0,
             transient: tuple[type[BaseException], ...] = (),
             describe: Callable[[T], str] = repr) -> T:
    """Call check until it returns something truthy and return that.

    Exceptions of the `transient` types (an API server restarting, a kubelet not up yet) count as
    "not yet". Raises FaultError after `timeout` seconds with the last value or error seen.
    """
    deadline = time.monotonic() + timeout
    last = "nothing checked"
    while True:
        try:
            value = check()
            if value:
                return value
            last = describe(value)
        except transient as exc:
            last = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        if time.monotonic() >= deadline:
            raise FaultError(f"{what}: not within {timeout:g} s (last seen: {last})")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
