"""A kubeadm-shaped PKI minted with `cryptography`: the files a control-plane node carries.

/etc/kubernetes/pki (CA, apiserver, apiserver-kubelet-client, front-proxy, etcd/), kubeconfigs in
/etc/kubernetes with their client certificates embedded, and the kubelet's own certificates under
/var/lib/kubelet/pki: a rotated client certificate behind the kubelet-client-current.pem symlink,
an older rotation the kubelet left behind (expired, as on any node that has rotated), and its
self-signed serving certificate. Lifetimes can be cut per certificate to plant an expiring PKI.

`mint`, `pem` and `key_pem` are the selftests' one way to make a certificate and write it out.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

YEAR = dt.timedelta(days=365)
_KEY_USAGE_FLAGS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


@dataclass(frozen=True)
class Symlink:
    target: str


def _name(cn: str, org: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attributes)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def mint(cn: str, *, not_before: dt.datetime, not_after: dt.datetime, issuer: tuple | None = None,
         ca: bool = False, sans: tuple[str, ...] = (), usage: str | None = None,
         key_usage: tuple[str, ...] = (), org: str | None = None, key=None, serial: int | None = None):
    """(certificate, key): the one certificate minter of the selftests.

    issuer: the (certificate, key) that signs it; self-signed without. sans: DNS names and IP
    addresses, in that order in the extension. usage: "server" or "client", the extended key usage
    (none without). key_usage: KeyUsage flags set, e.g. ("digital_signature", "key_cert_sign"),
    as a critical extension (none without). key: a new ECDSA P-256 key unless given (RSA where a
    TLS peer wants it, Ed25519 where the signature must be deterministic). serial: random unless
    given. Ed25519 and Ed448 keys sign without a digest, others with SHA-256.
    """
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
    issuer_cert, issuer_key = issuer or (None, key)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn, org))
               .issuer_name(issuer_cert.subject if issuer_cert else _name(cn, org))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number() if serial is None else serial)
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(s) for s in sans if not _is_ip(s)]
            + [x509.IPAddress(ipaddress.ip_address(s)) for s in sans if _is_ip(s)]), critical=False)
    if key_usage:
        unknown = set(key_usage) - set(_KEY_USAGE_FLAGS)
        assert not unknown, f"not KeyUsage flags: {sorted(unknown)}"
        builder = builder.add_extension(
            x509.KeyUsage(**{flag: flag in key_usage for flag in _KEY_USAGE_FLAGS}), critical=True)
    if usage:
        assert usage in ("server", "client"), usage
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if usage == "server" else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False)
    digest = None if isinstance(issuer_key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) else hashes.SHA256()
    return builder.sign(issuer_key, digest), key


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, private_format=serialization.PrivateFormat.PKCS8) -> bytes:
    """key as unencrypted PEM: PKCS#8 unless asked for another format (TraditionalOpenSSL: PKCS#1 for
    RSA, as kubeadm writes its RSA keys)."""
    return key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption())


class _Minter:
    def __init__(self, now: dt.datetime, lifetimes: dict[str, dt.timedelta]):
        self.now, self.lifetimes = now, lifetimes

    def cert(self, label: str, cn: str, *, issued_ago=dt.timedelta(days=1), lifetime: dt.timedelta = YEAR,
             **kwargs):
        """(certificate, key); label names it in `lifetimes`, which overrides its validity from now.
        kwargs: mint's org, issuer, ca, usage, sans."""
        not_after = self.now + self.lifetimes[label] if label in self.lifetimes else self.now - issued_ago + lifetime
        return mint(cn, not_before=min(self.now - issued_ago, not_after - dt.timedelta(hours=1)),
                    not_after=not_after, **kwargs)


def _kubeconfig(user: str, ca, client: tuple | None, client_file: str | None = None) -> bytes:
    credentials = ({"client-certificate": client_file, "client-key": client_file} if client_file else
                   {"client-certificate-data": base64.b64encode(pem(client[0])).decode(),
                    "client-key-data": base64.b64encode(key_pem(client[1])).decode()})
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": f"{user}@kubernetes",
        "clusters": [{"name": "kubernetes", "cluster": {
            "server": "https://10.0.0.10:6443",
            "certificate-authority-data": base64.b64encode(pem(ca)).decode()}}],
        "contexts": [{"name": f"{user}@kubernetes", "context": {"cluster": "kubernetes", "user": user}}],
        "users": [{"name": user, "user": credentials}],
    }).encode()


