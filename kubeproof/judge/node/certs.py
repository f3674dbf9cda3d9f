"""Certificates on a node: how long each stays valid, the kubelet's identity, its rotation.

000 §2 and 004: kubeadm's one-year certificates expired and the API went dark with "x509:
certificate has expired or is not yet valid". Every certificate gathered counts (kubeadm PKI,
etcd/, front-proxy, those embedded in /etc/kubernetes/*.conf, the kubelet's under
/var/lib/kubelet/pki) except the kubelet's superseded rotations: once kubelet-client-current.pem
exists, the older kubelet-client-<date>.pem files beside it are history, not in use.
"""

from __future__ import annotations

import posixpath
import re
from datetime import datetime, timedelta

from ...nodes.facts import NodeFacts
from . import kubelet
from ..judgement import Findings, Judgement
from ..cluster.objects import parse_time, span

FAILURE_IDS = ("cert-expiry",)  # the catalog entries this module's judges decide

SECTIONS = ("certificates", "kubeconfig-certificates")
KUBELET_PKI = "/var/lib/kubelet/pki"
_NODE_CN = re.compile(r"(?:^|,)CN=system:node:([^,]+)")
_ROTATED = re.compile(r"^kubelet-(client|server)-(?!current\.pem$).+\.pem$")


def gathered_at(facts: NodeFacts) -> datetime | None:
    """When the facts were read (the auditing machine's clock, else the node's): "now" for validity."""
    return parse_time(facts.gathered_at or facts.node_time)


def in_use(certs: list[dict]) -> tuple[list[dict], list[str]]:
    """(certificates in use, paths of superseded kubelet rotations left on disk)."""
    current = {posixpath.basename(c["path"]) for c in certs if c["path"].startswith(KUBELET_PKI + "/")}
    superseded = [c for c in certs if c["path"].startswith(KUBELET_PKI + "/")
                  and (m := _ROTATED.match(posixpath.basename(c["path"])))
                  and f"kubelet-{m[1]}-current.pem" in current]
    return [c for c in certs if c not in superseded], sorted({c["path"] for c in superseded})


def _place(cert: dict) -> str:
    return f"{cert['path']} ({cert['field']})" if cert["source"] == "kubeconfig" else cert["path"]


def horizon(facts: NodeFacts, horizon_days: int) -> Judgement:
    """Every certificate in use is valid now and stays valid for horizon_days."""
    found = Findings(SECTIONS, facts)
    now = gathered_at(facts)
    certs, superseded = in_use(facts.certificates)
    found.judged.update(now=now.isoformat() if now else None, horizon_days=horizon_days,
                        superseded_not_judged=superseded, certificates=[])
    if not certs:
        return found.nothing("no Kubernetes PKI on this node: no certificate under /etc/kubernetes/pki, "
                             "/etc/kubernetes/ssl or /var/lib/kubelet/pki, none embedded in "
                             "/etc/kubernetes/*.conf or /var/lib/kubelet/kubeconfig")
    if now is None:
        return found.nothing("the facts carry no gathering time to measure validity from")
    # One certificate can sit in several places (the CA in ca.crt and in every kubeconfig): one line.
    places: dict[tuple, list[str]] = {}
    for cert in certs:
        if "error" in cert:
            found.problems.append(f"{_place(cert)}: unreadable certificate ({cert['error']}), "
                                  f"its expiry cannot be checked")
            continue
        places.setdefault((cert["issuer"], cert["serial"], cert["subject"], cert["not_before"],
                           cert["not_after"]), []).append(_place(cert))
    deadline = now + timedelta(days=horizon_days)
    for (_, serial, subject, not_before, not_after), where in places.items():
        found.judged["certificates"].append({"subject": subject, "serial": serial, "not_before": not_before,
                                             "not_after": not_after, "places": where})
        label = f"{', '.join(where)} ({subject})"
        if parse_time(not_before) > now:
            found.problems.append(f"{label} is not valid before {not_before}, "
                                  f"{span(parse_time(not_before) - now)} from now")
        expiry = parse_time(not_after)
        if expiry < deadline:
            state = (f"expired {not_after}, {span(now - expiry)} ago" if expiry <= now
                     else f"expires {not_after}, in {span(expiry - now)}")
            found.problems.append(f"{label} {state} < {horizon_days}-day horizon "
                                  f"(short by {span(deadline - expiry)})")
    return found.verdict()


def kubelet_identity(facts: NodeFacts) -> tuple[str, str] | None:
    """(node name, where it was read) from the kubelet's client certificate CN system:node:<name>.

    The current rotation wins; else the most recently issued system:node certificate in the
    kubelet's PKI directory or in a kubeconfig (the bootstrap kubelet.conf embeds it).
    """
    certs = [c for c in in_use(facts.certificates)[0] if "error" not in c and _NODE_CN.search(c["subject"])]
    if not certs:
        return None
    current = [c for c in certs if posixpath.basename(c["path"]) == "kubelet-client-current.pem"]
    chosen = (current or sorted(certs, key=lambda c: c["not_before"]))[-1]
    name = _NODE_CN.search(chosen["subject"])[1]
    return name, f"the kubelet client certificate {_place(chosen)}, CN system:node:{name}"


def rotation(facts: NodeFacts) -> Judgement:
    """The kubelet renews its client certificate itself (rotateCertificates / --rotate-certificates)."""
    found = Findings(("processes", "kubelet-config", "kubelet-env"), facts)
    if not kubelet.present(facts):
        return found.nothing(kubelet.ABSENT)
    config, path = kubelet.config(facts)
    flag = kubelet.flag(facts, "rotate-certificates")
    if flag is not None:
        on, source = flag.lower() == "true", f"--rotate-certificates={flag} ({kubelet.flags(facts)[1]})"
    elif config is not None and "rotateCertificates" in config:
        value = config["rotateCertificates"]
        on, source = value is True, f"rotateCertificates: {str(value).lower()} in {path}"
    else:
        on, source = False, (f"rotateCertificates unset in {path} (the kubelet's default is false)"
                             if config is not None else f"no kubelet config at {path}, no --rotate-certificates "
                                                        f"(the kubelet's default is false)")
    found.judged.update(rotates=on, source=source)
    if not on:
        identity = kubelet_identity(facts)
        certificate = identity[1] if identity else "its client certificate"
        found.problems.append(f"kubelet client certificate rotation is off: {source}; {certificate} "
                              f"will expire without renewal")
    return found.verdict()
