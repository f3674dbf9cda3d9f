"""Node facts through probe pods on a real cluster: what the audit's two ways of gathering cost.

    eval "$(python3 -m selftest.lab up | tail -1)"; python benchmarks/lab_nodes.py [--rounds 3] [--page 500]

On the cluster of $KUBECONFIG (the lab's kind cluster: real kubelets, containerd, probe pods
pulled from the node image), each round starts a fresh audit with --node-access=pod and records,
with the CPU this process and its children used:

- logs: Audit.start itself, the built path. It creates one probe pod per node, whose gather
  container runs gather.sh and ends; one LIST and then WATCHes follow them (`watch_events`: each
  pod the watches sent, sized as JSON), each node's output is read with one
  GET of that container's log (in process, 16 at a time: no kubectl process, no exec stream),
  parsed and put in the session cache. Every GET is timed and sized (polls: LISTs without a
  continue token), and the API server's own counters of namespaced pod LISTs (its /metrics:
  seconds, bytes, LISTs served from its watch cache or from etcd, pods read from etcd) are read
  before and after. `--page 1` makes the lab's 3 pods 3 pages a poll.
- exec: then, on the same pods, each node's round trip of the fallback (Audit._gather: one
  `kubectl exec` of gather.sh into the sleeping probe container), one node after another.

Then once, `at_5000`: the last round's probe pods, as listed once their gather containers ended,
repeated to 5,000 pods: the bytes of one poll, and what decoding it costs the client as one
answer and as pages of 500 (seconds; peak bytes held, tracemalloc).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubeproof.audit import Audit  # noqa: E402
from kubeproof.kube import client as kube_client  # noqa: E402
from kubeproof.nodes import probe  # noqa: E402
from kubeproof.target import Options  # noqa: E402


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _watching(events: list[dict]):
    """kube_client.watch, recording each event's type, pod and size as JSON."""
    watch = kube_client.watch

    def recorded(api, path, query, seconds):
        events.append({"what": "watch request"})
        for event in watch(api, path, query, seconds):
            pod = event.get("object") or {}
            events.append({"what": event.get("type"), "pod": (pod.get("metadata") or {}).get("name"),
                           "bytes": len(orjson.dumps(pod))})
            yield event
    return recorded


def _recording(gets: list[dict]):
    """kube_client._send, recording each GET's path's last part, seconds, bytes and continue token."""
    send = kube_client._send

    def recorded(api, path, query, *args):
        begun = time.perf_counter()
        status, body, headers = send(api, path, query, *args)
        gets.append({"what": path.rsplit("/", 1)[-1], "continue": any(k == "continue" for k, _ in query),
                     "seconds": time.perf_counter() - begun, "bytes": len(body)})
        return status, body, headers
    return recorded


# The API server's counters of namespaced pod LISTs: (metric, labels its line must hold).
LISTS = ('resource="pods"', 'scope="namespace"', 'subresource=""', 'verb="LIST"')
SERVER = {"list_seconds": ("apiserver_request_duration_seconds_sum", LISTS),
          "list_bytes": ("apiserver_response_sizes_sum", LISTS),
          "lists": ("apiserver_request_duration_seconds_count", LISTS),
          "from_watch_cache": ("apiserver_cache_list_total", ('index="f:metadata.namespace"', 'resource_prefix="/pods"')),
          "from_etcd": ("apiserver_storage_list_total", ('resource="pods"',)),
          "etcd_objects": ("apiserver_storage_list_fetched_objects_total", ('resource="pods"',))}


def _server(api) -> dict[str, float]:
    lines = kube_client.get_raw(api, "/metrics", []).decode().splitlines()
    return {key: sum(float(line.rsplit(" ", 1)[1]) for line in lines
                     if line.startswith(name + "{") and all(label in line for label in labels))
            for key, (name, labels) in SERVER.items()}


