"""python -m selftest.lab up | env | down  (docs/lab.md)

up    build what is missing, create the lab cluster (--name: another one beside it), wait for it;
      last line: eval-able exports
env   the exports without a cluster (kind, kubectl, the node image), building what is missing
down  remove every lab cluster and what it left
record  write the lab cluster's dumps into selftest/data/lab (selftest/lab/record.py)
"""

from __future__ import annotations

import argparse
import sys

from filelock import FileLock

from . import build, cluster, nodeimage, pins, record


def _prepare() -> None:
    build.ensure_binaries()
    nodeimage.ensure_node_image()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selftest.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "env", "down", "record"))
    parser.add_argument("--name", default=pins.CLUSTER, help=f"the cluster's name (default {pins.CLUSTER}); "
                        "names start with 'kubeproof' so that down finds them")
    args = parser.parse_args(argv)
    if not args.name.startswith("kubeproof"):
        parser.error("--name must start with 'kubeproof'")
    if args.command == "down":
        removed = cluster.delete_all()
        print(f"removed {len(removed)} lab cluster(s){': ' + ', '.join(removed) if removed else ''}")
        return 0
    if args.command == "record":
        record.record(args.name)
        return 0
    # Two `up`s at once (two checkouts, two shells) would build and create the same things.
    pins.CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(pins.CACHE / "lab.lock")):
        return _build_and_start(args)


def _build_and_start(args: argparse.Namespace) -> int:
    _prepare()
    if args.command == "env":
        cluster.prepare_host()
        print(cluster.exports())
        return 0
    cluster.create(args.name)
    cluster.wait_ready(args.name)
    print(cluster.exports({"KUBECONFIG": str(cluster.kubeconfig(args.name)),
                           "KUBEPROOF_SELFTEST_CONTEXT": f"kind-{args.name}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
