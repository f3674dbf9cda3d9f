"""The control plane as its pods show it: kube-apiserver's probes against its authentication and its
restarts (apiserver-anonymous-probe), kube-controller-manager's certificate signing duration
(cert-expiry).

Read from the pods' specs (on kubeadm clusters the mirrors of the static manifests), so a managed
control plane, whose components are not pods, has nothing here to judge.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from ..judgement import Findings, Judgement
from .objects import container_statuses, flags, labels, ref, repository_is, restarted_lately
from ...times import stamp

FAILURE_IDS = ("apiserver-anonymous-probe", "cert-expiry")  # the catalog entries this module's judges decide

HEALTH_PATHS = ("/healthz", "/livez", "/readyz")
RESTARTING_PROBES = ("livenessProbe", "startupProbe")  # a failing readiness probe restarts nothing
SIGNING_FLAGS = ("cluster-signing-duration", "experimental-cluster-signing-duration")  # the latter before 1.19
DEFAULT_SIGNING = timedelta(hours=8760)  # kube-controller-manager's default, one year


def component_pods(pods: list[dict], component: str) -> list[dict]:
    """Pods of a control-plane component: labelled component=NAME (kubeadm, kind, kubespray) or
    running its image."""
    return [p for p in pods if labels(p).get("component") == component
            or any(repository_is(c.get("image", ""), component) for c in (p.get("spec") or {}).get("containers") or [])]


def main_container(pod: dict, component: str) -> dict:
    """The component's own container: named for it, running its image, else the first."""
    found = (pod.get("spec") or {}).get("containers") or [{}]
    return next((c for c in found if c.get("name") == component or repository_is(c.get("image", ""), component)),
                found[0])


def _unauthenticated_health_probes(container: dict) -> list[tuple[str, dict, str]]:
    """(kind, httpGet, path) of the restarting probes that GET a health path over HTTPS without an
    Authorization header: what the kubelet sends as an anonymous request."""
    found = []
    for kind in RESTARTING_PROBES:
        get = (container.get(kind) or {}).get("httpGet")
        if not get or (get.get("scheme") or "HTTP").upper() != "HTTPS":
            continue
        path = (get.get("path") or "/").split("?", 1)[0].rstrip("/")
        if path in HEALTH_PATHS and not any(h.get("name", "").lower() == "authorization"
                                            for h in get.get("httpHeaders") or []):
            found.append((kind, get, path))
    return found


def anonymous_access(given: dict[str, str], auth_config: dict | None) -> tuple[bool | None, list[str] | None, str]:
    """(anonymous requests authenticated?, the paths they are limited to or None for all, the source).

    Structured authentication (--authentication-config, AuthenticationConfiguration's anonymous
    block, AnonymousAuthConfigurableEndpoints: beta in 1.32, GA and locked on from 1.34) replaces --anonymous-auth, which may not be
    set beside it: enabled false refuses them, conditions limit them to the paths listed. Its file is
    on the control-plane node, out of the API's sight: None when it was not read.
    """
    path = given.get("authentication-config")
    if path and (auth_config or {}).get("anonymous") is not None:
        anonymous = auth_config["anonymous"]
        paths = [c.get("path") for c in anonymous.get("conditions") or []] or None
        return anonymous.get("enabled") is True, paths, f"anonymous in --authentication-config {path}"
    if path and auth_config is None and "anonymous-auth" not in given:
        return None, None, f"--authentication-config {path} (not read: it is a file on the control-plane node)"
    flag = given.get("anonymous-auth", "true")  # the apiserver's default: anonymous requests allowed
    return flag != "false", None, f"--anonymous-auth={flag}"


