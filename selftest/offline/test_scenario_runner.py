"""The scenario runner's own verdicts (kubeproof/scenario/), without a cluster: its eight steps in order
over a declaration whose fault the judge sees while it is in place, each step failing the run when its
verdict does not hold; the catalog's symptom strings as patterns, step 7's rule for where the history
scan may find a scenario's symptom, what a wait that gives up says, and which nodes a scenario may
schedule on (kind's nodefs waits for the same). Every scenario runs them for real in
selftest/live/test_main_flow_live.py."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubeproof.errors import FaultError, Unavailable
from kubeproof.evidence import Evidence
from kubeproof.kube.nodes import unschedulable
from kubeproof.scenario import Scenario, catalog_symptom, misplaced, node_lock, symptom_pattern
from kubeproof.times import stamp
from kubeproof.waiting import wait_for

NODES = {"cp", "w1", "w2"}
SEEN = "0/3 nodes are available: 1 node(s) didn't match pod anti-affinity rules."
OFFENDER = "Deployment shop/web"


class Declared:
    """A scenario's declaration over a fake cluster: its fault stalls a rollout (the judge names the
    Deployment, a FailedScheduling Event is posted) until the fault's undo; every call is recorded."""

    def __init__(self, running: Scenario):
        self.running, self.calls, self.faulty, self.events, self.left = running, [], False, [], []
        self.event_hosts = [""]  # where its Events happen: the scheduler's name no node
        self.undo_fixes = True
        running.say = lambda message: None
        running.node = lambda name: name
        running.facts = self.facts
        running.view = lambda: SimpleNamespace(list=self.listed)
        running.leftovers = lambda: self.calls.append("leftovers") or self.left

    def facts(self, node: str):
        raise Unavailable(f"node {node}: no node access here")

    def listed(self, kind: str) -> list[dict]:
        self.calls.append(f"list {kind}")
        return self.events

    def arrange(self) -> None:
        self.calls.append("arrange")
        self.running.hold(shared={node_lock("w1")})
        self.running.defer("undo the arrangement", lambda: self.calls.append("undo the arrangement"))

    def inject(self) -> None:
        self.calls.append("inject")
        self.faulty = True
        self.events += [{"involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-2"},
                         "reason": "FailedScheduling", "message": SEEN, "source": {"host": host},
                         "lastTimestamp": stamp(datetime.now(timezone.utc))} for host in self.event_hosts]
        self.running.defer("undo the fault", self.undo)

    def undo(self) -> None:
        self.calls.append("undo the fault")
        self.faulty = not self.undo_fixes

    def observe(self) -> list[str]:
        self.calls.append("observe")
        return [SEEN] if self.faulty else ["all replicas available"]

    def judge(self) -> list[str]:
        self.calls.append("judge")
        return [f"{OFFENDER}: a rollout cannot place its surge pod"] if self.faulty else []

    def recovered(self) -> None:
        self.calls.append("recovered")

    def prove(self, **overrides) -> None:
        self.running.prove(**{"arrange": self.arrange, "judge": self.judge, "inject": self.inject,
                              "observe": self.observe, "symptoms": ["didn't match pod anti-affinity rules"],
                              "offender": OFFENDER, "recovered": self.recovered, "found_in": ["events"],
                              **overrides})


@pytest.fixture
def declared(tmp_path: Path) -> Declared:
    audit = SimpleNamespace(workdir=tmp_path, nodes=[SimpleNamespace(name=n) for n in sorted(NODES)],
                            profile={"history_days": 1})
    return Declared(Scenario(["affinity-rollout-stall"], audit, image="busybox",
                             evidence=Evidence(SimpleNamespace(stash={}))))


def test_a_declaration_runs_through_the_eight_steps_in_order(declared: Declared):
    declared.prove()
    assert declared.calls == ["arrange", "judge", "inject", "observe", "judge", "undo the fault", "recovered",
                              "judge", "list events", "undo the arrangement", "leftovers"]
    evidence = declared.running.evidence.items
    assert list(evidence) == ["1. judged healthy", "3. symptom observed", "4. judged faulty", "5. restored",
                              "6. judged restored", "7. happened here", "8. nothing left"]
    assert evidence["3. symptom observed"]["catalog"] == {
        "0/<n> nodes are available: <reasons>1 node(s) didn't match pod anti-affinity rules": SEEN}
    assert evidence["7. happened here"]["acted on"] == ["node w1"]
    assert [f["where"] for f in evidence["7. happened here"]["found"]] == ["cluster"]
    assert sorted(evidence["7. happened here"]["not read"]) == sorted(NODES)


@pytest.mark.parametrize("breaking, failure", [
    (lambda d: setattr(d, "faulty", True), "judged healthy: the judge fails"),
    (lambda d: setattr(d, "observe", lambda: ["all replicas available"]), "symptom not seen"),
    (lambda d: setattr(d, "judge", lambda: ["Deployment shop/other: a rollout cannot place its surge pod"]
                       if d.faulty else []), "judged faulty: the judge does not name ['Deployment shop/web']"),
    (lambda d: setattr(d, "undo_fixes", False), "judged restored: the judge fails"),
    (lambda d: setattr(d, "event_hosts", []),
     "the history scan found nothing in ['events'] on ['node w1']"),
    (lambda d: d.event_hosts.append("w2"), "the history scan found the symptom on nodes the scenario did not"),
    (lambda d: setattr(d, "left", ["pod shop/web-2"]), "left behind: ['pod shop/web-2']"),
], ids=["1-healthy", "3-symptom", "4-offender", "6-restored", "7-missing", "7-stray", "8-leftovers"])
def test_each_step_fails_the_run_when_its_verdict_does_not_hold(declared: Declared, breaking, failure):
    breaking(declared)
    with pytest.raises(AssertionError) as failed:
        declared.prove()
    assert failure in str(failed.value)
    if failure.startswith("judged healthy"):
        assert "inject" not in declared.calls, "the fault must not be injected on an unhealthy start"


