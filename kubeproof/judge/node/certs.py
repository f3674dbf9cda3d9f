"""Certificates on a node: how long each stays valid, the kubelet's identity, its rotation, and
whether etcd and the front proxy keep CAs of their own.

000 §2 and 004: kubeadm's one-year certificates (Rancher's embedded k3s ones in 004) expired and the
API went dark with "x509: certificate has expired or is not yet valid". Every certificate gathered
counts (kubeadm PKI, etcd/, front-proxy, those embedded in /etc/kubernetes/*.conf, the kubelet's under
/var/lib/kubelet/pki, k3s/RKE2's under /var/lib/rancher/*/server/tls and agent/) except the kubelet's
superseded rotations: once kubelet-client-current.pem exists, the older kubelet-client-<date>.pem
files beside it are history, not in use."""

from __future__ import annotations

import posixpath
import re
from datetime import datetime, timedelta

from ...nodes.facts import NodeFacts
from ...times import parse_time, span
from ..cluster import control_plane
from ..cluster.objects import flags
from . import kubelet
from ..judgement import Findings, Judgement

FAILURE_IDS = ("cert-expiry",)  # the catalog entries this module's judges decide

SECTIONS = ("certificates", "kubeconfig-certificates")
KUBELET_PKI = "/var/lib/kubelet/pki"
_NODE_CN = re.compile(r"(?:^|,)CN=system:node:([^,]+)")
_ROTATED = re.compile(r"^kubelet-(client|server)-(?!current\.pem$).+\.pem$")
_ROTATED_SERVER = re.compile(r"^kubelet-server-.+\.pem$")


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
                             "/etc/kubernetes/ssl, AKS's /etc/kubernetes/certs, /var/lib/kubelet/pki, kOps's "
                             "/srv/kubernetes (/etc/srv/kubernetes on COS), minikube's /var/lib/minikube/certs or "
                             "k3s/RKE2's /var/lib/rancher/*/{server/tls,agent}, none embedded in "
                             "/etc/kubernetes/*.conf, /var/lib/kubelet/kubeconfig or /etc/rancher/*/*.yaml")
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
    certs = [c for c in in_use(facts.certificates)[0] if "error" not in c and _NODE_CN.search(c["subject"])
             and _client(c)]
    if not certs:
        return None
    current = [c for c in certs if posixpath.basename(c["path"]) == "kubelet-client-current.pem"]
    chosen = (current or sorted(certs, key=lambda c: c["not_before"]))[-1]
    name = _NODE_CN.search(chosen["subject"])[1]
    return name, f"the kubelet client certificate {_place(chosen)}, CN system:node:{name}"


def _client(cert: dict) -> bool:
    """Not a serving certificate: serverTLSBootstrap's kubelet-server-*.pem carry the same
    system:node CN, with serverAuth alone (pkg/kubelet/certificate/kubelet.go asks for
    client-go's DefaultKubeletServingGetUsages; its client certificates for clientAuth)."""
    usages = cert.get("extended_key_usage") or []
    return not _ROTATED_SERVER.match(posixpath.basename(cert["path"])) and (not usages or "clientAuth" in usages)


def client_credential(facts: NodeFacts) -> str | None:
    """Why the kubelet has no client certificate to rotate, or None when it has one (or may).

    From the users of its --kubeconfig (gather.sh kubelet-kubeconfig): an exec plugin (EKS's `aws eks
    get-token`), a token or an auth provider and no client-certificate(-data) is a kubelet that
    authenticates without a certificate. A --bootstrap-kubeconfig means TLS bootstrapping: the
    kubelet writes a certificate-based kubeconfig (pkg/kubelet/certificate/bootstrap), so it has one."""
    gathered = facts.kubelet.get("kubeconfigs")
    path = kubelet.flag(facts, "kubeconfig")
    users = (gathered or {}).get(path) if path else None
    if not users or kubelet.flag(facts, "bootstrap-kubeconfig"):
        return None
    if any(u["client_certificate"] or u["client_certificate_data"] for u in users):
        return None
    kinds = sorted({k for u in users for k in ("exec", "token", "auth_provider") if u[k]})
    if not kinds:
        return None
    return (f"{path} authenticates the kubelet with {' and '.join(k.replace('_', ' ') for k in kinds)}, "
            "no client certificate: there is none to rotate")


