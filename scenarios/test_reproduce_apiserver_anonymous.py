"""apiserver-anonymous-probe (002 §3): --anonymous-auth=false under kubeadm's unauthenticated probes.

inject   add --anonymous-auth=false to the kube-apiserver static pod manifest on the control
         plane (original backed up in the journal; the kubelet recreates the pod from it);
observe  the kubelet's probes of /livez get 401 and it restarts the new kube-apiserver container
         (restartCount >= 1; with kubeadm's startup probe that takes ~4 minutes), with the
         probe-failure events naming the 401 — the report's restart loop;
judge    static_pods.apiserver_probe_and_auth on facts gathered now and
         control_plane.apiserver_probe_and_auth on the mirror pod flag the combination;
         apiserver_restarts shows the count (it flags only past the profile's restart limit);
restore  the manifest back byte for byte; the API server answers again and the judges pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import urllib3
import yaml

from kubeproof.faults import files
from kubeproof.faults.node import FaultError
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.cluster import control_plane
from kubeproof.judge.node import static_pods
from kubeproof.kube import client as kube_client

MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
FLAG = "--anonymous-auth=false"
FLAPPING = (FaultError, urllib3.exceptions.HTTPError, OSError)  # the API server is restarting


@pytest.mark.failure("apiserver-anonymous-probe")
def test_anonymous_auth_off_restarts_the_apiserver(scenario, profile, evidence):
    name = scenario.control_plane()
    node, journal = scenario.fault_on(name, api=True)
    cluster = scenario.cluster
    pod_name = f"kube-apiserver-{name}"

    def apiserver() -> dict:
        return cluster.pod("kube-system", pod_name)

    def has_flag(pod: dict) -> bool:
        return FLAG in (pod["spec"]["containers"][0].get("command") or [])

    def restarts(pod: dict) -> int:
        return sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses") or [])

    with scenario.phase("inject", f"{FLAG} in {MANIFEST}"):
        manifest = yaml.safe_load(node.read(MANIFEST))
        container = manifest["spec"]["containers"][0]
        container["command"] = [a for a in container["command"] if not a.startswith("--anonymous-auth")] + [FLAG]
        files.replace(journal, MANIFEST, yaml.safe_dump(manifest, sort_keys=False).encode())

    with scenario.phase("observe", "the kubelet restarts kube-apiserver on 401 probes"):
        restarted = wait_for(f"{pod_name} with {FLAG} restarted", apiserver,
                             until=lambda p: has_flag(p) and restarts(p) >= 1,
                             timeout=420, interval=5, transient=FLAPPING)
        probes = wait_for("probe failures naming 401", lambda: [
            e["message"] for e in cluster.events("kube-system", field_selector=f"involvedObject.name={pod_name}")
            if e.get("reason") == "Unhealthy" and "401" in (e.get("message") or "")],
            timeout=60, interval=5, transient=FLAPPING)
        evidence.attach("probe failures", probes)
        evidence.attach("container statuses", restarted["status"].get("containerStatuses"))

    with scenario.phase("judge", "both apiserver_probe_and_auth judges flag it"):
        on_node = static_pods.apiserver_probe_and_auth(scenario.facts(node))
        mirrored = control_plane.apiserver_probe_and_auth([restarted])
        restarted_too_often = control_plane.apiserver_restarts([restarted], datetime.now(timezone.utc),
                                                               timedelta(hours=profile.recent_event_hours),
                                                               profile.restart_limit)
        evidence.attach("judged", {"static pod": on_node.problems, "mirror pod": mirrored.problems,
                                   "restarts": restarted_too_often.problems})
        assert any("anonymous-auth=false" in p for p in on_node.problems), on_node.problems
        assert any("anonymous-auth=false" in p for p in mirrored.problems), mirrored.problems

    with scenario.phase("restore", f"{MANIFEST} back; the API server answers; judges pass"):
        journal.undo()
        back = wait_for(f"{pod_name} running without {FLAG}", apiserver,
                        until=lambda p: not has_flag(p) and p["status"].get("phase") == "Running" and all(
                            s.get("ready") for s in p["status"].get("containerStatuses") or []),
                        timeout=300, interval=5, transient=FLAPPING)
        kube_client.check_reachable(cluster.api, scenario.audit.target.context)
        assert not static_pods.apiserver_probe_and_auth(scenario.facts(node)).problems
        assert not control_plane.apiserver_probe_and_auth([back]).problems
