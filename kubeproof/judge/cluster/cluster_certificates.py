"""cert-expiry, on the cluster side: the certificates the API holds or serves, against a horizon.

The API server's serving chain (read over TLS, or recorded in a dump), the trust bundles the API
server uses to call out (admission webhooks' and aggregated APIServices' caBundles) together with the
cluster CA it publishes (ConfigMap kube-root-ca.crt), and the certificates in kubernetes.io/tls
Secrets. Each must be valid now and stay valid past the horizon; one that cannot be parsed is a
problem too, since whoever relies on it cannot either. Node-side certificates (kubelet, etcd, the
PKI on disk) are judged from node facts elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta

from cryptography import x509

from ..judgement import Findings, Judgement
from .objects import name, namespace, ref
from ...times import span, stamp

FAILURE_IDS = ("cert-expiry",)  # the catalog entries this module's judges decide

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
CLUSTER_CA_CONFIGMAP = ("kube-system", "kube-root-ca.crt")  # the same CA is copied into every namespace


def certificates(pem: str) -> list[x509.Certificate]:
    """The certificates in a PEM text, in order; ValueError when there are none or one is broken."""
    blocks = _PEM.findall(pem)
    if not blocks:
        raise ValueError("no PEM certificate")
    return [x509.load_pem_x509_certificate(block.encode()) for block in blocks]


def describe(cert: x509.Certificate) -> dict:
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "serial": format(cert.serial_number, "x"), "notBefore": stamp(cert.not_valid_before_utc),
            "notAfter": stamp(cert.not_valid_after_utc)}


def _judge_pem(found: Findings, where: str, pem: str, now: datetime, horizon_days: int) -> None:
    """Flag into found the certificates of one PEM text found at `where`; judged: every one seen."""
    try:
        chain = certificates(pem)
    except ValueError as exc:
        found.flag(f"{where}: cannot be read as PEM certificates ({exc})", {"where": where})
        return
    horizon = now + timedelta(days=horizon_days)
    for index, cert in enumerate(chain):
        evidence = {"where": where, "index": index, **describe(cert),
                    "daysLeft": round((cert.not_valid_after_utc - now).total_seconds() / 86400, 1)}
        found.judged["certificates"].append(evidence)
        label = f"{where} [{index}] {evidence['subject']} (issuer {evidence['issuer']})"
        if cert.not_valid_after_utc <= now:
            found.flag(f"{label} expired {evidence['notAfter']}, {span(now - cert.not_valid_after_utc)} ago", evidence)
        elif cert.not_valid_after_utc < horizon:
            found.flag(f"{label} expires {evidence['notAfter']}, in "
                       f"{span(cert.not_valid_after_utc - now)} (horizon {horizon_days} days)", evidence)
        if cert.not_valid_before_utc > now:
            found.flag(f"{label} is not valid before {evidence['notBefore']}", evidence)


def _judge_all(sources: list[tuple[str, str]], now: datetime, horizon_days: int) -> Judgement:
    found = Findings()
    found.judged.update(now=stamp(now), horizon_days=horizon_days, certificates=[])
    for where, pem in sources:
        _judge_pem(found, where, pem, now, horizon_days)
    return found.verdict()


def _decoded(value: str) -> str:
    """A base64 []byte field (caBundle, Secret data) as text; undecodable bytes show as such."""
    try:
        return base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return "(not base64 of ASCII PEM)"


def serving_chain(server: str, chain: list[str], now: datetime, horizon_days: int) -> Judgement:
    return _judge_all([(f"API server {server} serving certificate", "".join(chain))], now, horizon_days)


def trust_bundles(webhook_configurations: list[dict], apiservices: list[dict], configmaps: list[dict],
                  now: datetime, horizon_days: int) -> Judgement:
    """Admission webhooks' and APIServices' caBundles, and the cluster CA in kube-root-ca.crt."""
    sources = [(f"{c['kind']} {name(c)} webhook {hook.get('name')} caBundle", _decoded(hook["clientConfig"]["caBundle"]))
               for c in webhook_configurations for hook in c.get("webhooks") or []
               if (hook.get("clientConfig") or {}).get("caBundle")]
    sources += [(f"APIService {name(s)} caBundle", _decoded(s["spec"]["caBundle"]))
                for s in apiservices if (s.get("spec") or {}).get("caBundle")]
    sources += [(f"ConfigMap {ref(c)} ca.crt (the cluster CA)", c["data"]["ca.crt"]) for c in configmaps
                if (namespace(c), name(c)) == CLUSTER_CA_CONFIGMAP and "ca.crt" in (c.get("data") or {})]
    return _judge_all(sources, now, horizon_days)


def tls_secrets(secrets: list[dict], now: datetime, horizon_days: int) -> Judgement:
    """Every certificate entry (tls.crt, and ca.crt where present) of kubernetes.io/tls Secrets."""
    sources = [(f"Secret {ref(s)} {key}", _decoded(value)) for s in secrets if s.get("type") == "kubernetes.io/tls"
               for key, value in sorted((s.get("data") or {}).items()) if key in ("tls.crt", "ca.crt")]
    return _judge_all(sources, now, horizon_days)
