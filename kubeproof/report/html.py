"""audit.html: one self-contained, printable page (no network) a person reads to know what to fix first.

Failing ids first by severity; per failure the field report (linked), the remediation once, each
failing test's problems and its evidence as tables; passed tests and skipped tests folded, skips
one line per reason.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape as e
from typing import Any

from . import grouping, reading
from .document import OUTCOME_VERDICT
from .reading import VERDICT_LABEL

# The report titles and sections of the field reports are Chinese: a CJK face must be in the stack,
# or they render as empty boxes where none is the system's default.
FONTS = ('system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","Source Han Sans SC",'
         '"PingFang SC","Hiragino Sans GB","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif')
CSS = """
body{font:14px/1.45 FONTS;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem;margin:0 0 .5rem} h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de}
h4{margin:.6rem 0 .2rem;font-size:.9rem}
table{border-collapse:collapse;margin:.3rem 0} th,td{border:1px solid #d0d7de;padding:.2rem .45rem;
 text-align:left;vertical-align:top} th{background:#f6f8fa} #summary,#nodes{width:100%}
td table{margin:0;font-size:12px}
.v{font-weight:600;padding:.05rem .4rem;border-radius:.3rem;white-space:nowrap}
.fail{background:#ffebe9;color:#82071e}.error{background:#fff1e5;color:#953800}.pass{background:#dafbe1;color:#116329}
.skip,.not-run{background:#eaeef2;color:#57606a}.waived{background:#fff8c5;color:#7d4e00}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap;font-size:12px}
.meta{color:#57606a} .result{margin:.8rem 0 1.2rem} .remedy{background:#fff8c5;padding:.4rem .6rem}
a{color:#0969da} .late{color:#82071e;font-weight:600}
@media print{body{margin:0;max-width:none} details{display:block} details>summary{display:none}
 a{color:inherit;text-decoration:none}}
""".replace("FONTS", FONTS)
CERTIFICATE_COLUMNS = ("where", "subject", "issuer", "notAfter", "days left")
DEPTH = 3  # nested evidence deeper than this is shown as compact JSON


def _badge(verdict: str) -> str:
    return f'<span class="v {verdict}">{VERDICT_LABEL[verdict]}</span>'


def html(doc: dict) -> str:
    failures = reading.ordered(doc["failures"])
    rows = "".join(f'<tr><td><a href="#{e(f["id"])}">{e(f["id"])}</a></td><td>{e(f["title"])}</td>'
                   f'<td>{e(f["severity"])}</td><td>{_badge(f["verdict"])}</td><td>{e(reading.tally(f))}</td>'
                   f'<td>{e(reading.happened(f))}</td></tr>'
                   for f in failures)
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>kubeproof audit</title>"
             f"<style>{CSS}</style></head><body>",
             f'<h1>kubeproof audit</h1><p class=meta>{e(reading.headline(doc))}</p>',
             '<h2>What to fix first</h2><table id=summary><tr><th>failure</th><th>what</th>'
             f'<th>severity</th><th>verdict</th><th>tests</th><th>happened here</th></tr>{rows}</table>']
    skips = grouping.counted(reading.skip_reasons(doc))
    if skips:
        parts.append("<ul id=skipped class=meta>" + "".join(
            f"<li>{n} test{'s' * (n != 1)} skipped: {e(why)}</li>" for why, n in skips.most_common()) + "</ul>")
    if doc.get("waivers"):
        parts.append("<h2>Waivers</h2><ul id=waivers>" + "".join(
            f"<li>{e(reading.waiver_summary(w))}</li>" for w in doc["waivers"]) + "</ul>")
    if doc["summary"]["nodes"]:
        parts.append("<h2>Verdict per node</h2><table id=nodes><tr><th>node</th><th>verdict</th>"
                     "<th>failing</th></tr>" + "".join(
                         f"<tr><td>{e(n)}</td><td>{_badge(v['verdict'])}</td>"
                         f"<td>{e(', '.join(v['failing']) or '-')}</td></tr>"
                         for n, v in doc["summary"]["nodes"].items()) + "</table>")
    parts += [_failure(f) for f in failures]
    parts.append("</body></html>")
    return "".join(parts)


def _failure(f: dict) -> str:
    sources = "".join(f"<li><a href={e(url, quote=True)}>{e(text)}</a></li>" if url else f"<li>{e(text)}</li>"
                      for text, url in reading.sources(f))
    groups = reading.grouped(f["results"])
    return (f'<section id="{e(f["id"])}"><h2>{e(f["id"])} {_badge(f["verdict"])}</h2>'
            f'<p><b>{e(f["title"])}</b> — severity {e(f["severity"])} ({e(f["severity_basis"])})</p>'
            f'<p><b>In the field:</b> {e(f["root_cause"])}</p><ul class=meta>{sources}</ul>'
            f'<p><b>Symptoms:</b> {"; ".join(f"<code>{e(s)}</code>" for s in f["symptoms"])}</p>'
            + (f'<p class=happened><b>Happened here:</b> {e(reading.happened_line(f))}</p>'
               if reading.happened_line(f) else "")
            + f'<p class=remedy><b>Remediation:</b> {e(f["remediation"])}</p>'
            + "".join(f'<p class=meta><b>{e(r.replace("_", " ").capitalize())}:</b> {e(f[r])}</p>'
                      for r in ("no_assertion", "no_scenario") if f[r])
            + _findings(groups.failing + groups.waived, f["results"])
            + _folded("pass", "", groups.passed)
            + "".join(_folded("skip", why, results) for why, results in grouping.same_reasons(groups.skipped).items())
            + "</section>")


def _folded(verdict: str, why: str, results: list[dict]) -> str:
    """Many results in one line (which tests in a fold-out): passed ones, or those skipped for one reason."""
    if not results:
        return ""
    n = len(results)
    said = f"{n} test{'s' * (n != 1)}" + (f": {e(why)}" if why else "")
    fleet = grouping.by_test(results)
    if fleet:  # one line per test, naming its nodes
        tests = "".join(_tested(test, mine) for test, mine in fleet.items())
    else:
        tests = "".join(f"<li>{e(r['subject'])} — <code>{e(r['test'])}</code></li>" for r in results)
    return f"<details class=folded><summary>{_badge(verdict)} {said}</summary><ul>{tests}</ul></details>"


def _failing(r: dict) -> str:
    verdict = OUTCOME_VERDICT[r["outcome"]]
    message = reading.without_remediation(r["message"])
    waiver = f"<p class=waiver><b>{e(reading.waiver_line(r))}</b></p>" if reading.waiver_line(r) else ""
    return (f'<div class=result><p>{_badge(verdict)} {e(r["subject"])} — <code>{e(r["test"])}</code></p>{waiver}'
            f"<pre>{e(message)}</pre>{_evidence(r['evidence'])}</div>")


def _tested(test: str, results: list[dict]) -> str:
    if not results[0]["node"]:
        return f"<li>{e(results[0]['subject'])} — <code>{e(test)}</code></li>"
    names = ", ".join(r["node"] for r in results)
    return f"<li><code>{e(test)}</code> — {len(results):,} node{'s' * (len(results) != 1)}: {e(names)}</li>"


def _findings(failing: list[dict], results: list[dict]) -> str:
    """Each failing result, a finding that reads the same on many nodes once (grouping.findings)."""
    return "".join(_failing(group[0]) if len(group) == 1 else _shared(group, results)
                   for group in grouping.findings(failing))


def _shared(group: list[dict], results: list[dict]) -> str:
    """One finding on many nodes: how many of the nodes tested, the few it spares named, the first
    node's message and evidence, then every node it holds on."""
    first = group[0]
    nodes = [r["node"] for r in group]
    message = reading.without_remediation(first["message"])
    return (f'<div class="result shared"><p>{_badge(OUTCOME_VERDICT[first["outcome"]])} '
            f'{e(grouping.spread(group, results))} — <code>{e(grouping.test_of(first))}</code></p>'
            f'<p class=meta>The same on every one of them; shown for {e(first["node"])}:</p>'
            f"<pre>{e(message)}</pre>{_evidence(first['evidence'])}"
            f"<details><summary>the {len(nodes):,} nodes</summary><p>{e(', '.join(nodes))}</p></details></div>")


def _evidence(evidence: dict) -> str:
    now = _moment((evidence.get("judged") or {}).get("now") if isinstance(evidence.get("judged"), dict) else None)
    offenders, others, folded = [], [], []
    for name, value in evidence.items():
        if name == "problems" or value in (None, [], {}, ""):  # problems: listed in the message above
            continue
        if name == "offenders":
            offenders.append(f"<h4>offending objects</h4>{_value(value, now, 0)}")
        elif name == "judged":  # the verdict's context: open when no offending object says more
            opened = "" if evidence.get("offenders") else " open"
            folded.append(f"<details{opened}><summary>what was judged</summary>{_value(value, now, 0)}</details>")
        elif name.startswith("gather.sh "):
            folded.append(f"<details><summary>{e(name)} output</summary><pre>{e(str(value))}</pre></details>")
        else:  # evidence a test attached itself
            others.append(f"<h4>{e(name)}</h4>{_value(value, now, 0)}")
    return "".join(offenders + others + folded)


def _moment(text: Any) -> datetime | None:
    """An ISO 8601 time as evidence holds it ("...Z" included, which Python 3.10 does not parse)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None
    except ValueError:
        return None


def _value(value: Any, now: datetime | None, depth: int) -> str:
    if depth > DEPTH:
        return f"<code>{e(json.dumps(value, ensure_ascii=False, default=str))}</code>"
    if isinstance(value, dict):
        return "<table>" + "".join(f"<tr><th>{e(str(k))}</th><td>{_value(v, now, depth + 1)}</td></tr>"
                                   for k, v in value.items()) + "</table>"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return _rows(value, now, depth)
        if all(not isinstance(v, (dict, list)) for v in value):
            return e(", ".join(str(v) for v in value))
        return "<ul>" + "".join(f"<li>{_value(v, now, depth + 1)}</li>" for v in value) + "</ul>"
    if value is None:
        return "—"
    text = str(value)
    return f"<pre>{e(text)}</pre>" if "\n" in text else e(text)


def _is_certificate(row: dict) -> bool:
    return "subject" in row and ("notAfter" in row or "not_after" in row)


def _rows(rows: list[dict], now: datetime | None, depth: int) -> str:
    """A table of objects: certificates by subject, issuer, notAfter and days left; any other
    object named first (namespace/name), then its node, then what was measured."""
    if all(_is_certificate(r) for r in rows):
        rows = [_certificate(r, now) for r in rows]
        columns = [c for c in CERTIFICATE_COLUMNS if any(r.get(c) is not None for r in rows)]
    else:
        rows = [_named(r) for r in rows]
        columns = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td{_late(c, r.get(c))}>{_value(r.get(c), now, depth + 1)}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _late(column: str, value: Any) -> str:
    return " class=late" if column == "days left" and isinstance(value, (int, float)) and value < 0 else ""


def _certificate(row: dict, now: datetime | None) -> dict:
    not_after = row.get("notAfter") or row.get("not_after")
    days = row.get("daysLeft")
    expiry = _moment(not_after)
    if days is None and expiry and now:
        days = round((expiry - now).total_seconds() / 86400, 1)
    where = row.get("where") or row.get("path") or ", ".join(row.get("places") or [])
    return {"where": where or None, "subject": row.get("subject"), "issuer": row.get("issuer"),
            "notAfter": not_after, "days left": days}


def _named(row: dict) -> dict:
    """The row with its object first (`namespace/name`), then its node, then the rest as measured."""
    key = reading.object_key(row)
    if key is None:
        return row
    rest = {k: v for k, v in row.items() if k not in (key, "namespace", "node")}
    return {"object": reading.object_name(row), **({"node": row["node"]} if "node" in row else {}), **rest}
