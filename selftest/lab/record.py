"""Record the lab as selftest data: a kubeproof dump (objects and every node's gather output) and a
real `kubectl cluster-info dump`, so the judges are pinned to what a real v1.32 cluster looks like
on machines without the lab too (selftest/test_lab_recordings.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import cluster, pins
from .progress import say

DATA = Path(__file__).resolve().parents[1] / "data" / "lab"
KUBEPROOF_DUMP = DATA / "kubeproof-dump"
KUBECTL_DUMP = DATA / "kubectl-dump"


def record(name: str = pins.CLUSTER) -> None:
    env = cluster.run_env() | {"KUBECONFIG": str(cluster.kubeconfig(name))}
    context = f"kind-{name}"
    for target in (KUBEPROOF_DUMP, KUBECTL_DUMP):
        shutil.rmtree(target, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "kubeproof", "dump", "--kube-context", context, str(KUBEPROOF_DUMP)],
                   env=env, check=True, cwd=DATA.parents[2])
    subprocess.run(["kubectl", "--context", context, "cluster-info", "dump", "--all-namespaces",
                    f"--output-directory={KUBECTL_DUMP}"], env=env, check=True, stdout=subprocess.DEVNULL)
    # Container logs are the cluster's chatter, not objects: the assertions never read them.
    for log in KUBECTL_DUMP.rglob("logs.txt"):
        log.unlink()
    for directory in sorted(KUBECTL_DUMP.rglob("*"), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    say(f"recorded {context} into {DATA}")
