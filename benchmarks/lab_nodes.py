"""Node facts through probe pods on a real cluster: what one node's round trip costs, and what
gathering on the cluster itself costs instead.

    eval "$(python3 -m selftest.lab up | tail -1)"; python benchmarks/lab_nodes.py [--rounds 3]

On the cluster of $KUBECONFIG (the lab's kind cluster: real kubelets, containerd, probe pods
pulled from the node image), two ways, each with the CPU this process and its children used:

- exec: the audit's own path (Audit.start with --node-access=pod, then the gathering Audit.facts
  does once per node): the time to create the probe pods and see them run, then each node's
  round trip (one `kubectl exec` of gather.sh), one node after another;
- logs: the kube-bench way. One pod per node runs gather.sh as its command and ends; one LIST a
  second sees them end, then each node's output is read with one GET of its pod's log (plain
  HTTP in this process, 16 at a time: no kubectl process, no exec stream) and parsed.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubeproof import profile  # noqa: E402
from kubeproof.audit import Audit  # noqa: E402
from kubeproof.nodes.probe import DEFAULT_IMAGE  # noqa: E402
from kubeproof.target import Options  # noqa: E402


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(rounds: int) -> dict:
    started = time.perf_counter()
    audit = Audit.start(Options(kubeconfig=os.environ.get("KUBECONFIG"), node_access="pod"), profile_path=None,
                        want_nodes=True, probe_image=DEFAULT_IMAGE, node_timeout=120, say=lambda line: None)
    try:
        probes_s = time.perf_counter() - started
        trips = []
        for round_ in range(rounds):
            for ref in audit.nodes:
                cpu, begun = _cpu(), time.perf_counter()
                facts = audit._gather(ref)  # the round trip Audit.facts makes once per node, uncached
                trips.append({"node": ref.name, "round": round_, "seconds": time.perf_counter() - begun,
                              "cpu_s": _cpu() - cpu, "bytes": len(json.dumps(facts)), "error": facts.get("error")})
    finally:
        closing = time.perf_counter()
        audit.close()
        cleanup_s = time.perf_counter() - closing
    return {"nodes": len(audit.nodes), "probe_pods_s": probes_s, "cleanup_s": cleanup_s, "trips": trips}


def on_cluster() -> dict:
    """gather.sh as the command of one pod per node; its output read from the pods' logs."""
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes import client as k8s

    from kubeproof.kube import client as kube_client
    from kubeproof.nodes import gather, probe

    api = kube_client.api_client(os.environ.get("KUBECONFIG"))
    core = k8s.CoreV1Api(api)
    session = secrets.token_hex(3)
    namespace = f"kubeproof-probe-{session}"  # probe.ProbePods.sweep finds it if this run is killed
    command = ["chroot", "/host", "/bin/sh", "-c", gather.script()]
    cpu, started = _cpu(), time.perf_counter()
    nodes = [n["metadata"]["name"] for n in kube_client.get_json(api, "/api/v1/nodes")["items"]]
    core.create_namespace(probe.namespace_manifest(namespace, session))
    try:
        def create(node: str) -> None:
            manifest = probe.pod_manifest(node, namespace, session, DEFAULT_IMAGE)
            manifest["spec"]["containers"][0]["command"] = command
            core.create_namespaced_pod(namespace, manifest)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, nodes))
        polls = 0
        while True:
            polls += 1
            pods = kube_client.get_json(api, f"/api/v1/namespaces/{namespace}/pods")["items"]
            if len(pods) == len(nodes) and all(p["status"].get("phase") in ("Succeeded", "Failed") for p in pods):
                break
            time.sleep(1)
        ended_s = time.perf_counter() - started

        def read(pod: dict) -> tuple[float, int, dict]:
            begun = time.perf_counter()
            path = f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log"
            status, body = kube_client.get_bytes(api, path, [])
            facts = gather.parse(body.decode())
            return time.perf_counter() - begun, len(body), facts

        read_started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            reads = list(pool.map(read, pods))
        return {"nodes": len(nodes), "polls": polls, "pods_ended_s": ended_s,
                "logs_read_s": time.perf_counter() - read_started, "total_s": time.perf_counter() - started,
                "cpu_s": _cpu() - cpu, "per_log_s": [r[0] for r in reads], "log_bytes": [r[1] for r in reads],
                "parsed": all(r[2].get("raw") for r in reads)}
    finally:
        core.delete_namespace(namespace, grace_period_seconds=0, propagation_policy="Background")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="round trips per node (default 3)")
    rounds = parser.parse_args(argv).rounds
    print(json.dumps({"exec": measure(rounds), "logs": [on_cluster() for _ in range(rounds)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
