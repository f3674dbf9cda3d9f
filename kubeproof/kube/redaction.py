"""Secrets as kubeproof keeps them: certificates only, whatever the source.

Assertions need the certificates a Secret carries (their expiry), never its keys, tokens or
passwords. The cluster view applies this to every Secret as it is read, so nothing else reaches
the session cache, evidence, reports or a dump.
"""

from __future__ import annotations

import base64
import binascii
import re

REDACTED_ANNOTATION = "kubeproof.io/redacted"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"  # holds the data in clear

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


def _only_certificates(value: str) -> bool:
    """True when the base64 value decodes to PEM CERTIFICATE blocks and nothing else."""
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return False
    rest, count = _PEM_CERTIFICATE.subn("", text)
    return count > 0 and not rest.strip()


def redact_secret(secret: dict) -> dict:
    """The Secret with only its certificates: keys, tokens, passwords and anything else are dropped.

    Certificates stay because assertions check their expiry; the dropped entries' names are kept
    in an annotation so a reader knows what was there.
    """
    data = secret.get("data") or {}
    kept = {key: value for key, value in data.items() if _only_certificates(value)}
    # stringData is write-only and never comes back from the API; drop it if a source object has it.
    dropped = sorted(set(data) - set(kept)) + sorted(secret.get("stringData") or {})
    metadata = dict(secret.get("metadata") or {})
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                   if k != LAST_APPLIED_ANNOTATION}
    if dropped:
        annotations[REDACTED_ANNOTATION] = ",".join(dropped)
    metadata.pop("annotations", None)
    if annotations:
        metadata["annotations"] = annotations
    redacted = {**secret, "metadata": metadata}
    redacted.pop("stringData", None)
    if "data" in secret:
        redacted["data"] = kept
    return redacted
