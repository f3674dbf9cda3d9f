"""dashboard-exposure (002): an installed Kubernetes Dashboard fits the cluster, requires a login
and does not hold cluster-admin."""

import pytest

from kubeproof.judge.cluster import dashboard


@pytest.fixture
def deployments(cluster):
    found = cluster.list("deployments.apps")
    if not dashboard.dashboards(found):
        pytest.skip("no Kubernetes Dashboard installed (no Deployment runs kubernetesui/dashboard "
                    "or kubernetes-dashboard)")
    return found


@pytest.mark.failure("dashboard-exposure")
def test_dashboard_fits_the_cluster_and_requires_login(cluster, deployments, verdict):
    verdict.conclude(dashboard.exposure(deployments, cluster.version(), cluster.list("nodes")))


@pytest.mark.failure("dashboard-exposure")
def test_dashboard_is_not_cluster_admin(cluster, deployments, verdict):
    verdict.conclude(dashboard.admin_bindings(deployments,
                                              cluster.list("clusterrolebindings.rbac.authorization.k8s.io")))
