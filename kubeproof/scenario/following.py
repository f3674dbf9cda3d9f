"""Following a run: a scenario says what it does, phase by phase, on the `kubeproof.scenario` logger
(`-o log_cli=true`, or the terminal lines scenarios/conftest.py adds when not under xdist)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator

log = logging.getLogger("kubeproof.scenario")


class Following:
    title: str  # what the lines name: the scenario's failure ids

    def say(self, message: str) -> None:
        log.info("scenario %s: %s", self.title, message)

    @contextlib.contextmanager
    def phase(self, name: str, what: str) -> Iterator[None]:
        started = time.monotonic()
        self.say(f"{name}: {what}")
        try:
            yield
        except BaseException as exc:
            self.say(f"{name}: failed after {time.monotonic() - started:.1f} s: "
                     f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            raise
        self.say(f"{name}: done in {time.monotonic() - started:.1f} s")
