"""nodefs-pressure (002, 004): no node under pressure, no recent evictions, no pod evicted for its
ephemeral storage."""

import pytest

from kubeproof.judge import node_conditions, workloads
from kubeproof.judge.objects import stamp


@pytest.mark.failure("nodefs-pressure")
def test_no_node_reports_pressure(cluster, conclude):
    nodes = cluster.list("nodes")
    conclude(node_conditions.pressured_nodes(nodes), nodes=[n["metadata"]["name"] for n in nodes])


@pytest.mark.failure("nodefs-pressure")
def test_no_recent_eviction_events(cluster, conclude, event_window):
    now = cluster.now()
    conclude(node_conditions.eviction_events(cluster.list("events"), now, event_window),
             now=stamp(now), window_hours=event_window.total_seconds() / 3600)


@pytest.mark.failure("nodefs-pressure")
def test_no_pod_evicted_for_ephemeral_storage(cluster, conclude):
    conclude(workloads.ephemeral_storage_evictions(cluster.list("pods")))
