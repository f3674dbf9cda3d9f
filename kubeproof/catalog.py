"""The catalog of documented failures, loaded from failures.yaml (checks as data, as kube-bench does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

SEVERITIES = ("blocker", "critical", "normal", "minor")  # most severe first
CATALOG_FILE = Path(__file__).with_name("failures.yaml")


@dataclass(frozen=True)
class Source:
    report: str
    file: str
    title: str
    section: str = ""
    url: str = ""


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    severity: str
    severity_basis: str
    sources: tuple[Source, ...]
    symptoms: tuple[str, ...]
    root_cause: str
    remediation: str
    no_scenario: str = ""
    no_assertion: str = ""
    scenario_limits: str = ""  # what its scenario cannot show on current kernels and releases

    def as_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "severity": self.severity,
            "severity_basis": self.severity_basis,
            "sources": [vars(s) for s in self.sources],
            "symptoms": list(self.symptoms), "root_cause": self.root_cause,
            "remediation": self.remediation, "no_scenario": self.no_scenario,
            "no_assertion": self.no_assertion,
        }


@dataclass(frozen=True)
class Catalog:
    entries: tuple[Entry, ...]
    _by_id: dict[str, Entry] = field(repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_id.update({e.id: e for e in self.entries})

    def __contains__(self, failure_id: str) -> bool:
        return failure_id in self._by_id

    def __getitem__(self, failure_id: str) -> Entry:
        return self._by_id[failure_id]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def worst_severity(self, failure_ids) -> str | None:
        """The most severe rating among these ids (unknown ids ignored), None if none is known."""
        known = [self._by_id[i].severity for i in failure_ids if i in self._by_id]
        return min(known, key=SEVERITIES.index, default=None)


def parse(document: dict) -> Catalog:
    reports = document["reports"]
    entries = []
    for raw in document["failures"]:
        if raw["severity"] not in SEVERITIES:
            raise ValueError(f"{raw['id']}: severity {raw['severity']!r} not one of {SEVERITIES}")
        sources = tuple(
            Source(report=s["report"], file=reports[s["report"]]["file"],
                   title=reports[s["report"]]["title"], section=s.get("section", ""),
                   url=reports[s["report"]].get("url", ""))
            for s in raw["sources"]
        )
        entries.append(Entry(
            id=raw["id"], title=raw["title"], severity=raw["severity"],
            severity_basis=raw["severity_basis"], sources=sources,
            symptoms=tuple(raw["symptoms"]), root_cause=raw["root_cause"],
            remediation=raw["remediation"], no_scenario=raw.get("no_scenario", ""),
            no_assertion=raw.get("no_assertion", ""), scenario_limits=raw.get("scenario_limits", ""),
        ))
    ids = [e.id for e in entries]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate failure ids in the catalog: {sorted(duplicates)}")
    return Catalog(tuple(entries))


@lru_cache(maxsize=1)
def load() -> Catalog:
    return parse(yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8")))
