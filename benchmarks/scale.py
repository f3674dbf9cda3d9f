"""How an audit scales: synthetic clusters of growing size, served on loopback, audited for real.

    python benchmarks/scale.py [--sizes 50,500,5000] [--workers 0,2,8] [--node-transports 16] [--json FILE]

For each size (nodes; 30 pods a node, see synthetic.py) a server process (serve.py) builds and
serves the cluster, and each measurement runs in a fresh process of its own:

- view: ClusterView.live over the real kubernetes client, every kind listed through the session
  cache as an audit does, then the cached pods loaded as another xdist worker would;
- bare: the same pages fetched with urllib3 and decoded with json.loads, nothing kept: the floor
  the view is compared with (the ratio);
- audit -n W: `pytest tests_cluster --kubeconfig=... --node-access=none -n W`, the whole cluster
  audit, reports included;

each with the requests and response bytes the server saw, wall time and peak RSS (the largest
process; for -n W also the sum over the run's processes, sampled). Then node facts: gathered from
N nodes over local transports through the audit's shared cache by 1, 2 and 8 processes. Prints a
Markdown table (docs/benchmark.md explains it) and writes every number to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TIMEOUT = 3600  # seconds any one measured process may take before the benchmark gives up
PAGE_SIZE = 500  # the view's default


# --- the measured client phases, each run as `scale.py PHASE KUBECONFIG` in a process of its own --------

def phase_view(kubeconfig: str) -> dict:
    from kubeproof.kube.client import api_client
    from kubeproof.kube.kinds import KINDS
    from kubeproof.kube.view import ClusterView
    from kubeproof.sharing import SessionCache

    with tempfile.TemporaryDirectory(prefix="kubeproof-scale-cache-") as directory:
        cache_dir = Path(directory)
        api = api_client(kubeconfig)
        started = time.perf_counter()
        view = ClusterView.live(api, cache=SessionCache(cache_dir))
        items = {kind.name: len(view.list(kind.name)) for kind in KINDS}
        elapsed = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        del view
        # What each other xdist worker whose tests read pods pays: the cached list, no request.
        started = time.perf_counter()
        ClusterView.live(api, cache=SessionCache(cache_dir)).list("pods")
        return {"seconds": elapsed, "items": items, "rss": rss,
                "cache_bytes": sum(p.stat().st_size for p in cache_dir.glob("*.json")),
                "pods_cache_bytes": (cache_dir / "list-pods.json").stat().st_size,
                "pods_cache_load_s": time.perf_counter() - started}


def phase_bare(kubeconfig: str, collector: bool = True, loads=json.loads) -> dict:
    import gc

    import urllib3
    import yaml

    from kubeproof.kube.kinds import KINDS

    config = yaml.safe_load(Path(kubeconfig).read_text())
    server = config["clusters"][0]["cluster"]["server"]
    headers = {"Authorization": f"Bearer {config['users'][0]['user']['token']}", "Accept": "application/json"}
    authority = config["clusters"][0]["cluster"].get("certificate-authority")
    http = urllib3.PoolManager(**({"ca_certs": authority} if authority else {}))
    items = 0
    if not collector:
        gc.disable()
    started = time.perf_counter()
    for kind in KINDS:
        token = ""
        while True:
            fields = {"limit": PAGE_SIZE, **({"continue": token} if token else {})}
            response = http.request("GET", server + kind.list_path, fields=fields, headers=headers)
            if response.status == 404:
                break
            page = loads(response.data)
            items += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                break
    return {"seconds": time.perf_counter() - started, "items": items,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _orjson_loads(data: bytes):
    import orjson
    return orjson.loads(data)


PHASES = {"view": phase_view, "bare": phase_bare,
          # The floor under the floor: decoding without the cyclic collector, as the view decodes.
          "bare-gc-paused": lambda kubeconfig: phase_bare(kubeconfig, collector=False),
          # A second floor: the fastest JSON decoder there is for Python.
          "bare-orjson": lambda kubeconfig: phase_bare(kubeconfig, loads=_orjson_loads)}


# --- the driver ---------------------------------------------------------------------------------

class Server:
    """serve.py in its own process; counts() are its cumulative requests, LISTs and bytes."""

    def __init__(self, nodes: int, kubeconfig: Path):
        self.process = subprocess.Popen([sys.executable, str(HERE / "serve.py"), str(nodes), str(kubeconfig)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the server for {nodes} nodes did not start (exit {self.process.wait()})")
        self.ready = json.loads(line)

    def counts(self) -> dict:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _tree_rss(root: int) -> int:
    """Resident bytes of root and all its descendants, from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue  # ended while being read
    tree, grown = {root}, True
    while grown:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grown = bool(found)
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


