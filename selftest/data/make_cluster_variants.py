"""Generate selftest/data/clusters/<variant>: the healthy cluster with one documented failure planted.

    python selftest/data/make_cluster_variants.py [OUTPUT_PARENT]

One variant per failure id of the cluster assertions, each changing the healthy cluster
(make_healthy_cluster.py) the way the field reports saw it break, with several offenders where an
assertion must name every one, and near misses it must not name (an event outside the window, a
namespace not yet stuck, a Deployment whose anti-affinity leaves room). Deterministic like the
healthy generator: regenerating gives the same bytes. The objects are validated against the v1.32
OpenAPI schema (calico's BlockAffinity against its CRD's schema) by selftest/plugin/test_tests_cluster.py.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_healthy_cluster", HERE / "make_healthy_cluster.py")
healthy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthy)

from kubeproof.kube.serving import ServingCertificate  # noqa: E402  (importable once healthy set sys.path)

OUTPUT = HERE / "clusters"
DUMPED = healthy.DUMPED
Objects = list[dict]


def ago(**delta) -> datetime:
    return DUMPED - timedelta(**delta)


def find(objects: Objects, kind: str, name: str, namespace: str | None = None) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name
                and o["metadata"].get("namespace") == namespace)


def without(objects: Objects, doomed: Callable[[dict], bool]) -> Objects:
    return [o for o in objects if not doomed(o)]


def daemonset_named(name: str) -> Callable[[dict], bool]:
    """A kube-system DaemonSet and the pods it owns."""
    def part(o: dict) -> bool:
        owners = [r["name"] for r in o["metadata"].get("ownerReferences") or [] if r["kind"] == "DaemonSet"]
        return o["metadata"].get("namespace") == "kube-system" and (
            (o["kind"] == "DaemonSet" and o["metadata"]["name"] == name) or (o["kind"] == "Pod" and name in owners))
    return part


def set_condition(node: dict, kind: str, status: str, reason: str, message: str, since: datetime) -> None:
    condition = next(c for c in node["status"]["conditions"] if c["type"] == kind)
    condition.update(status=status, reason=reason, message=message, lastTransitionTime=healthy.stamp(since))


def taint(node: dict, key: str, effect: str, since: datetime) -> None:
    node["spec"].setdefault("taints", []).append({"key": key, "effect": effect, "timeAdded": healthy.stamp(since)})


def namespace_with_ca(name: str) -> Objects:
    return [healthy.namespace(name), healthy.configmap("kube-root-ca.crt", name, {"ca.crt": healthy.CA_CERT.decode()})]


def bare_pod(name: str, container: str, image: str, ip: str, node: str = "worker-1") -> dict:
    """A pod in shop without a controller, running one container."""
    spec = healthy.pod_spec([healthy.container(container, image)])
    return healthy.pod(name, "shop", spec, node, ip, labels={"app": container})


def kubelet(node: str) -> dict:
    return {"component": "kubelet", "host": node}


# --- critical-pod-eviction (001 §3) -------------------------------------------------------------

def static_kube_proxy(node: str) -> dict:
    """kube-proxy as the report ran it: a static pod from the node's manifest directory, no priority."""
    spec = healthy.pod_spec([healthy.container("kube-proxy", f"registry.k8s.io/kube-proxy:{healthy.KUBERNETES}",
                                               command=["/usr/local/bin/kube-proxy",
                                                        "--config=/var/lib/kube-proxy/config.conf",
                                                        f"--hostname-override={node}"],
                                               securityContext={"privileged": True})],
                            hostNetwork=True, tolerations=[{"operator": "Exists", "effect": "NoExecute"}])
    config_hash = healthy.uid("kube-proxy-manifest", node).replace("-", "")
    result = healthy.pod(f"kube-proxy-{node}", "kube-system", spec, node, healthy.NODES[node],
                         labels={"k8s-app": "kube-proxy"},
                         annotations={"kubernetes.io/config.hash": config_hash, "kubernetes.io/config.mirror": config_hash,
                                      "kubernetes.io/config.seen": healthy.stamp(healthy.BORN),
                                      "kubernetes.io/config.source": "file"})
    result["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node,
                                              "uid": healthy.uid("Node", "", node), "controller": True}]
    return result


