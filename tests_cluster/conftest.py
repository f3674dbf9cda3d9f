"""Cluster hardening assertions: read-only, evaluated once per cluster from the shared cluster view."""

from __future__ import annotations

from datetime import timedelta

import pytest


@pytest.fixture
def conclude(evidence, verdict):
    """conclude(findings, **judged): attach what was judged and every offender, then fail listing each.

    judged: named evidence of what the verdict rests on (the objects looked at, the moment "now").
    """
    def conclude(findings, **judged) -> None:
        for name, data in judged.items():
            evidence.attach(name, data)
        evidence.attach("offenders", [finding.evidence for finding in findings])
        verdict.fail_if([finding.problem for finding in findings])
    return conclude


@pytest.fixture
def event_window(profile) -> timedelta:
    return timedelta(hours=profile.recent_event_hours)
