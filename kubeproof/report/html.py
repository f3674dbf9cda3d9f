"""audit.html: one self-contained, printable page (no network) a person reads to know what to fix first.

At a glance (glance.py): the verdict banner, a row per failing failure id, the passing checks with
what they measured, skips one line per reason, what "happened here" counts. Then per failure id the
field report (linked), the remediation once, each failing test's problems and its evidence as
tables. Rendered from templates/ with autoescaping.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
from markupsafe import escape

from . import glance, grouping, reading
from .document import OUTCOME_VERDICT
from .reading import VERDICT_LABEL

DEPTH = 3  # nested evidence deeper than this is shown as compact JSON


def _shown(value: Any) -> bool:
    return value not in (None, [], {}, "")


def _table(rows: list[dict], now: Any) -> tuple[list[str], list[dict]]:
    """The columns and rows of a table of objects (templates' `objects`)."""
    if all(glance.is_certificate(r) for r in rows):
        rows = glance.certificates(rows, now)
        return [c for c in glance.CERTIFICATE_COLUMNS if any(r.get(c) is not None for r in rows)], rows
    rows = [_named(r) for r in rows]
    return list(dict.fromkeys(k for r in rows for k in r)), rows


def _named(row: dict) -> dict:
    """The row with its object first (`namespace/name`), then its node, then the rest as measured."""
    key = reading.object_key(row)
    if key is None:
        return row
    rest = {k: v for k, v in row.items() if k not in (key, "namespace", "node")}
    return {"object": reading.object_name(row), **({"node": row["node"]} if "node" in row else {}), **rest}


def _judged_now(evidence: dict) -> Any:
    judged = evidence.get("judged")
    return judged.get("now") if isinstance(judged, dict) else None


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


ENV = jinja2.Environment(loader=jinja2.PackageLoader("kubeproof.report", "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
ENV.globals.update(
    label=VERDICT_LABEL, depth_limit=DEPTH, plural=_plural, shown=_shown, table=_table, judged_now=_judged_now,
    late=lambda column, value: column == "days left" and isinstance(value, (int, float)) and value < 0,
    verdict_of=lambda result: OUTCOME_VERDICT[result["outcome"]],
    grouped=reading.grouped, tally=reading.tally, sources=reading.sources, happened=reading.happened,
    happened_line=reading.happened_line, waiver_line=reading.waiver_line, waiver_summary=reading.waiver_summary,
    without_remediation=reading.without_remediation,
    findings=grouping.findings, spread=grouping.spread, test_of=grouping.test_of, by_test=grouping.by_test,
    same_reasons=grouping.same_reasons)
ENV.filters["compact"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
ENV.tests.update(
    list=lambda value: isinstance(value, list),
    flat=lambda value: isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value),
    objects=lambda value: isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value))


def html(doc: dict) -> str:
    failures = reading.ordered(doc["failures"])
    page = ENV.get_template("audit.html.j2").render(
        doc=doc, failures=failures, headline=reading.headline(doc), banner=glance.banner(doc),
        failing=glance.failing(failures), passing=glance.passing(failures), skips=glance.skips(doc),
        window=glance.happened_window(failures),
        unjudged=[f for f in failures if f["verdict"] in ("skip", "not-run")])
    return glance.local_paths(doc, lambda text: str(escape(text)))(page)
