"""storage-driver (001 §2): devicemapper filled the disk after docker fell back to it."""

import pytest

from kubeproof.judge.node import runtime


@pytest.mark.failure("storage-driver")
def test_container_storage_is_overlay(node, verdict):
    verdict.conclude(runtime.storage_driver(node.facts))
