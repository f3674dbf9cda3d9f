"""Record the lab as selftest data: a kubeproof dump (objects and every node's gather output) and a
real `kubectl cluster-info dump` per Kubernetes release, so the judges are pinned to what real
clusters of each release look like on machines without the lab too (selftest/plugin/test_lab_recordings.py).
Releases recorded earlier (v1.32.4) stay as regression data.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import cluster, pins
from .progress import say

DATA = Path(__file__).resolve().parents[1] / "data" / "lab"


def kubeproof_dump(version: str) -> Path:
    return DATA / version / "kubeproof-dump"


def kubectl_dump(version: str) -> Path:
    return DATA / version / "kubectl-dump"


def recorded() -> list[str]:
    """The releases recorded, oldest first."""
    return sorted((p.name for p in DATA.iterdir() if (p / "kubeproof-dump").is_dir()),
                  key=lambda v: tuple(map(int, v.lstrip("v").split("."))))


def record(release: pins.Release, name: str) -> None:
    env = cluster.run_env(release) | {"KUBECONFIG": str(cluster.kubeconfig(name))}
    context = f"kind-{name}"
    kubeproof, kubectl = kubeproof_dump(release.kubernetes), kubectl_dump(release.kubernetes)
    for target in (kubeproof, kubectl):
        shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "kubeproof", "dump", "--kube-context", context, str(kubeproof)],
                   env=env, check=True, cwd=DATA.parents[2])
    subprocess.run(["kubectl", "--context", context, "cluster-info", "dump", "--all-namespaces",
                    f"--output-directory={kubectl}"], env=env, check=True, stdout=subprocess.DEVNULL)
    # Container logs are the cluster's chatter, not objects: the assertions never read them.
    for log in kubectl.rglob("logs.txt"):
        log.unlink()
    for directory in sorted(kubectl.rglob("*"), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    say(f"recorded {context} into {DATA / release.kubernetes}")
