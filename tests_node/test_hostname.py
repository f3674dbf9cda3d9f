"""hostname-drift (001 §5): a renamed host registered twice by calico.

The registered name is the Node object's when there is a cluster, else the kubelet's client
certificate CN system:node:<name>, else the name the node was reached by (see judge/hostname.py).
"""

import pytest

from kubeproof.errors import Unavailable
from kubeproof.judge.node import hostname


@pytest.mark.failure("hostname-drift")
def test_hostname_matches_the_registered_node_name(node, verdict):
    try:
        registered = node.object["metadata"]["name"]
    except Unavailable:  # no cluster (--hosts): the node's own records say who it is
        registered = None
    verdict.conclude(hostname.drift(node.facts, node_object_name=registered, access=node.ref.access))
