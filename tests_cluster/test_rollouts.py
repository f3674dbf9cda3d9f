"""affinity-rollout-stall (004): no Deployment's required anti-affinity can stall its rollout."""

import pytest

from kubeproof.judge.cluster import rollouts


@pytest.mark.failure("affinity-rollout-stall")
def test_rollouts_have_room_under_required_anti_affinity(cluster, verdict):
    verdict.conclude(rollouts.stalling_rollouts(cluster.list("deployments.apps"), cluster.list("nodes"),
                                                cluster.list("pods")))
