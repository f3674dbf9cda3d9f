"""The one wait of the scenarios and primitives: poll until a condition holds or a deadline passes.

Scenarios never sleep for a guessed time: each wait names what it waits for, polls at a short
interval and fails with the last thing it saw, so a stuck phase reads as one line.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

from .errors import WaitTimeout

T = TypeVar("T")
PROGRESS_EVERY = 15.0  # seconds between "still waiting" lines of a long wait
log = logging.getLogger("kubeproof.scenario")


def wait_for(what: str, probe: Callable[[], T], *, timeout: float,
             until: Callable[[T], object] = bool, interval: float = 1.0,
             transient: tuple[type[BaseException], ...] = (),
             progress: Callable[[str], None] | None = None) -> T:
    """Call probe until `until(value)` holds and return that value.

    Exceptions of the `transient` types (an API server restarting, a kubelet not up yet) count as
    "not yet". Raises WaitTimeout (a FaultError) after `timeout` seconds naming `what` and the last value or error.
    The "still waiting" lines go to progress (the controller's terminal voice), else to the
    kubeproof.scenario logger.
    """
    started = time.monotonic()
    deadline, said = started + timeout, started
    last = "nothing yet"
    while True:
        try:
            value = probe()
            if until(value):
                return value
            last = seen(value)
        except transient as exc:
            last = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        now = time.monotonic()
        if now >= deadline:
            raise WaitTimeout(f"{what}: not within {timeout:g} s (last seen: {last})")
        if now - said >= PROGRESS_EVERY:
            said = now
            (progress or log.info)(f"waiting {now - started:.0f} of {timeout:g} s for {what} (last seen: {last[:160]})")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def seen(value: object) -> str:
    """What a person needs of a value waited on: an API object's kind, name and state, not its body."""
    if isinstance(value, dict) and "metadata" in value:
        status = value.get("status") or {}
        state = [f"phase {status['phase']}"] if status.get("phase") else []
        if containers := status.get("containerStatuses"):
            state.append(f"ready {sum(bool(c.get('ready')) for c in containers)}/{len(containers)}, "
                         f"restarts {sum(c.get('restartCount', 0) for c in containers)}")
        name = f"{value.get('kind', 'object')} {value['metadata'].get('name')}"
        return f"{name}: {', '.join(state)}" if state else name
    if isinstance(value, list) and value and all(isinstance(v, dict) and "metadata" in v for v in value):
        return f"{len(value)}: " + "; ".join(seen(v) for v in value[:5])
    return repr(value)[:300]
