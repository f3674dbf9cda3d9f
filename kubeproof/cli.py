"""`kubeproof` (or `python -m kubeproof`): audit, catalog, dump, cleanup, diff, replay, image, manifests."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from . import catalog as catalogs
from . import home
from .errors import KubeproofError, UsageParser
from .nodes.probe import DEFAULT_IMAGE
from .plugin import OFFLINE, suite_dirs
from .scheduling import suite_of
from .target import HELP, NODE_ACCESS, Options, check_writable, positive_seconds

USAGE_ERROR = 4  # as pytest's for a usage error: one line, no traceback
REFERENCE_KEYS = {"node": "node_tests", "cluster": "cluster_tests", "scenario": "scenarios"}


class _References:
    """A pytest plugin that collects the suites offline and records which tests declare which id."""

    def __init__(self) -> None:
        self.found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[OFFLINE] = True

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        dirs = suite_dirs(config)
        for item in items:
            suite = suite_of(item.path, dirs)
            for mark in item.iter_markers("failure"):
                for failure_id in mark.args:
                    self.found[failure_id][REFERENCE_KEYS.get(suite, "other_tests")].add(
                        item.nodeid.split("[")[0])


def references(root: Path) -> dict[str, dict[str, list[str]]]:
    """Failure id -> {node_tests, cluster_tests, scenarios}: the test ids that declare it."""
    paths = [str(root / d) for d in home.SUITES if (root / d).is_dir()]
    if not paths:
        raise KubeproofError(f"no kubeproof suites under {root} (looked for {', '.join(home.SUITES)})")
    collector = _References()
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = pytest.main(["--collect-only", "-qq", "-p", "no:cacheprovider", "--rootdir", str(root),
                            *paths], plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise KubeproofError("collecting the suites failed:\n" + output.getvalue().strip())
    return {fid: {key: sorted(ids) for key, ids in kinds.items()} for fid, kinds in collector.found.items()}


def cmd_catalog(args: argparse.Namespace) -> int:
    catalog = catalogs.load()
    refs = references(Path(args.root))
    entries = []
    for entry in catalog.entries:
        found = refs.get(entry.id, {})
        entries.append({**entry.as_dict(), **{key: found.get(key, []) for key in REFERENCE_KEYS.values()}})
    if args.format == "json":
        json.dump({"failures": entries}, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    for e in entries:
        print(f"{e['id']}  [{e['severity']}]  {e['title']}")
        for key in REFERENCE_KEYS.values():
            print(f"    {key}: {len(e[key])}" + (f"  ({', '.join(e[key])})" if e[key] else ""))
        for reason in ("no_assertion", "no_scenario"):
            if e[reason]:
                print(f"    {reason.replace('_', ' ')}: {e[reason]}")
    return 0


def say(line: str) -> None:
    print(line, file=sys.stderr)  # progress stays off stdout, which may be piped


def cmd_dump(args: argparse.Namespace) -> int:
    from .audit import Audit
    from .errors import Unavailable
    from .kube import dump as dumps

    if not (args.kube_context or args.kubeconfig or args.kind_cluster):
        raise KubeproofError("dump needs a cluster: --kube-context, --kubeconfig or --kind-cluster")
    options = Options(kube_context=args.kube_context, kubeconfig=args.kubeconfig,
                      kind_cluster=args.kind_cluster, node_access=args.node_access, nodes=args.nodes)
    check_writable(Path(args.directory), "dump directory")  # before anything is listed
    audit = Audit.start(options, profile_path=None, want_nodes=args.node_access != "none",
                        probe_image=args.probe_image, node_timeout=args.node_timeout, say=say)
    try:
        facts = {}
        for ref in audit.nodes:
            try:
                facts[ref.name] = audit.facts(ref).as_dict()
                say(f"kubeproof: gathered facts of node {ref.name}")
            except KubeproofError as exc:  # an unreachable node leaves a note, the dump goes on
                say(f"kubeproof: no facts for node {ref.name}: {exc}")
        dumps.write_dump(audit.view, Path(args.directory), node_facts=facts,
                         context=audit.target.context)
    except Unavailable as exc:
        raise KubeproofError(str(exc)) from None
    except OSError as exc:  # e.g. the disk filled up while writing
        raise KubeproofError(f"cannot write the dump to {args.directory}: {exc.strerror or exc}") from None
    finally:
        audit.close()
    say(f"kubeproof: wrote the dump of {audit.target.describe()} to {args.directory}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    from . import kind
    from .faults import journal
    from .faults.cluster import Cluster
    from .faults.node import NodeShell
    from .kube import client as kube_client
    from .nodes.probe import ProbePods

    api = kube_client.api_client(args.kubeconfig, args.kube_context)
    kube_client.check_reachable(api, args.kube_context)
    # Scenario objects first: a finalizer left on one would keep its namespace Terminating.
    released = Cluster(api).sweep()
    if released:
        say(f"kubeproof: removed kubeproof finalizers from {', '.join(released)}")
    removed = ProbePods.sweep(api)  # every namespace labelled managed-by=kubeproof: probes and scenarios
    say(f"kubeproof: deleted {len(removed)} namespaces left by kubeproof"
        + (f": {', '.join(removed)}" if removed else ""))
    cluster = kind.cluster_of_context(kube_client.choose_context(args.kubeconfig, args.kube_context)[1])
    if cluster is None:
        say(f"kubeproof: not a kind cluster: undo scenario changes left on its nodes with the journals "
            f"under {journal.ROOT}/journal on each node")
        return 0
    failed = 0
    for name in sorted(kind.node_containers(cluster)):
        try:
            undone = journal.sweep(NodeShell(kind.node_url(name), name))
        except KubeproofError as exc:  # the other nodes go on
            failed += 1
            say(f"kubeproof: node {name}: {exc}")
            continue
        say(f"kubeproof: node {name}: undid {len(undone)} scenario journal(s)"
            + (f": {', '.join(undone)}" if undone else ""))
    return 1 if failed else 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .report import diff as diffs

    documents = []
    for path in (args.old, args.new):
        try:
            documents.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise KubeproofError(f"cannot read audit report {path}: {exc}") from None
        diffs.check(documents[-1], path)
    result = diffs.diff(*documents)
    print(json.dumps(result, indent=2) if args.format == "json" else diffs.render(result))
    return 1 if result["regressions"] else 0  # a nightly job can gate on regressions alone


def cmd_image(args: argparse.Namespace) -> int:
    from .deploy import image

    if not args.kubectl:
        raise KubeproofError("no kubectl on PATH: pass --kubectl=PATH (the image drives probe pods with it)")
    out = Path(args.output)
    check_writable(out.parent, "--output directory")
    image.build(Path(args.wheel), Path(args.base), Path(args.kubectl), out, args.tag)
    say(f"kubeproof: wrote image {args.tag} to {out}")
    return 0


def cmd_manifests(args: argparse.Namespace) -> int:
    from .deploy import manifests

    print(manifests.render(image=args.image, probe_image=args.probe_image, fail_on=args.fail_on,
                           schedule=args.schedule, reports_claim=args.reports_claim), end="")
    return 0


def _target_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--kube-context", metavar="NAME", help=HELP["kube_context"])
    command.add_argument("--kubeconfig", metavar="PATH", help=HELP["kubeconfig"])


def parser() -> argparse.ArgumentParser:
    top = UsageParser(
        prog="python -m kubeproof", description=__doc__,
        epilog="`python -m kubeproof COMMAND --help` describes each command's options. The audit itself "
               "runs under pytest: `python -m pytest --help` lists its options (group kubeproof). "
               "Exit status 4: a usage error, said in one line.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cat = sub.add_parser("catalog", help="print the documented failures and the tests guarding each",
                         description="Print every documented failure (kubeproof/failures.yaml) with the "
                                     "node tests, cluster tests and scenarios guarding it.")
    cat.add_argument("--format", choices=("json", "text"), default="text",
                     help="text for people, json for tools (default: %(default)s)")
    cat.add_argument("--root", metavar="DIR", default=str(home.root()),
                     help="directory holding the suites tests_node, tests_cluster, scenarios "
                          "(default: the installed package's, or this checkout's)")
    cat.set_defaults(run=cmd_catalog)

    dump = sub.add_parser("dump", help="write the cluster's objects and node facts for an offline audit",
                          description="Write one List per resource kind the assertions read, the API "
                                      "server's version and serving certificate, and every node's facts "
                                      "into DIR, for `pytest --from-dump=DIR`. Secrets keep "
                                      "certificates, never keys or tokens. Needs one of --kube-context, "
                                      "--kubeconfig, --kind-cluster.")
    dump.add_argument("directory", metavar="DIR", help="where to write the dump (created if missing)")
    _target_options(dump)
    dump.add_argument("--kind-cluster", metavar="NAME", help=HELP["kind_cluster"])
    dump.add_argument("--node-access", choices=NODE_ACCESS, default="auto", help=HELP["node_access"])
    dump.add_argument("--nodes", metavar="LABEL_SELECTOR", help=HELP["nodes"])
    dump.add_argument("--probe-image", metavar="IMAGE", default=DEFAULT_IMAGE, help=HELP["probe_image"])
    dump.add_argument("--node-timeout", metavar="SECONDS", type=positive_seconds, default=120,
                      help=HELP["node_timeout"])
    dump.set_defaults(run=cmd_dump)

    cleanup = sub.add_parser("cleanup", help="delete what an interrupted kubeproof run left on a cluster",
                             description="Delete every namespace labelled app.kubernetes.io/managed-by="
                                         "kubeproof (probe pods, scenario objects), release kubeproof's "
                                         "finalizers, and on a kind cluster undo the scenario journals "
                                         "left on its nodes.")
    _target_options(cleanup)
    cleanup.set_defaults(run=cmd_cleanup)

    compare = sub.add_parser("diff", help="what regressed between two audit.json reports (exit 1 if any)",
                             description="Compare two audit.json files test by test: every test failing "
                                         "in NEW that passed, skipped or did not exist in OLD is a "
                                         "regression (exit 1); also lists fixes and verdict changes.")
    compare.add_argument("old", metavar="OLD", help="the earlier run's audit.json")
    compare.add_argument("new", metavar="NEW", help="the later run's audit.json")
    compare.add_argument("--format", choices=("json", "text"), default="text",
                         help="text for people, json for tools (default: %(default)s)")
    compare.set_defaults(run=cmd_diff)

    from .deploy.manifests import default_image

    build = sub.add_parser("image", help="build kubeproof's container image from its wheel, no registry needed",
                           description="Write a docker-archive (for docker/podman load, kind load "
                                       "image-archive, ctr images import) of BASE plus the wheel and its "
                                       "dependencies, installed by pip for BASE's python3, and kubectl.")
    build.add_argument("--wheel", required=True, metavar="WHEEL", help="kubeproof's wheel (pip wheel --no-deps .)")
    build.add_argument("--base", required=True, metavar="ROOTFS",
                       help="a root filesystem with python3: a directory, or a tarball as `docker export` writes")
    build.add_argument("--kubectl", metavar="PATH", default=shutil.which("kubectl"),
                       help="the kubectl to put in the image (default: the one on PATH)")
    build.add_argument("--tag", metavar="REF", default=default_image(), help="the image's name (default: %(default)s)")
    build.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive to write")
    build.set_defaults(run=cmd_image)

    deploy = sub.add_parser("manifests", help="print the CronJob auditing the cluster it runs in, with its RBAC",
                            description="Print the objects of kubeproof's nightly CronJob for kubectl apply -f -: "
                                        "the read-only audit and probe ClusterRoles, namespace kubeproof, its "
                                        "service account bound to both, the CronJob. Unset options keep "
                                        "kubeproof/deploy/cronjob.yaml's values.")
    deploy.add_argument("--image", metavar="REF", help="kubeproof's image (default: %s)" % default_image())
    deploy.add_argument("--probe-image", metavar="IMAGE", help="the probe pods' image (mirror busybox:1.36 for "
                                                               "an air-gapped cluster)")
    deploy.add_argument("--fail-on", choices=catalogs.SEVERITIES, help="the gate: the Job fails on failing tests "
                                                                       "of this severity or worse")
    deploy.add_argument("--schedule", metavar="CRON", help="when the audit runs")
    deploy.add_argument("--reports-claim", metavar="PVC", help="keep every run's reports on this "
                        "PersistentVolumeClaim (default: an emptyDir; the log keeps the summary and audit.json)")
    deploy.set_defaults(run=cmd_manifests)

    # Listed for --help; main() hands their arguments to pytest and to the replay server's own parser.
    sub.add_parser("audit", add_help=False,
                   help="the audit: pytest with kubeproof's suites, every pytest option passed through "
                        "(`kubeproof audit --help`)")
    sub.add_parser("replay", add_help=False,
                   help="serve a dump read-only as a Kubernetes API server (DIR [--port N] [--kubeconfig P])")
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["audit"]:
            # A fresh interpreter: in this one kubeproof and its plugins are imported already, too
            # early for pytest to rewrite their asserts (it warns about each).
            os.execv(sys.executable, [sys.executable, "-m", "pytest", *argv[1:]])
        if argv[:1] == ["replay"]:
            from .kube import replay

            return replay.main(argv[1:])
        args = parser().parse_args(argv)
        return args.run(args)
    except KubeproofError as exc:
        print(f"kubeproof: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("kubeproof: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
