"""affinity-rollout-stall (004): no Deployment's required anti-affinity can stall its rollout."""

import pytest

from kubeproof.judge import rollouts


@pytest.mark.failure("affinity-rollout-stall")
def test_rollouts_have_room_under_required_anti_affinity(cluster, conclude):
    findings, judged = rollouts.stalling_rollouts(cluster.list("deployments.apps"), cluster.list("nodes"))
    conclude(findings, deployments_with_one_per_node=judged)
