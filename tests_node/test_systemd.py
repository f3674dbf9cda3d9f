"""pleg-unhealthy (004): CentOS 7.6's systemd build hanging the runtime."""

import pytest

from kubeproof.judge.node import systemd


@pytest.mark.failure("pleg-unhealthy")
def test_systemd_is_not_a_known_bad_build(node, verdict):
    verdict.conclude(systemd.known_bad_build(node.facts))
