"""Has it already happened here? Each failure's field symptoms in the node's kernel log and the
kubelet's and the container runtime's journals over the profile's history_days (issue 15)."""

import pytest

from kubeproof.judge.node import history


@pytest.mark.parametrize("failure_id", [pytest.param(i, marks=pytest.mark.failure(i), id=i)
                                        for i in history.FAILURE_IDS])
def test_symptoms_not_in_node_logs(node, failure_id, profile, verdict):
    verdict.conclude(history.seen_on_node(node.facts, failure_id, profile.history_days))