def drop_priority(spec: dict) -> None:
    """A pod spec as admitted without a priority class: priority 0."""
    for key in ("priorityClassName", "preemptionPolicy"):
        spec.pop(key, None)
    spec["priority"] = 0


def critical_pod_eviction(objects: Objects) -> Objects:
    """001 §3 on a cluster whose worker still runs a 1.15 kubelet (static pods not yet critical), beside
    a 1.32 control plane whose static kube-proxy is critical to its kubelet (the near miss)."""
    objects = without(objects, daemonset_named("kube-proxy"))
    objects = without(objects, daemonset_named("kindnet"))
    objects += [static_kube_proxy(node) for node in healthy.NODES]
    find(objects, "Node", "worker-1")["status"]["nodeInfo"]["kubeletVersion"] = "v1.15.12"
    for o in objects:  # CoreDNS without its system-cluster-critical class, template and pods alike
        if o["metadata"]["name"].startswith("coredns") and o["kind"] in ("Deployment", "ReplicaSet", "Pod"):
            drop_priority(o["spec"] if o["kind"] == "Pod" else o["spec"]["template"]["spec"])
    # kindnet, a node agent on every node, without a priority class: evicted and refused under pressure.
    agent = healthy.node_daemon("kindnet", "docker.io/kindest/kindnetd:v20241212-9f82dd49", ["/bin/kindnetd"],
                                ["8hj2c", "wd5rv"])
    for o in agent:
        drop_priority(o["spec"] if o["kind"] == "Pod" else o["spec"]["template"]["spec"])
    return objects + agent


# --- nodefs-pressure (002, 004) -----------------------------------------------------------------

def evicted_pod(name: str, container: str, node: str, ip: str, message: str) -> dict:
    result = bare_pod(name, container, "docker.io/library/busybox:1.36", ip, node)
    status = result["status"]
    started = status["startTime"]
    status.update(phase="Failed", reason="Evicted", message=message, conditions=[
        {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None, "lastTransitionTime": started,
         "reason": "TerminationByKubelet", "message": message.split(".")[0]},
        {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": started,
         "reason": "PodFailed"}])
    for container in status["containerStatuses"]:
        container.update(ready=False, started=False, state={"terminated": {
            "exitCode": 137, "reason": "Error", "startedAt": started, "finishedAt": healthy.stamp(ago(minutes=15)),
            "containerID": container["containerID"]}})
    return result


def nodefs_pressure(objects: Objects) -> Objects:
    worker, control = find(objects, "Node", "worker-1"), find(objects, "Node", "cp-1")
    set_condition(worker, "DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure", ago(minutes=40))
    taint(worker, "node.kubernetes.io/disk-pressure", "NoSchedule", ago(minutes=40))
    set_condition(control, "MemoryPressure", "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory "
                  "available", ago(minutes=25))
    taint(control, "node.kubernetes.io/memory-pressure", "NoSchedule", ago(minutes=25))
    report = evicted_pod("report-7d9c", "report", "worker-1", "10.244.1.20",
                         "Pod ephemeral local storage usage exceeds the total limit of containers 8Gi. ")
    batch = evicted_pod("batch-4kq2", "batch", "worker-1", "10.244.1.21",
                        'Container batch exceeded its local ephemeral storage limit "1Gi". ')
    # Evicted for the node's memory, not its own storage: not an ephemeral-storage eviction.
    hog = evicted_pod("cache-warm-9xz1", "cache-warm", "cp-1", "10.244.0.20",
                      "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91236Ki. ")
    objects += [report, batch, hog]
    objects += [
        healthy.event(worker, "EvictionThresholdMet", "Attempting to reclaim ephemeral-storage", kubelet("worker-1"),
                      when=ago(minutes=20), kind="Warning", count=23),
        healthy.event(report, "Evicted", "The node was low on resource: ephemeral-storage. Threshold quantity: "
                      "10508473728, available: 9881292Ki. ", kubelet("worker-1"), when=ago(minutes=15), kind="Warning"),
        # Three days old: history, outside the 24 h window.
        healthy.event(control, "EvictionThresholdMet", "Attempting to reclaim memory", kubelet("cp-1"),
                      when=ago(days=3), kind="Warning"),
    ]
    return objects


# --- cert-expiry (000, 004) ---------------------------------------------------------------------

