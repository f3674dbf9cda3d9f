"""python -m selftest.lab up | env | down  (docs/lab.md)

up    build what is missing, create the lab cluster of a Kubernetes minor (--kubernetes, default
      the newest pinned; --name: another one beside it), wait for it; last line: eval-able exports
env   the exports without a cluster (kind, kubectl, the node image), building what is missing
down  remove every lab cluster of every minor and what it left
record  write the lab cluster's dumps into selftest/data/lab/<version> (selftest/lab/record.py)
"""

from __future__ import annotations

import argparse
import sys

from filelock import FileLock

from . import build, cluster, nodeimage, pins, record


def _prepare(release: pins.Release) -> None:
    build.ensure_binaries((release,))
    nodeimage.ensure_node_image(release)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selftest.lab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "env", "down", "record"))
    parser.add_argument("--kubernetes", metavar="MINOR", choices=[r.minor for r in pins.RELEASES],
                        help=f"the Kubernetes minor (default {pins.DEFAULT.minor})")
    parser.add_argument("--name", help=f"the cluster's name (default {pins.CLUSTER} for {pins.DEFAULT.minor}, "
                        f"{pins.CLUSTER}-MINOR for another); names start with 'kubeproof' so that down finds them")
    args = parser.parse_args(argv)
    args.release = pins.release(args.kubernetes)
    args.name = args.name or args.release.cluster
    if not args.name.startswith("kubeproof"):
        parser.error("--name must start with 'kubeproof'")
    if args.command == "down":
        removed = cluster.delete_all()
        print(f"removed {len(removed)} lab cluster(s){': ' + ', '.join(removed) if removed else ''}")
        return 0
    if args.command == "record":
        record.record(args.release, args.name)
        return 0
    # Two `up`s at once (two checkouts, two shells) would build and create the same things.
    pins.CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(pins.CACHE / "lab.lock")):
        return _build_and_start(args)


def _build_and_start(args: argparse.Namespace) -> int:
    _prepare(args.release)
    if args.command == "env":
        cluster.prepare_host()
        print(cluster.exports(args.release))
        return 0
    cluster.create(args.release, args.name)
    cluster.wait_ready(args.release, args.name)
    print(cluster.exports(args.release, {"KUBECONFIG": str(cluster.kubeconfig(args.name)),
                                         "KUBEPROOF_SELFTEST_CONTEXT": f"kind-{args.name}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
