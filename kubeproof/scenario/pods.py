"""Pod and workload builders for scenarios, small as upstream's e2e_node eviction pod builders:

    pod(HOG, scenario.id, container(image, "sh", "-c", FILL, resources=...), node=name, volumes=[...])

Every object is labelled with its scenario (deleting its namespace removes it, and cleanup finds what a
killed run left), its pods carry app=<name> (their workload selects them) and go at once when deleted.
"""

from __future__ import annotations

from typing import Any

from ..faults.cluster import labels

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # when no node lists one (kubeadm 1.32's sandbox image)


def pause_image(nodes: list[dict]) -> str:
    """The pause image the nodes already hold (every node has its sandbox image), so pods that only
    need to run start without a pull; kind's nodes cannot pull on offline machines."""
    for node in nodes:
        for image in (node.get("status") or {}).get("images") or []:
            for tag in image.get("names") or []:
                if "/pause:" in tag:
                    return tag
    return PAUSE_IMAGE


def container(image: str, *command: str, **fields: Any) -> dict:
    """Container "main" running command (the image's own without one), on an image the node may
    already hold; fields add to or override it (name, resources, imagePullPolicy...)."""
    return {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
            **({"command": list(command)} if command else {}), **fields}


def _template(name: str, scenario: str, containers: tuple[dict, ...], spec: dict) -> dict:
    return {"metadata": {"labels": {**labels(scenario), "app": name}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": list(containers), **spec}}


def pod(name: str, scenario: str, *containers: dict, node: str | None = None, restart: str = "Never",
        **spec: Any) -> dict:
    """A pod of these containers; node pins it with nodeName (bypassing the scheduler)."""
    template = _template(name, scenario, containers,
                         {"restartPolicy": restart, **({"nodeName": node} if node else {}), **spec})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **template["metadata"]},
            "spec": template["spec"]}


def _workload(kind: str, name: str, scenario: str, containers: tuple[dict, ...], template: dict,
              **spec: Any) -> dict:
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": labels(scenario)},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": _template(name, scenario, containers, template), **spec}}


def daemonset(name: str, scenario: str, *containers: dict, **template: Any) -> dict:
    """A DaemonSet running these containers on every node; template adds to its pods' spec."""
    return _workload("DaemonSet", name, scenario, containers, template)


def deployment(name: str, scenario: str, *containers: dict, rolling_update: dict, progress_deadline: int,
               **template: Any) -> dict:
    """One replica of these containers, rolled out by rolling_update (maxSurge, maxUnavailable) and
    reported stalled after progress_deadline seconds; template adds to its pods' spec."""
    return _workload("Deployment", name, scenario, containers, template, replicas=1,
                     progressDeadlineSeconds=progress_deadline,
                     strategy={"type": "RollingUpdate", "rollingUpdate": rolling_update})