def measured(command: list[str], server: Server) -> dict:
    """Run command to its end: wall time, exit status, peak RSS (largest process, sampled tree sum),
    what the server served meanwhile, and the command's output."""
    before = server.counts()
    peak_sum = 0
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    deadline = started + TIMEOUT
    while True:
        # wait4's usage covers the child and every descendant it reaped (xdist's workers): its
        # ru_maxrss is the largest of them.
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak_sum = max(peak_sum, _tree_rss(process.pid))
        if time.perf_counter() > deadline:
            process.kill()
        time.sleep(0.25)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    after = server.counts()
    return {"seconds": elapsed, "exit": process.returncode, "output": "".join(output),
            "cpu": usage.ru_utime + usage.ru_stime,  # of the process and every descendant it reaped
            "rss_max": usage.ru_maxrss * 1024, "rss_sum": peak_sum,
            **{key: after[key] - before[key] for key in after}}


def phase(name: str, kubeconfig: Path, server: Server) -> dict:
    result = measured([sys.executable, str(HERE / "scale.py"), name, str(kubeconfig)], server)
    output = result.pop("output")
    if result["exit"] != 0:
        raise RuntimeError(f"{name} failed:\n{output}")
    return {**result, **json.loads(output.strip().splitlines()[-1])}


def audit(workers: int, kubeconfig: Path, server: Server, suites: tuple[str, ...] = ("tests_cluster",)) -> dict:
    reports = kubeconfig.parent / f"reports-{workers}-{len(suites)}"
    result = measured([sys.executable, "-m", "pytest", *suites, f"--kubeconfig={kubeconfig}",
                       "--node-access=none", f"--report-dir={reports}", "-p", "no:cacheprovider", "-q",
                       "-n", str(workers)], server)
    if result["exit"] not in (0, 1):
        raise RuntimeError(f"pytest -n {workers} exited {result['exit']}:\n{result['output']}")
    summary = [line for line in result.pop("output").splitlines() if " in " in line and "passed" in line]
    return {**result, "summary": summary[-1].strip("= ") if summary else ""}


def kubectl(binary: Path, kubeconfig: Path, server) -> dict:
    """What an operator's `kubectl get` of the same kinds costs the server, for comparison."""
    from kubeproof.kube.kinds import KINDS

    kinds = ",".join(kind.name for kind in KINDS if not kind.optional)  # kubectl refuses a kind not served
    result = measured([str(binary), f"--kubeconfig={kubeconfig}", "get", kinds, "-A", "--chunk-size=500"], server)
    output = result.pop("output")
    if result["exit"] != 0:
        raise RuntimeError(f"kubectl exited {result['exit']}:\n{output[-2000:]}")
    return {**result, "rows": output.count("\n")}


def size_run(nodes: int, workers: list[int], server_kind: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="kubeproof-scale-") as directory:
        workdir = Path(directory)
        if server_kind == "replay":
            server = Server(nodes, workdir / "kubeconfig")
            try:
                return _size_run(nodes, workers, server, workdir / "kubeconfig")
            finally:
                server.stop()
        import apiserver  # the lab's binaries: only on machines that build them

        with apiserver.ApiServer(nodes, workdir, say=lambda line: print(line, flush=True)) as server:
            result = _size_run(nodes, workers, server, server.kubeconfig)
            result["kubectl"] = kubectl(apiserver.pins.DEFAULT.bin / "kubectl", server.kubeconfig, server)
            return result


def _size_run(nodes: int, workers: list[int], server, kubeconfig: Path) -> dict:
    result = {"nodes": nodes, "server": server.ready, **{name: phase(name, kubeconfig, server) for name in PHASES}}
    result["ratio"] = result["view"]["seconds"] / result["bare"]["seconds"]
    result["ratio_gc_paused"] = result["view"]["seconds"] / result["bare-gc-paused"]["seconds"]
    result["audits"] = {count: audit(count, kubeconfig, server) for count in workers}
    if max(workers) > 1:
        # The cluster suite alone runs in process (scheduling.py); beside the node suite, whose
        # tests (skipped here: no node access) spread, workers start and one holds the view.
        result["with_node_suite"] = audit(max(workers), kubeconfig, server, ("tests_cluster", "tests_node"))
    return result


# --- node facts over local transports -------------------------------------------------------------

_WORKER: dict = {}  # a node-facts worker's audit and its round trips so far


