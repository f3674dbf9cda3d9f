"""nodefs-pressure (002 §1, 004) and critical-pod-eviction (001 §3): disk pressure on a kind worker,
induced the way Kubernetes' node e2e eviction tests do it (test/e2e_node/eviction_test.go:
tempSetCurrentKubeletConfig, runEvictionTest, verifyEvictionOrdering).

Kind nodes share the host's disk, so the disk is never filled: the kubelet's hard nodefs.available
threshold is set just under what is free now, and a modest file crosses it.

inject   a best-effort pod with an emptyDir (the hog) and a burstable bystander on the worker;
         the kubelet's config (kind disables disk eviction with evictionHard nodefs/imagefs 0%,
         and ignores per-worker kubelet patches at join, so /var/lib/kubelet/config.yaml in the
         node is edited and the kubelet restarted) gets nodefs.available = free - 512 MiB, no
         minimum reclaim and a 30 s pressure transition period; then a 1 GiB file is allocated
         in the hog's emptyDir (from the node, with fallocate: the kubelet charges it to the pod
         and frees it with the pod's volume);
observe  DiskPressure and the node.kubernetes.io/disk-pressure taint appear; the hog is evicted
         (Failed, reason Evicted) while the bystander runs and kube-proxy and the CNI agent are
         never touched (same pod, no restart);
judge    node_conditions.pressured_nodes flags the node and eviction.free_space flags nodefs
         under the threshold while it lasts; critical_pods.unprotected_components passes for the
         node's kube-proxy and CNI, which the eviction proved right; eviction_events shows it;
restore  the original config back byte for byte, kubelet restarted, DiskPressure and the taint
         gone, and a new pod admitted and running on the node.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kubeproof.faults import disk, kubelet
from kubeproof.faults.cluster import condition, has_taint, pause_image, pod
from kubeproof.faults.node import FaultError
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.node import eviction
from kubeproof.judge.cluster.critical_pods import component_of, unprotected_components
from kubeproof.judge.cluster.node_conditions import eviction_events, pressured_nodes
from kubeproof.judge.units import size

MiB, GiB = 2 ** 20, 2 ** 30
HEADROOM = 512 * MiB  # the threshold sits this far under the free space measured
FILL = 1 * GiB  # crosses it by FILL - HEADROOM
MIN_FREE = 4 * GiB  # refuse below: the host's disk is not the scenario's to fill
TAINT = "node.kubernetes.io/disk-pressure"
HOG, BYSTANDER, ADMIT = "kubeproof-disk-hog", "kubeproof-bystander", "kubeproof-admitted"
EMPTY_DIR = "/var/lib/kubelet/pods/{uid}/volumes/kubernetes.io~empty-dir/scratch"


def _critical(cluster, node: str) -> dict[str, dict]:
    """kube-proxy and CNI agent pods on the node, by name."""
    return {p["metadata"]["name"]: p for p in cluster.pods("kube-system", field_selector=f"spec.nodeName={node}")
            if (c := component_of(p)) and not c.role.startswith("cluster DNS")}


def _eviction_order(cluster, namespace: str, node: str, critical: dict[str, dict]) -> dict:
    """verifyEvictionOrdering: the hog goes first, the bystander and the critical pods never."""
    hog, bystander = cluster.pod(namespace, HOG), cluster.pod(namespace, BYSTANDER)
    if bystander["status"].get("phase") == "Failed":
        raise AssertionError(f"the bystander was evicted ({bystander['status'].get('reason')}), "
                             f"the hog is {hog['status'].get('phase')}")
    now = _critical(cluster, node)
    for name, before in critical.items():
        after = now.get(name)
        if after is None or after["metadata"]["uid"] != before["metadata"]["uid"] \
                or after["status"].get("phase") != "Running":
            raise AssertionError(f"critical pod kube-system/{name} was evicted or replaced")
    return hog


@pytest.mark.failure("nodefs-pressure", "critical-pod-eviction")
def test_disk_pressure_evicts_the_best_effort_hog_and_never_critical_pods(scenario, profile, evidence):
    cluster = scenario.cluster
    name = scenario.worker()
    node, journal = scenario.fault_on(name)
    namespace = scenario.namespace()
    image = pause_image([cluster.node(name)])
    free = disk.space(node, kubelet.ROOT_DIR).available
    if free < MIN_FREE:
        pytest.skip(f"only {size(free)} free on {name}'s nodefs; the scenario needs {size(MIN_FREE)}")
    critical = _critical(cluster, name)
    evidence.attach("critical pods on the node", sorted(critical))

    with scenario.phase("inject", f"hog and bystander pods; nodefs.available < {size(free - HEADROOM)} "
                                  f"({size(free)} free); fill {size(FILL)}"):
        cluster.create(namespace, pod(HOG, scenario.id, image=image, node=name,
                                      volumes=[{"name": "scratch", "emptyDir": {}}]))
        cluster.create(namespace, pod(BYSTANDER, scenario.id, image=image, node=name, containers=[{
            "name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]))
        hog = cluster.wait_running(namespace, [HOG, BYSTANDER])[0]
        threshold = disk.space(node, kubelet.ROOT_DIR).available - HEADROOM

        def lower(config: dict) -> None:
            config["evictionHard"] = {**(config.get("evictionHard") or {}), "nodefs.available": str(threshold)}
            config.pop("evictionMinimumReclaim", None)
            config["evictionPressureTransitionPeriod"] = "30s"

        evidence.attach("kubelet evictionHard", kubelet.reconfigure(journal, lower)["evictionHard"])
        filled = disk.fill(journal, EMPTY_DIR.format(uid=hog["metadata"]["uid"]), FILL)
        scenario.say(f"inject: {size(FILL)} allocated in {filled.seconds:.2f} s ({size(filled.rate)}/s)")

    def read_node() -> dict:
        return cluster.node(name)

    with scenario.phase("observe", f"DiskPressure and the {TAINT} taint on {name}"):
        pressured = wait_for(f"node {name} DiskPressure and tainted", read_node, until=lambda n: (
            condition(n, "DiskPressure") == "True" and has_taint(n, TAINT)), timeout=180, transient=(FaultError,))
        evidence.attach("node taints under pressure", pressured["spec"].get("taints"))

    with scenario.phase("judge", "pressured_nodes and free_space flag the node while under pressure"):
        flagged = pressured_nodes([pressured]).problems
        facts = scenario.facts(node)
        short = eviction.free_space(facts, profile.eviction_margin_percent)
        evidence.attach("judged under pressure", {"pressured_nodes": flagged, "free_space": short.problems})
        assert flagged and "DiskPressure" in flagged[0], flagged
        assert any("nodefs" in p for p in short.problems), short.problems
        unprotected = [p for p in unprotected_components(cluster.pods("kube-system"), [pressured]).problems
                       if any(n in p for n in critical)]
        assert not unprotected, f"kube-proxy/CNI on {name} judged unprotected: {unprotected}"

    with scenario.phase("observe", "the hog is evicted first; bystander, kube-proxy and CNI stay"):
        evicted = wait_for(f"pod {HOG} evicted", lambda: _eviction_order(cluster, namespace, name, critical),
                           until=lambda p: p["status"].get("phase") == "Failed", timeout=300,
                           transient=(FaultError,))
        assert evicted["status"].get("reason") == "Evicted", evicted["status"]
        evidence.attach("hog status", {k: evicted["status"].get(k) for k in ("phase", "reason", "message")})
        events = eviction_events(cluster.events(namespace) + cluster.events(
            "", field_selector=f"involvedObject.kind=Node,involvedObject.name={name}"),
            datetime.now(timezone.utc), timedelta(minutes=30))
        evidence.attach("eviction events", events.problems)
        assert any(HOG in p for p in events.problems), events.problems

    with scenario.phase("restore", f"original kubelet config, no DiskPressure, {name} admits a pod"):
        journal.undo()
        kubelet.wait_healthy(node)
        wait_for(f"node {name} without DiskPressure and the taint", read_node, until=lambda n: (
            condition(n, "DiskPressure") == "False" and not has_taint(n, TAINT)), timeout=300,
            transient=(FaultError,))
        cluster.create(namespace, pod(ADMIT, scenario.id, image=image, node=name))
        cluster.wait_running(namespace, [ADMIT])
        _eviction_order(cluster, namespace, name, critical)
        assert not eviction.free_space(scenario.facts(node), profile.eviction_margin_percent).problems