def finding(where: str, log: str) -> dict:
    return {"where": where, "in": log}


@pytest.mark.parametrize("symptom, seen, matches", [
    ("0/<n> nodes are available: ...1 node(s) didn't match pod anti-affinity rules",
     "0/3 nodes are available: 1 node(s) had untolerated taint, 1 node(s) didn't match pod anti-affinity rules.", True),
    ("0/<n> nodes are available: ...1 node(s) didn't match pod anti-affinity rules",
     "0/3 nodes are available: 1 node(s) had untolerated taint.", False),
    ("x509: certificate has expired or is not yet valid", "x509: certificate has expired or is not yet valid: now", True),
])
def test_a_catalog_symptom_matches_what_the_field_report_saw(symptom, seen, matches):
    assert bool(symptom_pattern(symptom).search(seen)) is matches


def test_a_symptom_fragment_picks_exactly_one_catalog_string():
    assert catalog_symptom(["namespace-stuck"], "NamespaceFinalizersRemaining").startswith("NamespaceFinalizersRemaining")
    with pytest.raises(FaultError, match="0 symptoms"):
        catalog_symptom(["namespace-stuck"], "no such words")


def test_found_on_the_node_it_acted_on_and_nowhere_else_is_the_proof():
    found = [finding("node w1", "kubelet"), finding("node w1", "events")]
    assert misplaced(found, acted={"node w1"}, nodes=NODES, found_in=["kubelet", "events"], found_anywhere=False) == ([], [])


def test_a_log_without_the_symptom_where_it_acted_is_missing():
    found = [finding("node w1", "events")]
    assert misplaced(found, acted={"node w1"}, nodes=NODES, found_in=["kubelet", "events"],
                     found_anywhere=False) == (["kubelet"], [])


def test_the_symptom_on_another_node_is_stray():
    found = [finding("node w1", "kubelet"), finding("node w2", "kubelet")]
    assert misplaced(found, acted={"node w1"}, nodes=NODES, found_in=["kubelet"],
                     found_anywhere=False) == ([], [finding("node w2", "kubelet")])


def test_a_scheduler_event_names_no_node_and_counts_where_it_acted():
    found = [finding("cluster", "events")]
    assert misplaced(found, acted={"node w1"}, nodes=NODES, found_in=["events"], found_anywhere=False) == ([], [])


def test_a_scenario_that_leaves_no_symptom_must_leave_none_even_on_its_own_node():
    found = [finding("node w1", "kubelet")]
    assert misplaced(found, acted={"node w1"}, nodes=NODES, found_in=[], found_anywhere=False) == ([], found)


def test_a_symptom_that_lands_anywhere_is_never_stray_but_still_required():
    found = [finding("node w2", "kubelet")]
    assert misplaced(found, acted={"node cp"}, nodes=NODES, found_in=["kubelet"],
                     found_anywhere=True) == (["kubelet"], [])


def test_a_wait_that_times_out_says_the_objects_state_not_its_body():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver-cp", "annotations": {"a": "x" * 900}},
           "status": {"phase": "Running", "containerStatuses": [{"ready": False, "restartCount": 2}]}}
    with pytest.raises(FaultError) as failed:
        wait_for("kube-apiserver-cp restarted", lambda: pod, until=lambda p: False, timeout=0.05, interval=0.01)
    assert str(failed.value) == ("kube-apiserver-cp restarted: not within 0.05 s "
                                 "(last seen: Pod kube-apiserver-cp: phase Running, ready 0/1, restarts 2)")


def test_a_wait_on_a_list_of_objects_counts_them_and_names_a_few():
    pods = [{"kind": "Pod", "metadata": {"name": f"p{i}"}, "status": {"phase": "Pending"}} for i in range(7)]
    with pytest.raises(FaultError, match=r"last seen: 7: Pod p0: phase Pending; .*; Pod p4: phase Pending\)$"):
        wait_for("pods gone", lambda: pods, until=lambda p: not p, timeout=0.05, interval=0.01)


def test_a_long_wait_says_so_where_it_is_told(monkeypatch):
    monkeypatch.setattr("kubeproof.waiting.PROGRESS_EVERY", 0.0)
    said, calls = [], iter(range(100))
    wait_for("the third poll", lambda: next(calls), until=lambda n: n >= 3, timeout=5, interval=0.01,
             progress=said.append)
    assert said and all(line.startswith("waiting ") and "for the third poll (last seen: " in line for line in said)


def node(ready: str | None, *taints: tuple[str, str]) -> dict:
    return {"spec": {"taints": [{"key": k, "effect": e} for k, e in taints]},
            "status": {"conditions": [{"type": "Ready", "status": ready}] if ready else []}}


@pytest.mark.parametrize("state, why", [
    (node("True"), []),
    (node("True", ("example.com/soft", "PreferNoSchedule")), []),
    (node("True", ("node-role.kubernetes.io/control-plane", "NoSchedule")),
     ["tainted node-role.kubernetes.io/control-plane:NoSchedule"]),
    # Ready again, and the node lifecycle controller has not lifted its taint yet: still no pod there.
    (node("True", ("node.kubernetes.io/not-ready", "NoSchedule")), ["tainted node.kubernetes.io/not-ready:NoSchedule"]),
    (node("Unknown", ("node.kubernetes.io/unreachable", "NoExecute")),
     ["tainted node.kubernetes.io/unreachable:NoExecute", "not Ready"]),
    (node(None), ["not Ready"]),
])
def test_a_node_is_schedulable_only_ready_and_untainted(state, why):
    assert unschedulable(state) == why
