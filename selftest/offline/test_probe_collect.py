"""Probe pods gather on the cluster: each pod's gather container runs gather.sh and ends, the
controller reads every node's output from that container's log and caches the facts; a node whose
container failed or whose log cannot be read is left to kubectl exec.

Here, offline: the manifest, the log's encoding (the container's own pipeline, run here), the
following and the fallback decisions against the replay server. On the lab:
selftest/live/test_probe_collect_live.py.
"""

from __future__ import annotations

import base64
import gzip
import os
import subprocess
import time
from datetime import datetime, timezone

import orjson
import pytest

from kubeproof.kube import client as kube_client
from kubeproof.kube.replay import ReplayServer
from kubeproof.kube.view import ClusterView
from kubeproof.nodes import gather
from kubeproof.nodes import probe as probes
from kubeproof.nodes.probe import GATHER, SESSION_LABEL, ProbePods, decode_log, pack, pod_manifest, pod_name
from selftest.support.paths import NODES

RECORDED = (NODES / "kubeadm-node.gather.txt").read_text()
NAMESPACE = "kubeproof-probe-abc123"
STARTED = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def encoded(output: bytes) -> bytes:
    """What the gather container's log holds: gzip, then base64 in 76-column lines as busybox writes it."""
    return base64.encodebytes(gzip.compress(output))


def run_gather_command(script: str, root: str = "/") -> bytes:
    """The gather container's own command, run on this machine with root for the node's /host."""
    command = probes.GATHER_COMMAND.replace(f"chroot {probes.HOST} ", f"chroot {root} ")
    return subprocess.run(["sh", "-c", command, GATHER, pack(script)], capture_output=True, check=True).stdout


def test_the_probe_pod_gathers_once_beside_a_sleeping_probe() -> None:
    pod = pod_manifest("node-a", NAMESPACE, "abc123", "busybox:1.36", "echo facts")
    probe, gatherer = pod["spec"]["containers"]
    assert probe["name"] == "probe" and probe["command"][0] == "sleep"  # kubectl exec: fallback, scenarios
    assert gatherer["name"] == GATHER and gzip.decompress(base64.b64decode(gatherer["command"][-1])) == b"echo facts"
    assert 'chroot /host /bin/sh -c "$script"' in gatherer["command"][2]
    for container in (probe, gatherer):
        assert container["image"] == "busybox:1.36" and container["securityContext"] == {"privileged": True}
        assert container["volumeMounts"] == [{"name": "host", "mountPath": "/host", "readOnly": True}]
    assert pod["spec"]["restartPolicy"] == "Never"  # the gather container runs once
    assert pod["metadata"]["name"] == pod_name("node-a")
    assert "container=probe" in ProbePods(None, session="abc123", kubeconfig=None, context=None).url("node-a")


