"""audit.md: the audit for a ticket or a wiki, in the order audit.html reads (at a glance, then
what to fix first)."""

from __future__ import annotations

import json

from . import glance, grouping, reading
from .document import OUTCOME_VERDICT
from .reading import VERDICT_LABEL


def _cell(text: object) -> str:
    """Text as one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(*cells: object) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _glance(doc: dict, failures: list[dict]) -> list[str]:
    banner = glance.banner(doc)
    out = [f"**{VERDICT_LABEL[banner.verdict]}**" + (f" — INCOMPLETE: {banner.incomplete}" if banner.incomplete else "")
           + f". {banner.gate}. Failure ids by severity and verdict:", "",
           _row("severity", *banner.columns), "|---" * (len(banner.columns) + 1) + "|"]
    out += [_row(f"**{s}**" if s == "all" else s, *counts) for s, counts in banner.rows]
    out += ["", reading.headline(doc), "", "## What to fix first", ""]
    failing = glance.failing(failures)
    if failing:
        out += [_row("failure", "severity", "verdict", "where", "worst measured", "happened here", "remediation"),
                "|---" * 7 + "|"]
        out += [_row(f"[{row.failure['id']}](#{row.failure['id']})", row.failure["severity"],
                     VERDICT_LABEL[row.failure["verdict"]], row.where,
                     row.worst + (f" (worst of {row.problems} problems)" if row.problems > 1 else "")
                     + "".join(f" {w}" for w in row.waivers),
                     reading.happened(row.failure), row.failure["remediation"]) for row in failing]
    else:
        out.append("Nothing fails.")
    window = glance.happened_window(failures)
    out += ["", "*Happened here:* how often the failure's field symptoms (the catalog's patterns) were seen on "
            f"this target{f' within the last {window} days' if window else ''}, in the nodes' kernel log, the "
            "kubelet's and the container runtime's journals and the cluster's Events, read by the history tests. "
            "A number above 0 means it already happened here, not only that it could; \"at least\": a log held "
            "more matches than were read; 0: looked, not seen; \"-\": no history test looked. Scenarios run on "
            "this cluster reproduce their failure, so its symptoms count here too."]
    passing = glance.passing(failures)
    if passing:
        out += ["", f"## Passing checks ({len(passing)}): what was measured", "",
                _row("failure", "severity", "test", "where", "measured"), "|---" * 5 + "|"]
        out += [_row(row.failure["id"] if row.span else "", row.failure["severity"] if row.span else "",
                     f"`{row.test}`", row.where, row.measured) for row in passing]
    unjudged = [f"{f['id']} ({VERDICT_LABEL[f['verdict']]})" for f in failures if f["verdict"] in ("skip", "not-run")]
    if unjudged:
        out += ["", f"Not judged: {', '.join(unjudged)}."]
    return out


def markdown(doc: dict) -> str:
    failures = reading.ordered(doc["failures"])
    out = ["# kubeproof audit", "", *_glance(doc, failures)]
    skips = glance.skips(doc)
    if skips:
        out += [""] + [f"- {n} test{'s' * (n != 1)} skipped: {why}" for why, n in skips]
    if doc.get("waivers"):
        out += ["", "## Waivers", ""] + [f"- {reading.waiver_summary(w)}" for w in doc["waivers"]]
    if doc["summary"]["nodes"]:
        out += ["", "## Verdict per node", "", "| node | verdict | failing |", "|---|---|---|"]
        for name, node in doc["summary"]["nodes"].items():
            out.append(f"| {name} | {VERDICT_LABEL[node['verdict']]} | {', '.join(node['failing']) or '-'} |")
    for f in failures:
        out += ["", f"## {f['id']}", "", f"**{f['title']}** — severity {f['severity']} "
                f"({f['severity_basis']}) — **{VERDICT_LABEL[f['verdict']]}** — {reading.tally(f)}", "",
                f"*In the field:* {f['root_cause']}", ""]
        out += [f"*Source:* [{text}]({url})" if url else f"*Source:* {text}" for text, url in reading.sources(f)]
        out += ["", "*Symptoms:* " + "; ".join(f"`{s}`" for s in f["symptoms"]), ""]
        if reading.happened_line(f):
            out += [f"*Happened here:* {reading.happened_line(f)}", ""]
        out += [f"*Remediation:* {f['remediation']}", ""]
        for reason in ("no_assertion", "no_scenario"):
            if f[reason]:
                out += [f"*{reason.replace('_', ' ').capitalize()}:* {f[reason]}", ""]
        groups = reading.grouped(f["results"])
        for group in grouping.findings(groups.failing + groups.waived):
            r = group[0]
            label = VERDICT_LABEL[OUTCOME_VERDICT[r["outcome"]]]
            if len(group) == 1:
                out.append(f"- **{label}** {r['subject']} — `{r['test']}`")
            else:  # one finding on many nodes: once, shown for the first, every node named
                out.append(f"- **{label}** {grouping.spread(group, f['results'])} — `{grouping.test_of(r)}`, "
                           f"the same on each (shown for {r['node']}): {', '.join(x['node'] for x in group)}")
            if reading.waiver_line(r):
                out += ["", f"  *{reading.waiver_line(r)}*"]
            out += ["", "  ```", *[f"  {line}" for line in reading.without_remediation(r["message"]).splitlines()],
                    "  ```"]
            if r["evidence"]:
                evidence = json.dumps(dict(r["evidence"]), indent=2, ensure_ascii=False, default=str)
                out += ["", "  <details><summary>evidence</summary>", "", "  ```json",
                        *[f"  {line}" for line in evidence.splitlines()], "  ```", "  </details>"]
        out += [f"- **SKIPPED** {len(rs)} test{'s' * (len(rs) != 1)}: {why}"
                for why, rs in grouping.same_reasons(groups.skipped).items()]
    return glance.local_paths(doc)("\n".join(out) + "\n")
