"""kube-apiserver's static pod: its liveness probe under its own authentication, and no insecure port.

002: after --anonymous-auth=false the kubelet's probe of https://127.0.0.1:6443/healthz, which
carries no credentials, got 401 eight times in a row and the kubelet restarted the API server every
few minutes. The report's fix, probing the insecure port 8080, serves the whole API without
authentication: it is flagged too (and the port is gone since 1.20).
"""

from __future__ import annotations

import re

from ..nodes.facts import NodeFacts
from . import Findings, staticpods

DEFAULT_SECURE_PORT = 6443
RESTARTING_PROBES = ("livenessProbe", "startupProbe")  # a failing readiness probe restarts nothing
INSECURE_PORT_REMOVED = (1, 20)  # before 1.20 --insecure-port defaulted to 8080 on 127.0.0.1
_IMAGE_VERSION = re.compile(r":v?(\d+)\.(\d+)")


def _apiserver(facts: NodeFacts) -> tuple[str, dict] | None:
    return staticpods.find(facts, "kube-apiserver")


NOT_CONTROL_PLANE = ("not a control-plane node: no kube-apiserver static pod manifest in "
                     "/etc/kubernetes/manifests")


def _port(probe_port, container: dict):
    """A probe's port as a number, resolving a named container port."""
    if isinstance(probe_port, str) and not probe_port.isdigit():
        return next((p.get("containerPort") for p in container.get("ports") or []
                     if p.get("name") == probe_port), probe_port)
    return int(probe_port) if probe_port is not None else None


def probe_auth(facts: NodeFacts):
    """No liveness or startup probe the kubelet sends without credentials hits a port that demands them."""
    found = Findings(staticpods.SECTIONS)
    apiserver = _apiserver(facts)
    if apiserver is None:
        return found.nothing(NOT_CONTROL_PLANE)
    path, container = apiserver
    anonymous = staticpods.flag(container, "anonymous-auth")
    auth_config = staticpods.flag(container, "authentication-config")
    secure_port = int(staticpods.flag(container, "secure-port") or DEFAULT_SECURE_PORT)
    found.judged.update(manifest=path, anonymous_auth=anonymous or "unset (default true)",
                        secure_port=secure_port, probes={k: container.get(k) for k in RESTARTING_PROBES})
    if anonymous is None and auth_config is not None:
        return found.nothing(f"anonymous access is configured in the AuthenticationConfiguration "
                             f"{auth_config}, a file node facts do not read")
    if anonymous is None or anonymous.lower() != "false":
        return found.verdict()
    for kind in RESTARTING_PROBES:
        get = (container.get(kind) or {}).get("httpGet")
        if not get:
            continue  # tcpSocket and exec probes authenticate nowhere
        scheme = str(get.get("scheme", "HTTP")).upper()
        port = _port(get.get("port"), container)
        credentials = any(str(h.get("name", "")).lower() == "authorization" for h in get.get("httpHeaders") or [])
        if scheme == "HTTPS" and port == secure_port and not credentials:
            url = f"https://{get.get('host', '<pod IP>')}:{port}{get.get('path', '/')}"
            threshold = (container.get(kind) or {}).get("failureThreshold", 3)
            found.problems.append(
                f"{kind} GET {url} ({path}) carries no credentials but --anonymous-auth=false: "
                f"kube-apiserver answers 401 and after {threshold} failures the kubelet restarts it, "
                f"again and again")
    return found.verdict()


def version(container: dict) -> tuple[int, int] | None:
    match = _IMAGE_VERSION.search(str(container.get("image", "")))
    return (int(match[1]), int(match[2])) if match else None


def insecure_port(facts: NodeFacts):
    """kube-apiserver serves no unauthenticated insecure port."""
    found = Findings(staticpods.SECTIONS)
    apiserver = _apiserver(facts)
    if apiserver is None:
        return found.nothing(NOT_CONTROL_PLANE)
    path, container = apiserver
    port = staticpods.flag(container, "insecure-port")
    bind = staticpods.flag(container, "insecure-bind-address")
    release = version(container)
    found.judged.update(manifest=path, insecure_port=port, insecure_bind_address=bind,
                        image=container.get("image"), version=release)
    if port is None and release is not None and release < INSECURE_PORT_REMOVED:
        found.problems.append(f"kube-apiserver {release[0]}.{release[1]} ({path}) serves the "
                              f"insecure port 8080 by default and --insecure-port=0 is not set")
    elif port is not None and port != "0":
        found.problems.append(f"kube-apiserver --insecure-port={port} ({path}) serves the whole API "
                              f"without authentication or authorization")
    if bind:
        found.problems.append(f"kube-apiserver --insecure-bind-address={bind} ({path}) exposes the "
                              f"insecure port there")
    return found.verdict()
