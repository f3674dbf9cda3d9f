"""Has it already happened here? Each failure's field symptoms in the node's kernel log and the
kubelet's and the container runtime's journals over the profile's history_days (issue 15): one test
per failure id with a pattern for a node log (selftest/offline/test_history.py checks they are all here)."""

import pytest

from kubeproof.judge.node import history


def _not_seen(node, profile, verdict, failure_id):
    verdict.conclude(history.seen_on_node(node.facts, failure_id, profile.history_days))


@pytest.mark.failure("cgroup-kmem-leak")
def test_cgroup_kmem_leak_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "cgroup-kmem-leak")


@pytest.mark.failure("cert-expiry")
def test_cert_expiry_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "cert-expiry")


@pytest.mark.failure("critical-pod-eviction")
def test_critical_pod_eviction_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "critical-pod-eviction")


@pytest.mark.failure("nofile-exhaustion")
def test_nofile_exhaustion_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "nofile-exhaustion")


@pytest.mark.failure("nodefs-pressure")
def test_nodefs_pressure_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "nodefs-pressure")


@pytest.mark.failure("apiserver-anonymous-probe")
def test_apiserver_anonymous_probe_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "apiserver-anonymous-probe")


@pytest.mark.failure("pleg-unhealthy")
def test_pleg_unhealthy_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "pleg-unhealthy")


@pytest.mark.failure("workload-crashes")
def test_workload_crashes_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "workload-crashes")


@pytest.mark.failure("node-sysctls")
def test_node_sysctls_not_in_node_logs(node, profile, verdict):
    _not_seen(node, profile, verdict, "node-sysctls")
