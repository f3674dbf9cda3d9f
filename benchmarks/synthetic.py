"""Synthetic clusters of any size, in the real API shapes, for the scale benchmark and its selftest.

    objects = synthetic.cluster(5000)      # every object a LIST of its kind would return

Built with the builders of selftest/data/make_healthy_cluster.py (the schema-valid objects the
selftests validate), loaded here as a private copy whose node table is the synthetic one. The
healthy cluster's control plane, CoreDNS, metrics-server and shop stay on its first two nodes
(cp-1 and worker-1); around them, per node:

- three DaemonSet pods (kube-proxy, kindnet, node-exporter): one DaemonSet each, cluster-wide;
- 27 Deployment pods: every 10 nodes get a tenant namespace with 27 Deployments of one replica per
  node of the group, each with its current ReplicaSet and an old one scaled to 0 (the revision
  history), a Service and its Endpoints, a ConfigMap, two events; one TLS Secret and the
  kube-root-ca.crt ConfigMap per namespace.

So 5,000 nodes hold 150,000 pods, the supported limits. What makes real objects heavy is there
too: managedFields on every object (derived from the object, as server-side apply records it),
the last-applied-configuration annotation on what `kubectl apply` made, Node status.images, the
projected service-account token volume, env, probes and the default tolerations on every pod.
Everything is deterministic: the same size gives the same objects.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Iterator

HEALTHY = Path(__file__).resolve().parent.parent / "selftest" / "data" / "make_healthy_cluster.py"
DAEMONS = (
    ("kube-proxy", "registry.k8s.io/kube-proxy:v1.32.2",
     ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"]),
    ("kindnet", "docker.io/kindest/kindnetd:v20241212-9f82dd49", ["/bin/kindnetd"]),
    ("node-exporter", "quay.io/prometheus/node-exporter:v1.8.2", ["/bin/node_exporter", "--path.rootfs=/host"]),
)
# A healthy cluster's hostNetwork agents that are not node networking resolve with the cluster's
# DNS (hostnetwork-dns-policy).
DNS_POLICY = {"node-exporter": "ClusterFirstWithHostNet"}


def _dns_policy(daemon: str, obj: dict) -> dict:
    spec = obj["spec"]["template"]["spec"] if obj["kind"] == "DaemonSet" else obj["spec"]
    if daemon in DNS_POLICY:
        spec["dnsPolicy"] = DNS_POLICY[daemon]
    return obj
GROUP = 10  # nodes per tenant namespace
APPS_PER_GROUP = 27  # Deployments per tenant namespace, one replica per node of the group
NODE_IMAGES = 40  # images a node's status lists
# How a list's items are keyed in managedFields (k:{...}), by the first of these fields they have.
_LIST_KEYS = ("name", "type", "ip", "key", "containerPort", "port", "mountPath")


def builders(node_names: list[str]) -> ModuleType:
    """make_healthy_cluster.py as a private module whose node table holds these nodes."""
    spec = importlib.util.spec_from_file_location("synthetic_healthy_cluster", HEALTHY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.NODES = {name: _ip(10, index) for index, name in enumerate(node_names)}
    # A /24 of 10.224.0.0/11 per node: room for 8,192 nodes.
    module.POD_CIDR = {name: _prefix(224, index) for index, name in enumerate(node_names)}
    return module


def node_names(count: int) -> list[str]:
    """cp-1 and worker-1, as the healthy cluster's system pods expect them, then node-00002..."""
    return ["cp-1", "worker-1", *(f"node-{i:05d}" for i in range(2, count))][:count]


def _prefix(second: int, index: int) -> str:
    """The first three octets of a /24 per index: 10.244.0, 10.244.1, ... 10.245.0, ..."""
    return f"10.{second + index // 256}.{index % 256}"


def _ip(second: int, index: int, host: int = 10) -> str:
    return f"{_prefix(second, index)}.{host}"


