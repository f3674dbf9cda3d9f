"""Kubernetes quantities ("100Mi", "1.5G", "1e3") and byte sizes as people read them."""

from __future__ import annotations

import math

from kubernetes.utils import parse_quantity


def quantity(text: str) -> float:
    """A resource.Quantity as a number: "100Mi" -> 104857600, "1e3" -> 1000. ValueError if not one."""
    try:
        number = float(parse_quantity(str(text).strip()))
    except (ValueError, ArithmeticError):
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return number


def size(n: float) -> str:
    """Bytes for people: 1.5 GiB, 40.9 MiB, 512 B."""
    for unit, factor in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n:.0f} B"
