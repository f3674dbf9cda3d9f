"""Secret material kept out of everything kubeproof writes: the one redaction.

Secrets as kubeproof keeps them: certificates only, whatever the source. Assertions need the
certificates a Secret carries (their expiry), never its keys, tokens or passwords. The cluster view
applies `redact_secret` to every Secret as it is read, so nothing else reaches the session cache,
evidence, reports or a dump.

Evidence and report records pass through `redact`: private keys, bearer tokens, JWTs and the values
of credential-named keys never reach audit.* or Allure, whatever object they came from.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

REDACTED = "[redacted]"
REDACTED_ANNOTATION = "kubeproof.io/redacted"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"  # holds the data in clear

_PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)",
                          re.S)
# Keys whose values are credentials wherever they appear (kubeconfig users, Secret data, env).
_SECRET_KEYS = re.compile(r"(^|[-_.])(token|password|passwd|secret|client-key-data|private[-_]?key|"
                          r"tls\.key|key-data|bearer)($|[-_.])", re.I)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


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


def redact_text(text: str) -> str:
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _JWT.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """A copy of value with key material and credentials replaced, at any depth."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEYS.search(k) and v not in (None, "", {})
                    else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
