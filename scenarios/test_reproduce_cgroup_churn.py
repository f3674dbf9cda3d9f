"""cgroup-kmem-leak (000, 003, 001 §1): memory cgroup ids used up by cgroups nobody removes.

What kernel 6.x can show: since 4.8 (73f576c04b94) a removed memory cgroup gives its 16-bit id back
when it goes offline, so churn leaves dying cgroups holding memory, never ENOSPC; only live memory
cgroups use up the 65535 ids. The reports' "mkdir ... no space left on device" itself is not
reproduced: the id space is the host kernel's, shared by every container on the machine
(scenario_limits in the catalog).

inject   on a worker, live memory cgroups under a kubeproof-named parent, left behind the way a
         runtime that never cleans up leaves its pods' cgroups, until the profile's share of the ids
         is passed;
observe  the kernel's count: ids in use, how many are left;
judge    cgroups.id_headroom names the live memory cgroups over the profile's share;
restore  the cgroups removed (journal): the count back, the judge passes.
"""

from __future__ import annotations

import pytest

from kubeproof.faults import cgroups
from kubeproof.judge.node import cgroups as judge

PAST = 256  # cgroups beyond the profile's share: enough to cross it while pods come and go


@pytest.mark.failure("cgroup-kmem-leak")
def test_memory_cgroups_left_behind_use_up_the_ids(scenario, profile):
    name = scenario.worker()
    node, _ = scenario.fault_on(name)
    baseline = cgroups.count(node)
    allowed = int(judge.MEMORY_CGROUP_IDS * profile.memory_cgroups_max_percent / 100)
    leaked = []

    def inject() -> None:
        leaked.append(cgroups.leak(scenario.journal(node), allowed - baseline.live + PAST))

    def observe() -> list[str]:
        now = leaked[0]
        return [f"{now.live} live memory cgroups on {name} ({now.live - baseline.live:+d}); the kernel counts "
                f"{now.num_cgroups} of {cgroups.MEMCG_ID_MAX}, {now.headroom} ids left"]

    def judged() -> list[str]:
        facts = scenario.facts(node)
        return (judge.id_headroom(facts, profile.memory_cgroups_max_percent).problems
                + judge.dying_accumulation(facts, profile.dying_cgroups_max).problems)

    scenario.prove(judge=judged, inject=inject, observe=observe, symptoms=[], offender="live memory cgroups",
                   recovered=lambda: cgroups.settle(node, baseline.dying + PAST, timeout=60))