def tls_secret(name: str, dns: str, born: datetime, days: int) -> dict:
    key = healthy._key(name)
    cert = healthy.certificate(dns, key, healthy.CA, days=days, dns=[dns], born=born)
    return healthy.secret(name, "shop", "kubernetes.io/tls", {"tls.crt": cert, "tls.key": healthy.WEB_KEY_PEM})


def webhook_configuration(kind: str, name: str, ca: bytes) -> dict:
    result = healthy.obj("admissionregistration.k8s.io/v1", kind, name, generation=1)
    hook = {"name": f"{name}.example.test", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": "Fail", "matchPolicy": "Equivalent", "timeoutSeconds": 10,
            "namespaceSelector": {}, "objectSelector": {},
            "clientConfig": {"service": {"name": name, "namespace": "kube-system", "path": "/validate", "port": 443},
                             "caBundle": healthy.b64(ca)},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
                       "scope": "*"}]}
    if kind == "MutatingWebhookConfiguration":
        hook["reinvocationPolicy"] = "Never"
    result["webhooks"] = [hook]
    return result


def cert_expiry(objects: Objects) -> Objects:
    objects = without(objects, lambda o: o["kind"] == "Secret" and o["metadata"]["name"] == "web-tls")
    objects += [tls_secret("web-tls", "shop.example.test", ago(days=360), 365),  # 5 days left
                tls_secret("legacy-tls", "legacy.example.test", ago(days=400), 365)]  # expired
    expired_ca = healthy.certificate("metrics-server-ca", healthy._key("metrics-server-ca"), None, days=365,
                                     born=ago(days=400))
    find(objects, "APIService", "v1beta1.metrics.k8s.io")["spec"]["caBundle"] = healthy.b64(expired_ca)
    objects += [
        webhook_configuration("MutatingWebhookConfiguration", "policy-agent",  # 20 days left
                              healthy.certificate("policy-agent-ca", healthy._key("policy-agent-ca"), None, days=365,
                                                  born=ago(days=345))),
        webhook_configuration("ValidatingWebhookConfiguration", "quota-guard",  # fine for two years
                              healthy.certificate("quota-guard-ca", healthy._key("quota-guard-ca"), None, days=730)),
    ]
    manager = find(objects, "Pod", "kube-controller-manager-cp-1", "kube-system")
    manager["spec"]["containers"][0]["command"].append("--cluster-signing-duration=87600h")  # 000's ten years
    return objects


def cert_expiry_serving() -> ServingCertificate:
    return healthy.apiserver_certificate(days=365, born=ago(days=355))  # 10 days left


# --- apiserver-anonymous-probe (002) ------------------------------------------------------------

def apiserver_anonymous_probe(objects: Objects) -> Objects:
    apiserver = find(objects, "Pod", "kube-apiserver-cp-1", "kube-system")
    apiserver["spec"]["containers"][0]["command"].insert(1, "--anonymous-auth=false")
    status = apiserver["status"]["containerStatuses"][0]
    status.update(restartCount=23, state={"running": {"startedAt": healthy.stamp(ago(minutes=3))}},
                  lastState={"terminated": {"exitCode": 137, "reason": "Error", "containerID": status["containerID"],
                                            "startedAt": healthy.stamp(ago(minutes=7)),
                                            "finishedAt": healthy.stamp(ago(minutes=3))}})
    objects.append(healthy.event(apiserver, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 401",
                                 kubelet("cp-1"), "spec.containers{kube-apiserver}", when=ago(minutes=4),
                                 kind="Warning", count=184))
    return objects


# --- hostname-drift (001 §5) --------------------------------------------------------------------

def block_affinity(node: str, cidr: str) -> dict:
    result = healthy.obj("crd.projectcalico.org/v1", "BlockAffinity", f"{node}-{cidr.replace('.', '-').replace('/', '-')}")
    result["spec"] = {"cidr": cidr, "deleted": "false", "node": node, "state": "confirmed"}
    return result


