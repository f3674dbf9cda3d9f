"""The catalog of documented failures, loaded from failures.yaml (checks as data, as kube-bench does)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

SEVERITIES = ("blocker", "critical", "normal", "minor")  # most severe first
CATALOG_FILE = Path(__file__).with_name("failures.yaml")
# Where a pattern's symptom lands: the kernel log, the kubelet's and the container runtime's journals
# (read on each node), the cluster's Events.
NODE_LOGS = ("kernel", "kubelet", "runtime")
LOGS = (*NODE_LOGS, "events")


@dataclass(frozen=True)
class Source:
    report: str
    file: str
    title: str
    section: str = ""
    url: str = ""


@dataclass(frozen=True)
class Pattern:
    """A symptom as it lands in a log (failures.yaml `patterns`): a POSIX ERE, case-insensitive.
    unless: an ERE for lines that carry the same words but are not this failure (a registry's
    certificate, an inotify EMFILE): the node's grep filters by match alone, this judges the context."""

    reason: str
    logs: tuple[str, ...]
    match: str
    unless: str = ""

    def regex(self) -> re.Pattern:
        return re.compile(self.match, re.I)

    def matches(self, line: str) -> bool:
        return bool(self.regex().search(line)) and not (self.unless and re.search(self.unless, line, re.I))

    def as_dict(self) -> dict:
        return {"reason": self.reason, "in": list(self.logs), "match": self.match} | (
            {"unless": self.unless} if self.unless else {})


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
    patterns: tuple[Pattern, ...] = ()
    no_patterns: str = ""

    def patterns_in(self, log: str) -> tuple[Pattern, ...]:
        return tuple(p for p in self.patterns if log in p.logs)

    def as_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "severity": self.severity,
            "severity_basis": self.severity_basis,
            "sources": [vars(s) for s in self.sources],
            "symptoms": list(self.symptoms), "root_cause": self.root_cause,
            "remediation": self.remediation, "no_scenario": self.no_scenario,
            "no_assertion": self.no_assertion,
            "patterns": [p.as_dict() for p in self.patterns], "no_patterns": self.no_patterns,
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
            patterns=tuple(_pattern(raw["id"], p) for p in raw.get("patterns", ())),
            no_patterns=raw.get("no_patterns", ""),
        ))
    ids = [e.id for e in entries]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate failure ids in the catalog: {sorted(duplicates)}")
    return Catalog(tuple(entries))


def _pattern(failure_id: str, raw: dict) -> Pattern:
    pattern = Pattern(reason=raw["reason"], logs=tuple(raw["in"]), match=raw["match"], unless=raw.get("unless", ""))
    unknown = set(pattern.logs) - set(LOGS)
    if unknown or not pattern.logs:
        raise ValueError(f"{failure_id}: pattern {pattern.reason} in {sorted(unknown) or 'no log'}, not one of {LOGS}")
    if not (pattern.match + pattern.unless).isascii():  # it travels inside gather.sh, which must stay ASCII
        raise ValueError(f"{failure_id}: pattern {pattern.reason} is not ASCII")
    pattern.regex(), re.compile(pattern.unless)
    return pattern


@lru_cache(maxsize=1)
def load() -> Catalog:
    return parse(yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8")))
