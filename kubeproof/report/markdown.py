"""audit.md: the audit for a ticket or a wiki, in the order audit.html reads (what to fix first)."""

from __future__ import annotations

import json

from . import grouping, reading
from .document import OUTCOME_VERDICT
from .reading import VERDICT_LABEL


def markdown(doc: dict) -> str:
    failures = reading.ordered(doc["failures"])
    out = ["# kubeproof audit", "", reading.headline(doc), "", "## What to fix first", "",
           "| failure | severity | verdict | tests | happened here |", "|---|---|---|---|---|"]
    out += [f"| [{f['id']}](#{f['id']}) | {f['severity']} | {VERDICT_LABEL[f['verdict']]} | {reading.tally(f)} "
            f"| {reading.happened(f)} |" for f in failures]
    skips = grouping.counted(reading.skip_reasons(doc))
    if skips:
        out += [""] + [f"- {n} test{'s' * (n != 1)} skipped: {why}" for why, n in skips.most_common()]
    if doc.get("waivers"):
        out += ["", "## Waivers", ""] + [f"- {reading.waiver_summary(w)}" for w in doc["waivers"]]
    if doc["summary"]["nodes"]:
        out += ["", "## Verdict per node", "", "| node | verdict | failing |", "|---|---|---|"]
        for name, node in doc["summary"]["nodes"].items():
            out.append(f"| {name} | {VERDICT_LABEL[node['verdict']]} | {', '.join(node['failing']) or '-'} |")
    for f in failures:
        out += ["", f"## {f['id']}", "", f"**{f['title']}** — severity {f['severity']} "
                f"({f['severity_basis']}) — **{VERDICT_LABEL[f['verdict']]}**", "",
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
                evidence = json.dumps(r["evidence"], indent=2, ensure_ascii=False, default=str)
                out += ["", "  <details><summary>evidence</summary>", "", "  ```json",
                        *[f"  {line}" for line in evidence.splitlines()], "  ```", "  </details>"]
        if groups.passed:
            fleet = grouping.by_test(groups.passed)
            if fleet:  # each test once, with its count of nodes
                passed = [f"`{test}`" + (f" ({len(rs):,} nodes)" if rs[0]["node"] else "") for test, rs in fleet.items()]
            else:
                passed = [f"`{r['test']}`" for r in groups.passed]
            out.append(f"- **PASS** {len(groups.passed)} test{'s' * (len(groups.passed) != 1)}: " + ", ".join(passed))
        out += [f"- **SKIPPED** {len(rs)} test{'s' * (len(rs) != 1)}: {why}"
                for why, rs in grouping.same_reasons(groups.skipped).items()]
    return "\n".join(out) + "\n"
