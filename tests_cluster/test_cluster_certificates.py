"""cert-expiry (000 §2, 004), cluster side: every certificate the API serves or holds stays valid
past the horizon, and the cluster signs nothing for longer than the profile allows."""

import pytest

from kubeproof.judge import cluster_certificates, control_plane
from kubeproof.judge.objects import stamp


@pytest.mark.failure("cert-expiry")
def test_api_server_serving_certificate(cluster, profile, conclude):
    serving = cluster.serving_certificate()
    now = cluster.now()
    findings, seen = cluster_certificates.serving_chain(serving.server, list(serving.chain), now,
                                                        profile.cert_horizon_days)
    conclude(findings, certificates=seen, now=stamp(now))


@pytest.mark.failure("cert-expiry")
def test_trust_bundles(cluster, profile, conclude):
    now = cluster.now()
    webhooks = (cluster.list("mutatingwebhookconfigurations.admissionregistration.k8s.io")
                + cluster.list("validatingwebhookconfigurations.admissionregistration.k8s.io"))
    findings, seen = cluster_certificates.trust_bundles(
        webhooks, cluster.list("apiservices.apiregistration.k8s.io"), cluster.list("configmaps"), now,
        profile.cert_horizon_days)
    conclude(findings, certificates=seen, now=stamp(now))


@pytest.mark.failure("cert-expiry")
def test_tls_secrets(cluster, profile, conclude):
    now = cluster.now()
    findings, seen = cluster_certificates.tls_secrets(cluster.list("secrets"), now, profile.cert_horizon_days)
    conclude(findings, certificates=seen, now=stamp(now))


@pytest.mark.failure("cert-expiry")
def test_cluster_signing_duration(cluster, profile, conclude):
    findings, seen = control_plane.signing_durations(cluster.list("pods"), profile.cert_signing_max_days)
    if not seen and not findings:
        pytest.skip("no kube-controller-manager pod is visible (a managed control plane?)")
    conclude(findings, controller_managers=seen)
