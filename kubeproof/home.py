"""Where kubeproof's suites are: at the top of a checkout, or inside the package installed from a wheel
(pyproject.toml maps them to kubeproof/suites/), so an installed kubeproof audits from any directory."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
INSTALLED = PACKAGE / "suites"  # only a wheel has it
# Suite directory -> its kind; a checkout's pyproject.toml says the same in its kubeproof_suites ini.
SUITES = {"tests_node": "node", "tests_cluster": "cluster", "scenarios": "scenario"}


def installed() -> bool:
    return INSTALLED.is_dir()


def root() -> Path:
    """The directory holding the suites: the wheel's copy, else the checkout this package is in."""
    return INSTALLED if installed() else PACKAGE.parent


def suite_dirs() -> dict[Path, str]:
    return {root() / directory: kind for directory, kind in SUITES.items()}
