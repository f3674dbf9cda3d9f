"""audit.md and audit.html from the audit document: summary first, then one section per failure."""

from __future__ import annotations

import json
from html import escape

from .document import OUTCOME_VERDICT

VERDICT_LABEL = {"fail": "FAIL", "error": "ERROR", "pass": "PASS", "skip": "SKIPPED", "not-run": "NOT RUN"}


def _headline(doc: dict) -> str:
    target = (doc["target"] or {}).get("description", "no target")
    counts = ", ".join(f"{n} {o}" for o, n in doc["summary"]["counts"].items())
    gate = doc["gate"]
    return (f"Target: {target}. Verdict: {VERDICT_LABEL[doc['summary']['verdict']]} ({counts}). "
            f"Gate: fail on {gate['fail_on']} and above, exit status {gate['exit_status']}. "
            f"Created {doc['created']} by kubeproof {doc['kubeproof_version']}.")


def _source_line(failure: dict) -> list[tuple[str, str]]:
    """(text, url) per field report the failure comes from."""
    return [(f"report {s['report']}: {s['title']}" + (f", {s['section']}" if s["section"] else "")
             + f" ({s['file']})", s["url"]) for s in failure["sources"]]


def _evidence_json(result: dict) -> str:
    return json.dumps(result["evidence"], indent=2, ensure_ascii=False, default=str)


# -- Markdown -------------------------------------------------------------------------------


def markdown(doc: dict) -> str:
    out = ["# kubeproof audit", "", _headline(doc), "", "## Verdict per failure", "",
           "| failure | severity | verdict | tests |", "|---|---|---|---|"]
    for f in doc["failures"]:
        out.append(f"| [{f['id']}](#{f['id']}) | {f['severity']} | {VERDICT_LABEL[f['verdict']]} "
                   f"| {len(f['results'])} |")
    if doc["summary"]["nodes"]:
        out += ["", "## Verdict per node", "", "| node | verdict | failing |", "|---|---|---|"]
        for name, node in doc["summary"]["nodes"].items():
            out.append(f"| {name} | {VERDICT_LABEL[node['verdict']]} | {', '.join(node['failing']) or '-'} |")
    for f in doc["failures"]:
        out += ["", f"## {f['id']}", "", f"**{f['title']}** — severity {f['severity']} "
                f"({f['severity_basis']}) — **{VERDICT_LABEL[f['verdict']]}**", "",
                f"*In the field:* {f['root_cause']}", ""]
        out += [f"*Source:* [{text}]({url})" if url else f"*Source:* {text}" for text, url in _source_line(f)]
        out += ["", "*Symptoms:* " + "; ".join(f"`{s}`" for s in f["symptoms"]), "",
                f"*Remediation:* {f['remediation']}", ""]
        for reason in ("no_assertion", "no_scenario"):
            if f[reason]:
                out += [f"*{reason.replace('_', ' ').capitalize()}:* {f[reason]}", ""]
        for r in f["results"]:
            out.append(f"- **{VERDICT_LABEL[OUTCOME_VERDICT[r['outcome']]]}** {r['subject']} — `{r['test']}`")
            if r["message"]:
                out += ["", "  ```", *[f"  {line}" for line in r["message"].splitlines()], "  ```"]
            if r["evidence"] and r["outcome"] in ("failed", "error"):
                out += ["", "  <details><summary>evidence</summary>", "", "  ```json",
                        *[f"  {line}" for line in _evidence_json(r).splitlines()], "  ```", "  </details>"]
    return "\n".join(out) + "\n"


# -- HTML -----------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;
 padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem;margin:0 0 .5rem} h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.5rem 0} th,td{border:1px solid #d0d7de;padding:.3rem .5rem;
 text-align:left;vertical-align:top} th{background:#f6f8fa}
.v{font-weight:600;padding:.05rem .4rem;border-radius:.3rem;white-space:nowrap}
.fail{background:#ffebe9;color:#82071e}.error{background:#fff1e5;color:#953800}.pass{background:#dafbe1;color:#116329}
.skip,.not-run{background:#eaeef2;color:#57606a}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap;font-size:12px}
.meta{color:#57606a} section{page-break-inside:avoid} a{color:#0969da}
@media print{body{margin:0;max-width:none} details{display:block} details>summary{display:none}
 a{color:inherit;text-decoration:none}}
"""


def _badge(verdict: str) -> str:
    return f'<span class="v {verdict}">{VERDICT_LABEL[verdict]}</span>'


def html(doc: dict) -> str:
    e = escape
    rows = "".join(f'<tr><td><a href="#{e(f["id"])}">{e(f["id"])}</a></td><td>{e(f["title"])}</td>'
                   f'<td>{e(f["severity"])}</td><td>{_badge(f["verdict"])}</td><td>{len(f["results"])}</td></tr>'
                   for f in doc["failures"])
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>kubeproof audit</title>"
             f"<style>{CSS}</style></head><body>",
             f'<h1>kubeproof audit</h1><p class=meta>{e(_headline(doc))}</p>',
             '<h2>Verdict per failure</h2><table id=summary><tr><th>failure</th><th>what</th>'
             f'<th>severity</th><th>verdict</th><th>tests</th></tr>{rows}</table>']
    if doc["summary"]["nodes"]:
        parts.append("<h2>Verdict per node</h2><table id=nodes><tr><th>node</th><th>verdict</th>"
                     "<th>failing</th></tr>" + "".join(
                         f"<tr><td>{e(n)}</td><td>{_badge(v['verdict'])}</td>"
                         f"<td>{e(', '.join(v['failing']) or '-')}</td></tr>"
                         for n, v in doc["summary"]["nodes"].items()) + "</table>")
    for f in doc["failures"]:
        sources = "".join(f'<li>{f"<a href={e(url, quote=True)}>{e(text)}</a>" if url else e(text)}</li>'
                          for text, url in _source_line(f))
        parts.append(
            f'<section id="{e(f["id"])}"><h2>{e(f["id"])} {_badge(f["verdict"])}</h2>'
            f'<p><b>{e(f["title"])}</b> — severity {e(f["severity"])} ({e(f["severity_basis"])})</p>'
            f'<p><b>In the field:</b> {e(f["root_cause"])}</p><ul class=meta>{sources}</ul>'
            f'<p><b>Symptoms:</b> {"; ".join(f"<code>{e(s)}</code>" for s in f["symptoms"])}</p>'
            f'<p><b>Remediation:</b> {e(f["remediation"])}</p>'
            + "".join(f'<p class=meta><b>{e(r.replace("_", " ").capitalize())}:</b> {e(f[r])}</p>'
                      for r in ("no_assertion", "no_scenario") if f[r])
            + "".join(_result_html(r) for r in f["results"]) + "</section>")
    parts.append("</body></html>")
    return "".join(parts)


def _result_html(r: dict) -> str:
    e = escape
    verdict = OUTCOME_VERDICT[r["outcome"]]
    message = f"<pre>{e(r['message'])}</pre>" if r["message"] else ""
    evidence = ""
    if r["evidence"]:
        opened = " open" if verdict in ("fail", "error") else ""
        evidence = f"<details{opened}><summary>evidence</summary><pre>{e(_evidence_json(r))}</pre></details>"
    return (f'<div class=result><p>{_badge(verdict)} {e(r["subject"])} — <code>{e(r["test"])}</code></p>'
            f"{message}{evidence}</div>")
