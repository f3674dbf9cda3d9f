"""What the cluster view keeps of each object it reads: the fields the assertions read, and no more.

A 5,000-node cluster holds 150,000 pods; read whole, with the managedFields the API server adds to
every object, they take over 5 GiB of Python objects per process. Every object read from a
cluster (each LIST page as it arrives, before the session cache stores it) or from a dump is
trimmed here, so the view, the cache and the dumps `python -m kubeproof dump` writes hold only:

- for every kind, its `metadata` but `managedFields` (which manager set which field: no assertion
  asks) and the `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the
  object as last applied);
- for the kinds whose number grows with the cluster's nodes and pods, only the fields listed in
  READ below: what kubeproof/judge, tests_cluster, the inventory (inventory.py) and the
  scenarios' node choice (kubeproof/scenario/) read of them, plus what the v1.32 schema requires of a
  field that is kept (a ContainerStatus's imageID and ready, a Deployment's selector) so a dump
  stays valid Kubernetes objects. The rest goes: Node `status.images` and capacity, a pod's
  volumes, env and conditions, a ReplicaSet's template, an Endpoints address's target...;
- every other kind whole: there are a few dozen of them whatever the cluster's size, and their
  spec is what a reader of a dump looks for.

An assertion that reads a field of a trimmed kind not listed here sees it absent: add the field to
READ with the assertion. selftest/plugin/test_scale.py proves that every assertion's verdict and evidence
are the same on the trimmed and the whole objects of every test cluster.
"""

from __future__ import annotations

from typing import Any

from .kinds import Kind
from .redaction import LAST_APPLIED_ANNOTATION

ALL = True  # keep the field's whole value
Spec = dict[str, "Spec | bool"]  # keep these keys, each by its own spec; applied to each item of a list

# A container of a pod or of a workload's pod template: its image identifies the component and the
# Dashboard release, its command and args carry the flags judged, its restarting probes are judged
# against the apiserver's authentication, its requests are counted against allocatable, its ports
# tell an ingress controller on the node's network, its restartPolicy makes an init container a sidecar
# the kubelet restarts.
CONTAINER: Spec = {"name": ALL, "image": ALL, "command": ALL, "args": ALL, "livenessProbe": ALL,
                   "startupProbe": ALL, "resources": ALL, "ports": ALL, "restartPolicy": ALL}
# A pod's spec or a pod template's: where it runs or may run (node, selector, affinity, taints it
# tolerates), its priority, its service account, its containers and whether the kubelet restarts them.
POD_SPEC: Spec = {"nodeName": ALL, "restartPolicy": ALL, "nodeSelector": ALL, "affinity": ALL, "tolerations": ALL,
                  "priorityClassName": ALL, "priority": ALL, "serviceAccountName": ALL, "serviceAccount": ALL,
                  "containers": CONTAINER, "initContainers": CONTAINER, "hostNetwork": ALL, "dnsPolicy": ALL,
                  "overhead": ALL}
CONTAINER_STATUS: Spec = {"name": ALL, "image": ALL, "imageID": ALL, "ready": ALL, "restartCount": ALL,
                          "state": ALL, "lastState": ALL}
POD_TEMPLATE: Spec = {"metadata": ALL, "spec": POD_SPEC}
ADDRESS: Spec = {"ip": ALL}  # Endpoints are judged by their number of (not) ready addresses

READ: dict[str, Spec] = {
    "pods": {"spec": POD_SPEC,
             "status": {"phase": ALL, "reason": ALL, "message": ALL, "containerStatuses": CONTAINER_STATUS,
                        "initContainerStatuses": CONTAINER_STATUS}},
    "nodes": {"spec": {"taints": ALL, "unschedulable": ALL},
              "status": {"conditions": ALL, "addresses": ALL, "nodeInfo": ALL, "allocatable": ALL}},
    "endpoints": {"subsets": {"addresses": ADDRESS, "notReadyAddresses": ADDRESS}},
    "deployments.apps": {"spec": {"replicas": ALL, "paused": ALL, "strategy": ALL, "selector": ALL,
                                  "template": POD_TEMPLATE}},
    "replicasets.apps": {"spec": {"replicas": ALL, "selector": ALL}},  # read by no assertion
}


def trimmed_metadata(metadata: dict) -> dict:
    kept = {key: value for key, value in metadata.items() if key != "managedFields"}
    annotations = metadata.get("annotations")
    if annotations and LAST_APPLIED_ANNOTATION in annotations:
        kept["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED_ANNOTATION}
        if not kept["annotations"]:
            del kept["annotations"]
    return kept


def _project(value: Any, spec: Spec | bool) -> Any:
    if spec is ALL:
        return value
    if isinstance(value, list):
        return [_project(item, spec) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: _project(value[key], sub) for key, sub in spec.items() if key in value}


def trim(kind: Kind, item: dict) -> dict:
    """The item as the view keeps it, with its apiVersion and kind (a LIST's items carry neither)."""
    read = READ.get(kind.name)
    kept = {"apiVersion": kind.api_version, "kind": kind.kind}
    for key, value in item.items():
        if key == "metadata":
            kept[key] = trimmed_metadata(value)
        elif read is None:
            kept.setdefault(key, value)
        elif key in read:
            kept[key] = _project(value, read[key])
    return kept