def _worker_start(export: dict) -> None:
    from kubeproof.audit import Audit
    from kubeproof.nodes import transport

    _WORKER.update(audit=Audit.from_export(export), round_trips=0)
    counted = transport.run

    def run(*args, **kwargs):  # every round trip to a node goes through transport.run
        _WORKER["round_trips"] += 1
        return counted(*args, **kwargs)
    transport.run = run


def _facts(name: str) -> int:
    """The node's facts as a node test asks for them; the round trips that took."""
    before = _WORKER["round_trips"]
    audit = _WORKER["audit"]
    audit.facts(next(ref for ref in audit.nodes if ref.name == name))
    return _WORKER["round_trips"] - before


def node_facts(count: int, processes: int) -> dict:
    """Facts of `count` nodes (this host over local://) by `processes` workers sharing the audit's cache."""
    import multiprocessing

    from kubeproof import profile
    from kubeproof.audit import Audit
    from kubeproof.inventory import NodeRef
    from kubeproof.target import Options, Target

    refs = [NodeRef(f"node-{i:03d}", (), "local://") for i in range(count)]
    with tempfile.TemporaryDirectory(prefix="kubeproof-scale-nodes-") as workdir:
        export = Audit(options=Options(node_access="local"), profile=profile.load(None),
                       target=Target("local", "localhost"), nodes=refs, workdir=Path(workdir), session="scale",
                       node_timeout=120).export()
        started = time.perf_counter()
        # Each worker asks for every node, as each xdist worker's node tests do: the cache makes
        # one round trip per node in all, by whichever worker asks first.
        with multiprocessing.get_context("fork").Pool(processes, _worker_start, (export,)) as pool:
            trips = pool.map(_facts, [ref.name for ref in refs] * processes, chunksize=1)
    return {"nodes": count, "processes": processes, "seconds": time.perf_counter() - started,
            "round_trips": sum(trips)}


def node_suite(count: int, workers: list[int]) -> dict:
    """pytest's own cost per node test: tests_node on a dump of `count` nodes, each with the facts
    of a real kubeadm node (selftest/data/nodes), so every test judges and nothing waits on a node."""
    import shutil

    from kubeproof.nodes import gather

    facts = gather.parse((REPO / "selftest" / "data" / "nodes" / "kubeadm-node.gather.txt").read_text())
    results = {}
    with tempfile.TemporaryDirectory(prefix="kubeproof-scale-node-suite-") as directory:
        dump = Path(directory) / "dump"
        shutil.copytree(REPO / "selftest" / "data" / "clusters" / "healthy", dump)
        nodes = json.loads((dump / "nodes.json").read_text())
        template = nodes["items"][-1]
        nodes["items"] = [{**template, "metadata": {**template["metadata"], "name": f"node-{i:05d}"}}
                          for i in range(count)]
        (dump / "nodes.json").write_text(json.dumps(nodes))
        (dump / "nodes-facts").mkdir()
        for node in nodes["items"]:
            name = node["metadata"]["name"]
            (dump / "nodes-facts" / f"{name}.json").write_text(json.dumps({**facts, "node": name, "hostname": name}))
        for w in workers:
            started = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "pytest", "tests_node", f"--from-dump={dump}", "-q",
                                  "-p", "no:cacheprovider", f"--report-dir={directory}", "-n", str(w)],
                                 cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
            summary = [line for line in run.stdout.splitlines() if " in " in line and "passed" in line]
            results[w] = {"seconds": time.perf_counter() - started, "exit": run.returncode,
                          "summary": summary[-1].strip("= ") if summary else run.stdout[-500:]}
    return {"nodes": count, "runs": results}


# --- the report -------------------------------------------------------------------------------

def _mib(value: int | None) -> str:
    return f"{value / 2**20:,.0f}" if value else "-"


