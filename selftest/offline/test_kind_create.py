"""kind.create: a cluster kind fails to make (kubeadm timing out on a loaded machine) is deleted and
made once more from scratch; a second failure is one line. kind here is a stand-in script on PATH that
records its arguments and fails as told: the real kind's exit status is all create reads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubeproof import kind
from kubeproof.errors import KubeproofError


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A `kind` failing its first `fails` creates; returns the calls it saw and the nodefs calls."""
    calls, fail_file = tmp_path / "calls", tmp_path / "fails"
    script = tmp_path / "bin" / "kind"
    script.parent.mkdir()
    script.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
if [ "$1" = create ]; then
  left=$(cat {fail_file}); [ "$left" -gt 0 ] && {{ echo $((left - 1)) > {fail_file}; exit 1; }}
fi
exit 0
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    nodefs = []
    monkeypatch.setattr(kind, "_own_nodefs", lambda cluster, kubeconfig, say: nodefs.append(cluster))

    def run(fails: int) -> tuple[list[str], list[str], list[str]]:
        fail_file.write_text(str(fails))
        said: list[str] = []
        try:
            kind.create("kp-test", tmp_path / "kubeconfig", said.append)
        finally:
            seen = [line.split()[0] for line in calls.read_text().splitlines()] if calls.exists() else []
        return seen, said, nodefs
    run.calls = calls
    return run


def test_a_failed_create_is_deleted_and_tried_once_more(stand_in):
    seen, said, nodefs = stand_in(1)
    assert seen == ["create", "delete", "create"]
    assert any("trying once more" in line for line in said) and nodefs == ["kp-test"]


def test_a_second_failure_is_one_line_and_leaves_nothing(stand_in):
    with pytest.raises(KubeproofError, match=r"kind could not create cluster kp-test \(exit 1\); see its output"):
        stand_in(2)
    assert [line.split()[0] for line in stand_in.calls.read_text().splitlines()] == [
        "create", "delete", "create", "delete"]


def test_a_cluster_made_at_once_is_made_once(stand_in):
    seen, said, _ = stand_in(0)
    assert seen == ["create"] and said == []
