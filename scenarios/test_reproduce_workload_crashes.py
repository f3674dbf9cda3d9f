"""workload-crashes (004): containers that cannot run, for real — a crash loop, an OOM kill, an image
that cannot be pulled.

inject   three pods on a worker (restartPolicy Always): one whose command exits 1, one whose shell
         grows past its memory limit (both on --probe-image, present on the node), one whose image no
         registry serves;
observe  the kubelet's own words: CrashLoopBackOff or "Back-off restarting failed container",
         OOMKilled, ErrImagePull and ImagePullBackOff, gathered over the whole wait (from 1.35 a
         crash-looping container shows CrashLoopBackOff only for a moment, workloads.backing_off);
judge    workloads.crashing_containers names each pod;
restore  the pods deleted: nothing crashes, the judge passes.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kubeproof.judge.cluster.workloads import backing_off, crashing_containers
from kubeproof.scenario import container, node_lock, pod
from kubeproof.waiting import wait_for

CRASH, OOM, PULL = "kubeproof-crash", "kubeproof-oom", "kubeproof-pull"
ABSENT_IMAGE = "localhost/kubeproof/absent:never"  # no registry serves it, anywhere
DOUBLING = "a=x; while :; do a=$a$a; done"  # a shell variable doubling until the memory limit kills it
# The pod's cgroup is limited to the sum of its containers' limits: alone, the container could be killed
# at the pod's level, which containerd reports as "Error" (exit 137), not OOMKilled. A sidecar with room
# of its own keeps the kill in the container's cgroup.
SIDECAR = {"name": "room", "command": ["sleep", "86400"], "resources": {"limits": {"memory": "64Mi"}}}
# The OOM kill in the kubelet's words, or in the kernel's for that very container: containerd learns of
# it from a cgroup v1 event that nested nodes may never get (containerd 1.6 then said "Error", exit
# 137, while the kernel logged the kill in the container's own memory cgroup).
OOM_KILLED = ("OOMKilled", "Memory cgroup out of memory: Killed process")
# The kubelet's reason and its event's words for one crash loop: from 1.35 the status shows the reason
# only after the first restart, the events say it at every back-off.
CRASH_LOOP = ("CrashLoopBackOff", "Back-off restarting failed container")
SYMPTOMS = (CRASH_LOOP, OOM_KILLED, "ErrImagePull", "ImagePullBackOff")


def _kernel_oom_kills(pods: list[dict], kernel_log: str) -> list[str]:
    """The kernel's OOM kill lines naming a container of these pods by its memory cgroup."""
    ids = [s["lastState"]["terminated"]["containerID"].split("://")[-1] for p in pods
           for s in (p.get("status") or {}).get("containerStatuses") or []
           if ((s.get("lastState") or {}).get("terminated") or {}).get("containerID")]
    lines = kernel_log.splitlines()
    # the constraint line names the container's cgroup; the kill itself follows it
    return [lines[i + 1] for i, line in enumerate(lines[:-1])
            if "oom-kill:" in line and any(f"-{cid}.scope" in line for cid in ids) and "Killed process" in lines[i + 1]]


def _seen(pods: list[dict], events: list[dict]) -> list[str]:
    """Every reason the containers report, waiting now or last terminated, and the events' messages."""
    reasons = [f"{(s.get(k) or {}).get(state, {}).get('reason')}" for p in pods
               for s in (p.get("status") or {}).get("containerStatuses") or []
               for k, state in (("state", "waiting"), ("state", "terminated"), ("lastState", "terminated"))]
    return [r for r in reasons if r != "None"] + [f"{e.get('reason')}: {e.get('message')}" for e in events]


@pytest.mark.failure("workload-crashes")
def test_crash_loops_oom_kills_and_failed_pulls_are_named(scenario, profile):
    cluster = scenario.cluster
    node = scenario.worker()
    scenario.hold(shared={node_lock(node)})
    shell = scenario.node(node)  # the kernel's log, read there
    namespace = scenario.namespace()
    image = scenario.image

    def crashing(name: str, *containers: dict) -> dict:
        return pod(name, scenario.id, *containers, node=node, restart="Always")

    def pods() -> list[dict]:
        return cluster.pods(namespace)

    def inject() -> None:
        cluster.create(namespace, crashing(CRASH, container(image, "sh", "-c", "echo crashing; exit 1")))
        cluster.create(namespace, crashing(OOM, container(image, "sh", "-c", DOUBLING,
                                                          resources={"limits": {"memory": "32Mi"}}),
                                           container(image, **SIDECAR)))
        cluster.create(namespace, crashing(PULL, container(ABSENT_IMAGE, "sh", imagePullPolicy="Always")))
        for name in (CRASH, OOM, PULL):
            scenario.defer(f"delete pod {namespace}/{name}", lambda name=name: cluster.delete_pod(namespace, name))

    def observe() -> list[str]:
        texts: dict[str, None] = {}  # every text seen so far, in order: a state may show for one poll only

        def seen() -> list[str]:
            now = pods()
            texts.update(dict.fromkeys(_seen(now, cluster.events(namespace))
                                       + _kernel_oom_kills(now, shell.run("dmesg", timeout=30).stdout)))
            return list(texts)

        def all_failing() -> bool:
            # between two restarts a crashing container runs for a moment: wait for it waiting or backing off
            mains = [(p, ((p.get("status") or {}).get("containerStatuses") or [{}])[0]) for p in pods()]
            return all((main.get("state") or {}).get("waiting") or backing_off(pod, main, init=False)
                       for pod, main in mains)

        wanted = [s if isinstance(s, tuple) else (s,) for s in SYMPTOMS]
        return wait_for("the kubelet reporting " + ", ".join(" or ".join(w) for w in wanted), seen,
                        until=lambda texts: all(any(a in t for a in w for t in texts) for w in wanted) and all_failing(),
                        timeout=240, interval=3)

    def judge() -> list[str]:
        return crashing_containers(pods(), datetime.now(timezone.utc), timedelta(hours=profile.recent_event_hours),
                                   profile.restart_limit).problems

    scenario.prove(judge=judge, inject=inject, observe=observe, symptoms=SYMPTOMS, offender=(CRASH, OOM, PULL),
                   recovered=lambda: wait_for(f"pods in {namespace} gone", pods, until=lambda p: not p, timeout=120),
                   found_in=["kubelet", "events"])
