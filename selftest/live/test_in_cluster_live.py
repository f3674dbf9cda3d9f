"""kubeproof's CronJob on the lab cluster, as a user deploys it: the image `kubeproof image` builds from
the wheel, loaded into the nodes with no registry (`kind load image-archive`), the objects `kubeproof
manifests` prints, and Jobs created from the CronJob. Each Job audits the cluster it runs in through its
service account; its exit status is the --fail-on gate; it leaves nothing behind but its own objects.

The lab's additions to what a user applies: the lab's busybox as the probe image, and its open-files
profile (selftest/lab/findings.py) from a ConfigMap, as a user would give --profile or --waivers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from selftest.lab import findings, images, pins
from selftest.support.paths import REPO

CONTEXT = os.environ.get("KUBEPROOF_SELFTEST_CONTEXT", "")
CLUSTER = CONTEXT.removeprefix("kind-")
NAMESPACE = "kubeproof"  # kubeproof/deploy/cronjob.yaml's
NODES = {f"{CLUSTER}-control-plane", f"{CLUSTER}-worker", f"{CLUSTER}-worker2"}

pytestmark = [
    pytest.mark.live_cluster,
    pytest.mark.network,  # pip builds the wheel and installs its dependencies into the image from PyPI
    pytest.mark.skipif(not CONTEXT, reason="needs the lab cluster: KUBEPROOF_SELFTEST_CONTEXT (selftest/run sets it)"),
]


def run(*args: str | Path, stdin: str | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}: {done.stderr or done.stdout}"
    return done.stdout


def kubectl(*args: str, stdin: str | None = None) -> str:
    return run("kubectl", "--context", CONTEXT, *args, stdin=stdin)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> str:
    """kubeproof's image from this checkout's wheel, in every node's containerd; removed at the end.
    The archive is cached by wheel and base (hatchling's wheels are reproducible)."""
    wheels = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO)
    [wheel] = wheels.glob("kubeproof-*.whl")
    base = images.rootfs("kubeproof")
    key = hashlib.sha256(wheel.read_bytes() + str(base).encode()).hexdigest()[:12]
    ref = f"localhost/kubeproof:selftest-{key}"
    archive = pins.CACHE / "kubeproof-image" / f"{key}.tar"
    if not archive.exists():
        archive.parent.mkdir(exist_ok=True)
        for stale in archive.parent.glob("*.tar"):  # ~400 MB each: keep the current wheel's only
            stale.unlink()
        run(sys.executable, "-m", "kubeproof", "image", f"--wheel={wheel}", f"--base={base}",
            f"--kubectl={shutil.which('kubectl')}",  # the lab's, on PATH
            f"--tag={ref}", f"--output={archive}")
    run("kind", "load", "image-archive", archive, "--name", CLUSTER)
    yield ref
    for node in run("kind", "get", "nodes", "--name", CLUSTER).split():
        run("podman", "exec", node, "ctr", "--namespace=k8s.io", "images", "rm", ref)


def manifests(image: str, fail_on: str) -> str:
    """What `kubeproof manifests` prints for the lab, with the lab's profile mounted from a ConfigMap."""
    docs = list(yaml.safe_load_all(run(sys.executable, "-m", "kubeproof", "manifests", f"--image={image}",
                                       f"--probe-image={os.environ['KUBEPROOF_PROBE_IMAGE']}",
                                       f"--fail-on={fail_on}")))
    [cronjob] = [d for d in docs if d["kind"] == "CronJob"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "settings", "configMap": {"name": "kubeproof-settings"}})
    [container] = pod["containers"]
    container["volumeMounts"].append({"name": "settings", "mountPath": "/etc/kubeproof"})
    container["args"].append("--profile=/etc/kubeproof/profile.yaml")
    settings = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kubeproof-settings", "namespace": NAMESPACE},
                "data": {"profile.yaml": findings.LAB_PROFILE}}
    return yaml.safe_dump_all([*docs, settings])


def run_job(name: str, timeout: float = 900) -> tuple[int, str, float]:
    """Create a Job from the CronJob and wait for it: its container's exit status, its log, seconds."""
    started = time.monotonic()
    kubectl("-n", NAMESPACE, "create", "job", name, "--from=cronjob/kubeproof-audit")
    while time.monotonic() - started < timeout:
        status = json.loads(kubectl("-n", NAMESPACE, "get", "job", name, "-o", "json"))["status"]
        if status.get("succeeded") or status.get("failed"):
            break
        time.sleep(5)
    else:
        pytest.fail(f"job {name} did not finish in {timeout:.0f} s")
    [pod] = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-l", f"job-name={name}", "-o", "json"))["items"]
    code = pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]
    return code, kubectl("-n", NAMESPACE, "logs", f"job/{name}"), time.monotonic() - started


