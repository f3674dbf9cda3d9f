"""cert-expiry (000 §2, 004): the API server's serving certificate expired, and kubeadm's renewal.

Go programs' clocks cannot be faked (faketime's LD_PRELOAD does not reach kube-apiserver, kubectl or
kubeadm), so the certificate really is expired: re-issued from the cluster CA with the same names and
key and a notAfter an hour ago. The fault lasts seconds: every kubelet and controller fails against it.

inject   /etc/kubernetes/pki/apiserver.crt re-issued, expired (cert and key backed up in the journal),
         until kube-apiserver serves it (it reloads its serving certificate from disk);
observe  kubectl on the control plane (admin.conf) fails with the x509 error of the field reports;
judge    certs.horizon on the control plane's facts names apiserver.crt;
restore  `kubeadm certs renew apiserver` (the report's remedy): served, kubectl answers, certs.horizon
         passes; at the end the journal puts the original certificate and key back byte for byte.
"""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from kubeproof.faults import files, pki
from kubeproof.judge.node.certs import horizon
from kubeproof.waiting import wait_for

PKI = "/etc/kubernetes/pki"
CERT, KEY = f"{PKI}/apiserver.crt", f"{PKI}/apiserver.key"
KUBECTL = "kubectl --kubeconfig=/etc/kubernetes/admin.conf --request-timeout=10s get --raw /readyz 2>&1"


@pytest.mark.failure("cert-expiry")
def test_an_expired_apiserver_certificate_fails_kubectl_and_kubeadm_renews_it(scenario, profile):
    name = scenario.control_plane()
    node, journal = scenario.fault_on(name, api=True)
    server = urlsplit(scenario.cluster.api.configuration.host)

    def served() -> datetime:
        return pki.not_after(ssl.get_server_certificate((server.hostname, server.port)).encode())

    def serving(expiry: datetime | None, what: str) -> None:
        wait_for(f"kube-apiserver serving {what}", served, timeout=120, interval=2, transient=(OSError,),
                 until=lambda now: now == expiry if expiry else now > datetime.now(timezone.utc) + timedelta(days=300))

    def inject() -> None:
        now = datetime.now(timezone.utc)
        expired = pki.reissue(node.read(CERT), node.read(f"{PKI}/ca.crt"), node.read(f"{PKI}/ca.key"),
                              not_before=now - timedelta(days=2), not_after=now - timedelta(hours=1))
        files.preserve(journal, KEY)  # kubeadm's renewal writes a new key: the undo needs the pair
        files.replace(journal, CERT, expired)
        scenario.defer("kubeadm certs renew apiserver", renew)
        serving(pki.not_after(expired), "the expired certificate")

    def renew() -> None:
        node.check("kubeadm certs renew apiserver", what="kubeadm certs renew apiserver", timeout=120)
        serving(None, "the renewed certificate")

    def observe() -> list[str]:
        return [node.run(KUBECTL, timeout=30).stdout]

    def judge() -> list[str]:
        return horizon(scenario.facts(node), profile.cert_horizon_days).problems

    scenario.prove(judge=judge, inject=inject, observe=observe, symptoms=["tls: failed to verify certificate"],
                   offender=CERT, recovered=lambda: wait_for("kubectl answering", lambda: node.run(KUBECTL).stdout,
                                                              until=lambda out: out.strip() == "ok", timeout=60),
                   found_anywhere="every client of the API server, each node's kubelet too, may meet the expired "
                                  "certificate in the seconds it is served")
