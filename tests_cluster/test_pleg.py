"""pleg-unhealthy (004): no node reports its pod lifecycle event generator stalled."""

import pytest

from kubeproof.judge import node_conditions
from kubeproof.judge.objects import stamp


@pytest.mark.failure("pleg-unhealthy")
def test_no_node_reports_pleg_unhealthy(cluster, conclude, event_window):
    now = cluster.now()
    conclude(node_conditions.pleg_reports(cluster.list("nodes"), cluster.list("events"), now, event_window),
             now=stamp(now), window_hours=event_window.total_seconds() / 3600)
