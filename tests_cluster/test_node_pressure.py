"""nodefs-pressure (002, 004): no node under pressure, no recent evictions, no pod evicted for its
ephemeral storage."""

import pytest

from kubeproof.judge.cluster import node_conditions, workloads


@pytest.mark.failure("nodefs-pressure")
def test_no_node_reports_pressure(cluster, verdict):
    verdict.conclude(node_conditions.pressured_nodes(cluster.list("nodes")))


@pytest.mark.failure("nodefs-pressure")
def test_no_recent_eviction_events(cluster, verdict, event_window):
    verdict.conclude(node_conditions.eviction_events(cluster.list("events"), cluster.now(), event_window))


@pytest.mark.failure("nodefs-pressure")
def test_no_pod_evicted_for_ephemeral_storage(cluster, verdict):
    verdict.conclude(workloads.ephemeral_storage_evictions(cluster.list("pods")))
