"""cgroup-kmem-leak (000, 003, 001 §1): thousands of pod-like memory cgroups created and removed.

inject   on a worker, create and remove 5000 memory cgroups in one shell (mkdir/rmdir through
         xargs, thousands per second); dying_cgroups_max + 200 of them are charged first the way
         pods charge theirs (a process enters, writes a small tmpfs file);
observe  right after rmdir the charged cgroups are dying: they still count against the 65535
         memory cgroup ids although their directories are gone — the reports' "mkdir: no space
         left on device" is this count reaching 65535 for good;
judge    cgroups.dying_accumulation on facts gathered now counts them, and flags more than the
         profile allows on kernels before 4.8, which keep their ids; from 4.8 (73f576c04b94) it
         passes; id_headroom judges the ids in use (how far from 65535);
restore  the charge is freed and the node must return to its dying-cgroup baseline within 60 s
         (on the reports' kernels with kmem accounting it never did: that is the leak), the
         judges pass again, and the kubeproof-named parent cgroup is removed (journal).
"""

from __future__ import annotations

import pytest

from kubeproof.faults import cgroups
from kubeproof.judge.node import cgroups as judge

CGROUPS = 5000
SETTLE_SECONDS = 60
TOLERANCE = 16  # pods the kubelet starts or stops meanwhile leave a few dying cgroups of their own


@pytest.mark.failure("cgroup-kmem-leak")
def test_removed_memory_cgroups_are_released(scenario, profile, evidence):
    name = scenario.worker()
    node, journal = scenario.fault_on(name)
    charged = profile.dying_cgroups_max + 200
    baseline = cgroups.count(node)
    evidence.attach("baseline", baseline.as_dict())

    with scenario.phase("inject", f"churn {CGROUPS} memory cgroups on {name}, {charged} of them charged"):
        churned = cgroups.churn(journal, CGROUPS, charged)
        evidence.attach("churn", churned.as_dict())
        assert churned.made == CGROUPS, f"{churned.made} of {CGROUPS} memory cgroups created"
        scenario.say(f"inject: {churned.rate:,.0f} mkdir+rmdir per second; peak {churned.peak.num_cgroups} "
                     f"memory cgroups, {churned.peak.headroom} ids left of {cgroups.MEMCG_ID_MAX}")

    with scenario.phase("observe", "the removed charged cgroups stay dying, still holding ids"):
        # The uncharged ones are released within a moment; the charged ones stay until freed.
        held, _ = cgroups.settle(node, baseline.dying + charged + TOLERANCE, timeout=SETTLE_SECONDS)
        pinned = held.dying - baseline.dying
        evidence.attach("pinned", held.as_dict())
        assert pinned >= charged - TOLERANCE, (f"only {pinned} more dying memory cgroups after removing "
                                               f"{charged} charged ones ({held})")

    with scenario.phase("judge", "dying_accumulation counts them; before 4.8 it flags them"):
        facts = scenario.facts(node)
        while_pinned = judge.dying_accumulation(facts, profile.dying_cgroups_max)
        headroom = judge.id_headroom(facts, profile.memory_cgroups_max_percent)
        evidence.attach("judged while pinned", {"dying": while_pinned.judged, "headroom": headroom.judged})
        if while_pinned.skip:
            scenario.say(f"judge: dying_accumulation cannot judge this node: {while_pinned.skip}")
        elif facts.kernel_version >= judge.KMEM_FIXED:  # ids freed at offline: counted, no failure
            assert not while_pinned.problems and while_pinned.judged["dying"] >= pinned, while_pinned
        else:
            assert while_pinned.problems, f"dying_accumulation passed with {pinned}+ dying cgroups"

    with scenario.phase("restore", f"free the charge; dying cgroups back to {baseline.dying} within "
                                   f"{SETTLE_SECONDS} s"):
        cgroups.release(node, churned)
        settled, seconds = cgroups.settle(node, baseline.dying + TOLERANCE, timeout=SETTLE_SECONDS)
        evidence.attach("settled", {**settled.as_dict(), "seconds": round(seconds, 2),
                                    "leaked": settled.dying - baseline.dying})
        scenario.say(f"restore: back to {settled.dying} dying ({settled.dying - baseline.dying:+d}) in "
                     f"{seconds:.1f} s; {settled.headroom} memory cgroup ids free")
        journal.undo()
        after = judge.dying_accumulation(scenario.facts(node), profile.dying_cgroups_max)
        assert after.skip or not after.problems, after.problems
