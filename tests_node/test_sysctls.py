"""node-sysctls (004): listen queues, ephemeral ports and inotify sized for a hostNetwork ingress
controller where one runs, and to the profile's node-wide minimums where it sets them."""

import pytest

from kubeproof.errors import Unavailable
from kubeproof.judge.node import sysctls


@pytest.mark.failure("node-sysctls")
def test_kernel_tunables_meet_what_the_node_runs(node, profile, verdict, request):
    try:
        pods = [p for p in request.getfixturevalue("cluster").list("pods")
                if (p.get("spec") or {}).get("nodeName") == node.name]
    except Unavailable:  # no cluster (--hosts): only the profile's node-wide minimums apply
        pods = None
    verdict.conclude(sysctls.tunables(node.facts, profile.sysctl_min, profile.local_port_range_min, pods,
                                      profile.ingress_sysctl_min, profile.ingress_local_port_range_min))
