"""hostnetwork-dns-policy (004): every hostNetwork pod that resolves cluster names is on
ClusterFirstWithHostNet (judge/cluster/host_dns.py)."""

import pytest

from kubeproof.judge.cluster import host_dns


@pytest.mark.failure("hostnetwork-dns-policy")
def test_hostnetwork_pods_resolve_with_cluster_dns(cluster, verdict):
    verdict.conclude(host_dns.hostnetwork_pods_on_cluster_first(cluster.list("pods")))
