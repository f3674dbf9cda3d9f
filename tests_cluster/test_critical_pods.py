"""critical-pod-eviction (001 §3): node agents and cluster DNS are pods the kubelet neither evicts
nor refuses under node pressure."""

import pytest

from kubeproof.judge.cluster import critical_pods


@pytest.mark.failure("critical-pod-eviction")
def test_network_and_dns_pods_are_critical_to_the_kubelet(cluster, verdict):
    verdict.conclude(critical_pods.unprotected_components(cluster.list("pods"), cluster.list("nodes")))


@pytest.mark.failure("critical-pod-eviction")
def test_node_agents_have_critical_priority(cluster, verdict):
    verdict.conclude(critical_pods.node_agents(cluster.list("daemonsets.apps")))
