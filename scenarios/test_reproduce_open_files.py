"""nofile-exhaustion (001 §4): a node agent at nofile 1024 drops connections under load.

The agent is a stand-in: a TCP server in a pod (python3 of the tools image, KUBEPROOF_TOOLS_IMAGE)
that holds every connection it accepts and never reads them, as calico-node's BGP and felix sockets
are held, and names its process calico-node so that the judge finds it where it finds a CNI agent (the lab runs no calico).

arrange  the agent at the limits its runtime gives it: daemon_nofile passes (on the lab, under a
         profile whose minimum is the machine's ceiling, 20000);
inject   the agent restarted at nofile 1024:1024 (Ubuntu's default of 001 §4);
observe  a client pod opens 1500 connections, each sending a keepalive byte: at its limit the
         agent's accept() fails with EMFILE, it dies, and the kernel resets every connection it held
         with that byte unread ("Connection reset by peer"); it is restarted at the same limit;
judge    limits.daemon_nofile names calico-node's hard limit 1024;
restore  the agent at its runtime's limits again: daemon_nofile passes.
"""

from __future__ import annotations

import pytest

from kubeproof.judge.node import limits
from kubeproof.scenario import container, pod
from kubeproof.waiting import wait_for

AGENT, CLIENT = "kubeproof-agent", "kubeproof-load"
PORT, LOAD, FAULTY = 7000, 1500, 1024
# Started under the limit its shell sets. EMFILE in accept() is not caught: the agent dies of it, as
# 001's did, and the kernel resets the connections it held.
SERVER = f"""
import socket
with open("/proc/self/comm", "w") as comm:
    comm.write("calico-node")
print("listening;", next(line for line in open("/proc/self/limits") if "open files" in line), flush=True)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("", {PORT}))
server.listen(4096)
held = []
while True:
    held.append(server.accept()[0])
"""
# argv: the agent's address. Opens LOAD connections, then reports how each one fares.
CLIENT_SCRIPT = f"""
import collections, selectors, socket, sys, time
outcomes, held = collections.Counter(), []
for _ in range({LOAD}):
    try:
        conn = socket.create_connection((sys.argv[1], {PORT}), timeout=5)
        # Unread when the agent dies, it makes the kernel reset the connection; with nothing unread
        # the kernel closes it in order (FIN), and only connections still queued for accept() reset.
        conn.sendall(b"k")
        held.append(conn)
    except OSError as exc:
        outcomes[f"connect: {{exc!r}}"] += 1
connected = len(held)
time.sleep(3)
watch = selectors.DefaultSelector()
for conn in held:
    watch.register(conn, selectors.EVENT_READ)
for key, _ in watch.select(timeout=3):
    try:
        outcomes["closed" if key.fileobj.recv(1) == b"" else "data"] += 1
    except OSError as exc:
        outcomes[f"{{type(exc).__name__}}: {{exc}}"] += 1
outcomes["held"] = connected - sum(n for outcome, n in outcomes.items() if not outcome.startswith("connect"))
for outcome, count in outcomes.items():
    print(count, outcome)
"""


@pytest.mark.failure("nofile-exhaustion")
def test_an_agent_at_nofile_1024_resets_connections_under_load(scenario, profile):
    cluster = scenario.cluster
    name = scenario.worker()
    node, _ = scenario.fault_on(name)
    namespace = scenario.namespace()
    image = scenario.tools_image

    def run(started: str, command: list[str], restart: str) -> dict:
        cluster.delete_pod(namespace, started)
        wait_for(f"pod {namespace}/{started} gone", lambda: [p for p in cluster.pods(namespace)
                                                             if p["metadata"]["name"] == started],
                 until=lambda p: not p, timeout=60)
        cluster.create(namespace, pod(started, scenario.id, container(image, *command), node=name, restart=restart))
        return wait_for(f"pod {namespace}/{started} started", lambda: cluster.pod(namespace, started),
                        until=lambda p: p["status"].get("podIP") and p["status"].get("phase") != "Pending",
                        timeout=60)

    def serve(limit: int | None) -> None:
        """The agent at nofile limit:limit (dash's ulimit sets both), None: at its runtime's limits."""
        run(AGENT, ["sh", "-c", (f"ulimit -n {limit} && " if limit else "") + 'exec python3 -c "$0"', SERVER], "Always")
        wait_for("the agent listening", lambda: log(AGENT), until=lambda text: "listening" in text, timeout=60)

    def log(pod: str, previous: bool = False) -> str:
        return cluster.call(f"read the log of {pod}", cluster.core.read_namespaced_pod_log, pod, namespace,
                            previous=previous)

    def inject() -> None:
        serve(FAULTY)
        scenario.defer("the agent back at its runtime's limits", lambda: serve(None))

    def observe() -> list[str]:
        address = cluster.pod(namespace, AGENT)["status"]["podIP"]
        run(CLIENT, ["python3", "-c", CLIENT_SCRIPT, address], "Never")
        wait_for(f"{LOAD} connections tried", lambda: cluster.pod(namespace, CLIENT),
                 until=lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), timeout=180)
        wait_for("the agent restarted", lambda: cluster.pod(namespace, AGENT), timeout=60, until=lambda p: any(
            s.get("restartCount", 0) for s in p["status"].get("containerStatuses") or []))
        return log(CLIENT).splitlines() + log(AGENT, previous=True).splitlines()

    def judge() -> list[str]:
        return limits.daemon_nofile(scenario.facts(node), profile.nofile_min).problems

    def recovered() -> None:
        # A pod with a grace period of 0 leaves the API at once; its process dies on the node a moment later.
        wait_for("the faulty agent's process gone from the node", judge, until=lambda problems: not problems,
                 timeout=60)

    scenario.prove(arrange=lambda: serve(None), judge=judge, inject=inject, observe=observe,
                   symptoms=["[Errno 104]", "[Errno 24]"], offender="calico-node (pid", recovered=recovered)
