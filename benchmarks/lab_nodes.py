"""Node facts through probe pods on a real cluster: what the audit's two ways of gathering cost.

    eval "$(python3 -m selftest.lab up | tail -1)"; python benchmarks/lab_nodes.py [--rounds 3]

On the cluster of $KUBECONFIG (the lab's kind cluster: real kubelets, containerd, probe pods
pulled from the node image), each round starts a fresh audit with --node-access=pod and records,
with the CPU this process and its children used:

- logs: Audit.start itself, the built path. It creates one probe pod per node, whose gather
  container runs gather.sh and ends; one LIST a second follows them, each node's output is read
  with one GET of that container's log (in process, 16 at a time: no kubectl process, no exec
  stream), parsed and put in the session cache. Every GET is timed and sized.
- exec: then, on the same pods, each node's round trip of the fallback (Audit._gather: one
  `kubectl exec` of gather.sh into the sleeping probe container), one node after another.

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

from kubeproof.audit import Audit  # noqa: E402
from kubeproof.kube import client as kube_client  # noqa: E402
from kubeproof.nodes.probe import DEFAULT_IMAGE  # noqa: E402
from kubeproof.target import Options  # noqa: E402


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed_log_reads(gets: list[dict]):
    """kube_client.get_raw, recording each log GET's seconds and bytes in gets."""
    get_raw = kube_client.get_raw

    def timed(*args, **kwargs):
        begun = time.perf_counter()
        body = get_raw(*args, **kwargs)
        gets.append({"seconds": time.perf_counter() - begun, "bytes": len(body or b"")})
        return body
    return timed


def _list_bytes(audit: Audit) -> int:
    """The size of one poll: the LIST of the run's probe pods (each carries gather.sh in its spec)."""
    api = kube_client.api_client(os.environ.get("KUBECONFIG"))
    return len(kube_client.get_bytes(api, f"/api/v1/namespaces/kubeproof-probe-{audit.session}/pods", [])[1])


def measure_round() -> dict:
    gets: list[dict] = []
    kube_client.get_raw, original = _timed_log_reads(gets), kube_client.get_raw
    lines: list[tuple[float, str]] = []
    cpu, started = _cpu(), time.perf_counter()
    try:
        audit = Audit.start(Options(kubeconfig=os.environ.get("KUBECONFIG"), node_access="pod"), profile_path=None,
                            want_nodes=True, probe_image=DEFAULT_IMAGE, node_timeout=120,
                            say=lambda line: lines.append((time.perf_counter() - started, line)))
    finally:
        kube_client.get_raw = original
    try:
        logs = {"start_to_facts_s": time.perf_counter() - started, "cpu_s": _cpu() - cpu,
                "from_logs": len(list((audit.workdir / "cache").glob("facts-*.json"))),
                "log_gets": gets, "progress": lines, "list_bytes": _list_bytes(audit)}
        trips = []
        for ref in audit.nodes:
            cpu, begun = _cpu(), time.perf_counter()
            facts = audit._gather(ref)  # the fallback's round trip, uncached
            trips.append({"node": ref.name, "seconds": time.perf_counter() - begun, "cpu_s": _cpu() - cpu,
                          "facts_bytes": len(json.dumps(facts)), "error": facts.get("error")})
    finally:
        closing = time.perf_counter()
        audit.close()
        cleanup_s = time.perf_counter() - closing
    return {"nodes": len(audit.nodes), "logs": logs, "exec": trips, "cleanup_s": cleanup_s}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh audits (default 3)")
    rounds = parser.parse_args(argv).rounds
    print(json.dumps({"load_average": os.getloadavg(), "rounds": [measure_round() for _ in range(rounds)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