def _suffix(*parts: object) -> str:
    """A pod name's random-looking suffix, as the ReplicaSet and DaemonSet controllers make them."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return "".join("bcdfghjklmnpqrstvwxz2456789"[b % 27] for b in digest[:5])


def _indexed(name: str, index: int) -> str:
    """A DaemonSet pod's suffix, unique per node: 5,000 hashed suffixes of one DaemonSet collide
    (two pods of one name, which an API server refuses)."""
    digits = ""
    for _ in range(3):  # 27**3 = 19,683 nodes
        index, digit = divmod(index, 27)
        digits += "bcdfghjklmnpqrstvwxz2456789"[digit]
    return _suffix(name)[:2] + digits


def _fields(value) -> dict:
    """The fieldsV1 set of a value, as the API server records what a manager set."""
    if isinstance(value, dict):
        return {f"f:{key}": _fields(item) for key, item in value.items()}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        keyed = {}
        for item in value:
            key = next((k for k in _LIST_KEYS if k in item), next(iter(item), ""))
            keyed["k:" + json.dumps({key: item.get(key)}, separators=(",", ":"))] = {".": {}, **_fields(item)}
        return keyed
    return {}


def _managed(obj: dict, manager: str, status_manager: str | None) -> None:
    """managedFields: the manager that wrote the object, and the one updating its status."""
    meta = obj["metadata"]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    body["metadata"] = {k: v for k, v in meta.items() if k in ("labels", "annotations", "ownerReferences",
                                                               "generateName", "finalizers")}
    entries = [{"manager": manager, "operation": "Update", "apiVersion": obj["apiVersion"],
                "time": meta["creationTimestamp"], "fieldsType": "FieldsV1", "fieldsV1": _fields(body)}]
    if status_manager and obj.get("status"):
        entries.append({"manager": status_manager, "operation": "Update", "apiVersion": obj["apiVersion"],
                        "time": meta["creationTimestamp"], "fieldsType": "FieldsV1",
                        "fieldsV1": _fields({"status": obj["status"]}), "subresource": "status"})
    meta["managedFields"] = entries


def _applied(obj: dict) -> None:
    """What `kubectl apply` leaves: the whole applied object in an annotation."""
    applied = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
               "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "labels") if k in obj["metadata"]},
               **{k: v for k, v in obj.items() if k in ("spec", "data")}}
    annotations = obj["metadata"].setdefault("annotations", {})
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(applied, sort_keys=True) + "\n"


# Who writes each kind, and who its status: what its managedFields name.
MANAGERS = {"Node": ("kubeadm", "kubelet"), "Pod": ("kube-controller-manager", "kubelet"),
            "Namespace": ("kube-apiserver", None), "Event": ("kubelet", None), "Secret": ("kubectl", None),
            "Endpoints": ("kube-controller-manager", None), "ConfigMap": ("kubectl-client-side-apply", None)}
DEFAULT_MANAGERS = ("kubectl-client-side-apply", "kube-controller-manager")
APPLIED = ("Deployment", "DaemonSet", "Service", "ConfigMap")


def _finish(obj: dict) -> dict:
    """The object as a live cluster serves it: what kubectl applied, who set which field."""
    if obj["kind"] in APPLIED and obj["metadata"]["name"] != "kube-root-ca.crt":
        _applied(obj)
    _managed(obj, *MANAGERS.get(obj["kind"], DEFAULT_MANAGERS))
    return obj


def _node(h: ModuleType, name: str, index: int) -> dict:
    result = h.node(name, control_plane=index == 0)
    repositories = [f"registry.example.test/team-{i % 9}/service-{i}" for i in range(NODE_IMAGES)]
    result["status"]["images"] = [
        {"names": [f"{repository}@sha256:{hashlib.sha256(repository.encode()).hexdigest()}",
                   f"{repository}:v1.{i}.0"], "sizeBytes": 10_000_000 + 7919 * i}
        for i, repository in enumerate(repositories)]
    return result


def _tolerations() -> list[dict]:
    """The DefaultTolerationSeconds admission plugin's tolerations, on every pod."""
    return [{"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300} for key in ("not-ready", "unreachable")]


def _app_spec(h: ModuleType, app: str) -> dict:
    """A tenant's pod spec as admitted: token volume, env, probes, resources, default tolerations."""
    token = f"kube-api-access-{_suffix(app, 'token')}"
    probe = {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10,
             "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    container = h.container(app, f"registry.example.test/tenant/{app}:v2.4.1",
                            args=["--listen=:8080", "--log-format=json"],
                            env=[{"name": "APP_NAME", "value": app}, {"name": "LOG_LEVEL", "value": "info"},
                                 {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                               "fieldPath": "status.podIP"}}}],
                            ports=[{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                            resources={"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                            livenessProbe=probe, readinessProbe=probe,
                            volumeMounts=[{"name": token, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                           "readOnly": True}])
    volume = {"name": token, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "metadata.namespace"}}]}}]}}
    return h.pod_spec([container], serviceAccountName="default", serviceAccount="default",
                      tolerations=_tolerations(), volumes=[volume], preemptionPolicy="PreemptLowerPriority")


