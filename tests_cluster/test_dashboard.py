"""dashboard-exposure (002): an installed Kubernetes Dashboard fits the cluster, requires a login
and does not hold cluster-admin."""

import pytest

from kubeproof.judge import dashboard


@pytest.fixture
def deployments(cluster):
    found = cluster.list("deployments.apps")
    if not dashboard.dashboards(found):
        pytest.skip("no Kubernetes Dashboard installed (no Deployment runs kubernetesui/dashboard "
                    "or kubernetes-dashboard)")
    return found


@pytest.mark.failure("dashboard-exposure")
def test_dashboard_fits_the_cluster_and_requires_login(cluster, deployments, conclude):
    findings, seen = dashboard.exposure(deployments, cluster.version(), cluster.list("nodes"))
    conclude(findings, dashboards=seen, compatibility_table={f"{a}.{b}": v for (a, b), v in
                                                             dashboard.COMPATIBILITY.items()})


@pytest.mark.failure("dashboard-exposure")
def test_dashboard_is_not_cluster_admin(cluster, deployments, conclude):
    findings, seen = dashboard.admin_bindings(
        deployments, cluster.list("clusterrolebindings.rbac.authorization.k8s.io"))
    conclude(findings, dashboards=seen)
