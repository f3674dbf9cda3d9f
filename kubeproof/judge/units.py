"""Kubernetes quantities ("100Mi", "1.5G", "1e3") and byte sizes as people read them."""

from __future__ import annotations

import re

_SUFFIXES = {
    "": 1, "m": 1e-3,
    "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]))?$")


def quantity(text: str) -> float:
    """A resource.Quantity as a number: "100Mi" -> 104857600, "1e3" -> 1000. ValueError if not one."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, exponent, suffix = match.groups()
    return float(number) * (10 ** int(exponent) if exponent else _SUFFIXES[suffix or ""])


def size(n: float) -> str:
    """Bytes for people: 1.5 GiB, 40.9 MiB, 512 B."""
    for unit, factor in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n:.0f} B"