def _tenant(h: ModuleType, group: int, nodes: list[tuple[int, str]]) -> Iterator[dict]:
    """A namespace and its apps, one replica of each on every (index, name) node of the group."""
    ns = f"tenant-{group:04d}"
    yield h.namespace(ns)
    yield h.configmap("kube-root-ca.crt", ns, {"ca.crt": h.CA_CERT.decode()})
    yield h.secret(f"{ns}-tls", ns, "kubernetes.io/tls", {"tls.crt": h.WEB_CERT, "tls.key": h.WEB_KEY_PEM})
    for number in range(APPS_PER_GROUP):
        app = f"app-{number:02d}"
        labels = {"app": app}
        placements = [(_suffix(ns, app, name), name, _ip(128, index, 100 + number)) for index, name in nodes]
        deploy, current, *pods = h.replicated(app, ns, labels, _app_spec(h, app), _suffix(ns, app)[:5] + "7f9c",
                                              placements)
        old = h.replicaset(deploy, _suffix(ns, app, "old") + "6d8b")
        old["spec"]["replicas"] = 0
        old["status"] = {"replicas": 0, "observedGeneration": 1}
        svc = h.service(app, ns, f"10.96.{group % 256}.{number + 10}", labels,
                        [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}], labels)
        yield from (deploy, current, old, *pods, svc)
        yield h.endpoints(svc, pods, [{"name": "http", "port": 8080, "protocol": "TCP"}])
        yield h.configmap(f"{app}-config", ns, {"config.yaml": f"app: {app}\nlisten: :8080\nfeatures:\n"
                                                              + "".join(f"  flag-{i}: true\n" for i in range(20))})
        yield h.event(deploy, "ScalingReplicaSet",
                      f"Scaled up replica set {current['metadata']['name']} to {len(pods)}",
                      {"component": "deployment-controller"})
        yield h.event(pods[0], "Pulled", f'Container image "{pods[0]["spec"]["containers"][0]["image"]}" already '
                      "present on machine", {"component": "kubelet", "host": pods[0]["spec"]["nodeName"]},
                      f"spec.containers{{{app}}}")


def _system(h: ModuleType) -> Iterator[dict]:
    """The healthy cluster's own objects but its Nodes and DaemonSets, which are per node here."""
    for obj in h.source_objects():
        owners = [o["kind"] for o in obj["metadata"].get("ownerReferences") or []]
        if obj["kind"] not in ("Node", "DaemonSet") and "DaemonSet" not in owners:
            yield obj


def _with_slices(h: ModuleType, objects: Iterator[dict]) -> Iterator[dict]:
    """The objects, each Endpoints followed by the EndpointSlice a control plane keeps beside it."""
    for obj in objects:
        yield obj
        if obj["kind"] == "Endpoints":
            yield h.endpoint_slice(obj)


def cluster(count: int) -> Iterator[dict]:
    """The objects of a synthetic cluster of `count` nodes (at least 2), kind by kind as generated."""
    if count < 2:
        raise ValueError("a synthetic cluster has at least 2 nodes (cp-1 and worker-1)")
    names = node_names(count)
    h = builders(names)
    yield from map(_finish, _with_slices(h, _system(h)))
    for index, name in enumerate(names):
        yield _finish(_node(h, name, index))
    for daemon, image, command in DAEMONS:
        yield from (_finish(_dns_policy(daemon, obj))
                    for obj in h.node_daemon(daemon, image, command, [_indexed(daemon, i) for i in range(count)]))
    for group in range(0, count, GROUP):
        members = list(enumerate(names))[group:group + GROUP]
        yield from map(_finish, _with_slices(h, _tenant(h, group // GROUP, members)))
