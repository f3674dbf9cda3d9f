"""Which failures a run audits: `--failures=ID[,ID...]` and `--min-severity=LEVEL`, applied to the
collected tests by the failure ids they declare (a test guarding several ids runs if one is chosen).
pytest's own -k and -m select as ever, before or after."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from . import catalog as catalogs
from .errors import KubeproofError


@dataclass(frozen=True)
class Selection:
    ids: frozenset[str] | None  # None: every id
    min_severity: str | None  # None: every severity

    def keeps(self, failure_ids: list[str]) -> bool:
        catalog = catalogs.load()
        floor = catalogs.SEVERITIES.index(self.min_severity or catalogs.SEVERITIES[-1])
        return any((self.ids is None or i in self.ids) and catalogs.SEVERITIES.index(catalog[i].severity) <= floor
                   for i in failure_ids if i in catalog)


def parse(failures: str | None, min_severity: str | None) -> Selection | None:
    """The selection the options ask for, None when they ask for none; an unknown id is one line."""
    if failures is None and min_severity is None:
        return None
    ids = None
    if failures is not None:
        catalog = catalogs.load()
        ids = frozenset(i.strip() for i in failures.split(",") if i.strip())
        if not ids:
            raise KubeproofError("--failures: no failure id given (`kubeproof catalog` lists them)")
        unknown = sorted(ids - set(catalog.ids))
        if unknown:
            raise KubeproofError(f"--failures: unknown failure id {unknown[0]!r} "
                                 f"(the catalog has: {', '.join(catalog.ids)})")
    return Selection(ids, min_severity)


def deselect(config: pytest.Config, items: list[pytest.Item], selection: Selection) -> None:
    """Drop the tests guarding no chosen failure, as pytest's -k does (counted as deselected)."""
    kept, dropped = [], []
    for item in items:
        ids = [a for m in item.iter_markers("failure") for a in m.args]
        (kept if not ids or selection.keeps(ids) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
