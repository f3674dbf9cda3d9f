"""node-sysctls (004): listen queues, ephemeral ports and inotify sized for ingress load."""

import pytest

from kubeproof.judge.node import sysctls


@pytest.mark.failure("node-sysctls")
def test_kernel_tunables_meet_the_profile(node, profile, verdict):
    verdict.conclude(sysctls.tunables(node.facts, profile.sysctl_min, profile.local_port_range_min))