def test_the_log_gives_back_any_bytes() -> None:
    tricky = bytes(range(256)) + b"\r\n" + b"a" * 100_000 + b"\r\nno newline at the end"
    assert decode_log(encoded(tricky)) == tricky.decode("utf-8", errors="replace")
    with pytest.raises(ValueError, match="its log is not gather.sh's encoded output: sh: gzip: not found"):
        decode_log(b"\nsh: gzip: not found\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_the_gather_containers_output_parses_as_the_exec_round_trip_does() -> None:
    """gather.sh through the container's pipeline and the log's decoding gives what gather() gives
    over a transport for the same machine: the same keys all the way down, the same stable facts."""
    from kubeproof.nodes import transport

    script = gather.script()
    stable = ("kernel", "os", "hostname", "kubelet", "certificates", "static_pods", "runtime", "systemd",
              "parse_errors")
    # This host's /proc shows the kind nodes' kubelets and runtimes, which other selftests start and
    # stop: the two gathers are compared again when the host changed between them.
    for _ in range(3):
        logged = gather.from_output("here", decode_log(run_gather_command(script)), started=STARTED, duration=1.0)
        direct = gather.gather(transport.open_host("local://"), "here", timeout=120)
        differ = [key for key in stable if logged[key] != direct[key]]
        if not differ:
            break
    assert shape(logged) == shape(direct)
    assert differ == []
    assert logged["node"] == "here" and logged["gathered_at"] == "2026-11-30T12:00:00Z" and logged["duration_s"] == 1.0


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_a_gather_container_that_cannot_chroot_tells_why(tmp_path) -> None:
    output = decode_log(run_gather_command("true", root=str(tmp_path / "no-such-root")))
    with pytest.raises(gather.NodeUnreachable, match=r"gathering did not complete: chroot: .*no-such-root"):
        gather.from_output("n", output, started=STARTED, duration=0)


def test_a_script_that_cannot_be_unpacked_tells_why() -> None:
    command = ["sh", "-c", probes.GATHER_COMMAND, GATHER, "not gzip in base64"]
    output = decode_log(subprocess.run(command, capture_output=True, check=True).stdout)
    with pytest.raises(gather.NodeUnreachable, match="gathering did not complete: .*base64: invalid input"):
        gather.from_output("n", output, started=STARTED, duration=0)


def test_gather_sh_packed_is_half_its_json() -> None:
    """What every probe pod carries, hence every poll's LIST (docs/benchmark.md: 7.8 KB, not 15.6)."""
    script = gather.script()
    assert len(pack(script)) < len(orjson.dumps(script)) / 1.9
    assert gzip.decompress(base64.b64decode(pack(script))).decode() == script


def shape(value, depth: int = 3):
    """The keys of nested dicts (lists by their first element), depth levels down: what both paths must share."""
    if depth == 0:
        return None
    if isinstance(value, dict):
        return {k: shape(v, depth - 1) for k, v in value.items()}
    return type(value).__name__


# --- following the pods and the fallback, against the replay server ---------------------------

def probe_pod(node: str, phase: str, gather_state: dict | None = None, reason: str = "") -> dict:
    pod = pod_manifest(node, NAMESPACE, "abc123", "busybox:1.36", "true")
    statuses = [{"name": GATHER, "state": gather_state or {"running": {}}}]
    return {**pod, "status": {"phase": phase, "containerStatuses": statuses, **({"reason": reason} if reason else {})}}


def ended(code: int, reason: str = "Completed") -> dict:
    return {"terminated": {"exitCode": code, "reason": reason}}


def test_logs_are_read_once_each_gather_container_ended_else_exec_is_left_why(tmp_path, monkeypatch) -> None:
    pods = [probe_pod("read", "Running", ended(0)),
            probe_pod("oom", "Running", ended(137, "OOMKilled")),
            probe_pod("gone", "Running", ended(0)),
            probe_pod("slow", "Running"),
            probe_pod("pending", "Pending"),
            probe_pod("evicted", "Failed", ended(0), reason="Evicted"),
            probe_pod("refused", "Running", ended(0)),
            probe_pod("broken", "Running", ended(0))]
    logs = {pod_name("read"): encoded(RECORDED.encode()),
            pod_name("broken"): encoded(b"chroot: can't execute '/bin/sh': No such file or directory\n")}
    real_get_raw = kube_client.get_raw

    def get_raw(api, path, query, **kwargs):  # the replay server serves no logs: these two come from here
        return logs.get(path.split("/")[-2]) or real_get_raw(api, path, query, **kwargs)

    monkeypatch.setattr(kube_client, "get_raw", get_raw)
    monkeypatch.setattr(probes, "PAGE", 3)  # 8 pods: a poll is 3 pages
    refused = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod_name('refused')}/log"
    kept: dict[str, dict] = {}

    def keep(node: str, output: str) -> str:
        try:
            kept[node] = gather.from_output(node, output, started=STARTED, duration=1.0)
        except gather.NodeUnreachable as exc:
            return exc.reason
        return ""

    with ReplayServer(ClusterView.from_objects(pods, description="probe pods"),
                      authorize=lambda info, path: path != refused) as server:
        server.write_kubeconfig(tmp_path / "kc")
        probe = ProbePods(kube_client.api_client(str(tmp_path / "kc")), session="abc123", image="busybox:1.36",
                          kubeconfig=None, context=None)
        problems = {node: "" for node in ("read", "oom", "gone", "slow", "pending", "evicted", "refused", "broken")}
        problems["uncreated"] = "probe pod not created (create pods: forbidden)"
        left = probe._follow(problems, timeout=1.5, gather_timeout=1.5, keep=keep)
    assert problems == {"read": "", "oom": "", "gone": "", "slow": "", "refused": "", "broken": "",
                        "pending": "probe pod not running after 2s (image busybox:1.36 pullable?)",
                        "evicted": "probe pod ended (Failed): Evicted",
                        "uncreated": "probe pod not created (create pods: forbidden)"}
    assert left == {"oom": "its gather container ended OOMKilled (exit code 137)",
                    "gone": "its log is gone (404)",
                    "slow": "its gather container still ran after 1.5 s",
                    "refused": "insufficient permission: get pods/log",
                    "broken": "gathering did not complete: chroot: can't execute '/bin/sh': No such file or directory"}
    assert list(kept) == ["read"]
    assert kept["read"] == {**gather.parse(RECORDED), "node": "read", "gathered_at": "2026-11-30T12:00:00Z",
                            "duration_s": 1.0}
    # One LIST of 3 pages, then WATCHes from its resourceVersion (nothing changes on the replay server).
    follows = [r for r in server.requests if r[1] == f"/api/v1/namespaces/{NAMESPACE}/pods"]
    assert [r[0] for r in follows] == ["list"] * 3 + ["watch"] * (len(follows) - 3) and len(follows) > 3
    assert all(("labelSelector", f"{SESSION_LABEL}=abc123") in r[2] for r in follows)
    assert [("limit", "3") in r[2] and any(k == "continue" for k, _ in r[2]) for r in follows[:3]] == [False, True, True]
    assert all(("resourceVersion", "1") in r[2] for r in follows[3:])
    log_gets = sorted(r[1].split("/")[-2] for r in server.requests if r[1].endswith("/log"))
    assert log_gets == sorted(pod_name(n) for n in ("gone", "refused"))  # once each; none for an ended container
    assert all(("container", GATHER) in r[2] for r in server.requests if r[1].endswith("/log"))


