"""kubeproof as a user installs it: the wheel built from this checkout, installed into a fresh virtualenv,
run in an empty directory. Needs pip and PyPI (hatchling and the dependencies; pip's cache is reused):
`-m "not network"` leaves it out."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from selftest.support.paths import REPO

LAB_DUMP = REPO / "selftest" / "data" / "lab" / "v1.32.4" / "kubeproof-dump"

pytestmark = pytest.mark.network


def run(*args: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=env)


def audit_json(directory: Path) -> dict:
    [report] = directory.glob("reports/*/audit.json")
    return json.loads(report.read_text())


def outcomes(document: dict) -> dict[str, str]:
    return {r["test"]: r["outcome"] for f in document["failures"] for r in f["results"]}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin directory of a fresh virtualenv holding only the wheel and its dependencies."""
    base = tmp_path_factory.mktemp("package")
    top_level = sorted(p.name for p in REPO.iterdir())
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "wheels", REPO, cwd=base)
    assert built.returncode == 0, built.stderr
    assert sorted(p.name for p in REPO.iterdir()) == top_level, "pip wheel left build artefacts in the checkout"
    [wheel] = (base / "wheels").glob("kubeproof-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for carried in ("kubeproof/suites/tests_node/conftest.py", "kubeproof/suites/tests_cluster/conftest.py",
                    "kubeproof/suites/scenarios/conftest.py", "kubeproof/profile.yaml", "kubeproof/failures.yaml",
                    "kubeproof/nodes/gather.sh", "kubeproof/rbac/audit-readonly.yaml",
                    "kubeproof/rbac/node-probe.yaml", "kubeproof/report/allurerc.mjs",
                    "kubeproof/report/templates/audit.html.j2", "kubeproof/report/templates/evidence.html.j2",
                    "kubeproof/report/templates/audit.css"):
        assert carried in names
    assert not [n for n in names if "__pycache__" in n or n.startswith(("selftest/", "tests_", "scenarios/"))]
    venv = base / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=base).returncode == 0
    pip = run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=base)
    assert pip.returncode == 0, pip.stderr
    return venv / "bin"


def empty_directory(tmp_path: Path) -> Path:
    directory = tmp_path / "empty"
    directory.mkdir()
    return directory


def test_offline_audit_of_the_lab_dump_matches_the_checkout(installed: Path, tmp_path: Path):
    here = empty_directory(tmp_path)
    result = run(installed / "pytest", f"--from-dump={LAB_DUMP}", "-p", "no:cacheprovider", cwd=here)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    document = audit_json(here)
    assert document["target"]["mode"] == "dump"
    assert set(document["summary"]["nodes"]) == {
        "kubeproof-lab-control-plane", "kubeproof-lab-worker", "kubeproof-lab-worker2"}
    assert outcomes(document)["tests_cluster/test_critical_pods.py::test_node_agents_have_critical_priority"] == "failed"
    # The same tests under the same ids, with the same outcomes, as the audit from this checkout.
    checkout = run(sys.executable, "-m", "pytest", f"--from-dump={LAB_DUMP}", "-p", "no:cacheprovider",
                   f"--report-dir={tmp_path / 'checkout' / 'reports'}", cwd=REPO)
    assert checkout.returncode == result.returncode
    assert outcomes(document) == outcomes(audit_json(tmp_path / "checkout"))


def test_host_audit_through_the_console_script(installed: Path, tmp_path: Path):
    here = empty_directory(tmp_path)
    result = run(installed / "kubeproof", "audit", "--hosts=local://", "-p", "no:cacheprovider", cwd=here,
                 env={**os.environ, "PATH": f"{installed}:{os.environ['PATH']}"})
    assert result.returncode in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout + result.stderr
    document = audit_json(here)
    assert document["target"]["mode"] == "hosts"
    assert list(document["summary"]["nodes"]) == [socket.gethostname()]
    results = outcomes(document)
    judged = [t for t, o in results.items() if t.startswith("tests_node/") and o in ("passed", "failed")]
    assert len(judged) >= 10
    cluster = {o for t, o in results.items() if t.startswith("tests_cluster/")}
    assert cluster == {"skipped"}


def test_catalog_finds_the_installed_suites(installed: Path, tmp_path: Path):
    result = run(installed / "kubeproof", "catalog", "--format", "json", cwd=empty_directory(tmp_path))
    assert result.returncode == 0, result.stderr
    failures = {f["id"]: f for f in json.loads(result.stdout)["failures"]}
    assert failures["nofile-exhaustion"]["node_tests"]
    assert failures["namespace-stuck"]["cluster_tests"] and failures["namespace-stuck"]["scenarios"]
