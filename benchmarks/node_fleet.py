"""The node half of the audit at fleet scale: tests_node on a dump of N nodes, against pytest's floor.

    python benchmarks/node_fleet.py --nodes 5000 [--workers 0,8] [--keep DIR] [--profile FILE]

Builds a kubeproof dump of N nodes from the lab's recorded dumps (selftest/data/lab/<release>/
kubeproof-dump, the newest release's cluster objects), each node under a name of its own
(node-00000...): first every recorded control plane and every recorded worker but one, as they
are, then the first release's first worker for all the others. So a finding of that worker holds
on all nodes but a named few, as in a fleet of one configuration. Then, each in a fresh process:

- `pytest tests_node --from-dump=DUMP -n W` for each W (with --ci-reports also --junitxml and
  --alluredir, as a CI job runs it): wall time, the largest process's peak RSS (wait4, which
  covers xdist's workers), the sizes of audit.{html,json,md} and of the JUnit file and Allure
  results when written;
- the floor: bare pytest running as many trivial parametrized items as the node run collected.

Every run finds the modules compiled, as an installed kubeproof does (PYTHONPYCACHEPREFIX in the
work directory, warmed by a one-node collection), whatever PYTHONDONTWRITEBYTECODE says.

--profile FILE runs the -n 0 audit under cProfile once more and writes its stats there. The dump
and reports live in a temporary directory (--keep DIR keeps them there instead). Before the last
line, the same ratios in CPU seconds (user + sys of each run and all its processes), which a
shared machine's load moves less than wall time. Last line:

    node fleet: N nodes, I items, -n0 X s (R x pytest floor F s), -n8 Y s, peak RSS M MiB, reports S MiB
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAB = REPO / "selftest" / "data" / "lab"
sys.path.insert(0, str(HERE))
from scale import measured  # noqa: E402  (a sibling script, not a package)

MIB = 1024 * 1024


class _NoServer:
    """measured() reports what a server served meanwhile; here nothing serves."""

    @staticmethod
    def counts() -> dict:
        return {}


def _release_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def build_dump(nodes: int, directory: Path) -> Path:
    releases = sorted((p / "kubeproof-dump" for p in LAB.iterdir() if (p / "kubeproof-dump" / "nodes-facts").is_dir()),
                      key=lambda p: _release_key(p.parent))
    dump = directory / "dump"
    shutil.copytree(releases[-1], dump)
    shutil.rmtree(dump / "nodes-facts")
    (dump / "nodes-facts").mkdir()
    control, workers = [], []  # (Node object, facts) of every recorded node
    for release in releases:
        objects = {n["metadata"]["name"]: n for n in json.loads((release / "nodes.json").read_text())["items"]}
        for path in sorted((release / "nodes-facts").glob("*.json")):
            node = objects[path.stem]
            role = control if "node-role.kubernetes.io/control-plane" in node["metadata"].get("labels", {}) else workers
            role.append((node, path.read_text()))
    few = control + workers[1:]
    listed = json.loads((dump / "nodes.json").read_text())
    listed["items"] = []
    for i in range(nodes):
        name = f"node-{i:05d}"
        node, facts = few[i] if i < len(few) else workers[0]
        labels = {**node["metadata"].get("labels", {}), "kubernetes.io/hostname": name}
        listed["items"].append({**node, "metadata": {**node["metadata"], "name": name, "labels": labels}})
        data = json.loads(facts)
        (dump / "nodes-facts" / f"{name}.json").write_text(json.dumps({**data, "node": name, "hostname": name}))
    (dump / "nodes.json").write_text(json.dumps(listed))
    return dump


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def audit(dump: Path, workers: int, directory: Path, ci: bool, profile: Path | None = None) -> dict:
    out = directory / f"n{workers}{'-profiled' * bool(profile)}"
    out.mkdir()
    python = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
    reports = [f"--junitxml={out / 'junit.xml'}", f"--alluredir={out / 'allure'}"] if ci else []
    result = measured([*python, "-m", "pytest", "tests_node", f"--from-dump={dump}", "-p", "no:cacheprovider",
                       f"--report-dir={out / 'reports'}", *reports, "-n", str(workers)], _NoServer())
    output = result.pop("output")
    if result["exit"] not in (0, 1):
        raise RuntimeError(f"pytest -n {workers} exited {result['exit']}:\n{output[-3000:]}")
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed).* in [\d.]+s", line)]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", summary[-1])}
    reports = next((out / "reports").iterdir())
    sizes = {name: (reports / name).stat().st_size for name in ("audit.html", "audit.json", "audit.md")}
    if ci:
        sizes["junit.xml"] = _size(out / "junit.xml")
        sizes["allure"] = _size(out / "allure")
    return {**result, "items": sum(counts.values()), "counts": counts, "sizes": sizes,
            "terminal_lines": len(output.splitlines()), "terminal_bytes": len(output)}


def floor(items: int, directory: Path) -> dict:
    tests = directory / "floor"
    tests.mkdir()
    (tests / "test_floor.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('i', range(%d))\ndef test_item(i):\n    pass\n" % items)
    result = measured([sys.executable, "-m", "pytest", str(tests), "-p", "no:cacheprovider", "-q",
                       f"--rootdir={tests}"], _NoServer())
    if result["exit"] != 0:
        raise RuntimeError(f"the floor exited {result['exit']}:\n{result['output'][-3000:]}")
    result.pop("output")
    return result


def _cache_bytecode(dump: Path, directory: Path) -> None:
    """Every run caches compiled modules (and pytest's assertion rewrites) in the work directory, as
    an installed kubeproof has them, warmed by a one-node collection first. Under
    PYTHONDONTWRITEBYTECODE=1 every process, each xdist worker included, compiled kubeproof, its
    test modules and hypothesis from source: seconds of CPU each."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    result = measured([sys.executable, "-m", "pytest", "tests_node", f"--from-dump={dump}", "--collect-only", "-q",
                       "--nodes=kubernetes.io/hostname=node-00000", "-p", "no:cacheprovider",
                       f"--report-dir={directory / 'warm-up'}"], _NoServer())
    if result["exit"] != 0:
        raise RuntimeError(f"the warm-up collection exited {result['exit']}:\n{result['output'][-3000:]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--workers", default="0,8", help="comma-separated -n values (default 0,8)")
    parser.add_argument("--keep", metavar="DIR", help="build the dump and reports here and keep them")
    parser.add_argument("--profile", metavar="FILE", help="also profile the -n 0 audit with cProfile into FILE")
    parser.add_argument("--json", metavar="FILE", help="write every number here")
    parser.add_argument("--ci-reports", action="store_true", help="every run also writes JUnit and Allure results")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kubeproof-node-fleet-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        dump = build_dump(args.nodes, directory)
        _cache_bytecode(dump, directory)
        runs = {}
        for w in workers:
            runs[w] = audit(dump, w, directory, args.ci_reports)
            r = runs[w]
            print(f"-n {w}: {r['seconds']:.1f} s ({r['cpu']:.1f} s CPU), {r['counts']}, peak RSS {r['rss_max'] / MIB:.0f} MiB "
                  f"(summed {r['rss_sum'] / MIB:.0f}), terminal {r['terminal_lines']} lines, "
                  + ", ".join(f"{name} {size / MIB:.2f} MiB" for name, size in r["sizes"].items()), flush=True)
        items = runs[workers[0]]["items"]
        bare = floor(items, directory)
        print(f"floor: {items} trivial items {bare['seconds']:.1f} s ({bare['cpu']:.1f} s CPU)", flush=True)
        if args.profile:
            audit(dump, 0, directory, args.ci_reports, Path(args.profile).resolve())
            print(f"profile of -n 0 in {args.profile}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"load": load, "nodes": args.nodes, "floor": bare,
                                               "runs": runs}, indent=2))
    first = runs[workers[0]]
    most = runs[max(workers)]
    # On a shared machine CPU seconds move less than wall time: both ratios, the CPU ones first.
    print(f"CPU: -n{workers[0]} {first['cpu'] / bare['cpu']:.2f} x the floor's, "
          f"-n{max(workers)} {most['cpu'] / first['cpu']:.2f} x -n{workers[0]}'s; "
          f"wall: -n{max(workers)} {most['seconds'] / first['seconds']:.2f} x -n{workers[0]}")
    print(f"node fleet: {args.nodes} nodes, {items} items, -n{workers[0]} {first['seconds']:.1f} s "
          f"({first['seconds'] / bare['seconds']:.2f} x pytest floor {bare['seconds']:.1f} s), "
          f"-n{max(workers)} {most['seconds']:.1f} s, "
          f"peak RSS {max(r['rss_max'] for r in runs.values()) / MIB:.0f} MiB, "
          f"reports {sum(first['sizes'].values()) / MIB:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
