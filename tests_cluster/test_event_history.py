"""Has it already happened here? Each failure's field symptoms in the cluster's Events over the
profile's history_days, per node where an Event names one (issue 15): one test per failure id with a
pattern for Events (selftest/offline/test_history.py checks they are all here)."""

import pytest

from kubeproof.judge.cluster import history


def _not_seen(cluster, profile, verdict, failure_id):
    verdict.conclude(history.seen_in_events(cluster.list("events"), failure_id, cluster.now(), profile.history_days))


@pytest.mark.failure("cgroup-kmem-leak")
def test_cgroup_kmem_leak_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "cgroup-kmem-leak")


@pytest.mark.failure("cert-expiry")
def test_cert_expiry_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "cert-expiry")


@pytest.mark.failure("critical-pod-eviction")
def test_critical_pod_eviction_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "critical-pod-eviction")


@pytest.mark.failure("nodefs-pressure")
def test_nodefs_pressure_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "nodefs-pressure")


@pytest.mark.failure("apiserver-anonymous-probe")
def test_apiserver_anonymous_probe_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "apiserver-anonymous-probe")


@pytest.mark.failure("affinity-rollout-stall")
def test_affinity_rollout_stall_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "affinity-rollout-stall")


@pytest.mark.failure("workload-crashes")
def test_workload_crashes_not_in_events(cluster, profile, verdict):
    _not_seen(cluster, profile, verdict, "workload-crashes")
