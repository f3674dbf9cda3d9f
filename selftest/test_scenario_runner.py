"""The scenario runner's own verdicts (kubeproof/scenario/), without a cluster: the catalog's symptom
strings as patterns, step 7's rule for where the history scan may find a scenario's symptom, what a
wait that gives up says, and which nodes a scenario may schedule on (kind's nodefs waits for the same).
Every scenario runs them for real in selftest/test_main_flow_live.py."""

from __future__ import annotations

import pytest

from kubeproof.errors import FaultError
from kubeproof.kube.nodes import unschedulable
from kubeproof.scenario import catalog_symptom, misplaced, symptom_pattern
from kubeproof.waiting import wait_for

NODES = {"cp", "w1", "w2"}


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
