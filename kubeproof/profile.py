"""Thresholds the assertions judge against: shipped defaults, overridden by `--profile FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import KubeproofError

DEFAULTS_FILE = Path(__file__).with_name("profile.yaml")


class Profile(dict):
    """A mapping of threshold name to value, readable as attributes: `profile.nofile_min`."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KubeproofError(f"cannot read profile {path}: {exc}".splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeproofError(f"profile {path} must be a mapping of threshold names to values")
    return data


def _merge(defaults: dict, overrides: dict, path: Path) -> dict:
    merged = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise KubeproofError(f"profile {path}: unknown threshold {key!r} (known: {known})")
        default = defaults[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise KubeproofError(f"profile {path}: {key} must be a mapping")
            merged[key] = {**default, **value}  # new sysctls may be added to sysctl_min
        elif type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
            raise KubeproofError(
                f"profile {path}: {key} must be {type(default).__name__}, got {value!r}")
        else:
            merged[key] = value
    return merged


def load(path: str | None = None) -> Profile:
    defaults = _read(DEFAULTS_FILE)
    if path is None:
        return Profile(defaults)
    return Profile(_merge(defaults, _read(Path(path)), Path(path)))
