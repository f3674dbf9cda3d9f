"""apiserver-anonymous-probe (002): kube-apiserver restart-looping after --anonymous-auth=false."""

import pytest

from kubeproof.judge.node import static_pods


@pytest.mark.failure("apiserver-anonymous-probe")
def test_apiserver_probes_pass_its_authentication(node, verdict):
    verdict.conclude(static_pods.apiserver_probe_and_auth(node.facts))
