"""The restore stack: every change registers its undo right after it is made (`defer`); the undos
run newest first, on failure, timeout and Ctrl-C too (a Ctrl-C during the restore is held back until
it ends). What a killed run could not undo is on the nodes' journals and in labelled objects, for
`python -m kubeproof cleanup`."""

from __future__ import annotations

import signal
import threading
from typing import Callable

from ..errors import FaultError
from .following import Following


class Undo(Following):
    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._interrupted = False  # the run was interrupted: restore without waiting for namespaces

    def defer(self, what: str, undo: Callable[[], None]) -> None:
        """Register the undo of a change just made; undos run newest first in `restore`."""
        self._undo.append((what, undo))

    def restore(self, down_to: int = 0, *, interrupted: bool = False) -> None:
        """Run the registered undos above the first down_to, newest first, even if one fails; a
        Ctrl-C waits until the end. Once the run is interrupted, namespaces are deleted without
        waiting for them to go (cleanup finds them by their label), so the run ends promptly."""
        if len(self._undo) <= down_to:
            return
        self._interrupted = interrupted
        previous = None
        if threading.current_thread() is threading.main_thread():
            def hold_back(signum, frame):
                self._interrupted = True
                self.say("restore: interrupt held back until the restore is done "
                         "(`python -m kubeproof cleanup` undoes whatever a killed run leaves)")
            previous = signal.signal(signal.SIGINT, hold_back)
        failures = []
        try:
            with self.phase("restore", f"{len(self._undo) - down_to} step(s)"):
                while len(self._undo) > down_to:
                    what, undo = self._undo.pop()
                    self.say(f"restore: {what}")
                    try:
                        undo()
                    except Exception as exc:  # go on with the other undos, then report them all
                        failures.append(f"{what}: {exc}")
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if self._interrupted and not interrupted:  # a Ctrl-C held back during this restore
            raise KeyboardInterrupt
        if failures:
            raise FaultError("restore incomplete (run `python -m kubeproof cleanup`): "
                             + "; ".join(failures))
