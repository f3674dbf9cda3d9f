"""The benchmark's API server: a synthetic cluster served by kubeproof's replay server, in a process
of its own so the client's RSS and CPU are measured clean.

    python benchmarks/serve.py NODES KUBECONFIG

Builds the synthetic cluster of NODES nodes (synthetic.py), validates a sample of every kind
against the v1.32 OpenAPI schema, serves it on 127.0.0.1, writes a kubeconfig reaching it, then
prints one JSON line: {"url", "objects" (per kind), "validated", "build_s"}. Each line read from
stdin afterwards is answered with one JSON line of cumulative counts: {"requests", "lists",
"bytes"} (response bodies). It stops at the end of stdin.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import synthetic
from kubeproof.kube.replay import Objects, ReplayServer

SAMPLE_EVERY = 5000  # besides the first two objects of each kind


def sampled(objects: Iterable[dict], counts: Counter, sample: list[dict]) -> Iterator[dict]:
    """The objects, counted per kind, a sample of each kept for validation."""
    for index, obj in enumerate(objects):
        counts[obj["kind"]] += 1
        if counts[obj["kind"]] <= 2 or index % SAMPLE_EVERY == 0:
            sample.append(obj)
        yield obj


def validate(sample: list[dict], schema_version: str) -> int:
    import kubernetes_validate  # kubeproof's selftest extra

    for obj in sample:
        kubernetes_validate.validate(obj, schema_version, strict=True)
    return len(sample)


def main(nodes: int, kubeconfig: Path) -> None:
    # The objects built are trees freed by reference counting: the cyclic collector would only
    # scan them again and again (building 5,000 nodes' worth takes 40 % longer with it).
    gc.disable()
    started = time.monotonic()
    counts: Counter = Counter()
    sample: list[dict] = []
    healthy = synthetic.builders([])  # for the healthy cluster's version and moment
    objects = Objects(sampled(synthetic.cluster(nodes), counts, sample), version=healthy.SERVER_VERSION,
                      now=healthy.DUMPED)
    server = ReplayServer(objects)
    validated = validate(sample, healthy.SCHEMA_VERSION)
    server.write_kubeconfig(kubeconfig)
    server.start()
    print(json.dumps({"url": server.url, "objects": dict(counts), "validated": validated,
                      "build_s": round(time.monotonic() - started, 1)}), flush=True)
    for _ in sys.stdin:
        print(json.dumps({"requests": len(server.requests),
                          "lists": sum(verb == "list" for verb, _, _ in server.requests),
                          "bytes": server.sent_bytes}), flush=True)
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
