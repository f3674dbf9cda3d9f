"""Free space and fill files: disk pressure made to measure, never by filling the real disk.

Kind nodes share the host's disk, so every size a scenario uses is derived from what is free now
(as upstream's node e2e eviction tests do). Files are allocated with fallocate: the blocks are
reserved at once, nothing is written.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from ..errors import FaultError
from .journal import Journal
from .node import NodeShell


@dataclass(frozen=True)
class Space:
    available: int  # bytes an unprivileged writer may still use (statvfs f_bavail * f_frsize)
    size: int  # bytes of the filesystem (f_blocks * f_frsize)


def space(node: NodeShell, path: str) -> Space:
    out = node.check(f"stat -f -c '%a %b %S' {shlex.quote(path)}", what=f"statfs {path}")
    try:
        available, blocks, block_size = (int(word) for word in out.split())
    except ValueError:
        raise FaultError(f"node {node.name}: statfs {path}: unexpected output {out.strip()!r}") from None
    return Space(available * block_size, blocks * block_size)


def own_filesystem(node: NodeShell, path: str) -> bool:
    """Whether path is the mount point of a filesystem of its own (not a directory of a shared one)."""
    q = shlex.quote(path)
    return node.run(f"[ \"$(findmnt -n -o TARGET --target {q})\" = {q} ]", timeout=30).rc == 0


@dataclass(frozen=True)
class Fill:
    path: str
    size: int
    seconds: float

    @property
    def rate(self) -> float:
        """Bytes allocated per second."""
        return self.size / max(self.seconds, 1e-9)


def fill(journal: Journal, directory: str, size: int) -> Fill:
    """Allocate a kubeproof-named file of `size` bytes in directory (recorded in the journal)."""
    if size <= 0:
        raise FaultError(f"fill: size must be positive, not {size}")
    path = journal.scratch(directory, "fill")
    journal.record("remove", path)
    started = time.monotonic()
    journal.node.check(f"fallocate -l {size} {shlex.quote(path)}", what=f"fallocate {size} bytes at {path}")
    return Fill(path, size, time.monotonic() - started)

