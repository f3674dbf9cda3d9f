"""nodefs-pressure (002 §1, 004) and critical-pod-eviction (001 §3, 002): disk pressure on a worker
whose kubelet has a filesystem of its own, the way upstream's node e2e eviction tests induce it
(test/e2e_node/eviction_test.go: tempSetCurrentKubeletConfig, runEvictionTest).

The fill must stay on that filesystem: a kubelet directory on the host's shared disk is never filled
(the scenario skips, saying how to give a worker one; kind clusters kubeproof creates have one on
their last worker, kubeproof/kind/nodefs.py). The images live on another filesystem (imagefs), so the kubelet's reclaim
under nodefs pressure is container GC, never image GC: the node's images stay.

arrange  the kubelet hardened (kind disables disk eviction with 0% thresholds and ignores per-worker
         kubelet patches at join, so /var/lib/kubelet/config.yaml in the node is edited and the kubelet
         restarted): nodefs.available 10%, imagefs.available 5%, inodes 5%, a 30 s transition period;
         a node agent, a DaemonSet for every node at priority system-node-critical;
inject   the agent loses its critical priority (a rollout) and a kubeproof-named file fills nodefs
         past the threshold;
observe  EvictionThresholdMet and NodeHasDiskPressure on the node; the agent's new pod refused
         admission on it (1.32 to 1.37, eviction/helpers.go: "The node had condition: [DiskPressure]"), while the node's
         system-node-critical kube-proxy stays, same pod;
judge    eviction.free_space names nodefs, node_conditions.pressured_nodes the node,
         critical_pods.node_agents the agent;
restore  the fill removed and the agent's priority back: no DiskPressure, the agent admitted again;
         then the kubelet's config back byte for byte.

ephemeral-storage (004): a pod writing past its ephemeral-storage limit is evicted with the kubelet's
message, and workloads.ephemeral_storage_evictions names it.
"""

from __future__ import annotations

import pytest

from kubeproof.errors import FaultError, Unavailable
from kubeproof.faults import disk, kubelet
from kubeproof.judge.cluster.critical_pods import component_of, node_agents
from kubeproof.judge.cluster.node_conditions import pressured_nodes
from kubeproof.judge.cluster.workloads import ephemeral_storage_evictions
from kubeproof.judge.node import eviction
from kubeproof.judge.units import size
from kubeproof.kube.nodes import condition, has_taint
from kubeproof.scenario import container, daemonset, pod
from kubeproof.waiting import wait_for

MiB = 2 ** 20
TAINT = "node.kubernetes.io/disk-pressure"
AGENT, HOG = "kubeproof-agent", "kubeproof-ephemeral"
CRITICAL = "system-node-critical"
HARDENED = {"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
            "imagefs.available": "5%", "imagefs.inodesFree": "5%"}
LEFT_FREE = 32 * MiB  # under the threshold by this much less than the threshold itself
STORAGE_LIMIT, WRITTEN = 32, 64  # MiB: the hog's ephemeral-storage limit and what it writes


def _own_nodefs_worker(scenario) -> str:
    """A worker whose kubelet directory is a filesystem of its own, else Unavailable (a skip)."""
    for name in scenario.workers():
        if disk.own_filesystem(scenario.node(name), kubelet.ROOT_DIR):
            return name
    raise Unavailable(f"no worker's {kubelet.ROOT_DIR} is a filesystem of its own; the scenario fills nodefs only "
                      "where that cannot reach the host's disk (kind clusters kubeproof creates give their last "
                      "worker one, kubeproof/kind/nodefs.py; elsewhere mount a small filesystem there, e.g. kind "
                      "extraMounts)")


def _harden(config: dict) -> None:
    config["evictionHard"] = dict(HARDENED)
    config.pop("evictionMinimumReclaim", None)
    config["evictionPressureTransitionPeriod"] = "30s"


