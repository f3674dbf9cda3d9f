"""Talos nodes cannot be gathered (issue 19): their node tests skip with that reason, no probe pod is made.

The Talos Node is the shape Talos's own tests give it: siderolabs/talos @ ad8823176e75b9cd07647ddde13c34f2ab77c663
internal/pkg/discovery/registry/kubernetes_test.go's "controlplane" Node (name, annotations, role label,
Hostname address, osImage "Talos (v1.0.0)"), with the nodeInfo fields internal/integration/k8s/version.go
asserts on every node of a live cluster (operatingSystem linux, containerd://DefaultContainerdVersion 2.3.4,
kubelet v1.37.0-rc.1, kernel 6.18.45-talos: pkg/machinery/constants/constants.go).
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from kubeproof import inventory, profile
from kubeproof.audit import Audit
from kubeproof.errors import Unavailable
from kubeproof.kube.replay import ReplayServer
from kubeproof.target import Options, Target
from selftest.support.paths import HEALTHY

TALOS_NODE = {
    "metadata": {
        "name": "bar",
        "annotations": {"cluster.talos.dev/node-id": "29QQTc97U5ZyFTIX33Dp9NqtwxqQI8QI13scCLzffrZ",
                        "networking.talos.dev/api-server-port": "6443",
                        "networking.talos.dev/self-ips": "10.0.0.2,192.168.3.4"},
        "labels": {"node-role.kubernetes.io/control-plane": ""},
    },
    "spec": {},
    "status": {
        "addresses": [{"type": "Hostname", "address": "foo.com"}],
        "nodeInfo": {"osImage": "Talos (v1.0.0)", "operatingSystem": "linux", "kernelVersion": "6.18.45-talos",
                     "containerRuntimeVersion": "containerd://2.3.4", "kubeletVersion": "v1.37.0-rc.1"},
    },
}
LIVE = Target("context", "prod", context="prod")


def _other_node() -> dict:
    return json.loads((HEALTHY / "nodes.json").read_text())["items"][1]  # Debian GNU/Linux 12 (bookworm)


@pytest.mark.parametrize("access", ["auto", "pod", "ssh"])
def test_a_talos_node_is_not_gathered_and_says_why(access: str) -> None:
    talos, other = inventory.resolve(Options(node_access=access), LIVE, [TALOS_NODE, _other_node()])
    assert talos.name == "bar" and talos.roles == ("control-plane",)
    assert talos.unavailable == ("Talos (v1.0.0) has no shell on the host and no sshd: gather.sh cannot run there "
                                 "(a probe pod's chroot /host finds no /bin/sh), so the node's facts cannot be "
                                 "gathered")
    assert other.unavailable == ""  # other nodes: reached as before
    assert other.access == (f"ssh://{other.name}" if access == "ssh" else inventory.POD_ACCESS)


def test_a_dump_of_a_talos_node_is_judged_from_its_facts_as_any_other() -> None:
    dumped = Target("dump", "d", dump="/nowhere")
    (ref,) = inventory.resolve(Options(), dumped, [TALOS_NODE], ("bar",))
    assert ref.unavailable == "" and ref.access == inventory.DUMP_ACCESS


def test_each_talos_node_test_skips_naming_the_node_and_talos(tmp_path) -> None:
    refs = inventory.resolve(Options(), LIVE, [TALOS_NODE])
    audit = Audit(options=Options(), profile=profile.load(), target=LIVE, nodes=refs, workdir=tmp_path,
                  session="t", node_timeout=1)
    with pytest.raises(Unavailable, match=r"^node bar: Talos \(v1\.0\.0\) has no shell on the host[^\n]*$"):
        audit.facts(refs[0])


NODE_SUITE = """
import pytest

@pytest.mark.failure("hostname-drift")
def test_gathered(node):
    assert node.facts.hostname == node.name
"""


def test_talos_node_tests_skip_with_the_reason_and_no_probe_pod_is_made(pytester, tmp_path) -> None:
    dump = tmp_path / "talos"
    shutil.copytree(HEALTHY, dump)
    nodes = json.loads((dump / "nodes.json").read_text())
    for i, node in enumerate(nodes["items"]):  # the healthy cluster's two nodes, running Talos
        talos = copy.deepcopy(TALOS_NODE)
        talos["metadata"]["name"] = node["metadata"]["name"]
        talos["metadata"]["labels"] = node["metadata"]["labels"]
        nodes["items"][i] = talos
    (dump / "nodes.json").write_text(json.dumps(nodes))
    pytester.makeini("[pytest]\nkubeproof_suites = suite_node:node\n")
    pytester.mkdir("suite_node")
    (pytester.path / "suite_node" / "test_node.py").write_text(NODE_SUITE)
    with ReplayServer(dump) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context="talos")
        result = pytester.runpytest("suite_node", f"--kubeconfig={kubeconfig}", "--node-access=pod", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*node tests skip: no node reachable: Talos (v1.0.0) has no shell on the host "
                                 "and no sshd: gather.sh cannot run there*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert {r[0] for r in server.requests} <= {"get", "list"}, "no probe namespace or pod is created"
