"""What a run audits: an existing context, a kind cluster, a dump, given hosts, or this host.

Resolved once, in the pytest controller (or the CLI); the result is plain data handed to xdist workers.
"""

from __future__ import annotations

import argparse
import math
import secrets
import shutil
import tempfile
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import kind
from .errors import KubeproofError
from .kube import client as kube_client

NODE_ACCESS = ("auto", "kind", "pod", "ssh", "local", "none")
IN_CLUSTER = "in-cluster"  # the target's name in a pod using its service account (no context)
# What the options shared by pytest and `python -m kubeproof` mean: one text for both --help outputs.
HELP = {
    "kube_context": "the kubeconfig's context naming the cluster (default: its current-context)",
    "kubeconfig": "kubeconfig file (default: every file of $KUBECONFIG, else ~/.kube/config)",
    "kind_cluster": "an existing kind cluster (its nodes are reached with docker exec)",
    "node_access": "how node facts are gathered: kind (docker exec), pod (privileged probe pod, "
                   "RBAC in kubeproof/rbac/node-probe.yaml), ssh, local, none (no node facts); "
                   "auto = kind on kind clusters, else pod (default: %(default)s)",
    "nodes": "only the nodes matching this label selector (`zone in (a,b)`, `!gpu`)",
    "probe_image": "image of the probe pods of --node-access pod; mirror it for air-gapped "
                   "clusters (default: %(default)s)",
    "node_timeout": "give up gathering a node's facts after this long (default: %(default)s)",
}


@dataclass(frozen=True)
class Options:
    """The kubeproof command-line options that decide the target (shared by pytest and the CLI)."""

    kube_context: str | None = None
    kubeconfig: str | None = None
    kind_cluster: str | None = None
    keep_cluster: bool = False
    from_dump: str | None = None
    hosts: tuple[str, ...] = ()
    node_access: str = "auto"
    nodes: str | None = None
    allow_disruptive: str | None = None
    ssh_config: str | None = None  # testinfra's --ssh-config and --sudo, for ssh node access
    sudo: bool = False
    as_of: str | None = None  # judge expiries and ages as of this date instead of the target's now


@dataclass(frozen=True)
class Target:
    mode: str  # context | kind | dump | hosts | local
    name: str  # what a person calls it: the context name, the dump directory, "localhost"
    kubeconfig: str | None = None
    context: str | None = None
    kind_cluster: str | None = None
    created: bool = False  # created by this run: deleted at its end unless --keep-cluster
    disposable: bool = False  # created by kubeproof (now or by a kept earlier run): scenarios may run
    dump: str | None = None
    hosts: tuple[str, ...] = field(default_factory=tuple)
    why_no_cluster: str = ""

    @property
    def has_cluster(self) -> bool:
        return self.mode in ("context", "kind", "dump")

    @property
    def live(self) -> bool:
        return self.mode in ("context", "kind")

    def describe(self) -> str:
        return {
            "context": "the cluster this pod runs in" if self.name == IN_CLUSTER else f"context {self.context}",
            "kind": f"kind cluster {self.kind_cluster}" + (" (created for this run)" if self.created else ""),
            "dump": f"dump {self.dump}",
            "hosts": f"hosts {', '.join(self.hosts)} (no cluster)",
            "local": "this host as a node (no cluster)",
        }[self.mode]

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Target":
        return cls(**{**data, "hosts": tuple(data["hosts"])})


def _check_exclusive(opts: Options) -> None:
    chosen = [name for name, value in (
        ("--kube-context/--kubeconfig", opts.kube_context or opts.kubeconfig),
        ("--kind-cluster", opts.kind_cluster),
        ("--from-dump", opts.from_dump),
    ) if value]
    if len(chosen) > 1:
        raise KubeproofError(f"choose one target: {' and '.join(chosen)} were both given")
    if opts.hosts and (opts.from_dump or opts.kind_cluster):
        raise KubeproofError("--hosts names the nodes to audit; it cannot be combined with "
                             "--from-dump or --kind-cluster")
    if opts.node_access not in NODE_ACCESS:
        raise KubeproofError(f"--node-access must be one of {', '.join(NODE_ACCESS)}")


