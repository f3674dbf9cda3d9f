"""Memory cgroup churn and the counts that show a leak (field reports 000, 003, 001 §1).

The memory controller numbers its cgroups with 16-bit ids: at most 65535 may exist, live or
dying. A removed cgroup stays "dying" while memory is still charged to it; on the kernels of the
reports, kernel memory (kmem) accounting pinned dying cgroups for good until mkdir failed with
ENOSPC. The counts, measured in one command:

  v1  /proc/cgroups "memory num_cgroups" counts live and dying cgroups; the live ones are the
      directories of the memory hierarchy, so dying = num_cgroups - directories;
  v2  cgroup.stat of the root has nr_dying_descendants.

`churn` creates and removes thousands of memory cgroups in one shell on the node (mkdir/rmdir
through xargs, no process per cgroup). Some of them are charged the way pods charge theirs: the
shell moves itself into the cgroup and writes a small file on tmpfs there, which pins the cgroup
as dying after rmdir until the file is deleted — the modern form of the leak, which a node must
recover from once the memory is freed.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import asdict, dataclass

from .journal import Journal
from .node import FaultError, NodeShell
from .waiting import wait_for

MEMCG_ID_MAX = 65535
CHARGE_DIR = "/dev/shm"  # tmpfs: the charge is freed as soon as the file is deleted

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

# $1 parent cgroup, $2 charge directory, $3 cgroups, $4 charged cgroups. Prints the timings
# (ns) and the counts at the peak and right after removal.
_CHURN = r"""
set -e
p=$1; d=$2; count=$3; charged=$4
count_now() { sh -c "$COUNT"; }
home=$(awk -F: '$2 == "memory" || $2 == "" {print $3; exit}' /proc/self/cgroup)
root=$(dirname "$p")
mkdir "$p" "$d"
[ -f "$root/cgroup.controllers" ] && echo +memory > "$p/cgroup.subtree_control" 2>/dev/null || true
cd "$p"
t0=$(date +%s%N)
seq -f 'c%g' 1 "$count" | xargs mkdir
t1=$(date +%s%N)
i=1
while [ "$i" -le "$charged" ]; do
  echo $$ > "$p/c$i/cgroup.procs"
  echo kubeproof > "$d/f$i"
  i=$((i + 1))
done
echo $$ > "$root$home/cgroup.procs"
echo "made $(find "$p" -mindepth 1 -maxdepth 1 -type d | wc -l)"
echo "peak $(count_now)"
t2=$(date +%s%N)
seq -f 'c%g' 1 "$count" | xargs rmdir
t3=$(date +%s%N)
echo "removed $(count_now)"
cd /
rmdir "$p"
echo "ns $t0 $t1 $t2 $t3"
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


@dataclass(frozen=True)
class Churn:
    created: int  # cgroups asked for
    made: int  # directories found under the parent before removal (the node's other cgroups come and go)
    charged: int
    create_s: float
    remove_s: float
    peak: CgroupCount  # all created, the charged ones holding memory
    removed: CgroupCount  # right after rmdir: the charged ones are dying
    charge_dir: str

    @property
    def rate(self) -> float:
        """mkdir + rmdir operations per second."""
        return 2 * self.created / max(self.create_s + self.remove_s, 1e-9)

    def as_dict(self) -> dict:
        return {"created": self.created, "made": self.made, "charged": self.charged,
                "create_s": round(self.create_s, 3),
                "remove_s": round(self.remove_s, 3), "rate_per_s": round(self.rate),
                "peak": self.peak.as_dict(), "removed": self.removed.as_dict()}


def churn(journal: Journal, cgroups: int, charged: int) -> Churn:
    """Create `cgroups` memory cgroups under a kubeproof-named parent, charge the first `charged`,
    remove them all. The charge files stay until `release` deletes them."""
    if not 0 <= charged <= cgroups:
        raise FaultError(f"churn: charged ({charged}) must be between 0 and cgroups ({cgroups})")
    node = journal.node
    root = count(node).root
    parent = journal.scratch(root, "churn")
    charge_dir = journal.scratch(CHARGE_DIR, "charge")
    journal.record("remove", charge_dir)
    journal.record("cgroup", parent)
    out = node.check(f"COUNT={shlex.quote(_COUNT)}; export COUNT; sh -c {shlex.quote(_CHURN)} churn "
                     f"{shlex.quote(parent)} {shlex.quote(charge_dir)} {cgroups} {charged}",
                     what=f"churn {cgroups} memory cgroups under {parent}", timeout=300)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if " " in line}
    t0, t1, t2, t3 = (int(t) for t in lines["ns"].split())
    return Churn(created=cgroups, made=int(lines["made"]), charged=charged, create_s=(t1 - t0) / 1e9,
                 remove_s=(t3 - t2) / 1e9, peak=_parse_count(lines["peak"]),
                 removed=_parse_count(lines["removed"]), charge_dir=charge_dir)


def leak(journal: Journal, cgroups: int) -> CgroupCount:
    """Create `cgroups` live memory cgroups under a kubeproof-named parent and leave them there (what a
    runtime that never removes its pods' cgroups does); the journal removes them. The count then."""
    node = journal.node
    parent = journal.scratch(count(node).root, "leak")
    journal.record("cgroup", parent)
    node.check(f"mkdir {shlex.quote(parent)} && cd {shlex.quote(parent)} && seq -f 'c%g' 1 {int(cgroups)} | xargs mkdir",
               what=f"create {cgroups} memory cgroups under {parent}", timeout=300)
    return count(node)


def release(node: NodeShell, churned: Churn) -> None:
    """Free the memory still charged to the removed cgroups (what a finished pod's cleanup does)."""
    node.check(f"rm -rf -- {shlex.quote(churned.charge_dir)}", what=f"remove {churned.charge_dir}")


def settle(node: NodeShell, dying: int, *, timeout: float) -> tuple[CgroupCount, float]:
    """Wait until the node has at most `dying` dying memory cgroups; (the count then, seconds)."""
    started = time.monotonic()
    back = wait_for(f"node {node.name}: at most {dying} dying memory cgroups", lambda: count(node),
                    until=lambda c: c.dying <= dying, timeout=timeout, interval=0.2)
    return back, time.monotonic() - started
