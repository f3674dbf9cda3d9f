"""The one wait of the scenarios and primitives: poll until a condition holds or a deadline passes.

Scenarios never sleep for a guessed time: each wait names what it waits for, polls at a short
interval and fails with the last thing it saw, so a stuck phase reads as one line.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from .node import FaultError

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T], *, timeout: float,
             until: Callable[[T], object] = bool, interval: float = 1.0,
             transient: tuple[type[BaseException], ...] = ()) -> T:
    """Call probe until `until(value)` holds and return that value.

    Exceptions of the `transient` types (an API server restarting, a kubelet not up yet) count as
    "not yet". Raises FaultError after `timeout` seconds naming `what` and the last value or error.
    """
    deadline = time.monotonic() + timeout
    last = "nothing yet"
    while True:
        try:
            value = probe()
            if until(value):
                return value
            last = repr(value)[:300]
        except transient as exc:
            last = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        if time.monotonic() >= deadline:
            raise FaultError(f"{what}: not within {timeout:g} s (last seen: {last})")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
