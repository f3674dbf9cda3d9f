"""Has it already happened here? proven on a real cluster (issue 15): a symptom planted for real on
one node is found on that node, in its kubelet's journal and in the Events, and on no other.

The symptom is the kubelet's own: a pod pinned to one worker whose image cannot be pulled gives
real ErrImagePull / ImagePullBackOff lines and Events (workload-crashes). Needs
KUBEPROOF_SELFTEST_CONTEXT (selftest/run starts the lab), as test_live_cluster.py.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from selftest.support.audits import audit
from selftest.support.lab_cluster import CONTEXT, MANAGED, kubectl, needs_context, nodes

pytestmark = [pytest.mark.live_cluster, needs_context]
PULL_TIMEOUT = 180  # seconds for the kubelet to try the pull and record it


def _pod(namespace: str, node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "never-pulled", "namespace": namespace, "labels": {MANAGED.split("=")[0]: "kubeproof"}},
            # The image names the run: the kubelet's lines are long and its pod= field may be cut
            # from the evidence, the image comes early.
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": f"kubeproof.invalid/{namespace}:never",
                                                       "imagePullPolicy": "Always"}]}}


def _pull_failed(namespace: str) -> bool:
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return any("ErrImagePull" in (e.get("message") or "") for e in events)


def test_an_unpullable_image_is_found_on_its_node_only(tmp_path: Path) -> None:
    workers = [n for n in nodes() if "control-plane" not in n]
    assert len(workers) >= 2, f"needs two workers to tell them apart, has {workers}"
    target = workers[0]
    namespace = f"kubeproof-history-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    try:
        kubectl("label", "namespace", namespace, MANAGED)
        kubectl("apply", "-f", "-", input=json.dumps(_pod(namespace, target)))
        deadline = time.monotonic() + PULL_TIMEOUT
        while not _pull_failed(namespace):
            assert time.monotonic() < deadline, f"no ErrImagePull event in {namespace} after {PULL_TIMEOUT} s"
            time.sleep(3)
        proc, doc = audit(tmp_path, f"--kube-context={CONTEXT}", "tests_node/test_log_history.py",
                          "tests_cluster/test_event_history.py", "-k", "workload_crashes")
        assert doc, proc.stdout[-3000:] + proc.stderr[-2000:]
        crashes = next(f for f in doc["failures"] if f["id"] == "workload-crashes")
        # Every finding naming the planted pod is on the target node: its kubelet's and its Events.
        planted = {(o["where"], o["in"]) for r in crashes["results"] for o in r["evidence"].get("offenders") or []
                   if any(f"kubeproof.invalid/{namespace}" in line for line in o["lines"])}
        assert planted == {(f"node {target}", "kubelet"), (f"node {target}", "events")}, planted
        by_node = {r["node"]: r["outcome"] for r in crashes["results"] if r["node"]}
        assert by_node[target] == "failed", by_node
        assert set(by_node) == set(nodes()) and "skipped" not in by_node.values(), by_node  # every node looked
        assert crashes["happened"]["sightings"] >= 2
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)

