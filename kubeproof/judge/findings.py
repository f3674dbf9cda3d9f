"""What a judge returns: one finding per offending object, as the verdict and the evidence show it."""

from __future__ import annotations

from typing import NamedTuple


class Finding(NamedTuple):
    problem: str  # one line: the object, what is wrong, the value and the limit it breaks
    evidence: dict  # the object's name, namespace and the fields judged (YAML-able, never secret data)
