"""workload-crashes (004, 002): no container crash-looping, failing to pull or start, OOM-killed,
or restarting past the limit."""

import pytest

from kubeproof.judge.cluster import workloads


@pytest.mark.failure("workload-crashes")
def test_no_container_crashing(cluster, profile, verdict):
    verdict.conclude(workloads.crashing_containers(cluster.list("pods"), profile.restart_limit))
