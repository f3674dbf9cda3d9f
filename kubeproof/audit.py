"""One audit run: target, inventory, profile and the shared cache, plus what reads from them.

The controller (or the CLI) calls `Audit.start`, which resolves everything once; xdist workers
rebuild the same object from `export()` without touching the network. Node facts and cluster
lists are then fetched lazily, once per session, through the shared cache.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import inventory, kind
from . import profile as profiles
from .errors import KubeproofError, NodeUnreachable, Unavailable
from .inventory import NodeRef
from .kube import client as kube_client
from .kube import dump as dumps
from .kube.view import ClusterView
from .nodes.facts import NodeFacts
from .sharing import SessionCache
from .target import Options, Target, check_disruptive_name
from .target import resolve as resolve_target
from .times import parse_as_of, parse_time, stamp

Say = Callable[[str], None]
AS_OF_YEARS = 100
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)  # no Kubernetes object is older


def judged_as_of(as_of: datetime, since: datetime | None, what: str) -> datetime:
    """The moment --as-of judges at, checked against the one the target stands for (`since`: the
    dump's date, now, or None when a dump does not say): a day before it would judge objects before
    they existed (certificates "not yet valid"); more than AS_OF_YEARS after it means nothing and
    overflows date arithmetic. A moment earlier on the day of `since` is `since`: `--as-of` today is now."""
    floor = since or EARLIEST
    if as_of.date() < floor.date():
        raise KubeproofError(f"--as-of {as_of.date().isoformat()} is before {what} ({stamp(floor)}): "
                             "kubeproof judges what breaks from then on")
    if as_of.year > (since or datetime.now(timezone.utc)).year + AS_OF_YEARS:
        raise KubeproofError(f"--as-of {as_of.date().isoformat()} is more than {AS_OF_YEARS} years ahead")
    return max(as_of, floor)


class Audit:
    def __init__(self, *, options: Options, profile: profiles.Profile, target: Target,
                 nodes: list[NodeRef], workdir: Path, session: str, node_timeout: float,
                 as_of: datetime | None = None):
        self.options, self.profile, self.target = options, profile, target
        self.nodes = nodes
        self.workdir, self.session, self.node_timeout = workdir, session, node_timeout
        self.cache = SessionCache(workdir / "cache")
        self.as_of = as_of
        self.progress: Say | None = None  # the controller's (or CLI's) voice; workers stay silent
        self._view: ClusterView | None = None
        self._dump_fact_files: dict[str, Path] | None = None
        # One AuditedNode per node for all its tests, and the Node objects by name: at 5,000 nodes
        # a node's facts built, or a list scanned, once per test cost more than the tests.
        self._refs: dict[str, NodeRef] | None = None
        self._audited: dict[str, AuditedNode] = {}
        self._pending: dict[str, int] = {}  # node -> its tests still to run here (node_test_done)
        self._node_objects: dict[str, dict] | None = None
        self._cleanups: list[Callable[[], None]] = []

    # -- controller side -------------------------------------------------------------------

    @classmethod
    def start(cls, options: Options, *, profile_path: str | None, want_nodes: bool,
              probe_image: str, node_timeout: float, say: Say) -> "Audit":
        """Resolve target and inventory once. Raises KubeproofError with a one-line message."""
        profile = profiles.load(profile_path)
        as_of = parse_as_of(options.as_of) if options.as_of else None
        if as_of and not options.from_dump:  # checked before a kind cluster may be created
            as_of = judged_as_of(as_of, datetime.now(timezone.utc), "now")
        workdir = Path(tempfile.mkdtemp(prefix="kubeproof-"))
        session = secrets.token_hex(3)
        audit = cls(options=options, profile=profile, target=Target("local", "localhost"),
                    nodes=[], workdir=workdir, session=session, node_timeout=node_timeout, as_of=as_of)
        audit._cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
        audit.progress = say
        try:
            audit.target = resolved = resolve_target(options, workdir, say)
            if resolved.mode == "dump":
                dump = dumps.open_dump(resolved.dump)
                dump.check()
                since = _dump_date(dump)
                audit.as_of = as_of and judged_as_of(as_of, since, "the dump's date" if since else "1970")
            if resolved.created and not options.keep_cluster:
                audit._cleanups.insert(0, lambda: kind.delete(resolved.kind_cluster, say))
            elif resolved.created:
                say(f"kubeproof: keeping kind cluster {resolved.kind_cluster} "
                    f"(kind delete cluster --name {resolved.kind_cluster})")
            if audit.target.live:
                audit.target = _checked_live_target(audit.target)
            check_disruptive_name(audit.target, options.allow_disruptive)  # before any probe pod
            if want_nodes:
                audit.nodes = audit._resolve_nodes(probe_image, say)
        except BaseException:
            audit.close()
            raise
        return audit

    def _resolve_nodes(self, probe_image: str, say: Say) -> list[NodeRef]:
        nodes = self.view.list("nodes") if self.target.has_cluster and self.view.has("nodes") else None
        refs = inventory.resolve(self.options, self.target, nodes, tuple(self.dump_fact_files))
        pod_refs = [r for r in refs if r.access == inventory.POD_ACCESS and not r.unavailable]  # no pod for Talos
        if not pod_refs:
            return refs
        from .nodes import gather
        from .nodes.probe import ProbePods  # the kubernetes write path is only loaded when used

        probe = ProbePods(kube_client.api_client(self.target.kubeconfig, self.target.context),
                          session=self.session, image=probe_image,
                          kubeconfig=self.target.kubeconfig, context=self.target.context)
        self._cleanups.insert(0, lambda: probe.stop(say))
        started, clock = datetime.now(timezone.utc), time.monotonic()

        def keep(node: str, output: str) -> str:
            """Store a node's facts where Audit.facts looks first, so no worker execs for them."""
            try:
                facts = gather.from_output(node, output, started=started, duration=time.monotonic() - clock)
            except NodeUnreachable as exc:
                return exc.reason
            # Through a cache object of its own: self.cache would keep every node's facts in memory.
            SessionCache(self.cache.directory).get_or_compute(_facts_key(node), lambda: facts)
            return ""

        # --node-timeout bounds both halves of a node's gathering by probe pod: its start and its script.
        problems = probe.start([r.name for r in pod_refs], script=gather.script(self.profile), keep=keep,
                               timeout=self.node_timeout, gather_timeout=self.node_timeout, say=say)
        return [dataclasses.replace(r, access=probe.url(r.name), unavailable=problems[r.name])
                if r.name in problems else r for r in refs]

    def close(self) -> None:
        """Undo what the run created (probe pods, a kind cluster, the work directory)."""
        while self._cleanups:
            self._cleanups.pop(0)()

    # -- handing the run to xdist workers --------------------------------------------------

    def export(self) -> dict:
        return {
            "options": dataclasses.asdict(self.options), "profile": dict(self.profile),
            "target": self.target.as_dict(), "nodes": [n.as_dict() for n in self.nodes],
            "workdir": str(self.workdir), "session": self.session, "node_timeout": self.node_timeout,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }

    @classmethod
    def from_export(cls, data: dict) -> "Audit":
        options = Options(**{**data["options"], "hosts": tuple(data["options"]["hosts"])})
        return cls(options=options,
                   profile=profiles.Profile(data["profile"]), target=Target.from_dict(data["target"]),
                   nodes=[NodeRef.from_dict(n) for n in data["nodes"]], workdir=Path(data["workdir"]),
                   session=data["session"], node_timeout=data["node_timeout"],
                   as_of=parse_time(data["as_of"]))

    # -- what tests read ------------------------------------------------------------------

    @property
    def view(self) -> ClusterView:
        if self._view is None:
            if not self.target.has_cluster:
                raise Unavailable(f"no cluster: {self.target.why_no_cluster}")
            if self.target.mode == "dump":
                self._view = ClusterView.from_dump(self.target.dump)
            else:
                api = kube_client.api_client(self.target.kubeconfig, self.target.context)
                self._view = ClusterView.live(api, cache=self.cache, context=self.target.context,
                                              progress=self.progress)
            if self.as_of:
                self._view.judge_as_of(self.as_of)
        return self._view

    def moment(self) -> str | None:
        """What "now" means for this audit when it is not the present moment, for the header."""
        if self.as_of:
            return f"every expiry and age is judged as of {stamp(self.as_of)} (--as-of)"
        if self.target.mode == "dump":
            try:
                taken = self.view.now()
            except Unavailable:  # a kubectl dump without Nodes does not say when it was taken
                return None
            return (f"every expiry and age is judged as of the dump's date, {stamp(taken)} "
                    "(--as-of DATE for another)")
        return None

    def node_skip_reason(self) -> str | None:
        """Why no node test can run, when one reason holds for every node; said once, not per test."""
        if self.options.node_access == "none":
            return "node tests disabled by --node-access none"
        if not self.nodes:
            return f"no nodes to audit in {self.target.describe()}"
        if self.target.mode == "dump" and not self.dump_fact_files:
            return (f"the dump holds no node facts ({self.target.dump}; `python -m kubeproof dump` "
                    "records them)")
        reasons = {ref.unavailable for ref in self.nodes}
        if len(reasons) == 1 and "" not in reasons:
            return f"no node reachable: {reasons.pop()}"
        return None

    @property
    def dump_fact_files(self) -> dict[str, Path]:
        if self._dump_fact_files is None:
            self._dump_fact_files = dumps.node_fact_files(self.target.dump) if self.target.dump else {}
        return self._dump_fact_files

    def audited_node(self, name: str) -> "AuditedNode":
        if name not in self._audited:
            if self._refs is None:
                self._refs = {n.name: n for n in self.nodes}
            ref = self._refs[name]
            self._audited[name] = AuditedNode(ref, self.facts(ref), self)
        return self._audited[name]

    def expect_node_tests(self, counts: dict[str, int]) -> None:
        """How many tests this process will run for each node (its collection)."""
        self._pending = dict(counts)

    def node_test_done(self, name: str) -> None:
        """One of the node's tests ran; after its last, its facts are let go. A test run again
        after that (a rerun plugin) reads them again."""
        left = self._pending.get(name, 0) - 1
        if left > 0:
            self._pending[name] = left
        else:
            self._pending.pop(name, None)
            self._audited.pop(name, None)

    def node_object(self, name: str) -> dict:
        """The Node object named name, from the view."""
        if self._node_objects is None:
            self._node_objects = {n["metadata"]["name"]: n for n in self.view.list("nodes")}
        return self._node_objects[name]

    def facts(self, ref: NodeRef) -> NodeFacts:
        """The node's facts: with pod access most are in the cache already (read from the probe pods'
        logs at the start); else one gathering round trip per node per session, whichever worker asks first."""
        if ref.unavailable:
            raise Unavailable(f"node {ref.name}: {ref.unavailable}")
        if ref.access == inventory.DUMP_ACCESS:
            data = self._dump_node_facts(ref.name)
            if data is None:
                raise Unavailable(f"the dump {self.target.dump} holds no facts for node {ref.name}")
            return self._as_of(data)
        data = self.cache.get_or_compute(_facts_key(ref.name), lambda: self._gather(ref))
        if "error" in data:
            raise NodeUnreachable(ref.name, data["error"])
        return self._as_of(data)

    def _dump_node_facts(self, name: str) -> dict | None:
        """One node's facts in the dump, read from its own file when a test first asks (the dump was
        checked whole at the start, a file at a time). Nothing holds every node's facts: an xdist
        controller runs no node test, and every process holding them all was 500 MiB each at 5,000
        nodes."""
        path = self.dump_fact_files.get(name)
        return dumps.read_node_fact_file(path) if path else None

    def _as_of(self, data: dict) -> NodeFacts:
        """The facts, with --as-of standing in for the moment they were gathered: node judges read
        "now" from gathered_at. The real moment stays beside it as evidence."""
        if self.as_of is None:
            return NodeFacts(data)
        return NodeFacts({**data, "gathered_at": stamp(self.as_of),
                          "gathered_at_really": data.get("gathered_at")})

    def _gather(self, ref: NodeRef) -> dict:
        from .nodes import gather, transport

        try:
            host = transport.open_host(ref.access, ssh_config=self.options.ssh_config,
                                       sudo=self.options.sudo)
            return gather.gather(host, ref.name, root=ref.root, timeout=self.node_timeout, profile=self.profile)
        except NodeUnreachable as exc:
            return {"error": exc.reason}  # cached too: the node's other tests fail fast
        except KubeproofError as exc:  # e.g. a --hosts URL whose scheme no transport serves
            return {"error": str(exc)}


class AuditedNode:
    """What a node test receives: the node's name, roles, facts and, when there is one, its Node object."""

    def __init__(self, ref: NodeRef, facts: NodeFacts, audit: Audit):
        self.ref, self.facts, self._audit = ref, facts, audit
        self.name, self.roles = ref.name, ref.roles

    @property
    def object(self) -> dict:
        if not self.ref.has_object:
            raise Unavailable(f"no Kubernetes Node object for {self.name} "
                              f"({self._audit.target.describe()})")
        return self._audit.node_object(self.name)

    def __repr__(self) -> str:
        return f"<node {self.name}>"


def _facts_key(node: str) -> str:
    return f"facts-{node}"


def _checked_live_target(target: Target) -> Target:
    """Fail fast on a bad context or an unreachable API server, once, before any test runs."""
    _, context = kube_client.choose_context(target.kubeconfig, target.context)
    api = kube_client.api_client(target.kubeconfig, context)
    kube_client.check_reachable(api, context)
    cluster = target.kind_cluster or kind.cluster_of_context(context)
    return dataclasses.replace(target, context=context, name=context or target.name, kind_cluster=cluster)


def _dump_date(dump: dumps.Dump) -> datetime | None:
    try:
        return dump.now()
    except Unavailable:  # a kubectl dump without Nodes does not say when it was taken
        return None
