"""Plain dicts or the kubernetes client's models: what one LIST page of pods costs each way.

    python benchmarks/decoding.py [--pods 500] [--rounds 5]

The same PodList page (synthetic pods, as served, managedFields and all) decoded by json.loads
into dicts, by json.loads with the cyclic collector paused (as the view decodes), by
`ApiClient.deserialize` into a V1PodList (what `CoreV1Api.list_pod_for_all_namespaces` returns),
and json.loads followed by the view's trimming; per pod: best time of the rounds, and the memory
the result holds (tracemalloc). docs/benchmark.md has the numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from itertools import islice
from typing import Any, Callable

import synthetic
from kubeproof.kube.kinds import kind_named
from kubeproof.kube.trimming import trim


def page_of_pods(count: int) -> str:
    """A PodList as the API server sends it: tenant pods, without apiVersion/kind per item."""
    nodes = count // synthetic.APPS_PER_GROUP + synthetic.GROUP + 2  # enough tenants' pods
    pods = islice((obj for obj in synthetic.cluster(nodes)
                   if obj["kind"] == "Pod" and obj["metadata"]["namespace"].startswith("tenant-")), count)
    items = [{k: v for k, v in pod.items() if k not in ("apiVersion", "kind")} for pod in pods]
    return json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})


def measured(decode: Callable[[], Any], rounds: int, count: int) -> dict:
    best = min(_timed(decode) for _ in range(rounds))
    gc.collect()
    tracemalloc.start()
    kept = decode()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return {"us_per_pod": best / count * 1e6, "kib_per_pod": held / count / 1024}


def _timed(decode: Callable[[], Any]) -> float:
    started = time.perf_counter()
    decode()
    return time.perf_counter() - started


def _paused(decode: Callable[[], Any]) -> Callable[[], Any]:
    def paused():
        gc.disable()
        try:
            return decode()
        finally:
            gc.enable()
    return paused


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=500, help="pods in the page (the view's page size)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from kubernetes.client import ApiClient

    text = page_of_pods(args.pods)
    count = len(json.loads(text)["items"])
    api, pods = ApiClient(), kind_named("pods")
    ways = {
        "json.loads -> dicts": lambda: json.loads(text),
        "json.loads, collector paused": _paused(lambda: json.loads(text)),
        "ApiClient.deserialize -> V1PodList": lambda: api.deserialize(text, "V1PodList", "application/json"),
        "json.loads + trim (the view)": _paused(lambda: [trim(pods, p) for p in json.loads(text)["items"]]),
    }
    print(f"one page of {count} pods, {len(text) / count / 1024:.1f} KiB of JSON each")
    print("| decoded by | µs per pod | KiB held per pod |\n|---|---|---|")
    for name, decode in ways.items():
        result = measured(decode, args.rounds, count)
        print(f"| {name} | {result['us_per_pod']:,.0f} | {result['kib_per_pod']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
