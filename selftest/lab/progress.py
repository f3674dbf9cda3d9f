"""What the lab is doing, on stderr, so a person can follow a build of several minutes."""

from __future__ import annotations

import sys
import time

_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"lab [{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)
