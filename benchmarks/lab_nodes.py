"""Node facts through probe pods on a real cluster: what one node's round trip costs.

    eval "$(python3 -m selftest.lab up | tail -1)"; python benchmarks/lab_nodes.py [--rounds 3]

On the cluster of $KUBECONFIG (the lab's kind cluster: real kubelets, containerd, probe pods
pulled from the node image), through the audit's own path (Audit.start with --node-access=pod,
then the gathering Audit.facts does once per node): the time to create the probe pods and see them run, then each
node's gathering round trip (one `kubectl exec` of gather.sh), one node after another, with the
CPU this process and its kubectl children used. Prints one JSON line.
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="round trips per node (default 3)")
    print(json.dumps(measure(parser.parse_args(argv).rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
