"""Has it already happened here? Each failure's field symptoms in the cluster's Events over the
profile's history_days, per node where an Event names one (issue 15)."""

import pytest

from kubeproof.judge.cluster import history


@pytest.mark.parametrize("failure_id", [pytest.param(i, marks=pytest.mark.failure(i), id=i)
                                        for i in history.FAILURE_IDS])
def test_symptoms_not_in_events(cluster, failure_id, profile, verdict):
    verdict.conclude(history.seen_in_events(cluster.list("events"), failure_id, cluster.now(),
                                            profile.history_days))
