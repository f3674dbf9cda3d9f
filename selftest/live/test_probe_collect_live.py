"""Probe pods on the lab's real kubelets: the kubelet log keeps the gather output byte for byte, and
a pod-access audit gathers every node through logs without one exec, judging as the kind access
does (the offline half: selftest/offline/test_probe_collect.py)."""

from __future__ import annotations

import os
import re

import pytest

from kubeproof.kube import client as kube_client
from kubeproof.nodes import probe as probes
from kubeproof.nodes.probe import ProbePods, pod_name
from selftest.support.audits import audit, results
from selftest.support.lab_cluster import CONTEXT, audit_log, needs_context, nodes

pytestmark = pytest.mark.live_cluster

@needs_context
def test_the_kubelet_log_keeps_gather_output_byte_for_byte(tmp_path) -> None:
    """A script writing every byte, CRLF, a 100,000-byte line (CRI logs split lines over 16 KiB) and
    no final newline comes back from the real kubelets' logs unchanged, unpacked and run by the probe
    image's busybox."""
    script = ("i=0; while [ $i -lt 256 ]; do printf \"\\\\$(printf %o $i)\"; i=$((i+1)); done; "
              "printf 'CR\\r\\n'; head -c 100000 /dev/zero | tr '\\0' a; printf '\\r\\nno newline'")
    expected = (bytes(range(256)) + b"CR\r\n" + b"a" * 100_000 + b"\r\nno newline").decode("utf-8", errors="replace")
    outputs: dict[str, str] = {}

    def keep(node: str, output: str) -> str:
        outputs[node] = output
        return ""

    probe = ProbePods(kube_client.api_client(None, CONTEXT), session=f"t{os.getpid():x}"[:6],
                      image=probes.DEFAULT_IMAGE, kubeconfig=None, context=CONTEXT)
    try:
        problems = probe.start(nodes(), script=script, keep=keep)
    finally:
        probe.stop()
    assert set(problems.values()) == {""}
    assert outputs.keys() == set(nodes()) and {node: o == expected for node, o in outputs.items()} == \
        dict.fromkeys(nodes(), True)


@needs_context
def test_a_pod_access_audit_gathers_every_node_from_logs_without_exec(tmp_path) -> None:
    if not (CONTEXT or "").startswith("kind-kubeproof-lab"):
        pytest.skip("the API server's audit log is read from the lab's control-plane node")
    # room for probe pods to start on a loaded machine (CI once needed more than the default 120 s)
    proc, pod = audit(tmp_path, f"--kube-context={CONTEXT}", "--node-access=pod", "--node-timeout=300", "-n", "2",
                      "tests_node")
    assert pod, proc.stdout[-3000:] + proc.stderr[-3000:]
    namespace = re.search(r"starting \d+ probe pods in namespace (\S+)", proc.stdout)[1]
    assert f"facts of {len(nodes())} nodes read from their logs" in proc.stdout
    assert "gathering by kubectl exec instead" not in proc.stdout
    requests = [e for e in audit_log() if e.get("objectRef", {}).get("namespace") == namespace]
    assert [e for e in requests if e["objectRef"].get("subresource") == "exec"] == []
    logs_read = [e["objectRef"]["name"] for e in requests
                 if e["objectRef"].get("subresource") == "log" and e.get("stage") == "ResponseComplete"]
    assert sorted(logs_read) == sorted(pod_name(n) for n in nodes())
    # Followed by one LIST (3 pods: one page), then WATCHes from it, not by polls.
    follows = [e for e in requests if e["objectRef"].get("resource") == "pods" and not e["objectRef"].get("name")]
    assert len({e["auditID"] for e in follows if e["verb"] == "list"}) == 1, [e["verb"] for e in follows]
    assert any(e["verb"] == "watch" for e in follows)

    _, kind = audit(tmp_path, f"--kube-context={CONTEXT}", "--node-access=kind", "-n", "2", "tests_node")
    by_logs = {t: (r["node"], r["outcome"]) for t, r in results(pod).items()}
    by_exec = {t: (r["node"], r["outcome"]) for t, r in results(kind).items()}
    assert by_logs == by_exec
    assert {node for node, _ in by_logs.values()} == set(nodes())
