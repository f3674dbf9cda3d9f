"""Thresholds the assertions judge against: shipped defaults, overridden by `--profile FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import yamlfile
from .errors import KubeproofError
from .gather_sh import SYSCTLS

DEFAULTS_FILE = Path(__file__).with_name("profile.yaml")
# sysctl_min may name any single-number tunable gather.sh reads; another name would never be judged.
# Not these: counters, and the port range (two numbers, judged by local_port_range_min).
NOT_MINIMUMS = {"fs.file-nr", "net.netfilter.nf_conntrack_count", "net.ipv4.ip_local_port_range"}
# A window of 0 days or a cap of 0 bytes would read nothing and pass as "never happened".
AT_LEAST_ONE = {"history_days", "history_max_bytes"}
# The most a threshold can mean, by unit: judges add a period to dates that end in year 9999, and a
# percentage past 100 never holds. Other numbers are counts and sizes, 64-bit in the kernel.
UNIT_MOST = {"_days": 36_500, "_hours": 876_000, "_minutes": 52_560_000, "_percent": 100}
NUMBER_MOST = 2**63 - 1


def _gathered_sysctls() -> set[str]:
    return {path.replace("/", ".") for path in SYSCTLS} - NOT_MINIMUMS


class Profile(dict):
    """A mapping of threshold name to value, readable as attributes: `profile.nofile_min`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _read(path: Path) -> dict:
    data = yamlfile.read(path, "profile")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeproofError(f"profile {path} must be a mapping of threshold names to values")
    return data


def _check_number(path: Path, key: str, value: Any, default: int | float) -> None:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    least = 1 if key in AT_LEAST_ONE else 0
    most = next((m for unit, m in UNIT_MOST.items() if key.endswith(unit)), NUMBER_MOST)
    kind = "a whole number" if isinstance(default, int) else "a number"
    if not number or (isinstance(default, int) and not isinstance(value, int)) or not value >= least:
        raise KubeproofError(f"profile {path}: {key} must be {kind} >= {least}, got {value!r}")
    if value > most:
        raise KubeproofError(f"profile {path}: {key} must be {kind} <= {most}, got {value!r}")


def _merge(defaults: dict, overrides: dict, path: Path) -> dict:
    merged = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise KubeproofError(f"profile {path}: unknown threshold {key!r} (known: {known})")
        default = defaults[key]
        if isinstance(default, dict):  # sysctl_min, the only mapping: sysctl name -> minimum
            if not isinstance(value, dict):
                raise KubeproofError(f"profile {path}: {key} must be a mapping of sysctl names to minimums")
            known = _gathered_sysctls()
            for name, minimum in value.items():
                if name not in known:
                    raise KubeproofError(f"profile {path}: {key}: kubeproof does not read sysctl {name!r} "
                                         f"(it reads: {', '.join(sorted(known))})")
                _check_number(path, f"{key}.{name}", minimum, 0)
            merged[key] = {**default, **value}
        else:
            _check_number(path, key, value, default)
            merged[key] = value
    return merged


def load(path: str | None = None) -> Profile:
    defaults = _read(DEFAULTS_FILE)
    if path is None:
        return Profile(defaults)
    return Profile(_merge(defaults, _read(Path(path)), Path(path)))
