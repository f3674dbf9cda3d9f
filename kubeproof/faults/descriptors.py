"""Exhaust a process's open-file limit (field report 001 §4: calico-node at Ubuntu's 1024).

The script lowers the soft nofile limit of its shell, then a child (a subshell: a forked process)
opens /dev/null on every free descriptor until open() fails with EMFILE ("Too many open files"),
which ends that child.
The outer shell, at the same limit but with its own descriptor table, must keep working: it opens
a file afterwards and says so. The child stops after limit + 16 descriptors, so a limit that was
not applied shows as "no EMFILE" instead of an endless loop.

It runs with busybox sh (the probe image's shell) or bash; dash cannot name descriptors above 9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMFILE_TEXT = "Too many open files"

_SCRIPT = r"""
ulimit -S -n {limit} || exit 2
echo "limit $(ulimit -S -n)"
(
  fd=3
  while [ "$fd" -lt {ceiling} ]; do
    eval "exec $fd</dev/null" || exit 1
    echo "open $fd"
    fd=$((fd + 1))
  done
  echo "no-emfile $fd"
) 2>&1
echo "child-exit $?"
: </dev/null && echo "parent-ok"
"""


def script(limit: int) -> str:
    """The sh script exhausting a `limit` soft nofile limit; its output goes to `parse`."""
    return _SCRIPT.replace("{limit}", str(int(limit))).replace("{ceiling}", str(int(limit) + 16))


@dataclass(frozen=True)
class Exhaustion:
    limit: int | None  # the soft limit the shell ran with
    opened: int  # descriptors the child held when it stopped (stdin, stdout, stderr included)
    emfile: bool  # the child's last open() failed with "Too many open files"
    error: str  # that error line, as the shell printed it
    parent_ok: bool  # the outer shell could still open a file afterwards


def parse(output: str) -> Exhaustion:
    limit = re.search(r"^limit (\d+)", output, re.M)
    opened = [int(n) for n in re.findall(r"^open (\d+)", output, re.M)]
    error = next((line.strip() for line in output.splitlines() if EMFILE_TEXT in line), "")
    return Exhaustion(limit=int(limit[1]) if limit else None, opened=(max(opened) + 1) if opened else 3,
                      emfile=bool(error), error=error,
                      parent_ok=bool(re.search(r"^parent-ok$", output, re.M)))
