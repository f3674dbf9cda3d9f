"""workload-crashes (004, 002): no container crash-looping, failing to pull or start, OOM-killed,
or restarting past the limit."""

import pytest

from kubeproof.judge import workloads


@pytest.mark.failure("workload-crashes")
def test_no_container_crashing(cluster, profile, conclude):
    pods = cluster.list("pods")
    conclude(workloads.crashing_containers(pods, profile.restart_limit), pods_judged=len(pods))
