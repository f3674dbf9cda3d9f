"""Reading Kubernetes API objects the way the cluster judges need them: names, times, owners,
conditions, containers, images and command-line flags."""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta

from ...times import parse_time

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"  # set by the kubelet on a static pod's API mirror


def ref(obj: dict) -> str:
    """`namespace/name`, or `name` for a cluster-scoped object."""
    meta = obj.get("metadata") or {}
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta.get("name", "?")


def name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def namespace(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace", "")


def labels(obj: dict) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations(obj: dict) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def conditions(obj: dict) -> list[dict]:
    return (obj.get("status") or {}).get("conditions") or []


def condition(obj: dict, kind: str) -> dict | None:
    return next((c for c in conditions(obj) if c.get("type") == kind), None)


def controller(obj: dict) -> dict | None:
    """The owner reference marked controller (a pod's DaemonSet or ReplicaSet), if any."""
    return next((o for o in (obj.get("metadata") or {}).get("ownerReferences") or [] if o.get("controller")),
                None)


def is_static(pod: dict) -> bool:
    """A static pod seen through its mirror: the kubelet's annotation, or owned by its Node."""
    owner = controller(pod) or {}
    return MIRROR_ANNOTATION in annotations(pod) or owner.get("kind") == "Node"


def workload_of(pod: dict) -> str:
    """What runs the pod, as a person names it: `DaemonSet kube-proxy`, `Deployment coredns`,
    `static pod`, `bare pod`. A ReplicaSet's name is its Deployment's plus the pod-template-hash."""
    if is_static(pod):
        return "static pod"
    owner = controller(pod)
    if owner is None:
        return "bare pod"
    template_hash = labels(pod).get("pod-template-hash")
    if owner["kind"] == "ReplicaSet" and template_hash and owner["name"].endswith("-" + template_hash):
        return f"Deployment {owner['name'][:-len(template_hash) - 1]}"
    return f"{owner['kind']} {owner['name']}"


def containers(spec: dict) -> list[dict]:
    """Init containers, then the app containers, of a pod spec."""
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def container_statuses(pod: dict) -> list[dict]:
    status = pod.get("status") or {}
    return (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])


def restarted_lately(status: dict, now: datetime, window: timedelta, limit: int) -> tuple[dict, bool]:
    """(its last termination, whether the container restarted more than limit times with that last
    termination inside window). restartCount counts a container's whole life: restarts that ended
    long ago are history, not a crash loop (the last termination's time tells, as 004's script reads)."""
    last = (status.get("lastState") or {}).get("terminated") or {}
    ended = parse_time(last.get("finishedAt"))
    return last, status.get("restartCount", 0) > limit and ended is not None and ended >= now - window


@functools.lru_cache(maxsize=4096)  # 150,000 pods run a few dozen images: each parsed once
def image_repository(image: str) -> str:
    """The repository path of an image reference without registry host, tag or digest:
    `registry.k8s.io/coredns/coredns:v1.11.3` -> `coredns/coredns`."""
    path = image.split("@", 1)[0]
    head, _, rest = path.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        path = rest
    last = path.rsplit("/", 1)[-1]
    return path[: len(path) - len(last)] + last.split(":", 1)[0]


def image_tag(image: str) -> str | None:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def repository_is(image: str, *paths: str) -> bool:
    """Whether the image's repository is one of paths, or ends with `/path` (a mirror's prefix)."""
    repository = image_repository(image)
    return any(repository == p or repository.endswith("/" + p) for p in paths)


def flags(container: dict) -> dict[str, str]:
    """`--name=value` and `--name value` flags of a container's command and args; a bare `--name`
    is "true", as Go's flag packages read a boolean. The last occurrence wins, as there."""
    words = (container.get("command") or []) + (container.get("args") or [])
    found: dict[str, str] = {}
    for index, word in enumerate(words):
        if not word.startswith("--"):
            continue
        key, equals, value = word[2:].partition("=")
        if not equals:
            following = words[index + 1] if index + 1 < len(words) else ""
            value = following if following and not following.startswith("-") else "true"
        found[key] = value
    return found


def kubelet_version(node: dict) -> tuple[int, ...] | None:
    """(major, minor, patch) of a Node's status.nodeInfo.kubeletVersion ("v1.32.4+k3s1"), None if absent."""
    text = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or ""
    found = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(n or 0) for n in found.groups()) if found else None
