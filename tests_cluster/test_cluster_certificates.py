"""cert-expiry (000 §2, 004), cluster side: every certificate the API serves or holds stays valid
past the horizon, and the cluster signs nothing for longer than the profile allows."""

import pytest

from kubeproof.judge.cluster import cluster_certificates, control_plane


@pytest.mark.failure("cert-expiry")
def test_api_server_serving_certificate(cluster, profile, verdict):
    serving = cluster.serving_certificate()
    verdict.conclude(cluster_certificates.serving_chain(serving.server, list(serving.chain), cluster.now(),
                                                        profile.cert_horizon_days))


@pytest.mark.failure("cert-expiry")
def test_trust_bundles(cluster, profile, verdict):
    webhooks = (cluster.list("mutatingwebhookconfigurations.admissionregistration.k8s.io")
                + cluster.list("validatingwebhookconfigurations.admissionregistration.k8s.io"))
    verdict.conclude(cluster_certificates.trust_bundles(
        webhooks, cluster.list("apiservices.apiregistration.k8s.io"), cluster.list("configmaps"), cluster.now(),
        profile.cert_horizon_days))


@pytest.mark.failure("cert-expiry")
def test_tls_secrets(cluster, profile, verdict):
    verdict.conclude(cluster_certificates.tls_secrets(cluster.list("secrets"), cluster.now(),
                                                      profile.cert_horizon_days))


@pytest.mark.failure("cert-expiry")
def test_cluster_signing_duration(cluster, profile, verdict):
    judgement = control_plane.signing_durations(cluster.list("pods"), profile.cert_signing_max_days)
    if not judgement.judged["controller_managers"] and not judgement.problems:
        pytest.skip("no kube-controller-manager pod is visible (a managed control plane?)")
    verdict.conclude(judgement)
