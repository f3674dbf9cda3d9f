"""kind clusters: detect kind and Docker, create and delete throwaway clusters, find node containers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ..errors import KubeproofError

CLUSTER_CONFIG = Path(__file__).with_name("cluster.yaml")
# Labels kind puts on its node containers (sigs.k8s.io/kind pkg/cluster/internal/providers/docker).
CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
# Clusters kubeproof creates carry this prefix, so a later `--kind-cluster` reuse of a kept
# cluster is still known to be disposable.
NAME_PREFIX = "kubeproof-"


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def available() -> str | None:
    """None when kind and a Docker daemon are usable, else why not (one line)."""
    if shutil.which("kind") is None:
        return "kind is not installed"
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        if _run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=15).returncode != 0:
            return "no Docker daemon answers"
    except subprocess.TimeoutExpired:
        return "the Docker daemon does not answer"
    return None


def context_for(cluster: str) -> str:
    return f"kind-{cluster}"


def cluster_of_context(context: str | None) -> str | None:
    return context[len("kind-"):] if context and context.startswith("kind-") else None


def exists(cluster: str) -> bool:
    result = _run(["kind", "get", "clusters"], timeout=30)
    return cluster in result.stdout.split()


def create(cluster: str, kubeconfig: Path, *, wait: str = "180s") -> None:
    # kind writes progress to stderr; leave it on the terminal so a person sees what happens.
    result = subprocess.run(
        ["kind", "create", "cluster", "--name", cluster, "--config", str(CLUSTER_CONFIG),
         "--kubeconfig", str(kubeconfig), "--wait", wait],
        stdout=subprocess.PIPE, stderr=None, text=True,
    )
    if result.returncode != 0:
        raise KubeproofError(f"kind could not create cluster {cluster} (exit {result.returncode}); see its output above")


def write_kubeconfig(cluster: str, kubeconfig: Path) -> None:
    if not exists(cluster):
        raise KubeproofError(f"no kind cluster named {cluster!r} (kind get clusters lists: "
                             f"{' '.join(_run(['kind', 'get', 'clusters'], 30).stdout.split()) or 'none'})")
    result = _run(["kind", "get", "kubeconfig", "--name", cluster], timeout=30)
    if result.returncode != 0:
        raise KubeproofError(f"kind get kubeconfig --name {cluster}: {result.stderr.strip().splitlines()[-1:]}")
    kubeconfig.write_text(result.stdout)


def delete(cluster: str) -> None:
    _run(["kind", "delete", "cluster", "--name", cluster], timeout=300)


def node_containers(cluster: str) -> dict[str, str]:
    """Node container name -> kind role, from the labels kind sets (the node name is the container name)."""
    if shutil.which("docker") is None:
        return {}
    result = _run(["docker", "ps", "--filter", f"label={CLUSTER_LABEL}={cluster}",
                   "--format", "{{json .}}"], timeout=30)
    containers = {}
    for line in result.stdout.splitlines():
        entry = json.loads(line)
        labels = dict(kv.split("=", 1) for kv in entry.get("Labels", "").split(",") if "=" in kv)
        containers[entry["Names"]] = labels.get(ROLE_LABEL, "")
    return containers
