"""workload-crashes (004, 002): no container crash-looping, failing to pull or start, or OOM-killed
now, nor restarting past the limit lately."""

import pytest

from kubeproof.judge.cluster import workloads


@pytest.mark.failure("workload-crashes")
def test_no_container_crashing(cluster, profile, verdict, event_window):
    verdict.conclude(workloads.crashing_containers(cluster.list("pods"), cluster.now(), event_window,
                                                   profile.restart_limit))
