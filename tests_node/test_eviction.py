"""nodefs-pressure (002, 004): the kubelet evicting everything from a nearly full nodefs."""

import pytest

from kubeproof.judge.node import eviction


@pytest.mark.failure("nodefs-pressure")
def test_free_space_above_eviction_thresholds(node, profile, verdict):
    verdict.conclude(eviction.free_space(node.facts, profile.eviction_margin_percent))


@pytest.mark.failure("nodefs-pressure")
def test_no_eviction_signal_is_disabled(node, verdict):
    verdict.conclude(eviction.in_effect(node.facts))