def hostname_drift(objects: Objects) -> Objects:
    old = find(objects, "Node", "worker-1")
    renamed = copy.deepcopy(old)  # the same machine, re-registered under its new hostname
    new_name = "ip-10-89-0-11.ec2.internal"
    renamed["metadata"].update(name=new_name, uid=healthy.uid("Node", "", new_name),
                               creationTimestamp=healthy.stamp(ago(days=3)))
    renamed["metadata"]["labels"]["kubernetes.io/hostname"] = new_name
    renamed["status"]["addresses"] = [{"type": "InternalIP", "address": healthy.NODES["worker-1"]},
                                      {"type": "Hostname", "address": new_name}]
    renamed["spec"]["providerID"] = f"kind://docker/kubeproof/{new_name}"
    for condition in old["status"]["conditions"]:
        condition.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                         lastHeartbeatTime=healthy.stamp(ago(days=3)), lastTransitionTime=healthy.stamp(ago(days=3)))
    taint(old, "node.kubernetes.io/unreachable", "NoSchedule", ago(days=3))
    taint(old, "node.kubernetes.io/unreachable", "NoExecute", ago(days=3))
    objects.insert(objects.index(old) + 1, renamed)
    objects = without(objects, daemonset_named("kindnet"))  # this cluster runs calico, with calico IPAM
    objects += healthy.node_daemon("calico-node", "docker.io/calico/node:v3.29.1", ["start_runit"], ["5kx8d", "q7w2n"])
    objects += [block_affinity("cp-1", "192.168.10.0/26"), block_affinity("worker-1", "192.168.11.0/26"),
                block_affinity(new_name, "192.168.12.0/26"),
                # Left by a host that was renamed and removed before: no such Node any more.
                block_affinity("k8s-node-3", "192.168.13.0/26"), block_affinity("k8s-node-3", "192.168.13.64/26")]
    return objects


# --- pleg-unhealthy (004) -----------------------------------------------------------------------

PLEG = ("container runtime status check may not have completed yet, PLEG is not healthy: pleg was last seen "
        "active {} ago; threshold is 3m0s")


def pleg_unhealthy(objects: Objects) -> Objects:
    worker, control = find(objects, "Node", "worker-1"), find(objects, "Node", "cp-1")
    set_condition(worker, "Ready", "False", "KubeletNotReady", PLEG.format("3m28.93894374s"), ago(minutes=12))
    taint(worker, "node.kubernetes.io/not-ready", "NoSchedule", ago(minutes=12))
    objects += [healthy.event(control, "NodeNotReady", PLEG.format("3m5.117s"), kubelet("cp-1"), when=ago(hours=2),
                              kind="Warning"),
                # Three days old: outside the window.
                healthy.event(worker, "NodeNotReady", PLEG.format("3m1.2s"), kubelet("worker-1"), when=ago(days=3),
                              kind="Warning")]
    return objects


# --- namespace-stuck (004) ----------------------------------------------------------------------

def deletion_conditions(since: datetime, discovery: bool, content: str | None, finalizers: str | None) -> list[dict]:
    """A Terminating namespace's conditions as the namespace controller writes them."""
    when = healthy.stamp(since)

    def condition(kind: str, failing: bool, reason: str, message: str) -> dict:
        return {"type": kind, "status": "True" if failing else "False", "lastTransitionTime": when,
                "reason": reason, "message": message}
    return [
        condition("NamespaceDeletionDiscoveryFailure", discovery, "DiscoveryFailed" if discovery else "ResourcesDiscovered",
                  "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: "
                  "metrics.k8s.io/v1beta1: stale GroupVersion discovery: metrics.k8s.io/v1beta1" if discovery
                  else "All resources successfully discovered"),
        condition("NamespaceDeletionGroupVersionParsingFailure", False, "ParsedGroupVersions",
                  "All legacy kube types successfully parsed"),
        condition("NamespaceDeletionContentFailure", False, "ContentDeleted",
                  "All content successfully deleted, may be waiting on finalization"),
        condition("NamespaceContentRemaining", bool(content), "SomeResourcesRemain" if content else "ContentRemoved",
                  content or "All content successfully removed"),
        condition("NamespaceFinalizersRemaining", bool(finalizers),
                  "SomeFinalizersRemain" if finalizers else "ContentHasNoFinalizers",
                  finalizers or "All content-preserving finalizers finished"),
    ]


def terminating(name: str, since: datetime, **why) -> Objects:
    result = namespace_with_ca(name)
    namespace = result[0]
    namespace["metadata"]["deletionTimestamp"] = healthy.stamp(since)
    namespace["status"] = {"phase": "Terminating", "conditions": deletion_conditions(since, **why)}
    return result


