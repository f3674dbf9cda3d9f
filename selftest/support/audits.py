"""kubeproof's own suites run as a user runs them, from the checkout, and their audit.json read back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from selftest.lab.findings import LAB_PROFILE

from .paths import REPO


def audit(tmp_path: Path, *args: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess, dict]:
    """Run kubeproof's own suites from the repository with the lab's profile, as a user would;
    (process, audit.json)."""
    report = tmp_path / f"report-{time.monotonic_ns()}"
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "lab-profile.yaml").write_text(LAB_PROFILE)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--report-dir={report}",
                           f"--profile={tmp_path / 'lab-profile.yaml'}", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    documents = sorted(report.glob("*/audit.json"))  # --report-dir holds one folder per run
    return proc, json.loads(documents[-1].read_text()) if documents else {}


def results(document: dict) -> dict[str, dict]:
    return {r["test"]: r for f in document["failures"] for r in f["results"]}


def outcomes(document: dict) -> dict[str, str]:
    return {test: r["outcome"] for test, r in results(document).items()}


def base_test(test: str) -> str:
    return test.split("[", 1)[0]
