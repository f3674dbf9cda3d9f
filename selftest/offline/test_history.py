"""Has it already happened here? (issue 15): the node logs as gather.sh sends them and gather.py
parses them, the node and Event judges, and the "happened here" counts of the reports.

data/nodes/lab-worker-capped.gather.txt is gather.sh's real output on the lab's kubeproof-lab-worker
(kind on podman, journald with ReadKMsg=no) with a 600-byte cap, patterns chosen to match lines
every lab node has ("journald" in the kernel log, "eviction manager" in the kubelet's journal).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from kubeproof import profile as profiles
from kubeproof.errors import KubeproofError
from kubeproof.judge.cluster import history as event_history
from kubeproof.judge.node import history as node_history
from kubeproof.nodes import gather
from kubeproof.nodes.facts import NodeFacts
from kubeproof.report import document, html, markdown
from kubeproof.report.records import EvidenceTexts, Result
from selftest.support.recorded_node import node
from selftest.support.paths import NODES
from selftest.support.paths import REPO

RECORDING = "lab-worker-capped"
RECORDED = (NODES / f"{RECORDING}.gather.txt").read_text()
# Real lines (data/logs/workload-crashes.yaml, pleg-unhealthy.yaml): a crash loop of the lab's
# control plane, and a kubelet's start, whose PLEG line is no stall.
CRASHLOOP = ('2026-11-30T03:23:17+0000 cp kubelet[608]: E1130 03:23:17.129345     608 pod_workers.go:1301] '
             '"Error syncing pod, skipping" err="failed to \\"StartContainer\\" for \\"kube-scheduler\\" with '
             'CrashLoopBackOff: \\"back-off 10s restarting failed container=kube-scheduler\\""')
PLEG_AT_START = ('2026-11-30T03:21:17+0000 cp kubelet[220]: E1130 03:21:17.232253     220 kubelet.go:2406] '
                 '"Skipping pod synchronization" err="[container runtime status check may not have completed yet, '
                 'PLEG is not healthy: pleg has yet to be successful]"')


def _facts(**sections: str) -> NodeFacts:
    return node(RECORDING, **sections)


def _journal(*lines: str, cap: int = 131072) -> str:
    return f"@@kubeproof-history source=journal cap={cap}\n" + "\n".join(lines)


def test_capped_journal_keeps_the_newest_whole_lines_and_says_so() -> None:
    kubelet = _facts().history("kubelet")
    assert (kubelet["read"], kubelet["source"], kubelet["truncated"], kubelet["cap"]) == (True, "journal", True, 600)
    # head -c cut the third line; the two whole ones stay, newest first, timed by the journal
    assert [line["at"] for line in kubelet["lines"]] == ["2026-11-30T03:21:17Z"] * 2
    assert "failed to get summary stats" in kubelet["lines"][0]["line"]


def test_kernel_log_falls_back_to_dmesg_timed_by_uptime_where_journald_keeps_none() -> None:
    kernel = _facts().history("kernel")
    assert (kernel["source"], kernel["readkmsg"], kernel["container"], kernel["truncated"]) == \
        ("dmesg", "no", "podman", True)
    newest, oldest = kernel["lines"][0], kernel["lines"][-1]
    # clock 03:31:39Z at uptime 2562.88 s: the line at 2556.713056 s is 6.166944 s earlier
    assert newest == {"at": "2026-11-30T03:31:32.833056Z",
                      "line": "[ 2556.713056] systemd-journald[141]: Received client request to flush runtime journal."}
    assert oldest["line"].startswith("[ 1923.213112]")  # tail -c's cut first line is dropped


def test_a_log_that_was_not_read_says_why() -> None:
    missing = re.sub(r"(@@kubeproof-section history-(kernel|kubelet)\n).*?\n(@@kubeproof-end history-\2) rc=0",
                     r"\1\n\3 rc=127", RECORDED, flags=re.S)
    logs = gather.parse(missing)["history"]
    assert (logs["kubelet"]["why"], logs["kernel"]["why"]) == ("no journalctl on the node",
                                                                "no journalctl or dmesg on the node")
    assert _facts(history_kubelet="Failed to open journal").history("kubelet")["why"] == "Failed to open journal"
    old = gather.parse(re.sub(r"@@kubeproof-section history-kubelet\n.*?rc=0\n", "", RECORDED, flags=re.S))
    assert old["history"]["kubelet"]["why"].startswith("not gathered")
    assert NodeFacts({}).history("kubelet")["why"].startswith("not gathered")  # facts of an older dump


def test_gather_script_carries_the_window_cap_and_each_logs_patterns() -> None:
    script = gather.script({"history_days": 3, "history_max_bytes": 999})
    assert script.isascii()
    assert script.startswith("HISTORY_DAYS=3\nHISTORY_BYTES=999\n")
    assert "PLEG is not healthy: pleg was last seen active" in script.partition("HISTORY_RUNTIME=")[0]


def test_node_history_finds_a_crash_loop_counts_and_times_it() -> None:
    facts = _facts(history_kubelet=_journal(CRASHLOOP, CRASHLOOP.replace("03:23:17", "03:20:01")))
    judgement = node_history.seen_on_node(facts, "workload-crashes", 7)
    assert len(judgement.problems) == 1, judgement.problems
    assert judgement.problems[0].startswith("node lab-worker-capped: ContainerFailing 2x in the kubelet's journal within 7 days "
                                            "(first 2026-11-30T03:20:01Z, last 2026-11-30T03:23:17Z)")
    assert judgement.judged["happened"] == {
        "sightings": 2, "at_least": False, "first": "2026-11-30T03:20:01Z", "last": "2026-11-30T03:23:17Z",
        "window_days": 7, "by": {"node lab-worker-capped kubelet's journal": 2}}
    assert judgement.raw["history-kubelet"].count("CrashLoopBackOff") == 2  # gather.sh's output as evidence


def test_node_history_passes_on_a_near_miss_and_outside_the_window() -> None:
    old = CRASHLOOP.replace("2026-11-30T03:23:17", "2026-11-20T03:23:17")  # 10 days before the clock
    facts = _facts(history_kubelet=_journal(PLEG_AT_START, old))
    for failure_id in ("pleg-unhealthy", "workload-crashes"):
        judgement = node_history.seen_on_node(facts, failure_id, 7)
        assert (judgement.problems, judgement.skip) == ([], None), failure_id
        assert judgement.judged["happened"]["sightings"] == 0
    assert node_history.seen_on_node(facts, "workload-crashes", 11).judged["happened"]["sightings"] == 1


def test_a_capped_log_counts_at_least() -> None:
    body = f"{CRASHLOOP}\n{CRASHLOOP[:40]}"  # as head -c leaves it: the oldest line cut
    judgement = node_history.seen_on_node(_facts(history_kubelet=_journal(body, cap=len(body.encode()))),
                                          "workload-crashes", 7)
    assert "at least 1x" in judgement.problems[0]
    assert judgement.judged["happened"]["at_least"] is True


def test_node_history_skips_where_no_log_was_read() -> None:
    facts = _facts(history_kubelet="")
    judgement = node_history.seen_on_node(facts, "pleg-unhealthy", 7)
    assert judgement.skip == "kubelet's journal not read: no pattern looks in this log"


# Real: the host's kernel killed a process of another container; every kind node's dmesg showed it.
HOST_OOM = ("[ 2423.507490] Memory cgroup out of memory: Killed process 5056 (sh) total-vm:51428kB, anon-rss:32164kB, "
            "file-rss:1520kB, shmem-rss:0kB, UID:0 pgtables:108kB oom_score_adj:999")


def test_a_kernel_shared_with_the_host_is_shown_never_counted_as_the_nodes() -> None:
    header = "@@kubeproof-history source=dmesg cap=131072 uptime=2562.88 readkmsg=no container=podman\n"
    facts = _facts(history_kernel=header + HOST_OOM + "\n")
    judgement = node_history.seen_on_node(facts, "node-sysctls", 7)  # a kernel pattern only: nothing to judge
    assert judgement.skip.startswith("kernel log not read: the node runs in a container (podman): its kernel is "
                                     "its host's")
    crashes = node_history.seen_on_node(facts, "workload-crashes", 7)  # its kubelet's journal is judged
    assert (crashes.problems, crashes.skip, crashes.judged["happened"]["sightings"]) == ([], None, 0)
    assert crashes.judged["logs"]["kernel"]["host lines"] == [HOST_OOM]
    assert "ReadKMsg=no" in crashes.judged["logs"]["kernel"]["note"]
    on_its_own_kernel = _facts(history_kernel=header.replace(" container=podman", "") + HOST_OOM + "\n")
    assert node_history.seen_on_node(on_its_own_kernel, "workload-crashes", 7).problems[0].startswith(
        "node lab-worker-capped: OOMKilled 1x in the kernel log")


def _event(node: str | None, reason: str, message: str, last: str, count: int = 1, **involved) -> dict:
    return {"metadata": {"name": f"e-{last}", "namespace": involved.get("namespace", "default")},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1", **involved},
            "reason": reason, "message": message, "count": count, "type": "Warning",
            "firstTimestamp": "2026-11-29T10:00:00Z", "lastTimestamp": last,
            "source": {"component": "kubelet", "host": node} if node else {"component": "default-scheduler"}}


NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def test_event_history_per_node_with_counts_first_and_last() -> None:
    events = [_event("worker", "Failed", "Error: ErrImagePull", "2026-11-30T11:00:00Z", 3),
              _event("worker", "BackOff", 'Back-off pulling image "kubeproof.invalid/x:1"', "2026-11-30T11:30:00Z", 9),
              _event("worker2", "Pulling", 'Pulling image "kubeproof.invalid/x:1"', "2026-11-30T11:00:00Z"),
              _event("worker2", "Failed", "Error: ErrImagePull", "2026-11-01T11:00:00Z")]  # outside 7 days
    judgement = event_history.seen_in_events(events, "workload-crashes", NOW, 7)
    assert judgement.problems == [
        "node worker: ContainerFailing 12x in the cluster's Events within 7 days (first 2026-11-29T10:00:00Z, "
        "last 2026-11-30T11:30:00Z): Pod default/web-1 BackOff: Back-off pulling image \"kubeproof.invalid/x:1\""]
    assert judgement.judged["happened"]["by"] == {"node worker cluster's Events": 12}


def test_event_history_without_a_node_is_the_clusters() -> None:
    message = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
    judgement = event_history.seen_in_events([_event(None, "FailedScheduling", message, "2026-11-30T11:00:00Z")],
                                             "affinity-rollout-stall", NOW, 7)
    assert judgement.problems[0].startswith("cluster: AntiAffinityUnschedulable 1x")


def _result(node: str | None, happened: dict | None, outcome: str) -> Result:
    return Result(f"t[{node}]", ["workload-crashes"], "node" if node else "cluster",
                  f"node/{node}" if node else "cluster", node, outcome=outcome,
                  evidence=EvidenceTexts.of({"judged": {"happened": happened}} if happened else {}))


def test_reports_say_how_often_it_happened_here() -> None:
    seen = {"sightings": 2, "at_least": False, "first": "2026-11-30T03:20:01Z", "last": "2026-11-30T03:23:17Z",
            "window_days": 7, "by": {"node cp kubelet's journal": 2}}
    none = {**seen, "sightings": 0, "first": None, "last": None, "by": {}}
    events = {**seen, "sightings": 12, "at_least": True, "last": "2026-11-30T11:30:00Z",
              "by": {"node cp cluster's Events": 12}}
    doc = document.build([_result("cp", seen, "failed"), _result("w", none, "passed"),
                          _result(None, events, "failed")], target=None,
                         gate={"fail_on": "minor", "exit_status": 1, "failing": []})
    crashes = next(f for f in doc["failures"] if f["id"] == "workload-crashes")
    assert crashes["happened"] == {"sightings": 14, "at_least": True, "first": "2026-11-30T03:20:01Z",
                                   "last": "2026-11-30T11:30:00Z", "window_days": 7,
                                   "by": {"node cp kubelet's journal": 2, "node cp cluster's Events": 12}}
    assert doc["summary"]["happened"]["workload-crashes"] == 14
    assert doc["summary"]["happened"]["pleg-unhealthy"] is None  # no history test looked
    line = ("at least 14 sightings within 7 days (first 2026-11-30T03:20:01Z, last 2026-11-30T11:30:00Z): "
            "node cp kubelet's journal 2, node cp cluster's Events 12.")
    assert f"*Happened here:* {line}" in markdown.markdown(doc)
    assert re.search(r"^\| \[workload-crashes\]\S* \| normal \| FAIL \|.* \| at least 14 \| ", markdown.markdown(doc), re.M)
    page = html.html(doc)
    assert "<th>happened here</th>" in page and f"<b>Happened here:</b> {line.replace(chr(39), '&#39;')}" in page


@pytest.mark.parametrize("outcome", ["skipped", "error"])
def test_a_history_test_that_did_not_judge_counts_nothing(outcome) -> None:
    seen = {"sightings": 2, "at_least": False, "first": None, "last": None, "window_days": 7, "by": {}}
    assert document.happened([_result("cp", seen, outcome)]) is None


@pytest.mark.parametrize("suite, module", [("tests_node/test_log_history.py", node_history),
                                           ("tests_cluster/test_event_history.py", event_history)])
def test_one_history_test_per_failure_id_with_a_pattern_there(suite, module) -> None:
    text = (REPO / suite).read_text()
    declared = re.findall(r'@pytest\.mark\.failure\("([^"]+)"\)\ndef test_(\w+)\(', text)
    assert [i for i, _ in declared] == list(module.FAILURE_IDS)
    assert all(name.startswith(i.replace("-", "_")) for i, name in declared)  # named after what it guards


@pytest.mark.parametrize("text, error", [("history_days: 0\n", "history_days must be a whole number >= 1, got 0"),
                                         ("history_max_bytes: 1.5\n", "history_max_bytes must be a whole number >= 1")])
def test_a_window_or_cap_that_reads_nothing_is_refused(tmp_path, text, error) -> None:
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(KubeproofError, match=re.escape(error)):
        profiles.load(str(tmp_path / "p.yaml"))
    assert profiles.load(None).history_days == 7


def test_facts_recorded_before_the_shared_kernel_was_told_are_judged() -> None:
    recorded = _facts().as_dict()
    del recorded["history"]["kernel"]["container"]  # as the lab's recorded dump of 2026-11-30 has them
    judged = node_history.seen_on_node(NodeFacts(recorded), "node-sysctls", 7)
    assert (judged.skip, judged.problems) == (None, []) and "ReadKMsg=no" in judged.judged["logs"]["kernel"]["note"]


def test_a_log_read_has_no_reason_not_to_be() -> None:
    assert {log: h["why"] for log, h in gather.parse(RECORDED)["history"].items()} == \
        {"kernel": None, "kubelet": None, "runtime": "no pattern looks in this log"}
