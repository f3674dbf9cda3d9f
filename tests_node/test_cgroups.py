"""cgroup-kmem-leak (000, 003, 001 §1): memory cgroups leaking until the node cannot create pods."""

import pytest

from kubeproof.judge.node import cgroups


@pytest.mark.failure("cgroup-kmem-leak")
def test_kernel_cannot_leak_memory_cgroups_through_kmem(node, verdict):
    verdict.conclude(cgroups.kmem_leak(node.facts))


@pytest.mark.failure("cgroup-kmem-leak")
def test_memory_cgroup_ids_have_headroom(node, profile, verdict):
    verdict.conclude(cgroups.id_headroom(node.facts, profile.memory_cgroups_max_percent))


@pytest.mark.failure("cgroup-kmem-leak")
def test_dying_memory_cgroups_do_not_accumulate(node, profile, verdict):
    verdict.conclude(cgroups.dying_accumulation(node.facts, profile.dying_cgroups_max))


@pytest.mark.failure("cgroup-kmem-leak")
def test_kubelet_runs_on_cgroup_v2(node, verdict):
    verdict.conclude(cgroups.kubelet_cgroup_v2(node.facts))
