"""The YAML files a user hands kubeproof (kubeconfig, profile, waivers): their data, or one line
saying which file and why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import KubeproofError


def read(path: str | Path, what: str) -> Any:
    """The file's data; KubeproofError "cannot read WHAT PATH: why" (its line, for broken YAML)."""
    try:
        return yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8"))
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 (byte {exc.start})"
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        reason = "not YAML" + (f" at line {mark.line + 1}" if mark else "") + (f": {problem}" if problem else "")
    raise KubeproofError(f"cannot read {what} {path}: {reason}")
