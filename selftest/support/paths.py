"""Where the checkout's parts and the selftests' recorded data are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "selftest" / "data"
CLUSTERS = DATA / "clusters"
HEALTHY = CLUSTERS / "healthy"
NODES = DATA / "nodes"
RBAC = REPO / "kubeproof" / "rbac"