def _listed(audit: Audit) -> bytes:
    """One LIST of the run's probe pods, all of them in one answer."""
    api = kube_client.api_client(os.environ.get("KUBECONFIG"))
    return kube_client.get_bytes(api, f"/api/v1/namespaces/kubeproof-probe-{audit.session}/pods", [])[1]


def measure_round() -> dict:
    gets: list[dict] = []
    api = kube_client.api_client(os.environ.get("KUBECONFIG"))
    server = _server(api)
    events: list[dict] = []
    kube_client._send, original = _recording(gets), kube_client._send
    kube_client.watch, original_watch = _watching(events), kube_client.watch
    lines: list[tuple[float, str]] = []
    cpu, started = _cpu(), time.perf_counter()
    try:
        audit = Audit.start(Options(kubeconfig=os.environ.get("KUBECONFIG"), node_access="pod"), profile_path=None,
                            want_nodes=True, probe_image=probe.DEFAULT_IMAGE, node_timeout=120,
                            say=lambda line: lines.append((time.perf_counter() - started, line)))
    finally:
        kube_client._send, kube_client.watch = original, original_watch
    try:
        lists = [g for g in gets if g["what"] == "pods"]
        after = _server(api)
        logs = {"start_to_facts_s": time.perf_counter() - started, "cpu_s": _cpu() - cpu,
                "from_logs": len(list((audit.workdir / "cache").glob("facts-*.json"))),
                "polls": sum(not g["continue"] for g in lists), "list_requests": len(lists),
                "list_bytes": sum(g["bytes"] for g in lists), "list_s": sum(g["seconds"] for g in lists),
                "watch_requests": sum(e["what"] == "watch request" for e in events),
                "watch_events": [e for e in events if e["what"] != "watch request"],
                "apiserver": {key: after[key] - server[key] for key in server},
                "log_gets": [g for g in gets if g["what"] == "log"], "progress": lines}
        listed = _listed(audit)
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
    return {"nodes": len(audit.nodes), "logs": logs, "exec": trips, "cleanup_s": cleanup_s, "listed": listed}


def _decoding(bodies: list[bytes]) -> dict:
    """Seconds to decode bodies one after the other (the best of 3), and the most memory held at
    once (a body and its dicts, the previous ones let go)."""
    seconds = []
    for _ in range(3):
        begun = time.perf_counter()
        for body in bodies:
            orjson.loads(body)
        seconds.append(time.perf_counter() - begun)
    tracemalloc.start()
    for body in bodies[:1]:  # every page is alike
        decoded = orjson.loads(body)
        del decoded
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"decode_s": min(seconds), "held_mib": (peak + len(bodies[0])) / 2**20}


PAGE = probe.PAGE  # at_5000's pages are the follow's own, whatever --page says


def at_scale(listed: bytes, nodes: int = 5000) -> dict:
    items = orjson.loads(listed)["items"]
    pods = [items[i % len(items)] for i in range(nodes)]
    whole = orjson.dumps({"kind": "PodList", "items": pods})
    pages = [orjson.dumps({"kind": "PodList", "items": pods[i:i + PAGE]}) for i in range(0, nodes, PAGE)]
    return {"nodes": nodes, "pod_bytes": len(listed) / len(items), "poll_bytes": len(whole),
            "one_answer": _decoding([whole]), f"pages_of_{PAGE}": _decoding(pages)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh audits (default 3)")
    parser.add_argument("--page", type=int, default=PAGE, help=f"probe pods a LIST request (default {PAGE})")
    args = parser.parse_args(argv)
    rounds, probe.PAGE = args.rounds, args.page
    load = os.getloadavg()
    results = [measure_round() for _ in range(rounds)]
    scale = at_scale(results[-1]["listed"])
    for result in results:
        result["pods_listed_bytes"] = len(result.pop("listed"))
    print(json.dumps({"load_average": load, "rounds": results, "at_5000": scale}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