def audit_json(log: str) -> dict:
    """The audit.json the Job printed after its summary (indented: its opening brace is a line)."""
    return json.loads(log[log.index("\n{\n"):])


def pods_outside_kubeproof() -> set[str]:
    listed = json.loads(kubectl("get", "pods", "-A", "-o", "json"))["items"]
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in listed
            if p["metadata"]["namespace"] != NAMESPACE}


def names(kind: str) -> set[str]:
    return set(kubectl("get", kind, "-o", "name").split())


def settled(kind: str, expected: set[str], timeout: float = 180) -> set[str]:
    """The names of kind once they are the expected ones, else as they are after timeout: a probe
    namespace the Job deleted on its way out may still be terminating (minutes on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while (found := names(kind)) != expected and time.monotonic() < deadline:
        time.sleep(2)
    return found


def owned(stream: str, existing: set[str]) -> str:
    """The objects of stream that were not on the cluster before (the lab's other selftests apply the
    same ClusterRoles and keep them)."""
    docs = [d for d in yaml.safe_load_all(stream)
            if f"{d['kind'].lower()}.rbac.authorization.k8s.io/{d['metadata']['name']}" not in existing]
    return yaml.safe_dump_all(docs)


def test_cronjob_audits_the_cluster_it_runs_in_and_gates_on_fail_on(image: str):
    namespaces_before, pods_before = names("namespaces"), pods_outside_kubeproof()
    rbac_before = names("clusterroles") | names("clusterrolebindings")
    # The lab fails critical-severity tests by design (findings.py): blocker passes, critical fails.
    passing = manifests(image, fail_on="blocker")
    try:
        kubectl("apply", "-f", "-", stdin=passing)
        code, log, seconds = run_job("kubeproof-gate-blocker")
        print(f"Job with --fail-on=blocker: exit {code} in {seconds:.0f} s")
        document = audit_json(log)
        assert code == 0, log[-3000:]
        assert "gate: passed" in log
        assert document["target"]["name"] == "in-cluster" and document["target"]["mode"] == "context"
        assert document["gate"] == {"fail_on": "blocker", "exit_status": 0, "failing": []}
        results = [r for f in document["failures"] for r in f["results"]]
        assert not [r["test"] for r in results if "insufficient permission" in (r["message"] or "")]
        judged_nodes = {r["node"] for r in results if r["suite"] == "node" and r["outcome"] in ("passed", "failed")}
        assert judged_nodes == NODES  # every node's facts, through probe pods
        assert {r["message"] for r in results if r["suite"] == "scenario"} == {
            "disruptive scenario: never run on the cluster this pod runs in"}
        failing = {f["id"] for f in document["failures"] for r in f["results"] if r["outcome"] == "failed"}
        assert "nodefs-pressure" in failing and "critical-pod-eviction" in failing  # passed by the gate alone

        kubectl("apply", "-f", "-", stdin=manifests(image, fail_on="critical"))
        code, log, seconds = run_job("kubeproof-gate-critical")
        print(f"Job with --fail-on=critical: exit {code} in {seconds:.0f} s")
        assert code == 1, log[-3000:]
        gate = audit_json(log)["gate"]
        assert gate["fail_on"] == "critical" and gate["exit_status"] == 1
        assert {"nodefs-pressure", "critical-pod-eviction"} <= set(gate["failing"])
        assert json.loads(kubectl("-n", NAMESPACE, "get", "job", "kubeproof-gate-critical", "-o", "json")
                          )["status"].get("failed") == 1  # what cluster alerting sees

        # Nothing left but the CronJob's own objects: no probe namespace, no pod elsewhere.
        expected = namespaces_before | {f"namespace/{NAMESPACE}"}
        assert settled("namespaces", expected) == expected
        assert pods_outside_kubeproof() == pods_before
    finally:
        kubectl("delete", "--wait", "--ignore-not-found", "-f", "-", stdin=owned(passing, rbac_before))
    assert names("namespaces") == namespaces_before
    assert names("clusterroles") | names("clusterrolebindings") == rbac_before