def _check_hosts(hosts: tuple[str, ...]) -> None:
    """Each --hosts URL names a host through a transport whose client is installed."""
    from .nodes.transport import SUPPORTED_SCHEMES

    for url in hosts:
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # raises on a port that is not a number in range
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urllib.parse.SplitResult("", "", "", "", "")
        if parts.scheme not in SUPPORTED_SCHEMES or (parts.scheme != "local" and not parts.netloc.rpartition("@")[2]):
            raise KubeproofError(f"--hosts {url!r} is not a host URL: write SCHEME://HOST with SCHEME one of "
                                 f"{', '.join(s for s in SUPPORTED_SCHEMES if s != 'local')}, or local://")
        if parts.scheme != "local" and shutil.which(parts.scheme) is None:
            raise KubeproofError(f"--hosts {url}: {parts.scheme} is not installed (its client reaches the host)")


def positive_seconds(text: str) -> float:
    """An argparse type for timeouts: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def check_writable(directory: Path, what: str) -> None:
    """Create directory if needed and write a file in it, so a run that could not keep its output
    stops before it starts (as root, permission bits alone would say yes)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as exc:
        raise KubeproofError(f"{what} {directory}: cannot write there ({exc.strerror or exc})") from None


def resolve(opts: Options, workdir: Path, say: Callable[[str], None]) -> Target:
    """Decide the target; may create a kind cluster (the only side effect), announced through say."""
    _check_exclusive(opts)
    _check_hosts(opts.hosts)
    if opts.from_dump:
        directory = Path(opts.from_dump)
        if not directory.is_dir():
            raise KubeproofError(f"--from-dump {opts.from_dump}: not a directory")
        return Target("dump", str(directory), dump=str(directory.resolve()))
    if opts.kube_context or opts.kubeconfig:
        cluster = kind.cluster_of_context(opts.kube_context)
        return Target("context", opts.kube_context or "current-context", kubeconfig=opts.kubeconfig,
                      context=opts.kube_context, hosts=opts.hosts, kind_cluster=cluster,
                      disposable=bool(cluster and cluster.startswith(kind.NAME_PREFIX)))
    if opts.hosts:
        return Target("hosts", ",".join(opts.hosts), hosts=opts.hosts,
                      why_no_cluster="--hosts audits the given hosts only")
    if opts.kind_cluster:
        why_not = kind.available()
        if why_not:
            raise KubeproofError(f"--kind-cluster {opts.kind_cluster}: {why_not}")
        kubeconfig = workdir / "kubeconfig"
        kind.write_kubeconfig(opts.kind_cluster, kubeconfig)
        return Target("kind", opts.kind_cluster, kubeconfig=str(kubeconfig),
                      context=kind.context_for(opts.kind_cluster), kind_cluster=opts.kind_cluster,
                      disposable=opts.kind_cluster.startswith(kind.NAME_PREFIX))
    if kube_client.in_cluster(None, None):  # e.g. kubeproof's CronJob: its service account, its cluster
        return Target("context", IN_CLUSTER)
    why_not = kind.available()
    if why_not:
        return Target("local", "localhost", why_no_cluster=f"no --kube-context given and {why_not}")
    name = kind.NAME_PREFIX + secrets.token_hex(3)
    kubeconfig = workdir / "kubeconfig"
    say(f"kubeproof: creating kind cluster {name} from {kind.CLUSTER_CONFIG} (takes a minute or two)")
    kind.create(name, kubeconfig, say)
    return Target("kind", name, kubeconfig=str(kubeconfig), context=kind.context_for(name),
                  kind_cluster=name, created=True, disposable=True)


def check_disruptive_name(target: Target, allow: str | None) -> None:
    """A name given to --allow-disruptive that does not match the target is an error, not a skip:
    a typo must never be read as permission for something else. Checked before anything is created."""
    if allow is not None and allow != target.context:
        raise KubeproofError(
            f"--allow-disruptive={allow} does not match the target ({target.describe()}); "
            "refusing to run disruptive scenarios")


def disruptive_refusal(target: Target, allow: str | None) -> str | None:
    """Why scenarios may not run against this target, or None when they may (once
    check_disruptive_name has accepted allow)."""
    if not target.live:
        return f"disruptive scenarios need a live cluster; the target is {target.describe()}"
    if target.disposable or (allow is not None and allow == target.context):
        return None
    if target.name == IN_CLUSTER:  # no context names it, so nothing can allow it: never from inside
        return f"disruptive scenario: never run on {target.describe()}"
    return (f"disruptive scenario: {target.describe()} was not created by kubeproof; "
            f"pass --allow-disruptive={target.context} to run it there")
