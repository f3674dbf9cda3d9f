"""kind clusters: detect kind and its container engine, create and delete throwaway clusters, find
node containers.

kind runs its nodes under Docker or, with KIND_EXPERIMENTAL_PROVIDER=podman, under podman; both
engines label the node containers the same way and take the same `exec`, so only the engine's
name changes (kind's pkg/cluster/provider.go picks it the same way).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import KubeproofError
from . import freezer

CLUSTER_CONFIG = Path(__file__).with_name("cluster.yaml")
# Labels kind puts on its node containers (sigs.k8s.io/kind pkg/cluster/internal/providers/docker).
CLUSTER_LABEL = "io.x-k8s.kind.cluster"
ROLE_LABEL = "io.x-k8s.kind.role"
# Clusters kubeproof creates carry this prefix, so a later `--kind-cluster` reuse of a kept
# cluster is still known to be disposable.
NAME_PREFIX = "kubeproof-"
DELETE_WAIT = 60  # seconds a run waits for its kind cluster's deletion on the way out (~10 s when idle)


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


# A node image of the user's own (a mirror for air-gapped machines, a locally built one) in place
# of the one pinned in cluster.yaml.
IMAGE_ENV = "KUBEPROOF_KIND_IMAGE"
ENGINES = ("docker", "podman")


def engine() -> str:
    """The container engine kind will use: KIND_EXPERIMENTAL_PROVIDER if it names one, else Docker."""
    chosen = os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "")
    return chosen if chosen in ENGINES else "docker"


def available() -> str | None:
    """None when kind and its container engine are usable, else why not (one line)."""
    if shutil.which("kind") is None:
        return "kind is not installed"
    return engine_problem()


def engine_problem() -> str | None:
    """None when kind's container engine answers, else why not (one line): kind's nodes are its
    containers, so reaching them needs the engine, not kind."""
    name = engine()
    if shutil.which(name) is None:
        return f"{name} is not installed"
    try:
        if _run([name, "info", "--format", "{{.Host.Arch}}" if name == "podman" else "{{.ServerVersion}}"],
                timeout=15).returncode != 0:
            return f"no {name} engine answers"
    except subprocess.TimeoutExpired:
        return f"the {name} engine does not answer"
    return None


def node_url(container: str) -> str:
    """The testinfra host URL of a kind node container."""
    return f"{engine()}://{container}"


def context_for(cluster: str) -> str:
    return f"kind-{cluster}"


def cluster_of_context(context: str | None) -> str | None:
    return context[len("kind-"):] if context and context.startswith("kind-") else None


# kubeadm inside kind gives up on an API server slow to answer (CI on a loaded machine: "could not
# bootstrap the admin user ... context deadline exceeded"): a second try, from scratch, is cheap.
CREATE_ATTEMPTS = 2


def exists(cluster: str) -> bool:
    result = _run(["kind", "get", "clusters"], timeout=30)
    return cluster in result.stdout.split()


def create(cluster: str, kubeconfig: Path, say: Callable[[str], None], *, wait: str = "180s",
           attempts: int = CREATE_ATTEMPTS) -> None:
    # kind writes progress to stderr; leave it on the terminal so a person sees what happens.
    image = os.environ.get(IMAGE_ENV)
    try:
        for attempt in range(1, attempts + 1):
            result = subprocess.run(
                ["kind", "create", "cluster", "--name", cluster, "--config", str(CLUSTER_CONFIG),
                 "--kubeconfig", str(kubeconfig), "--wait", wait, *(["--image", image] if image else [])],
                stdout=subprocess.PIPE, stderr=None, text=True,
            )
            if result.returncode == 0:
                break
            failed = f"kind could not create cluster {cluster} (exit {result.returncode})"
            if attempt == attempts:
                raise KubeproofError(f"{failed}; see its output above")
            say(f"kubeproof: {failed}; deleting what it made and trying once more")
            delete(cluster, say)
        _own_nodefs(cluster, kubeconfig, say)
    except BaseException:  # a Ctrl-C kills kind half way, or comes before the run owns the cluster
        delete(cluster, say)
        raise


def _own_nodefs(cluster: str, kubeconfig: Path, say: Callable[[str], None]) -> None:
    """Give the cluster's last worker a kubelet filesystem of its own, for the nodefs-pressure scenario."""
    from . import nodefs
    from ..kube import client as kube_client

    workers = sorted(name for name, role in node_containers(cluster).items() if role == "worker")
    if not workers:
        return
    # Whole seconds, as the API stamps a container's start; the move takes longer than that.
    before = datetime.now(timezone.utc).replace(microsecond=0)
    try:
        if nodefs.give_own_filesystem(engine(), workers[-1]):
            say(f"kubeproof: {workers[-1]}: {nodefs.KUBELET_DIR} moved to a {nodefs.SIZE} filesystem of its own "
                "(the nodefs-pressure scenario fills that, never the host's disk)")
            nodefs.wait_pods_back(kube_client.api_client(str(kubeconfig), context_for(cluster)), workers[-1],
                                  before, say)
    except KubeproofError as exc:
        say(f"kubeproof: {exc}; the nodefs-pressure scenario will skip")