def namespace_stuck(objects: Objects) -> Objects:
    objects += terminating("kubesphere-system", ago(days=2), discovery=True,
                           content="Some resources are remaining: configmaps. has 1 resource instances",
                           finalizers="Some content in the namespace has finalizers remaining: "
                                      "kubesphere.io/finalizer in 1 resource instances")
    objects += terminating("old-tenant", ago(hours=6), discovery=False, content=None,
                           finalizers="Some content in the namespace has finalizers remaining: "
                                      "example.com/backup-protection in 2 resource instances")
    objects += terminating("scratch", ago(minutes=10), discovery=False, content=None, finalizers=None)  # not yet stuck
    metrics = find(objects, "APIService", "v1beta1.metrics.k8s.io")
    metrics["status"]["conditions"] = [{
        "type": "Available", "status": "False", "reason": "FailedDiscoveryCheck",
        "lastTransitionTime": healthy.stamp(ago(days=2, hours=1)),
        "message": 'failing or missing response from https://10.244.1.5:10250/apis/metrics.k8s.io/v1beta1: Get '
                   '"https://10.244.1.5:10250/apis/metrics.k8s.io/v1beta1": context deadline exceeded'}]
    return objects


# --- affinity-rollout-stall (004) ---------------------------------------------------------------

def one_per_node(name: str, replicas: int, surge: int | str, unavailable: int | str, pod_hash: str,
                 placements: list[tuple[str, str, str]]) -> Objects:
    """A Deployment in shop whose pods require distinct nodes, with its ReplicaSet and running pods."""
    labels = {"app": name}
    spec = healthy.pod_spec([healthy.container("room", f"registry.example.test/games/{name}:3",
                                               resources={"requests": {"cpu": "500m", "memory": "1Gi"}})],
                            affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                                {"labelSelector": {"matchExpressions": [
                                    {"key": "app", "operator": "In", "values": [name]}]},
                                 "topologyKey": "kubernetes.io/hostname"}]}})
    made = healthy.replicated(name, "shop", labels, spec, pod_hash, placements)
    deploy = made[0]
    deploy["spec"]["replicas"] = replicas
    deploy["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    deploy["status"].update(replicas=replicas, updatedReplicas=replicas, readyReplicas=len(placements),
                            availableReplicas=len(placements))
    if replicas > len(placements):
        deploy["status"]["unavailableReplicas"] = replicas - len(placements)
    made[1]["spec"]["replicas"] = replicas
    made[1]["status"].update(replicas=replicas, readyReplicas=len(placements), availableReplicas=len(placements))
    return made


def pending_pod(sibling: dict, suffix: str, message: str) -> dict:
    """A pod of the same ReplicaSet the scheduler could not place."""
    result = copy.deepcopy(sibling)
    rs_name = sibling["metadata"]["ownerReferences"][0]["name"]
    name = f"{rs_name}-{suffix}"
    result["metadata"].update(name=name, uid=healthy.uid("Pod", "shop", name), creationTimestamp=healthy.stamp(ago(hours=1)))
    result["spec"].pop("nodeName")
    result["status"] = {"phase": "Pending", "qosClass": sibling["status"]["qosClass"], "conditions": [
        {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
         "lastTransitionTime": healthy.stamp(ago(hours=1)), "reason": "Unschedulable", "message": message}]}
    return result


def affinity_rollout_stall(objects: Objects) -> Objects:
    # 004's callbreak-room-1: one replica, default 25%/25% (surge 1, unavailable 0), one eligible node.
    objects += one_per_node("callbreak-room-1", 1, "25%", "25%", "665d446596", [("hfrhk", "worker-1", "10.244.1.30")])
    cache = one_per_node("cache", 2, 0, 1, "6fdb565b8d", [("5dm2s", "worker-1", "10.244.1.31")])
    cache.append(pending_pod(cache[2], "q8n4v", "0/2 nodes are available: 1 node(s) didn't match pod anti-affinity "
                                                "rules, 1 node(s) had untolerated taint {node-role.kubernetes.io/"
                                                "control-plane: }. preemption: 0/2 nodes are available: 1 No "
                                                "preemption victims found for incoming pod, 1 Preemption is not "
                                                "helpful for scheduling."))
    objects += cache
    # Room to roll though the surge pod cannot be placed: maxUnavailable 1 lets the old pod go first.
    objects += one_per_node("search", 1, 1, 1, "58c7d9f6b4", [("z4x7c", "worker-1", "10.244.1.32")])
    return objects