def rotation(facts: NodeFacts) -> Judgement:
    """The kubelet renews its client certificate itself (rotateCertificates / --rotate-certificates),
    where it has one."""
    found = Findings(("processes", "kubelet-config", "kubelet-config-dir", "kubelet-env"), facts)
    if not kubelet.present(facts):
        return found.nothing(kubelet.ABSENT)
    try:
        effective = kubelet.resolve(facts)  # config file, drop-ins and flags, as the kubelet merges them
    except ValueError as exc:
        return found.nothing(f"{exc}: the kubelet refuses to start with it")
    on, source = effective.config["rotateCertificates"] is True, effective.source("rotateCertificates")
    without = client_credential(facts)
    found.judged.update(rotates=on, source=source, no_client_certificate=without)
    if not on and without is None:
        identity = kubelet_identity(facts)
        certificate = identity[1] if identity else "its client certificate"
        host = facts.kubelet.get("embedded_in")
        renewal = (f" ({host} runs this kubelet and issues it a new one only when it starts)" if host else "")
        found.problems.append(f"kubelet client certificate rotation is off: {source}; {certificate} "
                              f"will expire without renewal{renewal}")
    return found.verdict()


CLUSTER_CA = "/etc/kubernetes/pki/ca.crt"  # kubeadm's, the apiserver's --client-ca-file by default
FRONT_PROXY_CA = "/etc/kubernetes/pki/front-proxy-ca.crt"


def _identity(facts: NodeFacts, path: str) -> tuple | None:
    """(issuer, serial, subject) of the first certificate in the file at path, None if not gathered."""
    cert = next((c for c in facts.certificates if c["path"] == path and "error" not in c), None)
    return (cert["issuer"], cert["serial"], cert["subject"]) if cert else None


def _manifest_flags(facts: NodeFacts, component: str) -> tuple[str, dict[str, str]] | None:
    """(manifest path, flags of its container) of the first static pod running component."""
    for path, pod in sorted(facts.static_pods.items()):
        if isinstance(pod, dict) and control_plane.component_pods([pod], component):
            return path, flags(control_plane.main_container(pod, component))
    return None


def ca_separation(facts: NodeFacts) -> Judgement:
    """etcd and the front proxy keep CAs of their own (000's ten-year fix merged them into the cluster
    CA): etcd trusting the cluster CA takes any certificate the cluster signs (any approved CSR) as an
    etcd client, the whole datastore; the front-proxy CA being the cluster CA lets any such certificate
    assert any user to the apiserver through the aggregation layer's X-Remote-User headers."""
    found = Findings(("static-pods", "certificates"), facts)
    apiserver, etcd = _manifest_flags(facts, "kube-apiserver"), _manifest_flags(facts, "etcd")
    if apiserver is None and etcd is None:
        return found.nothing("not a control-plane node: no kube-apiserver or etcd static pod manifest in "
                             "/etc/kubernetes/manifests")
    cluster_ca = (apiserver[1] if apiserver else {}).get("client-ca-file", CLUSTER_CA)
    identity = _identity(facts, cluster_ca)
    found.judged.update(cluster_ca=cluster_ca, trusted={})
    if identity is None:
        return found.nothing(f"the cluster CA {cluster_ca} was not gathered")
    trusted = []
    if etcd:
        trusted += [(f"{etcd[0]} --{flag}", etcd[1][flag], "etcd takes every certificate the cluster CA signs (any "
                     "approved CSR) as a client or peer: the whole datastore")
                    for flag in ("trusted-ca-file", "peer-trusted-ca-file") if flag in etcd[1]]
    front_proxy = (f"{apiserver[0]} --requestheader-client-ca-file", apiserver[1]["requestheader-client-ca-file"]) \
        if apiserver and "requestheader-client-ca-file" in apiserver[1] else (FRONT_PROXY_CA, FRONT_PROXY_CA)
    trusted.append((*front_proxy, "any certificate the cluster CA signs may act as the front proxy and assert "
                    "any user through the X-Remote-User headers"))
    for where, path, why in trusted:
        found.judged["trusted"][where] = path
        if path != cluster_ca and _identity(facts, path) != identity:
            continue
        same = "is" if path == cluster_ca else "holds the same certificate as"
        found.problems.append(f"{where}: {path} {same} the cluster CA {cluster_ca}: {why} (000's merged CAs); "
                              "restore its own CA (kubeadm init phase certs etcd-ca / front-proxy-ca)")
    return found.verdict()
