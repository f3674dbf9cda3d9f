"""A Python ssl client, run as its own process under faketime: `python -m kubeproof.faults.tls_client
HOST PORT CAFILE` prints {"ok", "verify_code", "message"} as JSON.

libfaketime is preloaded into a process at exec, so the client must be a child process; Python's
ssl verifies through OpenSSL, which reads the faked libc clock (Go clients would not: see tls.py).
Only the chain and the dates are verified, not the host name: the symptom under test is expiry.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys


def main(host: str, port: str, cafile: str) -> int:
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    result = {"ok": False, "verify_code": None, "message": ""}
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                result.update(ok=True, message="verified")
    except ssl.SSLCertVerificationError as exc:
        result.update(verify_code=exc.verify_code, message=exc.verify_message)
    except (OSError, ssl.SSLError) as exc:
        result.update(message=f"{type(exc).__name__}: {exc}")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