def files(node: str, now: dt.datetime, lifetimes: dict[str, dt.timedelta] | None = None
          ) -> dict[str, bytes | Symlink]:
    """{path: content or Symlink} of a kubeadm control-plane node named node.

    lifetimes: label -> time left from now (negative: already expired), e.g. {"apiserver":
    timedelta(days=10)}. Labels: ca, apiserver, apiserver-kubelet-client, front-proxy-ca,
    front-proxy-client, etcd-ca, etcd-server, etcd-peer, admin, controller-manager, scheduler,
    kubelet-client, kubelet-serving.
    """
    minter = _Minter(now, lifetimes or {})
    ca = minter.cert("ca", "kubernetes", ca=True, lifetime=10 * YEAR)
    front_ca = minter.cert("front-proxy-ca", "front-proxy-ca", ca=True, lifetime=10 * YEAR)
    etcd_ca = minter.cert("etcd-ca", "etcd-ca", ca=True, lifetime=10 * YEAR)
    pki = {
        "ca": ca, "front-proxy-ca": front_ca, "etcd/ca": etcd_ca,
        "apiserver": minter.cert("apiserver", "kube-apiserver", issuer=ca, usage="server",
                               sans=(node, "kubernetes", "kubernetes.default", "10.96.0.1", "10.0.0.10")),
        "apiserver-kubelet-client": minter.cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                              org="kubeadm:cluster-admins", issuer=ca, usage="client"),
        "front-proxy-client": minter.cert("front-proxy-client", "front-proxy-client", issuer=front_ca,
                                        usage="client"),
        "etcd/server": minter.cert("etcd-server", node, issuer=etcd_ca, usage="server",
                                 sans=(node, "localhost", "127.0.0.1")),
        "etcd/peer": minter.cert("etcd-peer", node, issuer=etcd_ca, usage="server", sans=(node, "10.0.0.10")),
    }
    out: dict[str, bytes | Symlink] = {}
    for name, (cert, key) in pki.items():
        out[f"/etc/kubernetes/pki/{name}.crt"] = pem(cert)
        out[f"/etc/kubernetes/pki/{name}.key"] = key_pem(key)
    for user, org in (("admin", "system:masters"), ("controller-manager", None), ("scheduler", None)):
        cn = {"admin": "kubernetes-admin"}.get(user, f"system:kube-{user}")
        client = minter.cert(user, cn, org=org, issuer=ca, usage="client")
        out[f"/etc/kubernetes/{user}.conf"] = _kubeconfig(user, ca[0], client)
    # The kubelet: its current client certificate behind the symlink kubeadm's kubelet.conf names,
    # one older rotation left on disk, and its self-signed serving certificate.
    current = f"/var/lib/kubelet/pki/kubelet-client-{(now - dt.timedelta(days=1)):%Y-%m-%d-%H-%M-%S}.pem"
    client = minter.cert("kubelet-client", f"system:node:{node}", org="system:nodes", issuer=ca, usage="client")
    old = minter.cert("kubelet-client-old", f"system:node:{node}", org="system:nodes", issuer=ca,
                    usage="client", issued_ago=YEAR + dt.timedelta(days=2))
    out[current] = pem(client[0]) + key_pem(client[1])
    out[f"/var/lib/kubelet/pki/kubelet-client-{(now - YEAR):%Y-%m-%d-%H-%M-%S}.pem"] = pem(old[0]) + key_pem(old[1])
    out["/var/lib/kubelet/pki/kubelet-client-current.pem"] = Symlink(current)
    serving = minter.cert("kubelet-serving", f"{node}@{int(now.timestamp())}", ca=False, usage="server", sans=(node,))
    out["/var/lib/kubelet/pki/kubelet.crt"] = pem(serving[0])
    out["/var/lib/kubelet/pki/kubelet.key"] = key_pem(serving[1])
    out["/etc/kubernetes/kubelet.conf"] = _kubeconfig(
        f"system:node:{node}", ca[0], None, client_file="/var/lib/kubelet/pki/kubelet-client-current.pem")
    return out
