"""NodeFacts keeps each section as JSON and hands out fresh values: what an assertion does to them
never reaches the next one, and every value reads back as gathered."""

from __future__ import annotations

from kubeproof.nodes import gather
from kubeproof.nodes.facts import NodeFacts

from selftest.support.recorded_node import node
from selftest.support.paths import NODES


def test_a_value_changed_by_one_assertion_is_not_what_the_next_reads() -> None:
    facts = node()
    facts.kubelet_flags.clear()
    facts.kubelet["flags"]["--hacked"] = ["yes"]
    facts.certificates.append({"path": "/planted"})
    facts.history("kubelet")["lines"].append("planted")
    assert facts.kubelet_flags and "--hacked" not in facts.kubelet_flags
    assert "/planted" not in [c["path"] for c in facts.certificates]
    assert "planted" not in facts.history("kubelet")["lines"]
    unread = NodeFacts({"node": "n"})
    unread.history("kernel")["lines"].append("planted")
    assert unread.history("kernel")["lines"] == []


def test_every_section_reads_back_as_gathered() -> None:
    gathered = gather.parse((NODES / "kubeadm-node.gather.txt").read_text())
    assert NodeFacts(gathered).as_dict() == gathered


def test_an_integer_past_64_bits_reads_back_exactly() -> None:
    """orjson refuses it (and would read it back as a float): that section goes through json."""
    facts = NodeFacts({"node": "n", "sysctl": {"fs.file-max": "9223372036854775807"},
                       "cgroup": {"stat": {"hierarchical_memory_limit": 2 ** 70}}})
    assert facts.cgroup["stat"]["hierarchical_memory_limit"] == 2 ** 70
    assert facts.sysctl("fs.file-max") == "9223372036854775807"
    assert facts.name == "n" and facts.as_dict()["cgroup"]["stat"]["hierarchical_memory_limit"] == 2 ** 70