def write_kubeconfig(cluster: str, kubeconfig: Path) -> None:
    if not exists(cluster):
        raise KubeproofError(f"no kind cluster named {cluster!r} (kind get clusters lists: "
                             f"{' '.join(_run(['kind', 'get', 'clusters'], 30).stdout.split()) or 'none'})")
    result = _run(["kind", "get", "kubeconfig", "--name", cluster], timeout=30)
    if result.returncode != 0:
        raise KubeproofError(f"kind get kubeconfig --name {cluster}: {result.stderr.strip().splitlines()[-1:]}")
    kubeconfig.write_text(result.stdout)


def delete(cluster: str, say: Callable[[str], None]) -> None:
    """`kind delete cluster`, waited for DELETE_WAIT seconds at most. In a session of its own, so
    neither a second Ctrl-C nor the run's end stops it half way: it goes on after the run exits."""
    say(f"kubeproof: kind cluster {cluster} is being deleted; kind delete cluster --name {cluster} "
        "removes it if this is cut short")
    cgroups = freezer.node_cgroups(engine(), list(node_containers(cluster)))
    deleting = subprocess.Popen(["kind", "delete", "cluster", "--name", cluster], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + DELETE_WAIT
    while deleting.poll() is None and time.monotonic() < deadline:
        freezer.thaw(cgroups)  # what a runc killed with its node left frozen would keep the node forever
        with contextlib.suppress(subprocess.TimeoutExpired):
            deleting.wait(timeout=1)
    if deleting.poll() is None:
        say(f"kubeproof: kind cluster {cluster} still being deleted after {DELETE_WAIT} s "
            f"(process {deleting.pid} goes on)")


def node_containers(cluster: str) -> dict[str, str]:
    """Node container name -> kind role, from the labels kind sets (the node name is the container name)."""
    name = engine()
    if shutil.which(name) is None:
        return {}
    # docker prints one JSON object per line with labels as "k=v,k=v"; podman one JSON array
    # with labels as a mapping and names as a list.
    result = _run([name, "ps", "--filter", f"label={CLUSTER_LABEL}={cluster}",
                   "--format", "json" if name == "podman" else "{{json .}}"], timeout=30)
    entries = (json.loads(result.stdout or "[]") if name == "podman"
               else [json.loads(line) for line in result.stdout.splitlines()])
    containers = {}
    for entry in entries:
        labels = entry.get("Labels") or {}
        if isinstance(labels, str):
            labels = dict(kv.split("=", 1) for kv in labels.split(",") if "=" in kv)
        names = entry["Names"]
        containers[names[0] if isinstance(names, list) else names] = labels.get(ROLE_LABEL, "")
    return containers
