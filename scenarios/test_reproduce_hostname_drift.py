"""hostname-drift (001 §5): a node's hostname changed in place, and the kubelet restarted on it.

inject   on a worker, the kernel hostname set to <node>-renamed and the kubelet restarted (what a
         reboot after the rename does); a journal holds the old name and the restart;
observe  without --hostname-override the kubelet tries to register a node of the new name — the
         Kubernetes face of calico's "unknown nodes" — and the API server's NodeRestriction refuses it
         (the kubelet's credentials name the old node);
judge    hostname.drift on the node's facts names the new hostname;
restore  the old hostname, a kubelet restart, the Node Ready again and hostname.drift passing.
"""

from __future__ import annotations

import pytest

from kubeproof.errors import FaultError, Unavailable
from kubeproof.faults import kubelet
from kubeproof.judge.node.hostname import drift
from kubeproof.kube.nodes import condition
from kubeproof.waiting import wait_for


@pytest.mark.failure("hostname-drift")
def test_a_renamed_host_makes_the_kubelet_register_another_node(scenario):
    name = scenario.worker()
    node, _ = scenario.fault_on(name)
    access = scenario.ref(name).access
    old = node.check("hostname", what="read the hostname").strip()
    new = f"{name}-renamed"
    if scenario.facts(node).kubelet.get("hostname_override"):
        raise Unavailable(f"the kubelet on {name} runs with --hostname-override: a renamed host changes nothing")
    since = []

    def inject() -> None:
        journal = scenario.journal(node)
        journal.record("restart", "kubelet")  # undone after the hostname below is set back
        journal.record("hostname", old)
        node.check(f"hostname {new}", what="set the hostname")
        since.append(int(node.check("date +%s", what="read the node's clock")))
        kubelet.restart(node)

    def observe() -> list[str]:
        return wait_for(f"the kubelet on {name} refused as {new}", lambda: [
            line for line in node.check(f"journalctl -u kubelet --since @{since[0]} --no-pager -o cat",
                                        what="read the kubelet's journal").splitlines() if new in line],
            until=lambda lines: any("Unable to register node" in line for line in lines), timeout=90)

    def recovered() -> None:
        kubelet.wait_healthy(node)
        wait_for(f"node {name} Ready", lambda: scenario.cluster.node(name),
                 until=lambda n: condition(n, "Ready") == "True", timeout=120, transient=(FaultError,))

    scenario.prove(judge=lambda: drift(scenario.facts(node), node_object_name=name, access=access).problems,
                   inject=inject, observe=observe, symptoms=["Unable to register node"], offender=f"hostname {new}",
                   recovered=recovered)
