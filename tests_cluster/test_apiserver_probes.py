"""apiserver-anonymous-probe (002): kube-apiserver's probes work under its authentication, and it
is not restarting."""

import pytest

from kubeproof.judge.cluster import control_plane


@pytest.fixture
def apiserver_pods(cluster):
    pods = control_plane.component_pods(cluster.list("pods"), "kube-apiserver")
    if not pods:
        pytest.skip("no kube-apiserver pod is visible (a managed control plane?)")
    return pods


@pytest.mark.failure("apiserver-anonymous-probe")
def test_apiserver_probes_work_under_its_authentication(apiserver_pods, verdict):
    verdict.conclude(control_plane.apiserver_probe_and_auth(apiserver_pods))


@pytest.mark.failure("apiserver-anonymous-probe")
def test_apiserver_is_not_restarting(apiserver_pods, cluster, profile, verdict, event_window):
    verdict.conclude(control_plane.apiserver_restarts(apiserver_pods, cluster.now(), event_window,
                                                      profile.restart_limit))
