"""nofile-exhaustion (001 §4): calico-node out of descriptors under a TIME_WAIT pile-up."""

import pytest

from kubeproof.judge.node import limits


@pytest.mark.failure("nofile-exhaustion")
def test_node_daemons_open_file_limits(node, profile, verdict):
    verdict.conclude(limits.daemon_nofile(node.facts, profile.nofile_min))


@pytest.mark.failure("nofile-exhaustion")
@pytest.mark.failure("node-sysctls")
def test_system_file_table(node, profile, verdict):
    verdict.conclude(limits.file_max(node.facts, profile.file_max_min, profile.socket_table_max_percent))


@pytest.mark.failure("nofile-exhaustion")
def test_socket_tables_have_headroom(node, profile, verdict):
    verdict.conclude(limits.socket_tables(node.facts, profile.socket_table_max_percent))
