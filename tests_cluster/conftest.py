"""Cluster hardening assertions: read-only, evaluated once per cluster from the shared cluster view.

Each test hands a judge's Judgement (kubeproof/judge/cluster) to `verdict.conclude`, which attaches
what was judged and every offending object, then fails naming each one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture
def event_window(profile) -> timedelta:
    return timedelta(hours=profile.recent_event_hours)
