"""storage-driver (001 §2): devicemapper filled the disk after docker fell back to it."""

import pytest

from kubeproof.judge import runtime


@pytest.mark.failure("storage-driver")
def test_container_storage_is_overlay(node, conclude):
    conclude(runtime.storage_driver(node.facts))