@pytest.mark.failure("nodefs-pressure", "critical-pod-eviction")
def test_disk_pressure_refuses_a_node_agent_without_critical_priority(scenario, profile):
    cluster = scenario.cluster
    name = _own_nodefs_worker(scenario)
    node, hardening = scenario.fault_on(name)
    namespace = scenario.namespace()

    def agents() -> list[dict]:
        return cluster.pods(namespace, field_selector=f"spec.nodeName={name}")

    def proxy() -> list[tuple[str, str]]:
        return [(p["metadata"]["name"], p["metadata"]["uid"]) for p in cluster.pods(
            "kube-system", field_selector=f"spec.nodeName={name}") if (c := component_of(p)) and c.role == "kube-proxy"]

    def priority(value: str | None) -> None:
        cluster.call(f"patch DaemonSet {namespace}/{AGENT}", cluster.apps.patch_namespaced_daemon_set, AGENT,
                     namespace, {"spec": {"template": {"spec": {"priorityClassName": value}}}})

    def admitted() -> list[dict]:
        return wait_for(f"{AGENT} running on {name}", agents, until=lambda pods: pods and all(
            p["status"].get("phase") == "Running" for p in pods), timeout=120)

    def arrange() -> None:
        kubelet.reconfigure(hardening, _harden)
        cluster.create(namespace, daemonset(AGENT, scenario.id, container(scenario.image, "sleep", "86400"),
                                            priorityClassName=CRITICAL))
        admitted()

    kube_proxy = proxy()

    def inject() -> None:
        fs = disk.space(node, kubelet.ROOT_DIR)
        fill = fs.available - int(fs.size * 0.10) + LEFT_FREE
        scenario.say(f"inject: {size(fs.available)} free of {size(fs.size)}; filling {size(fill)}")
        disk.fill(scenario.journal(node), kubelet.ROOT_DIR, fill)
        wait_for(f"node {name} DiskPressure", lambda: cluster.node(name),
                 until=lambda n: condition(n, "DiskPressure") == "True", timeout=120, transient=(FaultError,))
        priority(None)
        scenario.defer(f"DaemonSet {AGENT} back to {CRITICAL}", lambda: priority(CRITICAL))

    def observe() -> list[str]:
        refused = wait_for(f"{AGENT}'s pod refused on {name}", agents, until=lambda pods: any(
            p["status"].get("phase") == "Failed" and "DiskPressure" in (p["status"].get("message") or "")
            for p in pods), timeout=120)
        if proxy() != kube_proxy:
            raise AssertionError(f"kube-proxy on {name} was evicted or replaced: {kube_proxy} -> {proxy()}")
        events = cluster.events("", field_selector=f"involvedObject.kind=Node,involvedObject.name={name}")
        return ([f"{e.get('reason')}: {e.get('message')}" for e in events + cluster.events(namespace)]
                + [f"{p['status'].get('reason')}: {p['status'].get('message')}" for p in refused])

    def judge() -> list[str]:
        short = eviction.free_space(scenario.facts(node), profile.eviction_margin_percent).problems
        daemonsets = [d for d in scenario.view().list("daemonsets.apps") if d["metadata"]["namespace"] == namespace]
        return ([f"node {name}: {p}" for p in short] + pressured_nodes([cluster.node(name)]).problems
                + node_agents(daemonsets).problems)

    def recovered() -> None:
        wait_for(f"node {name} without DiskPressure and its taint", lambda: cluster.node(name), until=lambda n: (
            condition(n, "DiskPressure") == "False" and not has_taint(n, TAINT)), timeout=180, transient=(FaultError,))
        admitted()

    scenario.prove(arrange=arrange, judge=judge, inject=inject, observe=observe, recovered=recovered,
                   symptoms=["reclaim ephemeral-storage", "NodeHasDiskPressure", "The node had condition"],
                   offender=(f"node {name}: nodefs", f"node {name} has DiskPressure", f"DaemonSet {namespace}/{AGENT}"),
                   found_in=["kubelet", "events"])


@pytest.mark.failure("nodefs-pressure")
def test_a_pod_past_its_ephemeral_storage_limit_is_evicted(scenario):
    cluster = scenario.cluster
    name, namespace = scenario.pods_on_worker()

    def inject() -> None:
        cluster.create(namespace, pod(
            HOG, scenario.id, container(scenario.image, "sh", "-c",
                                        f"dd if=/dev/zero of=/scratch/fill bs=1M count={WRITTEN} && sleep 3600",
                                        volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}],
                                        resources={"limits": {"ephemeral-storage": f"{STORAGE_LIMIT}Mi"}}),
            node=name, volumes=[{"name": "scratch", "emptyDir": {}}]))
        scenario.defer(f"delete pod {namespace}/{HOG}", lambda: cluster.delete_pod(namespace, HOG))

    def observe() -> list[str]:
        evicted = wait_for(f"pod {HOG} evicted", lambda: cluster.pod(namespace, HOG),
                           until=lambda p: p["status"].get("reason") == "Evicted", timeout=120, interval=2)
        return [evicted["status"].get("message") or ""]

    scenario.prove(judge=lambda: ephemeral_storage_evictions(cluster.pods(namespace)).problems, inject=inject,
                   observe=observe, symptoms=["ephemeral local storage usage exceeds"], offender=f"{namespace}/{HOG}",
                   recovered=lambda: wait_for(f"pods in {namespace} gone", lambda: cluster.pods(namespace),
                                              until=lambda p: not p, timeout=120),
                   found_in=["events"])