def apiserver_probe_and_auth(pods: list[dict], auth_configs: dict[str, dict] | None = None) -> Judgement:
    """Restarting health probes the apiserver's authentication refuses (002's --anonymous-auth=false,
    or structured authentication disabling anonymous or leaving the probe's path out of its
    conditions), and an insecure port. auth_configs: the --authentication-config files read, by path."""
    found = Findings()
    found.judged["apiservers"] = []
    for pod in component_pods(pods, "kube-apiserver"):
        found.judged["apiservers"].append(ref(pod))
        container = main_container(pod, "kube-apiserver")
        given = flags(container)
        allowed, paths, source = anonymous_access(given, (auth_configs or {}).get(given.get("authentication-config")))
        evidence = {"pod": ref(pod), "anonymous": {"allowed": allowed, "paths": paths, "from": source},
                    "insecure-port": given.get("insecure-port"),
                    "probes": {k: container[k] for k in RESTARTING_PROBES if k in container}}
        refused = [(kind, get) for kind, get, path in _unauthenticated_health_probes(container)
                   if allowed is False or (allowed and paths and path not in paths)]
        if refused:  # one finding per apiserver, naming its first refused probe
            kind, get = refused[0]
            why = "anonymous requests are refused" if allowed is False else \
                f"anonymous requests are allowed only to {', '.join(paths)}"
            found.flag(
                f"{ref(pod)}: {source}: {why}, but its {kind} is an unauthenticated HTTPS GET {get.get('path')} "
                f"on port {get.get('port')}: the kubelet's probe gets 401 and the apiserver is restarted after "
                f"{(container[kind].get('failureThreshold') or 3)} failures (002); keep anonymous auth on for the "
                "health endpoints (RBAC's system:public-info-viewer, or anonymous conditions listing /livez, "
                "/readyz and /healthz)", evidence)
        if given.get("insecure-port", "0") != "0":
            found.flag(
                f"{ref(pod)}: --insecure-port={given['insecure-port']} serves the whole API without "
                "authentication or authorization (002's workaround); set it to 0 (the port was removed in 1.20)",
                evidence)
    return found.verdict()


def apiserver_restarts(pods: list[dict], now: datetime, window: timedelta, limit: int) -> Judgement:
    """Containers restarted more than limit times, the last within window (objects.restarted_lately);
    judged: every kube-apiserver container seen."""
    found = Findings()
    found.judged.update(now=stamp(now), window_hours=window.total_seconds() / 3600)
    seen = found.judged["containers"] = []
    for pod in component_pods(pods, "kube-apiserver"):
        for status in container_statuses(pod):
            last, lately = restarted_lately(status, now, window, limit)
            evidence = {"pod": ref(pod), "container": status.get("name"), "restartCount": status.get("restartCount", 0),
                        "lastTerminated": {k: last.get(k) for k in ("reason", "exitCode", "finishedAt") if k in last}}
            seen.append(evidence)
            if lately:
                found.flag(f"{ref(pod)} container {status.get('name')} restarted {evidence['restartCount']} times "
                           f"(limit {limit}); last terminated {last.get('reason')} (exit {last.get('exitCode')}) at "
                           f"{last.get('finishedAt')}", evidence)
    return found.verdict()


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def go_duration(text: str) -> timedelta:
    """A Go time.Duration string (`87600h`, `8760h0m0s`, `1.5h`); ValueError when it is not one."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return timedelta(seconds=sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts))


def signing_durations(pods: list[dict], max_days: int) -> Judgement:
    """Signing durations above max_days; judged: every kube-controller-manager seen."""
    found = Findings()
    seen = found.judged["controller_managers"] = []
    for pod in component_pods(pods, "kube-controller-manager"):
        given = flags(main_container(pod, "kube-controller-manager"))
        flag = next((f for f in SIGNING_FLAGS if f in given), None)
        try:
            duration = go_duration(given[flag]) if flag else DEFAULT_SIGNING
        except ValueError as exc:
            found.flag(f"{ref(pod)}: --{flag}: {exc}", {"pod": ref(pod), flag: given[flag]})
            continue
        evidence = {"pod": ref(pod), "flag": f"--{flag}={given[flag]}" if flag else "(default 8760h)",
                    "days": duration.total_seconds() / 86400}
        seen.append(evidence)
        if duration > timedelta(days=max_days):
            found.flag(
                f"{ref(pod)}: --{flag}={given[flag]} signs certificates for {duration.days} days "
                f"(limit {max_days}): such credentials cannot be revoked and outlive the people holding them "
                "(000's ten-year certificates); rotate instead", evidence)
    return found.verdict()


def is_apiserver(pod: dict) -> bool:
    return bool(component_pods([pod], "kube-apiserver"))

