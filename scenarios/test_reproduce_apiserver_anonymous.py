"""apiserver-anonymous-probe (002 §3): --anonymous-auth=false under kubeadm's unauthenticated probes.

inject   --anonymous-auth=false added to the kube-apiserver static pod manifest on the control plane
         (original backed up in a journal; the kubelet recreates the pod from it);
observe  the kubelet's probes get 401 and it restarts the new kube-apiserver container (with kubeadm's
         startup probe that takes ~4 minutes): the report's restart loop;
judge    static_pods.apiserver_probe_and_auth on the control plane's facts and
         control_plane.apiserver_probe_and_auth on the mirror pod name the flag;
restore  the manifest back byte for byte; the API server answers again and the judges pass.
"""

from __future__ import annotations

import pytest
import urllib3
import yaml

from kubeproof.errors import FaultError
from kubeproof.faults import files
from kubeproof.judge.cluster import control_plane
from kubeproof.judge.node import static_pods
from kubeproof.kube import client as kube_client
from kubeproof.waiting import wait_for

MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
FLAG = "--anonymous-auth=false"
FLAPPING = (FaultError, urllib3.exceptions.HTTPError, OSError)  # the API server is restarting


@pytest.mark.failure("apiserver-anonymous-probe")
def test_anonymous_auth_off_restarts_the_apiserver(scenario):
    name = scenario.control_plane()
    node, _ = scenario.fault_on(name, api=True)
    cluster = scenario.cluster
    pod_name = f"kube-apiserver-{name}"

    def apiserver() -> dict:
        return cluster.pod("kube-system", pod_name)

    def has_flag(pod: dict) -> bool:
        return FLAG in (pod["spec"]["containers"][0].get("command") or [])

    def restarts(pod: dict) -> int:
        return sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses") or [])

    def inject() -> None:
        manifest = yaml.safe_load(node.read(MANIFEST))
        container = manifest["spec"]["containers"][0]
        container["command"] = [a for a in container["command"] if not a.startswith("--anonymous-auth")] + [FLAG]
        files.replace(scenario.journal(node), MANIFEST, yaml.safe_dump(manifest, sort_keys=False).encode())

    def observe() -> list[str]:
        wait_for(f"{pod_name} with {FLAG} restarted", apiserver, until=lambda p: has_flag(p) and restarts(p) >= 1,
                 timeout=600, interval=5, transient=FLAPPING)
        return wait_for("probe failures naming 401", lambda: [
            f"{e.get('reason')}: {e.get('message')}" for e in cluster.events(
                "kube-system", field_selector=f"involvedObject.name={pod_name}")
            if e.get("reason") == "Unhealthy" and "401" in (e.get("message") or "")],
            timeout=60, interval=5, transient=FLAPPING)

    def judge() -> list[str]:
        mirror = wait_for(f"{pod_name} readable", apiserver, timeout=120, interval=5, transient=FLAPPING)
        return (static_pods.apiserver_probe_and_auth(scenario.facts(node)).problems
                + control_plane.apiserver_probe_and_auth([mirror]).problems)

    def recovered() -> None:
        wait_for(f"{pod_name} running without {FLAG}", apiserver, until=lambda p: not has_flag(p) and all(
            s.get("ready") for s in p["status"].get("containerStatuses") or []) and p["status"].get("phase") == "Running",
            timeout=300, interval=5, transient=FLAPPING)
        kube_client.check_reachable(cluster.api, scenario.audit.target.context)

    scenario.prove(judge=judge, inject=inject, observe=observe, symptoms=["statuscode: 401"], offender=FLAG,
                   recovered=recovered, found_in=["events"])
