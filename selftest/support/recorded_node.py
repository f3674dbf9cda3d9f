"""gather.sh's output recorded from real nodes (selftest/data/nodes), parsed as gathering parses it,
with any section swapped for what a field report shows."""

from __future__ import annotations

import re

from kubeproof.nodes import gather
from kubeproof.nodes.facts import NodeFacts

from .paths import NODES


def node(recording: str = "kubeadm-node", **sections: str) -> NodeFacts:
    """The recorded facts with the named sections' output replaced (kubelet_config -> kubelet-config)."""
    text = (NODES / f"{recording}.gather.txt").read_text()
    for section, output in sections.items():
        name = section.replace("_", "-")
        text, found = re.subn(rf"(@@kubeproof-section {name}\n).*?(\n@@kubeproof-end {name} rc=)\d+",
                              lambda m: f"{m[1]}{output}{m[2]}0", text, flags=re.S)
        assert found == 1, section
    facts = gather.parse(text)
    facts.update(node=recording, gathered_at=facts["node_time"])
    return NodeFacts(facts)
