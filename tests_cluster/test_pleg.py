"""pleg-unhealthy (004): no node reports its pod lifecycle event generator stalled."""

import pytest

from kubeproof.judge.cluster import node_conditions


@pytest.mark.failure("pleg-unhealthy")
def test_no_node_reports_pleg_unhealthy(cluster, verdict, event_window):
    verdict.conclude(node_conditions.pleg_reports(cluster.list("nodes"), cluster.list("events"), cluster.now(),
                                                  event_window))
