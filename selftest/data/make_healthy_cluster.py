"""Generate selftest/data/clusters/healthy: a small, healthy kubeadm-style cluster dump.

    python selftest/data/make_healthy_cluster.py [OUTPUT_DIR]

Two nodes (a control plane and a worker) running Kubernetes v1.32.2, in the real API object shapes
(validated against the v1.32 OpenAPI schema by selftest/offline/test_cluster_view.py), with metrics-server
as an aggregated API, and the API server's serving certificate as kubeadm issues it. Everything is
deterministic, so a regeneration is byte-identical: fixed timestamps, uids derived from names, and
Ed25519 certificates (Ed25519 signatures, unlike ECDSA's or RSA-PSS's, involve no randomness).
make_cluster_variants.py builds the flawed variants from the same pieces.

The source objects hold what a live cluster would: a TLS private key, a service-account token,
a last-applied-configuration annotation carrying the data. The committed dump is what
kubeproof's write_dump makes of them, i.e. redacted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the checkout's packages

from selftest.support.kubeadm_pki import key_pem, mint, pem  # noqa: E402
from kubeproof.kube.dump import write_dump  # noqa: E402
from kubeproof.kube.serving import ServingCertificate  # noqa: E402
from kubeproof.kube.view import ClusterView  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "clusters" / "healthy"
CONTEXT = "kubeproof-healthy"
KUBERNETES = "v1.32.2"
SCHEMA_VERSION = "1.32.0"  # kubernetes-validate schema the objects are checked against
SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": KUBERNETES, "gitTreeState": "clean",
                  "goVersion": "go1.23.6", "compiler": "gc", "platform": "linux/amd64"}
BORN = datetime(2026, 9, 1, 8, 0, 0, tzinfo=timezone.utc)  # when the cluster was created
DUMPED = datetime(2026, 9, 14, 12, 0, 0, tzinfo=timezone.utc)
NODES = {"cp-1": "10.89.0.10", "worker-1": "10.89.0.11"}
POD_CIDR = {"cp-1": "10.244.0", "worker-1": "10.244.1"}
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImhlYWx0aHkifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJl"


class Clock:
    """Hands out creation times and resourceVersions in creation order."""

    def __init__(self):
        self.rewind()

    def rewind(self) -> None:
        self.seconds, self.revision = 0, 1000

    def tick(self) -> tuple[str, str]:
        self.seconds += 7
        self.revision += 1
        return stamp(BORN + timedelta(seconds=self.seconds)), str(self.revision)


CLOCK = Clock()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kubeproof-healthy/" + "/".join(parts)))


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, **metadata) -> dict:
    created, revision = CLOCK.tick()
    meta = {"name": name, **({"namespace": namespace} if namespace else {}),
            "uid": uid(kind, namespace or "", name), "resourceVersion": revision,
            "creationTimestamp": created, **metadata}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def owner(parent: dict) -> list[dict]:
    return [{"apiVersion": parent["apiVersion"], "kind": parent["kind"], "name": parent["metadata"]["name"],
             "uid": parent["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]


# --- certificates -------------------------------------------------------------------------------

def _key(seed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


def certificate(common_name: str, key: Ed25519PrivateKey, issuer: tuple[x509.Certificate, Ed25519PrivateKey] | None,
                days: int, dns: list[str] = (), ips: list[str] = (), born: datetime = BORN) -> bytes:
    """PEM of a certificate issued at born for days by issuer (a CA when self-signed), with a serial
    derived from what it is."""
    cert, _ = mint(common_name, key=key, issuer=issuer, ca=issuer is None, sans=(*dns, *ips),
                   not_before=born, not_after=born + timedelta(days=days),
                   serial=int(hashlib.sha256(f"{common_name}/{born}/{days}".encode()).hexdigest()[:16], 16))
    return pem(cert)


CA_KEY = _key("kubernetes-ca")
CA_CERT = certificate("kubernetes", CA_KEY, None, days=3650)  # kubeadm's CA lifetime
CA = (x509.load_pem_x509_certificate(CA_CERT), CA_KEY)  # the issuer of the certificates below
WEB_KEY = _key("shop-web")
# A five-year serving certificate: valid well past the dump's moment plus any sane cert-expiry horizon.
WEB_CERT = certificate("shop.example.test", WEB_KEY, CA, days=1826, dns=["shop.example.test"])
WEB_KEY_PEM = key_pem(WEB_KEY)
# What kubeadm puts in the API server's serving certificate (one year), and kind's extra localhost names.
APISERVER_DNS = ["cp-1", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 "kubernetes.default.svc.cluster.local", "localhost"]
APISERVER_IPS = ["10.96.0.1", "10.89.0.10", "127.0.0.1"]


def apiserver_certificate(days: int = 365, born: datetime = BORN) -> ServingCertificate:
    served = certificate("kube-apiserver", _key("kube-apiserver"), CA, days=days,
                         dns=APISERVER_DNS, ips=APISERVER_IPS, born=born)
    return ServingCertificate("https://10.89.0.10:6443", (served.decode(),))


METRICS_CA = certificate("metrics-server-ca", _key("metrics-server-ca"), None, days=730)


# --- nodes and namespaces -----------------------------------------------------------------------

def condition(kind: str, status: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": status, "lastHeartbeatTime": stamp(DUMPED),
            "lastTransitionTime": stamp(BORN + timedelta(minutes=2)), "reason": reason, "message": message}


def node(name: str, control_plane: bool) -> dict:
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if control_plane:
        labels.update({"node-role.kubernetes.io/control-plane": "",
                       "node.kubernetes.io/exclude-from-external-load-balancers": ""})
    result = obj("v1", "Node", name, labels=labels, annotations={
        "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
        "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"})
    cidr = f"{POD_CIDR[name]}.0/24"
    result["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": f"kind://docker/kubeproof/{name}"}
    if control_plane:
        result["spec"]["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    resources = {"cpu": "4", "ephemeral-storage": "102626232Ki", "hugepages-2Mi": "0", "memory": "16372024Ki",
                 "pods": "110"}
    result["status"] = {
        "capacity": resources, "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": NODES[name]}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": uid("machine", name).replace("-", ""), "systemUUID": uid("system", name),
                     "bootID": uid("boot", name), "kernelVersion": "6.1.0-28-amd64",
                     "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": "containerd://1.7.24",
                     "kubeletVersion": KUBERNETES, "operatingSystem": "linux", "architecture": "amd64",
                     # Deprecated and no longer set since 1.31, but still serialized (no omitempty).
                     "kubeProxyVersion": ""},
    }
    return result


def namespace(name: str) -> dict:
    result = obj("v1", "Namespace", name, labels={"kubernetes.io/metadata.name": name})
    result["spec"] = {"finalizers": ["kubernetes"]}
    result["status"] = {"phase": "Active"}
    return result


# --- workloads ----------------------------------------------------------------------------------

CRITICAL = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def container(name: str, image: str, **extra) -> dict:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", **extra}


def pod_spec(containers: list[dict], priority_class: str | None = None, **extra) -> dict:
    spec = {"containers": containers, "dnsPolicy": "ClusterFirst", "enableServiceLinks": True,
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
            "terminationGracePeriodSeconds": 30, **extra}
    if priority_class:
        spec.update(priorityClassName=priority_class, priority=CRITICAL[priority_class],
                    preemptionPolicy="PreemptLowerPriority")
    else:
        spec.update(priority=0)
    return spec


def running_status(spec: dict, node_name: str, pod_ip: str, started: str, qos: str = "BestEffort") -> dict:
    conditions = [{"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": started}
                  for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    statuses = [{"name": c["name"], "image": c["image"], "imageID": c["image"].split(":")[0] + "@sha256:"
                 + hashlib.sha256(c["image"].encode()).hexdigest(),
                 "containerID": "containerd://" + hashlib.sha256((node_name + c["name"] + pod_ip).encode()).hexdigest(),
                 "ready": True, "started": True, "restartCount": 0, "lastState": {},
                 "state": {"running": {"startedAt": started}}} for c in spec["containers"]]
    return {"phase": "Running", "conditions": conditions, "hostIP": NODES[node_name],
            "hostIPs": [{"ip": NODES[node_name]}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": started, "containerStatuses": statuses, "qosClass": qos}


def pod(name: str, ns: str, spec: dict, node_name: str, pod_ip: str, *, labels: dict, owner_of: dict | None = None,
        **metadata) -> dict:
    result = obj("v1", "Pod", name, ns, labels=labels, **metadata)
    if owner_of:
        result["metadata"]["ownerReferences"] = owner(owner_of)
    result["spec"] = {**spec, "nodeName": node_name}
    result["status"] = running_status(spec, node_name, pod_ip, result["metadata"]["creationTimestamp"],
                                      "Burstable" if any(c["resources"] for c in spec["containers"]) else "BestEffort")
    return result


def template(labels: dict, spec: dict) -> dict:
    return {"metadata": {"labels": labels}, "spec": spec}


def daemonset(name: str, ns: str, labels: dict, spec: dict) -> dict:
    result = obj("apps/v1", "DaemonSet", name, ns, labels=labels, generation=1,
                 annotations={"deprecated.daemonset.template.generation": "1"})
    result["spec"] = {"selector": {"matchLabels": labels}, "template": template(labels, spec),
                      "updateStrategy": {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                      "revisionHistoryLimit": 10}
    count = len(NODES)
    result["status"] = {"currentNumberScheduled": count, "desiredNumberScheduled": count, "numberAvailable": count,
                        "numberMisscheduled": 0, "numberReady": count, "observedGeneration": 1,
                        "updatedNumberScheduled": count}
    return result


def deployment(name: str, ns: str, labels: dict, spec: dict, replicas: int) -> dict:
    result = obj("apps/v1", "Deployment", name, ns, labels=labels, generation=1,
                 annotations={"deployment.kubernetes.io/revision": "1"})
    result["spec"] = {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template(labels, spec),
                      "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                      "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
    result["status"] = {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                        "readyReplicas": replicas, "availableReplicas": replicas, "conditions": [
                            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                             "message": "Deployment has minimum availability.",
                             "lastUpdateTime": result["metadata"]["creationTimestamp"],
                             "lastTransitionTime": result["metadata"]["creationTimestamp"]}]}
    return result


def replicaset(parent: dict, pod_hash: str) -> dict:
    labels = {**parent["spec"]["selector"]["matchLabels"], "pod-template-hash": pod_hash}
    replicas = parent["spec"]["replicas"]
    result = obj("apps/v1", "ReplicaSet", f"{parent['metadata']['name']}-{pod_hash}", parent["metadata"]["namespace"],
                 labels=labels, generation=1, ownerReferences=owner(parent), annotations={
                     "deployment.kubernetes.io/desired-replicas": str(replicas),
                     "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                     "deployment.kubernetes.io/revision": "1"})
    result["spec"] = {"replicas": replicas, "selector": {"matchLabels": labels},
                      "template": template(labels, parent["spec"]["template"]["spec"])}
    result["status"] = {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                        "availableReplicas": replicas, "observedGeneration": 1}
    return result


def static_pod(component: str, image: str, command: list[str], probe_port: int, probe_path: str) -> dict:
    """A control-plane static pod as the apiserver shows it: a mirror pod owned by its Node."""
    probe = {"httpGet": {"host": NODES["cp-1"], "path": probe_path, "port": probe_port, "scheme": "HTTPS"},
             "initialDelaySeconds": 10, "timeoutSeconds": 15, "periodSeconds": 10, "successThreshold": 1,
             "failureThreshold": 8}
    spec = pod_spec([container(component, image, command=command, livenessProbe=probe,
                               resources={"requests": {"cpu": "100m"}})],
                    "system-node-critical", hostNetwork=True, tolerations=[{"operator": "Exists", "effect": "NoExecute"}])
    config_hash = hashlib.md5(component.encode()).hexdigest()
    result = pod(f"{component}-cp-1", "kube-system", spec, "cp-1", NODES["cp-1"],
                 labels={"component": component, "tier": "control-plane"},
                 annotations={"kubernetes.io/config.hash": config_hash, "kubernetes.io/config.mirror": config_hash,
                              "kubernetes.io/config.seen": stamp(BORN), "kubernetes.io/config.source": "file"})
    result["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": "cp-1",
                                              "uid": uid("Node", "", "cp-1"), "controller": True}]
    return result


def control_plane() -> list[dict]:
    image = "registry.k8s.io/{}:" + KUBERNETES
    return [
        static_pod("etcd", "registry.k8s.io/etcd:3.5.16-0", [
            "etcd", "--advertise-client-urls=https://10.89.0.10:2379", "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
            "--client-cert-auth=true", "--data-dir=/var/lib/etcd", "--key-file=/etc/kubernetes/pki/etcd/server.key",
            "--listen-client-urls=https://127.0.0.1:2379,https://10.89.0.10:2379",
            "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"], 2381, "/livez"),
        static_pod("kube-apiserver", image.format("kube-apiserver"), [
            "kube-apiserver", "--advertise-address=10.89.0.10", "--allow-privileged=true",
            "--authorization-mode=Node,RBAC", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
            "--enable-admission-plugins=NodeRestriction", "--etcd-servers=https://127.0.0.1:2379",
            "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
            "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key", "--secure-port=6443",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16", "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
            "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key"], 6443, "/livez"),
        static_pod("kube-controller-manager", image.format("kube-controller-manager"), [
            "kube-controller-manager", "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
            "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key", "--controllers=*,bootstrapsigner,tokencleaner",
            "--kubeconfig=/etc/kubernetes/controller-manager.conf", "--use-service-account-credentials=true"],
            10257, "/healthz"),
        static_pod("kube-scheduler", image.format("kube-scheduler"), [
            "kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf", "--leader-elect=true"], 10259, "/livez"),
    ]


def daemon_tolerations(spec: dict) -> list[dict]:
    """What the DaemonSet controller appends to its pods' tolerations (AddOrUpdateDaemonPodTolerations)."""
    added = [("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
             ("memory-pressure", "NoSchedule"), ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule")]
    if spec.get("hostNetwork"):
        added.append(("network-unavailable", "NoSchedule"))
    return [{"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect} for key, effect in added]


def node_daemon(name: str, image: str, command: list[str], suffixes: list[str],
                tolerations: list[dict] | None = None, controller_tolerations: bool = True) -> list[dict]:
    """A system-node-critical DaemonSet in kube-system and its pod on every node. Its pods carry the
    template's tolerations and, unless told otherwise, those the DaemonSet controller adds."""
    labels = {"k8s-app": name}
    spec = pod_spec([container(name, image, command=command, securityContext={"privileged": True})],
                    "system-node-critical", hostNetwork=True, serviceAccountName=name, serviceAccount=name,
                    nodeSelector={"kubernetes.io/os": "linux"}, tolerations=tolerations or [{"operator": "Exists"}])
    ds = daemonset(name, "kube-system", labels, spec)
    pods = []
    for node_name, suffix in zip(NODES, suffixes):
        pinned = {**spec, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}},
                  "tolerations": spec["tolerations"] + (daemon_tolerations(spec) if controller_tolerations else [])}
        pods.append(pod(f"{name}-{suffix}", "kube-system", pinned, node_name, NODES[node_name], owner_of=ds,
                        generateName=f"{name}-", labels={**labels, "controller-revision-hash": "7b9c5d8f4",
                                                         "pod-template-generation": "1"}))
    return [ds, *pods]


def replicated(name: str, ns: str, labels: dict, spec: dict, pod_hash: str,
               placements: list[tuple[str, str, str]]) -> list[dict]:
    """A Deployment, its ReplicaSet and one running pod per (suffix, node, ip) placement."""
    deploy = deployment(name, ns, labels, spec, replicas=len(placements))
    rs = replicaset(deploy, pod_hash)
    pods = [pod(f"{rs['metadata']['name']}-{suffix}", ns, spec, node_name, ip, owner_of=rs,
                generateName=f"{rs['metadata']['name']}-", labels=rs["spec"]["selector"]["matchLabels"])
            for suffix, node_name, ip in placements]
    return [deploy, rs, *pods]


def coredns() -> list[dict]:
    spec = pod_spec([container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", args=["-conf", "/etc/coredns/Corefile"],
                               ports=[{"containerPort": 53, "name": "dns", "protocol": "UDP"},
                                      {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}],
                               resources={"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}})],
                    "system-cluster-critical", serviceAccountName="coredns", serviceAccount="coredns",
                    dnsPolicy="Default", nodeSelector={"kubernetes.io/os": "linux"},
                    tolerations=[{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                 {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    return replicated("coredns", "kube-system", {"k8s-app": "kube-dns"}, spec, "668d6bf9bc",
                      [("2xqkt", "cp-1", "10.244.0.2"), ("9fhzw", "worker-1", "10.244.1.2")])


def web() -> list[dict]:
    spec = pod_spec([container("web", "docker.io/library/nginx:1.27.3",
                               ports=[{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                               resources={"requests": {"cpu": "50m", "memory": "64Mi"}})])
    return replicated("web", "shop", {"app": "web"}, spec, "5d8c9b7f6c",
                      [("k2v8q", "worker-1", "10.244.1.3"), ("tq4mz", "worker-1", "10.244.1.4")])


def metrics_server() -> list[dict]:
    """metrics-server as its upstream manifest installs it: Deployment, Service, Endpoints, APIService."""
    spec = pod_spec([container("metrics-server", "registry.k8s.io/metrics-server/metrics-server:v0.7.2",
                               args=["--cert-dir=/tmp", "--secure-port=10250", "--metric-resolution=15s",
                                     "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
                                     "--kubelet-use-node-status-port"],
                               ports=[{"containerPort": 10250, "name": "https", "protocol": "TCP"}],
                               resources={"requests": {"cpu": "100m", "memory": "200Mi"}})],
                    "system-cluster-critical", serviceAccountName="metrics-server", serviceAccount="metrics-server",
                    nodeSelector={"kubernetes.io/os": "linux"})
    labels = {"k8s-app": "metrics-server"}
    running = replicated("metrics-server", "kube-system", labels, spec, "7f8c9b6d5c",
                         [("h6n2x", "worker-1", "10.244.1.5")])
    svc = service("metrics-server", "kube-system", "10.96.41.7", labels,
                  [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}], labels)
    api = obj("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io", labels=labels)
    api["spec"] = {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                   "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                   "caBundle": b64(METRICS_CA)}
    api["status"] = {"conditions": [{"type": "Available", "status": "True", "reason": "Passed",
                                     "message": "all checks passed",
                                     "lastTransitionTime": api["metadata"]["creationTimestamp"]}]}
    return [*running, svc, endpoints(svc, running[2:], [{"name": "https", "port": 10250, "protocol": "TCP"}]), api]


# --- services, config, secrets, events ----------------------------------------------------------

def service(name: str, ns: str, cluster_ip: str, selector: dict | None, ports: list[dict],
            labels: dict | None = None) -> dict:
    result = obj("v1", "Service", name, ns, labels=labels or {})
    result["spec"] = {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports,
                      "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                      "internalTrafficPolicy": "Cluster"}
    if selector:
        result["spec"]["selector"] = selector
    result["status"] = {"loadBalancer": {}}
    return result


def endpoints(svc: dict, backends: list[dict] | None, ports: list[dict]) -> dict:
    """The Endpoints of a Service: its ready pods (or, for `kubernetes`, the apiserver address)."""
    result = obj("v1", "Endpoints", svc["metadata"]["name"], svc["metadata"]["namespace"],
                 labels=svc["metadata"]["labels"])
    addresses = [{"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                  "targetRef": {"kind": "Pod", "name": p["metadata"]["name"], "namespace": p["metadata"]["namespace"],
                                "uid": p["metadata"]["uid"]}} for p in backends] if backends else [{"ip": NODES["cp-1"]}]
    result["subsets"] = [{"addresses": addresses, "ports": ports}]
    return result


def configmap(name: str, ns: str, data: dict) -> dict:
    return {**obj("v1", "ConfigMap", name, ns), "data": data}


def secret(name: str, ns: str, kind: str, data: dict, **metadata) -> dict:
    return {**obj("v1", "Secret", name, ns, **metadata), "type": kind, "data": {k: b64(v) for k, v in data.items()}}


def tls_secret() -> dict:
    data = {"tls.crt": WEB_CERT, "tls.key": WEB_KEY_PEM}
    applied = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
               "metadata": {"name": "web-tls", "namespace": "shop"}, "data": {k: b64(v) for k, v in data.items()}}
    # `kubectl apply` keeps the whole object, data included, in this annotation.
    return secret("web-tls", "shop", "kubernetes.io/tls", data, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied, sort_keys=True) + "\n"})


def event(subject: dict, reason: str, message: str, source: dict, field_path: str | None = None, *,
          when: datetime | None = None, kind: str = "Normal", count: int = 1) -> dict:
    """An event about subject, at its creation time or `when`. Events about cluster-scoped objects
    (Nodes) live in the default namespace, as the kubelet writes them."""
    meta = subject["metadata"]
    digest = hashlib.sha256((meta["name"] + reason + (stamp(when) if when else "")).encode()).hexdigest()[:16]
    result = obj("v1", "Event", f"{meta['name']}.{digest}", meta.get("namespace", "default"))
    involved = {"apiVersion": subject["apiVersion"], "kind": subject["kind"], "name": meta["name"],
                **({"namespace": meta["namespace"]} if "namespace" in meta else {}),
                "uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
    if field_path:
        involved["fieldPath"] = field_path
    if when:
        result["metadata"]["creationTimestamp"] = stamp(when)
    created = result["metadata"]["creationTimestamp"]
    result.update(involvedObject=involved, reason=reason, message=message, source=source, type=kind, count=count,
                  firstTimestamp=created, lastTimestamp=created, reportingComponent=source["component"],
                  reportingInstance=source.get("host", ""))
    return result


def events(deploy: dict, rs: dict, first_pod: dict) -> list[dict]:
    kubelet = {"component": "kubelet", "host": first_pod["spec"]["nodeName"]}
    name = first_pod["metadata"]["name"]
    return [
        event(deploy, "ScalingReplicaSet", f"Scaled up replica set {rs['metadata']['name']} from 0 to 2",
              {"component": "deployment-controller"}),
        event(first_pod, "Scheduled", f"Successfully assigned shop/{name} to worker-1", {"component": "default-scheduler"}),
        event(first_pod, "Pulled", 'Container image "docker.io/library/nginx:1.27.3" already present on machine',
              kubelet, "spec.containers{web}"),
        event(first_pod, "Created", "Created container: web", kubelet, "spec.containers{web}"),
        event(first_pod, "Started", "Started container web", kubelet, "spec.containers{web}"),
    ]


# --- cluster-scoped API objects -----------------------------------------------------------------

def priority_class(name: str, description: str) -> dict:
    return {**obj("scheduling.k8s.io/v1", "PriorityClass", name), "value": CRITICAL[name],
            "globalDefault": False, "description": description, "preemptionPolicy": "PreemptLowerPriority"}


def binding(name: str, role: str, subject: dict) -> dict:
    return {**obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name,
                  labels={"kubernetes.io/bootstrapping": "rbac-defaults"}),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [subject]}


APISERVICES = {"": 18000, "apps": 17800, "networking.k8s.io": 17200, "scheduling.k8s.io": 16600}


def local_apiservice(group: str, group_priority: int) -> dict:
    """A built-in API group version; the core group's is named `v1.` and has no group."""
    result = obj("apiregistration.k8s.io/v1", "APIService", f"v1.{group}",
                 labels={"kube-aggregator.kubernetes.io/automanaged": "onstart"})
    result["spec"] = {**({"group": group} if group else {}), "version": "v1",
                      "groupPriorityMinimum": group_priority, "versionPriority": 15 if group else 1}
    result["status"] = {"conditions": [{"type": "Available", "status": "True", "reason": "Local",
                                        "message": "Local APIServices are always available",
                                        "lastTransitionTime": result["metadata"]["creationTimestamp"]}]}
    return result


KUBELET_CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
authorization:
  mode: Webhook
cgroupDriver: systemd
evictionHard:
  imagefs.available: 15%
  memory.available: 100Mi
  nodefs.available: 10%
  nodefs.inodesFree: 5%
rotateCertificates: true
serverTLSBootstrap: true
"""


def source_objects() -> list[dict]:
    """The cluster as a live API server would return it: secrets unredacted."""
    CLOCK.rewind()  # every call yields the same objects
    ca = CA_CERT.decode()
    objects = [node("cp-1", True), node("worker-1", False)]
    objects += [namespace(ns) for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "shop")]
    objects += [configmap("kube-root-ca.crt", ns, {"ca.crt": ca})
                for ns in ("default", "kube-node-lease", "kube-public", "kube-system", "shop")]
    objects += [priority_class("system-node-critical", "Used for system critical pods that must not be moved "
                               "from their current node."),
                priority_class("system-cluster-critical", "Used for system critical pods that must run in the "
                               "cluster, but can be moved to another node if necessary.")]
    objects += [binding("cluster-admin", "cluster-admin", {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                                           "name": "system:masters"}),
                binding("kubeadm:node-proxier", "system:node-proxier",
                        {"kind": "ServiceAccount", "name": "kube-proxy", "namespace": "kube-system"})]
    objects += [local_apiservice(group, priority) for group, priority in APISERVICES.items()]
    objects += control_plane()
    objects += node_daemon("kube-proxy", f"registry.k8s.io/kube-proxy:{KUBERNETES}",
                           ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                            "--hostname-override=$(NODE_NAME)"], ["4tx7m", "kq2zp"])
    objects += node_daemon("kindnet", "docker.io/kindest/kindnetd:v20241212-9f82dd49",
                           ["/bin/kindnetd"], ["8hj2c", "wd5rv"])
    dns = coredns()
    shop = web()
    objects += dns + shop
    objects += [configmap("kubelet-config", "kube-system", {"kubelet": KUBELET_CONFIG}),
                configmap("coredns", "kube-system", {"Corefile": ".:53 {\n    errors\n    health\n    ready\n"
                          "    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n"
                          "    cache 30\n}\n"})]
    dns_ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    kube_dns = service("kube-dns", "kube-system", "10.96.0.10", {"k8s-app": "kube-dns"},
                       [{**p, "targetPort": 53} for p in dns_ports], {"k8s-app": "kube-dns"})
    api = service("kubernetes", "default", "10.96.0.1", None,
                  [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                  {"component": "apiserver", "provider": "kubernetes"})
    shop_svc = service("web", "shop", "10.96.112.40", {"app": "web"},
                       [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}], {"app": "web"})
    objects += [kube_dns, endpoints(kube_dns, dns[2:], dns_ports),
                api, endpoints(api, None, [{"name": "https", "port": 6443, "protocol": "TCP"}]),
                shop_svc, endpoints(shop_svc, shop[2:], [{"name": "http", "port": 80, "protocol": "TCP"}])]
    ingress = obj("networking.k8s.io/v1", "Ingress", "web", "shop", generation=1)
    ingress["spec"] = {"ingressClassName": "nginx", "tls": [{"hosts": ["shop.example.test"], "secretName": "web-tls"}],
                       "rules": [{"host": "shop.example.test", "http": {"paths": [
                           {"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]}
    ingress["status"] = {"loadBalancer": {"ingress": [{"ip": NODES["worker-1"]}]}}
    objects += [ingress, tls_secret(),
                secret("kube-proxy-token", "kube-system", "kubernetes.io/service-account-token",
                       {"ca.crt": ca, "namespace": "kube-system", "token": TOKEN},
                       annotations={"kubernetes.io/service-account.name": "kube-proxy",
                                    "kubernetes.io/service-account.uid": uid("ServiceAccount", "kube-system", "kube-proxy")})]
    objects += events(*shop[:3])
    objects += metrics_server()
    return objects


def endpoint_slice(endpoints: dict) -> dict:
    """The EndpointSlice the control plane keeps beside an Endpoints object (the endpointslice
    controller for a Service with a selector, the mirroring controller for one without): the same
    addresses, ready or not."""
    meta = endpoints["metadata"]
    result = obj("discovery.k8s.io/v1", "EndpointSlice", f"{meta['name']}-{uid('slice', meta['name'])[:5]}",
                 meta["namespace"], labels={**meta.get("labels", {}), "kubernetes.io/service-name": meta["name"],
                                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
    subsets = endpoints.get("subsets") or []
    result["addressType"] = "IPv4"
    result["endpoints"] = [{"addresses": [a["ip"]], "conditions": {"ready": ready, "serving": ready, "terminating": False},
                            **{k: a[k] for k in ("nodeName", "targetRef") if k in a}}
                           for s in subsets for key, ready in (("addresses", True), ("notReadyAddresses", False))
                           for a in s.get(key) or []]
    result["ports"] = [{k: p[k] for k in ("name", "port", "protocol") if k in p} for s in subsets[:1] for p in s["ports"]]
    return result


def write(directory: Path, objects: list[dict], serving: ServingCertificate, description: str) -> Path:
    """The dump of a cluster made of these objects and serving this certificate, taken at DUMPED, with
    an EndpointSlice beside every Endpoints object as a real control plane keeps them."""
    objects = objects + [endpoint_slice(o) for o in objects if o["kind"] == "Endpoints"]
    view = ClusterView.from_objects(objects, description=description, context=CONTEXT, version=SERVER_VERSION,
                                    now=DUMPED, serving_certificate=serving)
    return write_dump(view, directory)


def build(directory: Path = OUTPUT) -> Path:
    return write(directory, source_objects(), apiserver_certificate(), "generated healthy cluster")


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT))
