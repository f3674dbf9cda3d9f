"""TLS clients run under faketime: what every client will see on a given day.

libfaketime (Debian's `faketime`) is an LD_PRELOAD library: it fakes the clock of programs that
read it through libc, such as `openssl s_client` and Python's ssl. It has NO effect on Go
binaries (kubectl, kubeadm, kube-apiserver), which read the clock through the vDSO; that is why
the clients here are libc-based. OpenSSL words the Go client's "x509: certificate has expired or
is not yet valid" as verify error 10 "certificate has expired" (9 "certificate is not yet valid").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone

from .node import FaultError

EXPIRED, NOT_YET_VALID = 10, 9  # X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID
CLIENTS = ("python", "openssl")


@dataclass(frozen=True)
class Verification:
    client: str
    at: datetime | None  # the faked time, None for the real clock
    ok: bool
    verify_code: int | None
    message: str


def _faked(at: datetime | None) -> list[str]:
    if at is None:
        return []
    if shutil.which("faketime") is None:
        raise FaultError("faketime is not installed (Debian: apt-get install faketime)")
    # "@" starts the faked clock at that moment and lets it run; the moment is given in UTC.
    return ["faketime", "-f", "@" + at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")]


def verify(host: str, port: int, cafile: str, *, at: datetime | None = None,
           client: str = "python", timeout: float = 30) -> Verification:
    """Connect to host:port and verify its certificate chain against cafile, at time `at`."""
    if client == "python":
        command = [sys.executable, "-m", "kubeproof.faults.tls_client", host, str(port), cafile]
    elif client == "openssl":
        command = ["openssl", "s_client", "-connect", f"{host}:{port}", "-CAfile", cafile,
                   "-verify_return_error", "-brief"]
    else:
        raise FaultError(f"TLS client must be one of {CLIENTS}, not {client!r}")
    try:
        done = subprocess.run(_faked(at) + command, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, env={**os.environ, "TZ": "UTC"})
    except subprocess.TimeoutExpired:
        raise FaultError(f"{client} TLS client to {host}:{port}: no answer within {timeout:g} s") from None
    if client == "python":
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise FaultError(f"python TLS client failed: {done.stderr.strip()[-300:]}") from None
        return Verification(client, at, result["ok"], result["verify_code"], result["message"])
    return _openssl_result(at, done)


def _openssl_result(at: datetime | None, done: subprocess.CompletedProcess) -> Verification:
    output = done.stdout + done.stderr
    error = re.search(r"verify error:num=(\d+):([^\n]*)", output)
    if done.returncode == 0 and not error:
        return Verification("openssl", at, True, None, "verified")
    if error:
        return Verification("openssl", at, False, int(error[1]), error[2].strip())
    last = (output.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return Verification("openssl", at, False, None, last[:300])
