"""The kubelet's own view as the oracle: on every lab release, every kubelet's /configz (read through
the API server's node proxy) against the configuration kubeproof's judges compute from the files,
drop-ins and flags gathered on that node. Every disagreement is a judging bug.

The lab's workers make the drop-in cases real (selftest/lab/cluster.py): one takes its eviction
settings from a drop-in beside kubeadm's --config, one runs on drop-ins alone; every >= 1.35
kubelet here carries the lab's failCgroupV1: false drop-in (docs/lab.md).

/configz is the lab's oracle only: the product never asks for nodes/proxy (the last test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kubeproof.judge.node import eviction, kubelet
from kubeproof.nodes.facts import NodeFacts
from selftest.support.lab_cluster import kubectl, lab_contexts
from selftest.support.paths import RBAC, REPO

# The KubeletConfiguration fields the judges decide on; evictionHard is compared as the thresholds
# the eviction judge reports.
FIELDS = ("failCgroupV1", "cgroupDriver", "rotateCertificates", "serverTLSBootstrap", "protectKernelDefaults")


def _facts(context: str, directory: Path) -> dict[str, NodeFacts]:
    """Every node's facts as kubeproof gathers them (the dump's node access: kind here)."""
    made = subprocess.run([sys.executable, "-m", "kubeproof", "dump", "--kube-context", context, str(directory)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    return {p.stem: NodeFacts(json.loads(p.read_text())) for p in (directory / "nodes-facts").glob("*.json")}


def _configz(context: str, node: str) -> dict:
    raw = kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/configz", context=context).stdout
    return json.loads(raw)["kubeletconfig"]


def disagreements(judged: dict, thresholds: dict[str, str], running: dict) -> list[str]:
    """Where the judges' view of one kubelet differs from its /configz (unset and false are one: the
    kubelet serializes a false pointer bool as absent or false alike)."""
    found = [f"{field}: judged {judged.get(field)!r}, the kubelet runs {running.get(field)!r}"
             for field in FIELDS if (judged.get(field) or False) != (running.get(field) or False)]
    in_effect = {signal: value for signal, value in thresholds.items() if eviction.amount(value, 1)}
    runs = {signal: str(value) for signal, value in (running.get("evictionHard") or {}).items()
            if eviction.amount(str(value), 1)}
    if in_effect != runs:
        found.append(f"evictionHard: judged {in_effect}, the kubelet runs {runs}")
    return found


@pytest.mark.live_cluster
@pytest.mark.parametrize("context", lab_contexts() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no lab cluster: selftest/run starts them (KUBEPROOF_SELFTEST_CONTEXT)"))])
def test_judged_kubelet_config_is_what_every_lab_kubelet_runs(tmp_path: Path, context: str) -> None:
    facts = _facts(context, tmp_path / "dump")
    assert len(facts) == 3, sorted(facts)
    wrong = {}
    for node, node_facts in sorted(facts.items()):
        judged, _ = kubelet.effective_config(node_facts)
        found = disagreements(judged, eviction.hard_thresholds(node_facts).values, _configz(context, node))
        if found:
            wrong[node] = found
    assert wrong == {}


def test_the_oracle_catches_a_wrong_judgement() -> None:
    running = {"failCgroupV1": False, "cgroupDriver": "systemd", "evictionHard": {"memory.available": "100Mi",
                                                                                 "nodefs.available": "0%"}}
    right = {"failCgroupV1": False, "cgroupDriver": "systemd"}
    assert disagreements(right, {"memory.available": "100Mi", "nodefs.available": "0"}, running) == []
    assert disagreements({**right, "cgroupDriver": "cgroupfs"}, {"memory.available": "100Mi"}, running)
    assert disagreements(right, {"memory.available": "100Mi", "nodefs.available": "10%"}, running)
    assert disagreements(right, {}, running)


def test_the_product_never_asks_for_the_node_proxy() -> None:
    for role in RBAC.glob("*.yaml"):
        assert "nodes/proxy" not in role.read_text(), role
