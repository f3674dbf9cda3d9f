"""hostname-drift (001 §5): a node's hostname changed in place, and the kubelet restarted on it.

inject   on a worker, set the kernel hostname to <node>-renamed and restart the kubelet (what a
         reboot after the rename does); the journal holds the old name and the restart;
observe  without --hostname-override the kubelet now tries to register a node of the new name —
         the Kubernetes face of calico's "unknown nodes" — and the API server's NodeRestriction
         refuses it (the kubelet's credentials name the old node); with an override it keeps its
         registration and nothing happens;
judge    hostname.drift on facts gathered now flags the node exactly when no override pins the
         name; node_registrations.duplicate_registrations shows whether a second Node appeared;
restore  the old hostname, a kubelet restart, the Node Ready again and hostname.drift passing.
"""

from __future__ import annotations

import time

import pytest

from kubeproof.faults import kubelet
from kubeproof.faults.cluster import condition
from kubeproof.faults.node import FaultError
from kubeproof.faults.waiting import wait_for
from kubeproof.judge.node.hostname import drift
from kubeproof.judge.cluster.node_registrations import duplicate_registrations

REGISTERING = "Attempting to register node"


@pytest.mark.failure("hostname-drift")
def test_a_renamed_host_makes_the_kubelet_register_another_node(scenario, evidence):
    name = scenario.worker()
    node, journal = scenario.fault_on(name)
    access = scenario.ref(name).access
    old = node.check("hostname", what="read the hostname").strip()
    new = f"{name}-renamed"

    with scenario.phase("inject", f"hostname {old} -> {new} on {name}, then restart the kubelet"):
        journal.record("restart", "kubelet")  # undone after the hostname below is set back
        journal.record("hostname", old)
        node.check(f"hostname {new}", what="set the hostname")
        since = int(node.check("date +%s", what="read the node's clock"))
        kubelet.restart(node)

    with scenario.phase("observe", "what the restarted kubelet registers as"):
        facts = scenario.facts(node)
        override = facts.kubelet.get("hostname_override")
        evidence.attach("kubelet", {"hostname": facts.hostname, "hostname_override": override})
        if override:
            scenario.say(f"observe: --hostname-override={override} pins the name; no new registration")
        else:
            logs = wait_for(f"the kubelet on {name} registering {new}", lambda: [
                line for line in node.check(f"journalctl -u kubelet --since @{since} --no-pager -o cat",
                                            what="read the kubelet's journal").splitlines()
                if new in line], until=lambda lines: any(REGISTERING in line for line in lines), timeout=90)
            evidence.attach("kubelet log naming the new hostname", logs)

    with scenario.phase("judge", f"hostname.drift {'passes (override)' if override else 'flags the node'}"):
        judged = drift(facts, node_object_name=name, access=access)
        evidence.attach("hostname.drift", {"problems": judged.problems, "judged": judged.judged})
        if override:
            assert not judged.problems, judged.problems
        else:
            assert any(f"hostname {new}" in p for p in judged.problems), judged.problems
        registrations = duplicate_registrations(scenario.view().list("nodes"))
        evidence.attach("duplicate registrations", registrations.problems)
        scenario.say(f"judge: duplicate_registrations: {len(registrations.problems)} finding(s)")

    with scenario.phase("restore", f"hostname {old}, kubelet restarted, node {name} Ready"):
        journal.undo()
        kubelet.wait_healthy(node)
        restarted = time.time()
        wait_for(f"node {name} Ready", lambda: scenario.cluster.node(name),
                 until=lambda n: condition(n, "Ready") == "True", timeout=120, transient=(FaultError,))
        assert not drift(scenario.facts(node), node_object_name=name, access=access).problems
        scenario.say(f"restore: Ready {time.time() - restarted:.0f} s after the kubelet came back")