def table(results: list[dict], workers: list[int]) -> str:
    heads = ["nodes", "pods", "objects", "LISTs", "MiB served", "view s", "bare s", "view/bare",
             "bare, GC paused s", "view/that", "view RSS MiB", "pods from cache s"]
    heads += [f"audit -n {w} s" for w in workers] + [f"-n {w} speedup" for w in workers if w]
    heads += [f"-n {w} RSS MiB" for w in workers]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in results:
        audits = r["audits"]
        base = audits.get(0, {}).get("seconds")
        cells = [f"{r['nodes']:,}", f"{r['server']['objects'].get('Pod', 0):,}",
                 f"{sum(r['server']['objects'].values()):,}", str(r["view"]["lists"]),
                 _mib(r["view"]["bytes"]), f"{r['view']['seconds']:.1f}", f"{r['bare']['seconds']:.1f}",
                 f"{r['ratio']:.2f}", f"{r['bare-gc-paused']['seconds']:.1f}", f"{r['ratio_gc_paused']:.2f}",
                 _mib(r["view"]["rss"]), f"{r['view']['pods_cache_load_s']:.2f}"]
        cells += [f"{audits[w]['seconds']:.1f}" for w in workers]
        cells += [f"{base / audits[w]['seconds']:.2f}x" if base else "-" for w in workers if w]
        cells += [f"{_mib(audits[w]['rss_max'])}" + (f" (sum {_mib(audits[w]['rss_sum'])})" if w else "")
                  for w in workers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cost_table(results: list[dict], workers: list[int]) -> str:
    """What serving each client cost the real API server (kube-apiserver and etcd CPU seconds)."""
    heads = ["nodes", "client", "wall s", "requests", "LISTs", "MiB", "kube-apiserver CPU s", "etcd CPU s",
             "largest RSS MiB", "summed RSS MiB"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in results:
        clients = [("bare fetch + json.loads", r["bare"]), ("bare fetch + orjson.loads", r["bare-orjson"]),
                   *((f"pytest tests_cluster -n {w}", r["audits"][w]) for w in workers),
                   *((f"pytest tests_cluster tests_node -n {max(workers)}", r["with_node_suite"]),) * (
                       "with_node_suite" in r),
                   ("kubectl get (same kinds) -A --chunk-size=500", r["kubectl"])]
        for name, c in clients:
            lines.append(f"| {r['nodes']:,} | {name} | {c['seconds']:.1f} | {c['requests']} | {c['lists']} | "
                         f"{_mib(c['bytes'])} | {c['kube-apiserver_cpu_s']:.1f} | {c['etcd_cpu_s']:.1f} | "
                         f"{_mib(c['rss_max'])} | {_mib(c['rss_sum'])} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] and argv[0] in PHASES:
        print(json.dumps(PHASES[argv[0]](argv[1])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="50,500,5000", help="cluster sizes in nodes (default 50,500,5000)")
    parser.add_argument("--server", choices=("replay", "kube-apiserver"), default="replay",
                        help="replay: kubeproof's replay server (default); kube-apiserver: etcd and "
                             "kube-apiserver from the lab's binaries, populated through the API (apiserver.py)")
    parser.add_argument("--workers", default="0,8", help="pytest -n values of the audits (default 0,8)")
    parser.add_argument("--node-transports", type=int, default=16, metavar="N",
                        help="nodes whose facts are gathered over local transports (0: skip)")
    parser.add_argument("--node-suite", type=int, default=0, metavar="N",
                        help="also time tests_node on a dump of N nodes with real facts (0: skip)")
    parser.add_argument("--json", metavar="FILE", help="write every number measured here")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    results = []
    for nodes in (int(s) for s in args.sizes.split(",")):
        results.append(size_run(nodes, workers, args.server))
        r = results[-1]
        print(f"{nodes} nodes: view {r['view']['seconds']:.1f} s, bare {r['bare']['seconds']:.1f} s, "
              f"ratio {r['ratio']:.2f} ({r['ratio_gc_paused']:.2f} over the bare fetch without GC); "
              + ", ".join(f"-n {w} {a['seconds']:.1f} s ({a['summary']})" for w, a in r["audits"].items())
              + (f"; beside tests_node -n {max(workers)} {r['with_node_suite']['seconds']:.1f} s, "
                 f"RSS summed {_mib(r['with_node_suite']['rss_sum'])} MiB" if "with_node_suite" in r else ""),
              flush=True)
    facts = [node_facts(args.node_transports, p) for p in (1, 2, 8)] if args.node_transports else []
    suite = node_suite(args.node_suite, workers) if args.node_suite else None
    print(table(results, workers))
    if args.server == "kube-apiserver":
        print(cost_table(results, workers))
    for f in facts:
        print(f"node facts: {f['nodes']} nodes by {f['processes']} processes: {f['round_trips']} round trips, "
              f"{f['seconds']:.1f} s")
    for w, run in (suite or {}).get("runs", {}).items():
        print(f"node suite: {suite['nodes']} nodes -n {w}: {run['seconds']:.1f} s ({run['summary']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"load": os.getloadavg(), "sizes": results, "node_facts": facts,
                                               "node_suite": suite},
                                              indent=1, default=str))
    last = results[-1]
    print(f"scale: {last['nodes']} nodes, {last['server']['objects'].get('Pod', 0)} pods, audit "
          + ", ".join(f"-n{w} {a['seconds']:.1f} s" for w, a in last["audits"].items())
          + f", bare {last['bare']['seconds']:.1f} s, peak RSS "
          f"{max(a['rss_max'] for a in last['audits'].values()) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
