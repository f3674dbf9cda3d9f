"""Keep secret material out of reports: private keys and tokens never reach audit.* or Allure."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)",
                          re.S)
# Keys whose values are credentials wherever they appear (kubeconfig users, Secret data, env).
_SECRET_KEYS = re.compile(r"(^|[-_.])(token|password|passwd|secret|client-key-data|private[-_]?key|"
                          r"tls\.key|key-data|bearer)($|[-_.])", re.I)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


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
