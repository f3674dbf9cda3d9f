"""Static pod manifests under /etc/kubernetes/manifests: find a control-plane component, read its flags."""

from __future__ import annotations

import posixpath

from ..nodes.facts import NodeFacts
from ..nodes.gather import parse_flags

SECTIONS = ("static-pods",)


def find(facts: NodeFacts, component: str) -> tuple[str, dict] | None:
    """(manifest path, the component's container) for the static pod running component, or None.

    Matched by the container's command (kubeadm: ["kube-apiserver", "--flag", ...]) or name, so a
    renamed manifest file is still found.
    """
    for path, pod in sorted(facts.static_pods.items()):
        spec = pod.get("spec") if isinstance(pod, dict) else None
        for container in (spec or {}).get("containers") or []:
            command = container.get("command") or []
            program = posixpath.basename(str(command[0])) if command else None
            if component in (program, container.get("name")):
                return path, container
    return None


def flags(container: dict) -> dict[str, list[str]]:
    """The container's flags from its command (after the program) and args."""
    command = [str(word) for word in container.get("command") or []]
    args = [str(word) for word in container.get("args") or []]
    return parse_flags(command[1:] + args)


def flag(container: dict, name: str) -> str | None:
    values = flags(container).get(name)
    return values[-1] if values else None