# --- service-no-endpoints (004) -----------------------------------------------------------------

def endpoints_of(service: dict, ready: list[str] = (), not_ready: list[str] = ()) -> dict:
    result = healthy.obj("v1", "Endpoints", service["metadata"]["name"], service["metadata"]["namespace"],
                         labels=service["metadata"]["labels"])
    if ready or not_ready:
        subset = {"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
        if ready:
            subset["addresses"] = [{"ip": ip} for ip in ready]
        if not_ready:
            subset["notReadyAddresses"] = [{"ip": ip, "nodeName": "worker-1"} for ip in not_ready]
        result["subsets"] = [subset]
    return result


def http_service(name: str, cluster_ip: str, selector: dict | None, **metadata) -> dict:
    result = healthy.service(name, "shop", cluster_ip, selector,
                             [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}], {"app": name})
    result["metadata"].update(metadata)
    return result


def service_no_endpoints(objects: Objects) -> Objects:
    # 004's 503: the Ingress routes to a Service Rancher keeps (no selector); with Rancher down it is empty.
    rancher = http_service("ingress-0d3b5a2e", "10.96.112.60", None, annotations={
        "field.cattle.io/targetWorkloadIds": '["deployment:shop:admin"]', "field.cattle.io/ingressState": "{}"})
    api = http_service("api", "10.96.112.61", {"app": "api"})  # selects no pod at all
    workers = http_service("worker-metrics", "10.96.112.62", {"app": "worker"})  # its pods are not ready
    ingress = healthy.obj("networking.k8s.io/v1", "Ingress", "admin", "shop", generation=1)
    ingress["spec"] = {"ingressClassName": "nginx", "rules": [{"host": "admin.example.test", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "ingress-0d3b5a2e", "port": {"number": 80}}}},
        {"path": "/legacy", "pathType": "Prefix", "backend": {"service": {"name": "legacy", "port": {"number": 80}}}}]}}]}
    ingress["status"] = {"loadBalancer": {"ingress": [{"ip": healthy.NODES["worker-1"]}]}}
    objects += [rancher, endpoints_of(rancher), api, endpoints_of(api), workers,
                endpoints_of(workers, not_ready=["10.244.1.40", "10.244.1.41"]), ingress]
    return objects


# --- workload-crashes (004, 002) ----------------------------------------------------------------

def crashing_pod(name: str, container_name: str, image: str, ip: str, restarts: int, state: dict,
                 last: dict | None = None, phase: str = "Running") -> dict:
    result = bare_pod(name, container_name, image, ip)
    status = result["status"]
    status["phase"] = phase
    container = status["containerStatuses"][0]
    container.update(restartCount=restarts, state=state, lastState=last or {}, ready="running" in state,
                     started="running" in state)
    for condition in status["conditions"]:
        if condition["type"] in ("Ready", "ContainersReady") and "running" not in state:
            condition.update(status="False", reason="ContainersNotReady",
                             message=f"containers with unready status: [{container['name']}]")
    return result


def terminated(reason: str, code: int, minutes_ago: int) -> dict:
    return {"terminated": {"exitCode": code, "reason": reason, "startedAt": healthy.stamp(ago(minutes=minutes_ago + 1)),
                           "finishedAt": healthy.stamp(ago(minutes=minutes_ago))}}


