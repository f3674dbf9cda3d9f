"""Re-issue a certificate from its CA with other dates: an about-to-expire kubeadm certificate.

faketime cannot move the clock of Go programs (kube-apiserver, kubectl, kubeadm read it through
the vDSO), so a certificate's expiry cannot be brought forward by faking time on the server side.
Instead the certificate itself is re-issued with the same subject, names, usages and public key,
signed by the same CA, valid only for the dates asked for: the server keeps its private key and
clients see exactly the certificate they would see on its last days.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

# Copied as they are: what makes the new certificate serve the same names for the same purposes.
_KEPT_EXTENSIONS = (x509.SubjectAlternativeName, x509.KeyUsage, x509.ExtendedKeyUsage,
                    x509.BasicConstraints)


def reissue(cert_pem: bytes, ca_cert_pem: bytes, ca_key_pem: bytes, *, not_before: datetime,
            not_after: datetime) -> bytes:
    """cert_pem re-signed by the CA, valid from not_before to not_after (aware datetimes); PEM."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    builder = (x509.CertificateBuilder()
               .subject_name(cert.subject).issuer_name(ca_cert.subject)
               .public_key(cert.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    for kind in _KEPT_EXTENSIONS:
        try:
            extension = cert.extensions.get_extension_for_class(kind)
        except x509.ExtensionNotFound:
            continue
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def not_after(cert_pem: bytes) -> datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