def test_polls_are_paced_by_what_they_cost(tmp_path, monkeypatch) -> None:
    """A poll that takes 0.2 s or more is followed by PACE times that of rest, not by 1 s."""
    polls: list[tuple[float, float]] = []  # (start, end) of each LIST
    real_get_json = kube_client.get_json

    def slow_get_json(*args, **kwargs):
        start = time.monotonic()
        time.sleep(0.2)
        try:
            return real_get_json(*args, **kwargs)
        finally:
            polls.append((start, time.monotonic()))

    monkeypatch.setattr(kube_client, "get_json", slow_get_json)
    said: list[str] = []
    with ReplayServer(ClusterView.from_objects([probe_pod("slow", "Running")], description="probe pods"),
                      authorize=lambda info, path: info.verb != "watch") as server:  # a probe role without watch
        server.write_kubeconfig(tmp_path / "kc")
        probe = ProbePods(kube_client.api_client(str(tmp_path / "kc")), session="abc123", kubeconfig=None, context=None)
        # Time for a second poll even when a busy machine makes the first one slower than 0.2 s.
        left = probe._follow({"slow": ""}, timeout=6, gather_timeout=6, keep=lambda node, output: "", say=said.append)
    assert left == {"slow": "its gather container still ran after 6 s"}
    assert said.count("kubeproof: following probe pods by paced LISTs (insufficient permission: watch pods)") == 1
    assert [r[0] for r in server.requests].count("watch") == 1  # refused once, not asked again
    assert len(polls) >= 2, polls
    (first_start, first_end), (second_start, _) = polls[:2]
    # The rest is measured against the poll's own time, whatever that was on this machine.
    assert second_start - first_end >= probes.PACE * (first_end - first_start) > 1.0


def test_a_watch_from_a_version_the_server_no_longer_keeps_lists_again(tmp_path) -> None:
    pod = probe_pod("node-a", "Running")
    pod["metadata"]["resourceVersion"] = "42"
    with ReplayServer(ClusterView.from_objects([pod], description="probe pods")) as server:
        server.write_kubeconfig(tmp_path / "kc")
        feed = probes._PodFeed(kube_client.api_client(str(tmp_path / "kc")), NAMESPACE, "abc123", print)
        assert [p["spec"]["nodeName"] for p in feed.changes(wait=1)] == ["node-a"]
        assert feed.resource_version == "42"
        assert list(feed.changes(wait=1)) == []  # nothing changed within the watch's second
        feed.resource_version = "7"  # compacted away meanwhile
        assert list(feed.changes(wait=1)) == [] and feed.resource_version is None
        assert [p["spec"]["nodeName"] for p in feed.changes(wait=1)] == ["node-a"]
    assert [(verb, dict(query).get("resourceVersion")) for verb, _, query in server.requests] == [
        ("list", None), ("watch", "42"), ("watch", "7"), ("list", None)]
