"""Waivers (`--waivers=FILE`): accepted findings, each with a reason and a date it ends, as popeye's
excludes, polaris' exemptions and kubescape's exceptions are. A failing test a live waiver covers is
reported waived and does not fail the gate; past its date a waiver covers nothing and says so.

    waivers:
      - failure: critical-pod-eviction     # a catalog id
        subject: kube-system/kindnet       # optional glob: a node name, or namespace/name of an object
        reason: kind's own CNI, replaced in production
        expires: 2027-03-31                # required; the last day it holds (UTC)

A node test's subject is its node; a cluster test's are its offending objects, every one of which the
glob must match (one unwaived offender keeps the test failing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any, Iterable

from . import catalog as catalogs
from . import yamlfile
from .errors import KubeproofError
from .report.reading import object_name
from .report.records import Result, evidence_value

FIELDS = {"failure", "subject", "reason", "expires"}


@dataclass(frozen=True)
class Waiver:
    number: int  # its place in the file, from 1: how the reports name it
    failure: str
    subject: str | None
    reason: str
    expires: date
    expired: bool  # past `expires` on the day the audit judges at

    def covers(self, failure_ids: Iterable[str], subjects: list[str]) -> bool:
        if self.failure not in failure_ids:
            return False
        return self.subject is None or bool(subjects) and all(fnmatchcase(s, self.subject) for s in subjects)

    def as_dict(self) -> dict:
        return {"number": self.number, "failure": self.failure, "subject": self.subject, "reason": self.reason,
                "expires": self.expires.isoformat(), "expired": self.expired}


def load(path: str, today: date) -> tuple[Waiver, ...]:
    """The file's waivers, each judged live or expired as of `today`; any mistake is one line."""
    document = yamlfile.read(path, "--waivers")
    if not (isinstance(document, dict) and set(document) == {"waivers"} and isinstance(document["waivers"], list)):
        raise KubeproofError(f"--waivers {path}: expected one key, waivers, holding a list of waivers")
    return tuple(_waiver(path, number, raw, today) for number, raw in enumerate(document["waivers"], 1))


def _waiver(path: str, number: int, raw: Any, today: date) -> Waiver:
    def bad(what: str) -> KubeproofError:
        return KubeproofError(f"--waivers {path}: waiver {number}: {what}")

    if not isinstance(raw, dict):
        raise bad("not a mapping of failure, subject, reason, expires")
    unknown = sorted(set(map(str, raw)) - FIELDS)
    if unknown:
        raise bad(f"unknown key {unknown[0]!r} (keys: {', '.join(sorted(FIELDS))})")
    catalog = catalogs.load()
    if raw.get("failure") not in catalog:
        raise bad(f"failure {raw.get('failure')!r} is not a catalog id (`kubeproof catalog` lists them)")
    subject = raw.get("subject")
    if subject is not None and not (isinstance(subject, str) and subject):
        raise bad("subject must be a glob: a node name or namespace/name")
    reason = raw.get("reason")
    if not (isinstance(reason, str) and reason.strip()):
        raise bad("reason is missing: say why the finding is accepted")
    expires = _date(raw.get("expires"))
    if expires is None:
        raise bad(f"expires must be a date (2027-03-31), not {raw.get('expires')!r}")
    return Waiver(number, raw["failure"], subject, reason.strip(), expires, expired=today > expires)


def _date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):  # YAML reads 2027-03-31 as a date
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def subjects(data: dict) -> list[str]:
    """What a test's waiver subject is matched against (its records.test_data): its node, or the
    namespace/name of every offending object of a cluster test (None where a row names none)."""
    if data["node"]:
        return [data["node"]]
    offenders = evidence_value(data, "offenders")
    names = [object_name(row) if isinstance(row, dict) else None for row in offenders or []]
    return names if all(names) else []


def covering(waivers: Iterable[Waiver], data: dict) -> Waiver | None:
    """The first waiver in the file covering this failing test, live ones before expired ones."""
    mine = [w for w in waivers if w.covers(data["failure_ids"], subjects(data))]
    return min(mine, key=lambda w: (w.expired, w.number), default=None)


def summary(waivers: Iterable[Waiver], results: Iterable[Result]) -> list[dict]:
    """Each waiver with what it did in the run: `waived` (the tests it waived), `expired` (the failing
    tests it named, failing again), or `unused` (no failing test matched it)."""
    results = list(results)
    out = []
    for waiver in waivers:
        tests = sorted(r.test for r in results if (r.waiver or {}).get("number") == waiver.number)
        status = "expired" if waiver.expired else "waived" if tests else "unused"
        out.append({**waiver.as_dict(), "status": status, "tests": tests})
    return out


def judge(item, report, waivers: Iterable[Waiver]) -> None:
    """A finding (a failed call with its records.test_data in report.kubeproof) a live waiver covers
    becomes pytest's expected failure, skipped with the reason, which the console, JUnit and Allure
    show as such; one only an expired waiver covers stays failing and says so."""
    waiver = covering(waivers, report.kubeproof)
    if waiver is None:
        return
    report.kubeproof["waiver"] = waiver.as_dict()
    if waiver.expired:
        said = f"waiver {waiver.number} expired on {waiver.expires.isoformat()}: {waiver.reason}"
        report.sections.append(("kubeproof waiver", said))
        item.user_properties.append(("waiver_expired", said))  # JUnit properties come from the item
        return
    report.outcome = "skipped"
    report.wasxfail = f"waived until {waiver.expires.isoformat()} (waiver {waiver.number}): {waiver.reason}"
    item.user_properties.append(("waived", report.wasxfail))
