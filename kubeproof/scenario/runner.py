"""The runner: `prove`, the one lifecycle every scenario declares itself to (upstream's
runEvictionTest shape), its eight steps in order and each step's result into evidence:

1. the judge passes on the healthy, hardened state (`arrange`);
2. the fault (`inject`), every change registering its undo;
3. the field symptom (`observe`), matched against the catalog's own strings (symptoms.py);
4. the judge fails naming the offender;
5. the fault undone (undo.py), healthy again (`recovered`);
6. the judge passes again;
7. the history scan finds the symptom where the scenario acted and nowhere else (happened.py);
8. the hardening undone and nothing left behind (leftovers.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable

from .. import catalog
from ..audit import Audit
from ..evidence import Evidence
from ..times import stamp
from . import happened, symptoms as matching
from .acting import Acting
from .leftovers import left_behind
from .locks import LOCK_TIMEOUT


class Scenario(Acting):
    def __init__(self, failure_ids: list[str], audit: Audit, *, image: str, evidence: Evidence,
                 tools_image: str = "", lock_timeout: float = LOCK_TIMEOUT):
        super().__init__(failure_ids, audit, image=image, tools_image=tools_image, lock_timeout=lock_timeout)
        self.evidence = evidence

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
        began = happened.began()
        expected = matching.expected(self.failure_ids, symptoms)
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
            matched = matching.matched(expected, seen)
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

    def _happened_here(self, began: datetime, found_in: tuple[str, ...], found_anywhere: str) -> None:
        """Step 7: the symptom in found_in on the nodes the scenario acted on, and on no other."""
        ids = [i for i in self.failure_ids if catalog.load()[i].patterns]
        acted = {f"node {name}" for name in self._acted}
        with self.phase("happened here (7/8)", f"{', '.join(ids) or 'no pattern'} since {stamp(began)}: "
                                               f"in {', '.join(found_in) or 'no log'} on {', '.join(sorted(acted)) or 'no node'}"):
            if not ids:
                self.evidence.attach("7. happened here", f"the catalog holds no pattern for {self.title}")
                return
            nodes = [ref.name for ref in self.audit.nodes]
            found, unread = happened.sightings(ids, began, nodes=nodes, facts=lambda name: self.facts(self.node(name)),
                                               events=lambda: self.view().list("events"),
                                               days=self.audit.profile["history_days"])
            missing, stray = happened.misplaced(found, acted=acted, nodes=set(nodes), found_in=found_in,
                                                found_anywhere=bool(found_anywhere))
            self.evidence.attach("7. happened here", {
                "since": stamp(began), "acted on": sorted(acted), "found": found,
                **({"may land anywhere": found_anywhere} if found_anywhere else {}),
                **({"not read": unread} if unread else {})})
            assert not missing, f"the history scan found nothing in {missing} on {sorted(acted)}: {found}"
            where = "on nodes the scenario did not act on" if found_in else "though the scenario declares it leaves none"
            assert not stray, f"the history scan found the symptom {where}: {stray}"

    def leftovers(self) -> list[str]:
        """What the scenario left (leftovers.py)."""
        return left_behind(self.cluster, self.id, self._states)
