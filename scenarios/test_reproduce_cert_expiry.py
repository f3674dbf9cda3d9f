"""cert-expiry (000 §2, 004): the API server's certificate on its last days, then past them.

The clock of Go programs cannot be faked (faketime's LD_PRELOAD does not reach kube-apiserver,
kubectl or kubeadm, which read the time through the vDSO), so the server gets a certificate that
really is about to expire, and the clients' clock is moved with faketime instead: the clients are
libc-based (Python's ssl, `openssl s_client`), whose "certificate has expired" (verify code 10)
is what Go clients word "x509: certificate has expired or is not yet valid".

inject   re-issue /etc/kubernetes/pki/apiserver.crt from the cluster CA with the same names and
         key, valid for 2 more days (cert and key backed up in the journal first), and wait until
         kube-apiserver serves it (it reloads its serving certificate from disk);
observe  both TLS clients verify it today and fail with verify code 10 "certificate has expired"
         under faketime 3 days ahead;
judge    certs.horizon on facts gathered now flags apiserver.crt inside the profile's horizon;
restore  `kubeadm certs renew apiserver` on the control plane (the report's remedy); the new
         certificate is served, the clients verify it 3 days ahead, and certs.horizon passes with
         the new dates. The journal's backups are then discarded: the renewal supersedes them.
"""

from __future__ import annotations

import ssl
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from kubeproof.faults import files, pki, tls
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.node.certs import horizon

PKI = "/etc/kubernetes/pki"
CERT, KEY = f"{PKI}/apiserver.crt", f"{PKI}/apiserver.key"
LIFETIME = timedelta(days=2)
LATER = timedelta(days=3)


@pytest.mark.failure("cert-expiry")
def test_an_expiring_apiserver_certificate_fails_clients_and_kubeadm_renews_it(scenario, profile, evidence):
    name = scenario.control_plane()
    node, journal = scenario.fault_on(name, api=True)
    server = urlsplit(scenario.cluster.api.configuration.host)
    cafile = scenario.cluster.api.configuration.ssl_ca_cert
    if server.scheme != "https" or not cafile:
        pytest.skip(f"the kubeconfig reaches {server.geturl()} without a CA to verify against")

    def served_not_after() -> datetime:
        return pki.not_after(ssl.get_server_certificate((server.hostname, server.port)).encode())

    def verify_all(at: datetime | None) -> list[tls.Verification]:
        return [tls.verify(server.hostname, server.port, cafile, at=at, client=c) for c in tls.CLIENTS]

    with scenario.phase("inject", f"{CERT} re-issued to expire in {LIFETIME.days} days"):
        now = datetime.now(timezone.utc)
        short = pki.reissue(node.read(CERT), node.read(f"{PKI}/ca.crt"), node.read(f"{PKI}/ca.key"),
                            not_before=now - timedelta(hours=1), not_after=now + LIFETIME)
        files.preserve(journal, KEY)  # kubeadm's renewal writes a new key: the undo needs the pair
        files.replace(journal, CERT, short)
        expiry = pki.not_after(short)
        wait_for("kube-apiserver serving the re-issued certificate", served_not_after,
                 until=lambda served: served == expiry, timeout=120, interval=2, transient=(OSError,))

    with scenario.phase("observe", f"clients verify it today, fail {LATER.days} days ahead"):
        today, later = verify_all(None), verify_all(now + LATER)
        evidence.attach("verifications", [vars(v) | {"at": str(v.at)} for v in today + later])
        assert all(v.ok for v in today), today
        assert all(v.verify_code == tls.EXPIRED and "certificate has expired" in v.message for v in later), later

    with scenario.phase("judge", f"certs.horizon flags {CERT} inside {profile.cert_horizon_days} days"):
        short_lived = horizon(scenario.facts(node), profile.cert_horizon_days)
        evidence.attach("certs.horizon with the expiring certificate", short_lived.problems)
        assert any(CERT in p for p in short_lived.problems), short_lived.problems

    with scenario.phase("restore", "kubeadm certs renew apiserver; served, verified, judged"):
        node.check("kubeadm certs renew apiserver", what="kubeadm certs renew apiserver", timeout=120)
        renewed = wait_for("kube-apiserver serving the renewed certificate", served_not_after,
                           until=lambda served: served > now + timedelta(days=profile.cert_horizon_days),
                           timeout=120, interval=2, transient=(OSError,))
        journal.discard()
        scenario.say(f"restore: served certificate now valid until {renewed.isoformat()}")
        after = verify_all(now + LATER)
        assert all(v.ok for v in after), after
        judged = horizon(scenario.facts(node), profile.cert_horizon_days)
        evidence.attach("certs.horizon after the renewal", judged.problems)
        assert not [p for p in judged.problems if CERT in p], judged.problems
