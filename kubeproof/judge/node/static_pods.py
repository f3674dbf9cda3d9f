"""The control plane's static pod manifests on a node (/etc/kubernetes/manifests), judged as pods.

A static pod manifest is the Pod the API later shows as its mirror, so the cluster-side judges of
control_plane.py apply to it unchanged: kube-apiserver's probes against --anonymous-auth and its
insecure port (002), kube-controller-manager's signing duration (000). Read from the node, they
hold before the API server is up, and on a node whose mirror pods a dump lacks.
"""

from __future__ import annotations

from typing import Callable

from ...nodes.facts import NodeFacts
from ..cluster import control_plane
from ..judgement import Findings, Judgement
from ..cluster.objects import flags

FAILURE_IDS = ("apiserver-anonymous-probe", "cert-expiry")  # the catalog entries this module's judges decide

SECTIONS = ("static-pods", "apiserver-auth-config")


def manifests(facts: NodeFacts, component: str) -> dict[str, dict]:
    """{path: manifest} of the static pods running component (by its component label or image)."""
    return {path: pod for path, pod in sorted(facts.static_pods.items())
            if isinstance(pod, dict) and control_plane.component_pods([pod], component)}


def _judge(facts: NodeFacts, component: str, judge: Callable[[dict], Judgement]) -> Judgement:
    found = Findings(SECTIONS, facts)
    pods = manifests(facts, component)
    if not pods:
        return found.nothing(f"not a control-plane node: no {component} static pod manifest in "
                             f"/etc/kubernetes/manifests")
    for path, pod in pods.items():
        container = control_plane.main_container(pod, component)
        found.judged[path] = {"flags": flags(container),
                              "probes": {k: container[k] for k in control_plane.RESTARTING_PROBES
                                         if k in container}}
        found.problems += [f"{path}: {problem}" for problem in judge(pod).problems]
    return found.verdict()


def apiserver_probe_and_auth(facts: NodeFacts) -> Judgement:
    """kube-apiserver's liveness/startup probes work under its authentication, --anonymous-auth or
    the --authentication-config file read from the node; no insecure port."""
    configs = facts.apiserver_auth_configs
    return _judge(facts, "kube-apiserver", lambda pod: control_plane.apiserver_probe_and_auth([pod], configs))


def signing_duration(facts: NodeFacts, max_days: int) -> Judgement:
    """kube-controller-manager signs certificates for at most max_days."""
    return _judge(facts, "kube-controller-manager",
                  lambda pod: control_plane.signing_durations([pod], max_days))
