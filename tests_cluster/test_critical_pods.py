"""critical-pod-eviction (001 §3): node networking and cluster DNS survive node pressure."""

import pytest

from kubeproof.judge import critical_pods


@pytest.mark.failure("critical-pod-eviction")
def test_network_and_dns_run_managed_with_critical_priority(cluster, conclude):
    findings, seen = critical_pods.unprotected_components(cluster.list("pods"))
    conclude(findings, critical_pods_seen=seen)


@pytest.mark.failure("critical-pod-eviction")
def test_kube_system_daemonsets_tolerate_pressure_taints(cluster, conclude):
    findings, judged = critical_pods.intolerant_daemonsets(cluster.list("daemonsets.apps"), cluster.list("pods"))
    conclude(findings, daemonsets=judged, relied_on=critical_pods.RELIED_ON)
