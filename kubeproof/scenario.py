"""A scenario's lifecycle: phases a person can follow, locks, and a restore that always runs.

A scenario injects a fault, observes the symptom the field report describes, judges with the
hardening assertion of its failure id, and restores the node or cluster. This module holds what
they all share:

- phases (`with scenario.phase("inject", "..."):`) logged through the `kubeproof.scenario`
  logger as they start and end, so long runs can be followed (`-o log_cli=true`, or the terminal
  lines scenarios/conftest.py adds when not under xdist);
- locks, reader-writer flocks in the run's work directory shared by the xdist workers: a fault on
  a node holds that node exclusively, a pod scheduled on it holds it shared, and a control-plane
  disruption holds the API exclusively while every other scenario holds it shared, so `-n8`
  never runs two faults on one node or under a restarting API server;
- the restore stack: every change registers its undo right after it is made (`defer`); the undos
  run newest first in the fixture's finalizer, on failure, timeout and Ctrl-C too (a Ctrl-C
  during the restore is held back until it ends). What a killed run could not undo is on the
  nodes' journals and in labelled objects, for `python -m kubeproof cleanup`;
- `prove`, the one lifecycle every scenario declares itself to (upstream's runEvictionTest shape):
  the judge passes on the healthy, hardened state; the fault; the field symptom, matched against
  the catalog's own strings; the judge fails naming the offender; the fault undone; the judge
  passes again; the history scan finds the symptom where the scenario acted and nowhere else; the
  hardening undone and nothing left behind. Each step's result is evidence.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import catalog
from .audit import Audit
from .errors import FaultError, Unavailable
from .evidence import Evidence
from .faults.cluster import SCENARIO_LABEL, Cluster
from .faults.journal import Journal
from .faults.node import NodeShell
from .judge import history
from .judge.cluster import history as cluster_history
from .judge.node import history as node_history
from .kube import client as kube_client
from .kube.nodes import unschedulable
from .kube.view import ClusterView
from .nodes import gather
from .nodes.facts import NodeFacts
from .inventory import NodeRef, roles_of
from .nodes.probe import CLEANUP
from .times import parse_time

log = logging.getLogger("kubeproof.scenario")
API_LOCK = "api"
CONTROL_PLANE_ROLE = "control-plane"
TOOLS_IMAGE_ENV = "KUBEPROOF_TOOLS_IMAGE"
LOCK_TIMEOUT = 1800.0  # another scenario may hold a node for a long eviction run
CLOCK_SLACK = timedelta(seconds=5)  # log lines are stamped by the node's clock, the start by ours


NODE_LOCK_PREFIX = "node-"


def node_lock(name: str) -> str:
    return NODE_LOCK_PREFIX + name


class Locks:
    """Reader-writer locks between the processes of one run: flock on files in a directory."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def acquire(self, *, exclusive: set[str], shared: set[str], timeout: float) -> Callable[[], None]:
        """Take every lock (in name order, so that two scenarios cannot deadlock); the release."""
        held: list[int] = []
        deadline = time.monotonic() + timeout

        def release() -> None:
            while held:
                os.close(held.pop())  # closing the descriptor drops its flock

        try:
            for name in sorted(exclusive | shared):
                path = self.directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                held.append(fd)
                mode = fcntl.LOCK_EX if name in exclusive else fcntl.LOCK_SH
                while True:
                    try:
                        fcntl.flock(fd, mode | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise FaultError(f"lock {name}: still held by another scenario after "
                                             f"{timeout:g} s") from None
                        time.sleep(0.2)
        except BaseException:
            release()
            raise
        return release


class Scenario:
    def __init__(self, failure_ids: list[str], audit: Audit, *, image: str, evidence: Evidence,
                 tools_image: str = "", lock_timeout: float = LOCK_TIMEOUT):
        self.id = failure_ids[0]  # names its namespace and journals
        self.failure_ids = tuple(failure_ids)
        self.title = ", ".join(failure_ids)
        self.evidence = evidence
        self._states: dict[str, tuple[NodeShell, NodeState]] = {}  # nodes faulted: as they were
        self.audit, self.image, self._tools_image = audit, image, tools_image
        self.lock_timeout = lock_timeout
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._locks = Locks(audit.workdir / "scenario-locks")
        self._cluster: Cluster | None = None
        self._acted: set[str] = set()  # the nodes it faulted or ran pods on (its node locks)
        self._interrupted = False  # the run was interrupted: restore without waiting for namespaces

    # -- following a run ------------------------------------------------------------------

    def say(self, message: str) -> None:
        log.info("scenario %s: %s", self.title, message)

    @contextlib.contextmanager
    def phase(self, name: str, what: str) -> Iterator[None]:
        started = time.monotonic()
        self.say(f"{name}: {what}")
        try:
            yield
        except BaseException as exc:
            self.say(f"{name}: failed after {time.monotonic() - started:.1f} s: "
                     f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
            raise
        self.say(f"{name}: done in {time.monotonic() - started:.1f} s")

    @property
    def tools_image(self) -> str:
        """An image with python3 on the nodes (KUBEPROOF_TOOLS_IMAGE), else Unavailable (a skip)."""
        if not self._tools_image:
            raise Unavailable(f"{TOOLS_IMAGE_ENV} is not set: the scenario needs an image with python3 that the "
                              "nodes hold or can pull (the lab's: localhost/kubeproof-lab/tools:bookworm)")
        return self._tools_image

    # -- undoing ---------------------------------------------------------------------------

    def defer(self, what: str, undo: Callable[[], None]) -> None:
        """Register the undo of a change just made; undos run newest first in `restore`."""
        self._undo.append((what, undo))

    def restore(self, down_to: int = 0, *, interrupted: bool = False) -> None:
        """Run the registered undos above the first down_to, newest first, even if one fails; a
        Ctrl-C waits until the end. Once the run is interrupted, namespaces are deleted without
        waiting for them to go (cleanup finds them by their label), so the run ends promptly."""
        if len(self._undo) <= down_to:
            return
        self._interrupted = interrupted
        previous = None
        if threading.current_thread() is threading.main_thread():
            def hold_back(signum, frame):
                self._interrupted = True
                self.say("restore: interrupt held back until the restore is done "
                         "(`python -m kubeproof cleanup` undoes whatever a killed run leaves)")
            previous = signal.signal(signal.SIGINT, hold_back)
        failures = []
        try:
            with self.phase("restore", f"{len(self._undo) - down_to} step(s)"):
                while len(self._undo) > down_to:
                    what, undo = self._undo.pop()
                    self.say(f"restore: {what}")
                    try:
                        undo()
                    except Exception as exc:  # go on with the other undos, then report them all
                        failures.append(f"{what}: {exc}")
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if self._interrupted and not interrupted:  # a Ctrl-C held back during this restore
            raise KeyboardInterrupt
        if failures:
            raise FaultError("restore incomplete (run `python -m kubeproof cleanup`): "
                             + "; ".join(failures))

    # -- what scenarios act on -------------------------------------------------------------

    def hold(self, *, exclusive: set[str] = frozenset(), shared: set[str] = frozenset()) -> None:
        """Take locks until the scenario is restored (the API lock is always held, shared at least)."""
        shared = set(shared) | ({API_LOCK} - set(exclusive))
        self._acted |= {name.removeprefix(NODE_LOCK_PREFIX) for name in set(exclusive) | shared
                        if name.startswith(NODE_LOCK_PREFIX)}
        self.say(f"waiting for locks: {', '.join(sorted(exclusive)) or '-'} exclusive, "
                 f"{', '.join(sorted(shared))} shared")
        release = self._locks.acquire(exclusive=set(exclusive), shared=shared, timeout=self.lock_timeout)
        self.defer("release locks", release)

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            target = self.audit.target
            self._cluster = Cluster(kube_client.api_client(target.kubeconfig, target.context))
        return self._cluster

    def namespace(self) -> str:
        """A labelled namespace of this scenario, deleted (and waited for) at restore."""
        name = self.cluster.create_namespace(self.id)
        self.defer(f"delete namespace {name}", lambda: self._delete_namespace(name))
        return name

    def _delete_namespace(self, name: str) -> None:
        if self._interrupted:
            self.say(f"namespace {name} is being deleted; {CLEANUP}")
        self.cluster.delete_namespace(name, wait=not self._interrupted)

    def ref(self, name: str) -> NodeRef:
        ref = next((n for n in self.audit.nodes if n.name == name), None)
        if ref is None:
            raise Unavailable(f"node {name} is not in the inventory (--nodes, --node-access none?): "
                              "the scenario needs to act on it")
        return ref

    def workers(self) -> list[str]:
        """Nodes pods can be scheduled on: Ready, no NoSchedule/NoExecute taint; workers first."""
        every = self.audit.view.list("nodes")
        nodes = [n for n in every if not unschedulable(n)]
        if not nodes:
            raise Unavailable("no schedulable Ready node at the run's start: " + "; ".join(
                f"{n['metadata']['name']} {', '.join(unschedulable(n))}" for n in every))
        return [n["metadata"]["name"] for n in sorted(nodes, key=lambda n: CONTROL_PLANE_ROLE in roles_of(n))]

    def worker(self) -> str:
        """The first node pods can be scheduled on, a worker if any."""
        return self.workers()[0]

    def control_plane(self) -> str:
        """A control-plane node (by its node-role label)."""
        found = [n["metadata"]["name"] for n in self.audit.view.list("nodes") if CONTROL_PLANE_ROLE in roles_of(n)]
        if not found:
            raise Unavailable("no node carries the node-role.kubernetes.io/control-plane label")
        return found[0]

    def node(self, name: str) -> NodeShell:
        """A shell on the node for faults; Unavailable when its access cannot write (pod, dump)."""
        ref = self.ref(name)
        try:
            return NodeShell(ref.access, ref.name, ssh_config=self.audit.options.ssh_config,
                             sudo=self.audit.options.sudo)
        except FaultError as exc:
            raise Unavailable(str(exc)) from None

    def journal(self, node: NodeShell) -> Journal:
        """A journal for changes on node, undone at restore (and by cleanup if the run dies)."""
        journal = Journal(node, self.id)
        self.defer(f"undo the changes on node {node.name} ({journal.path})", journal.undo)
        return journal

    def fault_on(self, name: str, *, api: bool = False) -> tuple[NodeShell, Journal]:
        """The prologue of a fault on node name: hold it exclusively (and the API too when api, for a
        control-plane disruption), then a shell on it and a journal of the changes; (shell, journal).
        Unavailable (a skip) before anything is changed when the node's access cannot write."""
        self.hold(exclusive={node_lock(name)} | ({API_LOCK} if api else set()))
        node = self.node(name)
        if name not in self._states:
            self._states[name] = (node, node_state(node))
        return node, self.journal(node)

    # -- judging on what is there now -------------------------------------------------------

    def view(self) -> ClusterView:
        """A cluster view listed now (the audit's view is the run's start, shared and cached)."""
        target = self.audit.target
        return ClusterView.live(self.cluster.api, context=target.context)

    def facts(self, node: NodeShell) -> NodeFacts:
        """The node's facts gathered now, in one round trip."""
        ref = self.ref(node.name)
        return NodeFacts(gather.gather(node.host, node.name, root=ref.root,
                                       timeout=self.audit.node_timeout, profile=self.audit.profile))

    # -- the lifecycle every scenario declares ---------------------------------------------------

    def prove(self, *, judge: Callable[[], list[str]], offender: str | tuple[str, ...], inject: Callable[[], object],
              observe: Callable[[], Iterable[str]], symptoms: Iterable[str | tuple[str, ...]],
              arrange: Callable[[], object] | None = None,
              recovered: Callable[[], object] | None = None,
              found_in: Iterable[str] = (), found_anywhere: str = "") -> None:
        """Run a scenario's declaration through the eight steps, each step's result into evidence.

        arrange   the healthy, hardened state the judge must pass on (its undos run last);
        judge     the problems the failure id's judges find now, on what the scenario acts on;
        inject    the fault, every change registering its undo (defer, a journal);
        observe   waits for the field symptom and returns what was seen (events, logs, output);
        symptoms  fragments picking the catalog's symptom strings that must match what was seen
                  (a tuple: any one of them, the same symptom in another component's words);
        offender  what the failing judge must name (a node, an object; several: each of them);
        recovered waits, once the fault is undone, until the node or cluster is healthy again.
        found_in  the logs ("kubelet", "runtime", "kernel", "events") where the history scan must find
                  the symptom on the nodes the scenario acted on (none: it leaves none the catalog's
                  patterns know, and the scan must find nothing anywhere);
        found_anywhere  why the symptom may land on nodes the scenario did not act on (every client
                  of a broken API server, say); the scan then checks found_in only.
        """
        began = datetime.now(timezone.utc) - CLOCK_SLACK
        expected = [tuple(catalog_symptom(self.failure_ids, f) for f in (fragment if isinstance(fragment, tuple)
                                                                         else (fragment,))) for fragment in symptoms]
        limits = [e.scenario_limits for e in map(catalog.load().__getitem__, self.failure_ids)
                  if e.scenario_limits]
        if limits:
            self.evidence.attach("what this scenario cannot show", limits)
        if arrange is not None:
            with self.phase("arrange", "the healthy, hardened state"):
                arrange()
        self._verdict(1, "judged healthy", judge, failing=None)
        fault = len(self._undo)
        with self.phase("inject", "the fault"):
            inject()
        with self.phase("observe", f"the field symptom: {'; '.join(' or '.join(e) for e in expected) or '(none the catalog holds)'}"):
            seen = [" ".join(str(text).split()) for text in observe()]
            matched = {" or ".join(alternatives): next((text for text in seen for symptom in alternatives
                                                        if symptom_pattern(symptom).search(text)), None)
                       for alternatives in expected}
            self.evidence.attach("3. symptom observed", {"catalog": matched, "seen": seen[:50]})
            missing = [symptom for symptom, text in matched.items() if text is None]
            assert not missing, f"symptom not seen: {missing}; seen: {seen[:10]}"
        self._verdict(4, "judged faulty", judge, failing=offender)
        self.restore(down_to=fault)
        if recovered is not None:
            with self.phase("recover", "healthy again after the fault's undo"):
                recovered()
        self.evidence.attach("5. restored", "the fault's changes undone" + (", healthy again" if recovered else ""))
        self._verdict(6, "judged restored", judge, failing=None)
        # Before the scenario's namespaces go: their Events go with them.
        self._happened_here(began, tuple(found_in), found_anywhere)
        self.restore()
        with self.phase("leftovers (8/8)", "no labelled object, no journal, kubelet config and images as they were"):
            left = self.leftovers()
            self.evidence.attach("8. nothing left", left or "nothing")
            assert not left, f"left behind: {left}"

    def _happened_here(self, began: datetime, found_in: tuple[str, ...], found_anywhere: str) -> None:
        """Step 7: the history tests' judges, over what happened since the scenario began, find its
        symptom in found_in on the nodes it acted on, and nothing on the others."""
        ids = [i for i in self.failure_ids if catalog.load()[i].patterns]
        acted = {f"node {name}" for name in self._acted}
        with self.phase("happened here (7/8)", f"{', '.join(ids) or 'no pattern'} since {history.stamp(began)}: "
                                               f"in {', '.join(found_in) or 'no log'} on {', '.join(sorted(acted)) or 'no node'}"):
            if not ids:
                self.evidence.attach("7. happened here", f"the catalog holds no pattern for {self.title}")
                return
            found, unread = self._sightings(ids, began)
            missing, stray = misplaced(found, acted=acted, nodes={ref.name for ref in self.audit.nodes},
                                       found_in=found_in, found_anywhere=bool(found_anywhere))
            self.evidence.attach("7. happened here", {
                "since": history.stamp(began), "acted on": sorted(acted), "found": found,
                **({"may land anywhere": found_anywhere} if found_anywhere else {}),
                **({"not read": unread} if unread else {})})
            assert not missing, f"the history scan found nothing in {missing} on {sorted(acted)}: {found}"
            where = "on nodes the scenario did not act on" if found_in else "though the scenario declares it leaves none"
            assert not stray, f"the history scan found the symptom {where}: {stray}"

    def _sightings(self, ids: list[str], began: datetime) -> tuple[list[dict], dict[str, str]]:
        """Every node's and the Events' findings for ids last seen since began; and the nodes not read."""
        days = self.audit.profile["history_days"]
        judgements, unread = [], {}
        for ref in self.audit.nodes:
            try:
                facts = self.facts(self.node(ref.name))
            except (Unavailable, FaultError) as exc:
                unread[ref.name] = str(exc)
                continue
            judgements += [node_history.seen_on_node(facts, i, days) for i in ids]
        events = self.view().list("events")
        now = datetime.now(timezone.utc)
        judgements += [cluster_history.seen_in_events(events, i, now, days) for i in ids]
        found = [{key: f[key] for key in ("where", "in", "reason", "sightings", "last")} | {"line": f["lines"][0]}
                 for j in judgements for f in j.offenders
                 if f["last"] and parse_time(f["last"]) >= began]
        return found, unread

    def _verdict(self, step: int, what: str, judge: Callable[[], list[str]], *,
                 failing: str | tuple[str, ...] | None) -> None:
        names = (failing,) if isinstance(failing, str) else failing or ()
        with self.phase(f"judge ({step}/8)", f"{what}: " + (f"must name {', '.join(names)}" if names else "must pass")):
            problems = list(judge())
            self.evidence.attach(f"{step}. {what}", problems or "passed")
            if not names:
                assert not problems, f"{what}: the judge fails: {problems}"
            unnamed = [n for n in names if not any(n in p for p in problems)]
            assert not unnamed, f"{what}: the judge does not name {unnamed}: {problems}"

    def leftovers(self) -> list[str]:
        """What the scenario left: labelled namespaces and pods, journals, a changed kubelet config,
        images gone from a node it faulted."""
        mine = f"{SCENARIO_LABEL}={self.id}"
        left = [f"namespace {ns.metadata.name}" for ns in self.cluster.call(
            "list namespaces", self.cluster.core.list_namespace, label_selector=mine).items]
        left += [f"pod {p.metadata.namespace}/{p.metadata.name}" for p in self.cluster.call(
            "list pods", self.cluster.core.list_pod_for_all_namespaces, label_selector=mine).items]
        for name, (node, before) in self._states.items():
            left += [f"node {name}: {change}" for change in before.changes(node_state(node))]
        return left


def misplaced(found: list[dict], *, acted: set[str], nodes: set[str], found_in: Iterable[str],
              found_anywhere: bool) -> tuple[list[str], list[dict]]:
    """Step 7's verdict on the history scan's findings ({"where": "node X" or another place, "in": log}):
    (the logs of found_in with no finding where the scenario acted, the findings where they may not be).
    Where it acted: its nodes ("node X" in acted), or no node at all (a scheduler's Event)."""
    others = {f"node {name}" for name in nodes} - acted
    here = [f for f in found if f["where"] not in others]
    missing = [log for log in found_in if not any(f["in"] == log for f in here)]
    if found_anywhere:
        return missing, []
    return missing, [f for f in found if f not in here] if found_in else list(found)


def catalog_symptom(failure_ids: Iterable[str], fragment: str) -> str:
    """The catalog's symptom string of one of failure_ids that holds fragment (exactly one)."""
    found = [s for i in failure_ids for s in catalog.load()[i].symptoms if fragment in s]
    if len(found) != 1:
        raise FaultError(f"{len(found)} symptoms of {', '.join(failure_ids)} in the catalog hold {fragment!r}")
    return found[0]


def symptom_pattern(symptom: str) -> re.Pattern:
    """A catalog symptom as a search pattern: "...", "…" and "<placeholder>" stand for any text."""
    return re.compile(".*?".join(re.escape(part) for part in re.split(r"\.\.\.|…|<[^<>]+>", symptom)), re.S)


JOURNALS = "/var/lib/kubeproof/journal"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
_STATE = (f"sha256sum {KUBELET_CONFIG} 2>/dev/null | cut -d' ' -f1; echo @@; "
          f"crictl images -q 2>/dev/null | sort; echo @@; ls {JOURNALS} 2>/dev/null; true")


@dataclass(frozen=True)
class NodeState:
    """What a fault on a node must leave as it found it."""
    kubelet_config: str  # sha256 of the kubelet's config file, "" without one
    images: frozenset[str]
    journals: frozenset[str]

    def changes(self, now: "NodeState") -> list[str]:
        found = []
        if now.kubelet_config != self.kubelet_config:
            found.append(f"{KUBELET_CONFIG} changed (sha256 {self.kubelet_config[:12]} -> {now.kubelet_config[:12]})")
        if self.images - now.images:
            found.append(f"{len(self.images - now.images)} image(s) gone: {sorted(self.images - now.images)[:5]}")
        if now.journals - self.journals:
            found.append(f"journal(s) left in {JOURNALS}: {sorted(now.journals - self.journals)}")
        return found


def node_state(node: NodeShell) -> NodeState:
    config, images, journals = (part.split() for part in
                                node.check(_STATE, what="read the kubelet config's digest, images and journals")
                                .split("@@"))
    return NodeState("".join(config), frozenset(images), frozenset(journals))
