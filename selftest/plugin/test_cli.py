"""`python -m kubeproof` as a user meets it: each command's --help, and one-line mistakes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ["catalog", "dump", "cleanup", "diff", "replay"]


def kubeproof(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubeproof", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def described(help_text: str) -> dict[str, str]:
    """Each option or argument argparse lists -> its description (continuation lines joined)."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.split("\n\n", 1)[1].splitlines():  # past the usage block
        if re.match(r"^  \S", line):  # "  --name METAVAR   description" or the name alone
            current, _, text = line.strip().partition("  ")
            entries[current] = text.strip()
        elif current and line.startswith(" " * 6):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_command_is_described(command: str) -> None:
    result = kubeproof(command, "--help")
    assert result.returncode == 0, result.stderr
    usage = result.stdout.split("\n\n", 1)[0]
    entries = described(result.stdout)
    listed = {word.split()[0] for name in entries for word in name.split(", ")}
    assert set(re.findall(r"\[(--?[a-z][a-z-]*)", usage)) <= listed, result.stdout
    for name, text in entries.items():
        assert text.strip(), f"{command} --help: {name} is not described:\n{result.stdout}"


def test_a_context_with_no_kubeconfig_anywhere_says_where_it_looked(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"HOME": str(tmp_path)}
    result = kubeproof("cleanup", "--kube-context", "prod", env=env)
    assert result.returncode == 4 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    for said in ("context 'prod'", "$KUBECONFIG (unset)", "~/.kube/config", str(tmp_path / ".kube" / "config"),
                 "--kubeconfig=PATH", "KUBECONFIG=PATH"):
        assert said in result.stderr, result.stderr


def test_the_audit_says_the_same_before_any_test(pytester: pytest.Pytester, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    pytester.makeini("[pytest]\nkubeproof_suites = suite_cluster:cluster\n")
    pytester.mkdir("suite_cluster")
    (pytester.path / "suite_cluster" / "test_c.py").write_text(
        'import pytest\n\n@pytest.mark.failure("namespace-stuck")\ndef test_c(cluster):\n    pass\n')
    result = pytester.runpytest("--kube-context", "prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "no kubeconfig" in line]
    assert len(errors) == 1 and "$KUBECONFIG (unset), then ~/.kube/config" in errors[0], result.stderr.str()
