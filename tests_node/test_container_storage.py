"""storage-driver (001 §2): devicemapper filled the disk after docker fell back to it; kind's native
snapshotter on zfs and rootless fuse-overlayfs are chosen for their filesystem, not a fall."""

import pytest

from kubeproof.judge.node import runtime


@pytest.mark.failure("storage-driver")
def test_container_storage_is_no_fallback_driver(node, verdict):
    verdict.conclude(runtime.storage_driver(node.facts))
