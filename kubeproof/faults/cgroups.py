"""Memory cgroup churn and the counts that show a leak (field reports 000, 003, 001 §1).

The memory controller numbers its cgroups with 16-bit ids: at most 65535 may exist, live or
dying. A removed cgroup stays "dying" while memory is still charged to it; on the kernels of the
reports, kernel memory (kmem) accounting pinned dying cgroups for good until mkdir failed with
ENOSPC. The counts, measured in one command:

  v1  /proc/cgroups "memory num_cgroups" counts live and dying cgroups; the live ones are the
      directories of the memory hierarchy, so dying = num_cgroups - directories;
  v2  cgroup.stat of the root has nr_dying_descendants.

`leak` creates thousands of live memory cgroups in one shell on the node (mkdir through xargs, no
process per cgroup) and leaves them, as a runtime that never removes its pods' cgroups does: on
kernels from 4.8, which free a removed cgroup's id, that is what can use the ids up.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import asdict, dataclass

from ..waiting import wait_for
from .journal import Journal
from .node import NodeShell

MEMCG_ID_MAX = 65535

# Prints "version num_cgroups live dying memory_root".
_COUNT = r"""
if [ -f /sys/fs/cgroup/memory/cgroup.procs ] && [ ! -f /sys/fs/cgroup/memory/cgroup.controllers ]; then
  v=1; m=/sys/fs/cgroup/memory
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  v=2; m=/sys/fs/cgroup
else
  echo 'no memory cgroup hierarchy at /sys/fs/cgroup/memory or /sys/fs/cgroup' >&2; exit 3
fi
n=$(awk '$1 == "memory" {print $3}' /proc/cgroups)
live=$(find "$m" -xdev -type d | wc -l)
if [ $v = 2 ]; then dying=$(awk '$1 == "nr_dying_descendants" {print $2}' "$m/cgroup.stat")
else dying=$((n - live)); fi
echo "$v $n $live $dying $m"
"""

@dataclass(frozen=True)
class CgroupCount:
    version: int
    num_cgroups: int  # memory cgroups the kernel counts, live and dying
    live: int  # directories of the memory hierarchy
    dying: int
    root: str

    @property
    def headroom(self) -> int:
        """How many more memory cgroups the node may create before mkdir fails with ENOSPC."""
        return MEMCG_ID_MAX - self.num_cgroups

    def as_dict(self) -> dict:
        return {**asdict(self), "headroom": self.headroom}


def _parse_count(line: str) -> CgroupCount:
    version, num, live, dying, root = line.split()
    return CgroupCount(int(version), int(num), int(live), int(dying), root)


def count(node: NodeShell) -> CgroupCount:
    return _parse_count(node.check(_COUNT, what="count memory cgroups").strip())


def leak(journal: Journal, cgroups: int) -> CgroupCount:
    """Create `cgroups` live memory cgroups under a kubeproof-named parent and leave them there (what a
    runtime that never removes its pods' cgroups does); the journal removes them. The count then."""
    node = journal.node
    parent = journal.scratch(count(node).root, "leak")
    journal.record("cgroup", parent)
    node.check(f"mkdir {shlex.quote(parent)} && cd {shlex.quote(parent)} && seq -f 'c%g' 1 {int(cgroups)} | xargs mkdir",
               what=f"create {cgroups} memory cgroups under {parent}", timeout=300)
    return count(node)


def settle(node: NodeShell, dying: int, *, timeout: float) -> tuple[CgroupCount, float]:
    """Wait until the node has at most `dying` dying memory cgroups; (the count then, seconds)."""
    started = time.monotonic()
    back = wait_for(f"node {node.name}: at most {dying} dying memory cgroups", lambda: count(node),
                    until=lambda c: c.dying <= dying, timeout=timeout, interval=0.2)
    return back, time.monotonic() - started