def workload_crashes(objects: Objects) -> Objects:
    objects += [
        crashing_pod("english-readmanager2-76598ccd6b-4pch9", "english-readmanager2", "registry.example.test/english/readmanager2:5",
                     "10.244.1.50", 6, {"waiting": {"reason": "CrashLoopBackOff",
                                                    "message": "back-off 5m0s restarting failed container=english-"
                                                               "readmanager2 pod=english-readmanager2-76598ccd6b-4pch9"}},
                     terminated("Error", 1, 2)),
        crashing_pod("monitoring-grafana-762361155-p9vwj", "grafana", "gcr.io/google_containers/heapster-grafana-amd64:v4.2.0",
                     "10.244.1.51", 0, {"waiting": {"reason": "ImagePullBackOff",
                                                    "message": 'Back-off pulling image "gcr.io/google_containers/'
                                                               'heapster-grafana-amd64:v4.2.0"'}}, phase="Pending"),
        crashing_pod("my-udp-rc-ld468", "udp-echo", "gcr.io/mixia-kube/udptest:v1", "10.244.1.52", 0,
                     {"waiting": {"reason": "RunContainerError",
                                  "message": "runContainer: Error: No such image: gcr.io/mixia-kube/udptest:v1"}},
                     phase="Pending"),
        crashing_pod("chinese-user-login-server-85dfc64db4-rnqfn", "chinese-user-login-server", "registry.example.test/chinese/login-server:3",
                     "10.244.1.53", 3, {"running": {"startedAt": healthy.stamp(ago(minutes=30))}},
                     terminated("OOMKilled", 137, 31)),
        # Five restarts is the limit, not past it; it runs now: not an offender.
        crashing_pod("flaky-report-7c9d8b6f5-wq2x8", "report", "registry.example.test/shop/report:2", "10.244.1.54", 5,
                     {"running": {"startedAt": healthy.stamp(ago(hours=5))}}, terminated("Error", 1, 301)),
        # Twelve restarts, the last 90 days ago, running clean since: history, not an offender.
        crashing_pod("veteran-batch-5b7f9c6d4-k8s2m", "batch", "registry.example.test/shop/batch:7", "10.244.1.55", 12,
                     {"running": {"startedAt": healthy.stamp(ago(days=90))}}, terminated("OOMKilled", 137, 90 * 24 * 60)),
    ]
    return objects


# --- dashboard-exposure (002) -------------------------------------------------------------------

def dashboard_exposure(objects: Objects) -> Objects:
    ns = "kubernetes-dashboard"
    labels = {"k8s-app": "kubernetes-dashboard"}
    spec = healthy.pod_spec([healthy.container("kubernetes-dashboard", "docker.io/kubernetesui/dashboard:v2.0.0",
                                               args=["--auto-generate-certificates", f"--namespace={ns}",
                                                     "--enable-skip-login", "--authentication-mode=basic"],
                                               ports=[{"containerPort": 8443, "protocol": "TCP"}])],
                            serviceAccountName="kubernetes-dashboard", serviceAccount="kubernetes-dashboard",
                            nodeSelector={"kubernetes.io/os": "linux"})
    running = healthy.replicated("kubernetes-dashboard", ns, labels, spec, "5d4f7b9c8d",
                                 [("x2k9p", "worker-1", "10.244.1.60")])
    svc = healthy.service("kubernetes-dashboard", ns, "10.96.200.10", labels,
                          [{"port": 443, "protocol": "TCP", "targetPort": 8443}], labels)
    admin = healthy.binding("kubernetes-dashboard", "cluster-admin",
                            {"kind": "ServiceAccount", "name": "kubernetes-dashboard", "namespace": ns})
    admin["metadata"].pop("labels")  # made by hand (002), not an RBAC default
    objects += namespace_with_ca(ns) + running + [
        svc, healthy.endpoints(svc, running[2:], [{"port": 8443, "protocol": "TCP"}]), admin]
    return objects


# --- writing ------------------------------------------------------------------------------------

VARIANTS: dict[str, Callable[[Objects], Objects]] = {
    "critical-pod-eviction": critical_pod_eviction,
    "nodefs-pressure": nodefs_pressure,
    "cert-expiry": cert_expiry,
    "apiserver-anonymous-probe": apiserver_anonymous_probe,
    "hostname-drift": hostname_drift,
    "pleg-unhealthy": pleg_unhealthy,
    "namespace-stuck": namespace_stuck,
    "affinity-rollout-stall": affinity_rollout_stall,
    "service-no-endpoints": service_no_endpoints,
    "workload-crashes": workload_crashes,
    "dashboard-exposure": dashboard_exposure,
}
SERVING: dict[str, Callable[[], ServingCertificate]] = {"cert-expiry": cert_expiry_serving}


def variant_objects(name: str) -> Objects:
    return VARIANTS[name](healthy.source_objects())


def build(name: str, parent: Path = OUTPUT) -> Path:
    serving = SERVING.get(name, healthy.apiserver_certificate)()
    return healthy.write(parent / name, variant_objects(name), serving, f"generated {name} cluster")


if __name__ == "__main__":
    parent = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    for variant in VARIANTS:
        print(build(variant, parent))
