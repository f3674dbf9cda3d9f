"""cert-expiry (000 §2, 004), node side: the PKI on disk, kubelet rotation, the signing duration."""

import pytest

from kubeproof.judge.node import certs, static_pods


@pytest.mark.failure("cert-expiry")
def test_certificates_valid_past_the_horizon(node, profile, verdict):
    verdict.conclude(certs.horizon(node.facts, profile.cert_horizon_days))


@pytest.mark.failure("cert-expiry")
def test_kubelet_rotates_its_client_certificate(node, verdict):
    verdict.conclude(certs.rotation(node.facts))


@pytest.mark.failure("cert-expiry")
def test_cluster_signing_duration_is_bounded(node, profile, verdict):
    verdict.conclude(static_pods.signing_duration(node.facts, profile.cert_signing_max_days))


@pytest.mark.failure("cert-expiry")
def test_etcd_and_the_front_proxy_keep_their_own_cas(node, verdict):
    verdict.conclude(certs.ca_separation(node.facts))
