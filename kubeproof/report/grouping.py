"""Findings shared across a fleet: the results of one node test that read the same on many nodes.

At 5,000 nodes a finding of every node (nodefs-pressure's eviction thresholds, one kubelet
configuration rolled out everywhere) is 5,000 results that differ only in the node's name. The
reports show a finding or a skip reason that reads the same on two nodes or more once, with the
nodes it holds on and the few it does not. Skipped tests are listed per test past FLEET nodes.
"""

from __future__ import annotations

import re
from collections import Counter

FLEET = 10  # nodes past which a failure id is one console line and a test one line of its nodes
EXAMPLES = 3  # nodes named where a finding holds on all but that few
# A daemon's pid differs from node to node; the finding it names does not.
PID = re.compile(r"\bpid \d+\b")


def test_of(result: dict) -> str:
    """The test without its node parameter for a node test; the test id otherwise."""
    return result["test"].split("[")[0] if result["node"] else result["test"]


def _reading(result: dict) -> tuple:
    node = result["node"]
    if not node:
        return (id(result),)  # a cluster test's result is one of a kind
    return test_of(result), result["outcome"], PID.sub("pid", result["message"].replace(node, "\0"))


def findings(results: list[dict]) -> list[list[dict]]:
    """The results in their order, those reading the same on several nodes as one group (where
    its first one stood), each other one alone."""
    same: dict[tuple, list[dict]] = {}
    for result in results:
        same.setdefault(_reading(result), []).append(result)
    out, shown = [], set()
    for result in results:
        group = same[_reading(result)]
        if id(group) not in shown:
            shown.add(id(group))
            out.append(group)
    return out


def spread(group: list[dict], results: list[dict]) -> str:
    """"4,998/5,000 nodes; not on node-a, node-b": of the nodes the group's test reported on (in
    results), how many the group holds on, naming the few it spares."""
    test = test_of(group[0])
    tested = {r["node"] for r in results if r["node"] and test_of(r) == test}
    spared = sorted(tested - {r["node"] for r in group})
    said = f"{len(group):,}/{len(tested):,} nodes"
    if 0 < len(spared) <= EXAMPLES:
        return f"{said}; not on {', '.join(spared)}"
    return f"{said}; not on {len(spared):,} others" if spared else said


def by_test(results: list[dict]) -> dict[str, list[dict]] | None:
    """Results by test (test_of), in their first appearance's order, where a test has results on
    more than FLEET nodes; None otherwise (each result is then listed as before)."""
    tests: dict[str, list[dict]] = {}
    for result in results:
        tests.setdefault(test_of(result), []).append(result)
    return tests if any(len(mine) > FLEET for mine in tests.values()) else None


_NODE_SUBJECT = re.compile(r"^node (\S+): ")  # how a node test's skip reason starts (Verdict.subject)


def same_reasons(reasons: dict[str, list]) -> dict[str, list]:
    """Skip reasons that differ only in the node they start with ("node node-00002: not a
    control-plane node ..."), as one reason ("node <node>: ...") where several nodes share it,
    with all their results; the others as they are, in their order."""
    merged: dict[str, list[tuple[str, list]]] = {}
    for why, results in reasons.items():
        subject = _NODE_SUBJECT.match(why)
        merged.setdefault(f"node <node>: {why[subject.end():]}" if subject else why, []).append((why, results))
    out: dict[str, list] = {}
    for key, parts in merged.items():
        if len(parts) > 1:
            out[key] = [r for _, results in parts for r in results]
        else:
            out.update(parts)
    return out


def counted(reasons: Counter) -> Counter:
    """same_reasons for counts of tests by reason."""
    return Counter({why: sum(ns) for why, ns in same_reasons({w: [n] for w, n in reasons.items()}).items()})
