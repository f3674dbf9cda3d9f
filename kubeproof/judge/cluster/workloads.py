"""Pods as their containers fare: crash loops, failed pulls and starts, OOM kills, restarts
(workload-crashes), and pods the kubelet evicted for their ephemeral storage (nodefs-pressure).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .control_plane import is_apiserver
from ..judgement import Findings, Judgement
from .objects import container_statuses, name, namespace, ref, restarted_lately
from ...times import parse_time, span, stamp

FAILURE_IDS = ("workload-crashes", "nodefs-pressure")  # the catalog entries this module's judges decide

# Waiting reasons of a container that cannot run (kubelet's pkg/kubelet/container/sync_result.go and
# images/types.go; 004 lists them): it will not recover without a change.
STUCK_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "RunContainerError",
                 "CreateContainerConfigError", "CreateContainerError")
# The kubelet's eviction messages for local-storage limits (pkg/kubelet/eviction/helpers.go): the pod's
# total, one container's limit, an emptyDir's sizeLimit. 004: "Pod ephemeral local storage usage exceeds
# the total limit of containers 8Gi."
EPHEMERAL_STORAGE_MESSAGES = ("ephemeral local storage usage exceeds", "exceeded its local ephemeral storage limit",
                              "Usage of EmptyDir volume")


def backing_off(pod: dict, status: dict, init: bool) -> bool:
    """Whether the kubelet holds this exited container in restart back-off: it crashed again after a
    restart (restartCount >= 1) and will be restarted (kubelet's ShouldContainerBeRestarted).

    From 1.35 the kubelet's pod worker sleeps until the back-off expires (kubernetes#133066), so
    the status it last wrote keeps the container terminated ("Error" in kubectl) for the whole
    back-off: measured on the lab's v1.37.2, CrashLoopBackOff shows only after the first restart.
    """
    terminated = (status.get("state") or {}).get("terminated")
    if not terminated or not status.get("restartCount") or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False  # evicted or done: nothing restarts it
    spec = pod.get("spec") or {}
    container = next((c for c in spec.get("initContainers" if init else "containers") or []
                      if c.get("name") == status.get("name")), {})
    if container.get("restartPolicy") == "Always":  # a sidecar restarts whatever its exit
        return True
    failed = terminated.get("exitCode") != 0
    if init:  # an init container that succeeded has done its work
        return failed and spec.get("restartPolicy") != "Never"
    return {"Never": False, "OnFailure": failed}.get(spec.get("restartPolicy"), True)


def crashing_containers(pods: list[dict], now: datetime, window: timedelta, restart_limit: int) -> Judgement:
    """One finding per container failing now or lately: stuck waiting now (a reason above) or exited
    and held in restart back-off (backing_off), killed for memory now or within window, or
    restarted past the limit with its last termination within window.

    restartCount is a lifetime count: a container that restarted a dozen times months ago and has
    run clean since is history, not a crash (004's script reads the last termination's time too).
    kube-apiserver is left to apiserver-anonymous-probe, which judges its restarts with their cause.
    """
    found = Findings()
    found.judged.update(pods_judged=len(pods), now=stamp(now), window_hours=window.total_seconds() / 3600)
    for pod in pods:
        if is_apiserver(pod):
            continue
        for status in container_statuses(pod):
            init = status in ((pod.get("status") or {}).get("initContainerStatuses") or [])
            state = status.get("state") or {}
            waiting = state.get("waiting") or {}
            last, lately = restarted_lately(status, now, window, restart_limit)
            last_end = parse_time(last.get("finishedAt"))
            recent = last_end is not None and last_end >= now - window
            killed = next((t for t in (state.get("terminated"), last if recent else None)
                           if t and t.get("reason") == "OOMKilled"), None)
            restarts = status.get("restartCount", 0)
            problems = []
            if waiting.get("reason") in STUCK_REASONS:
                problems.append(f"{waiting['reason']}" + (f" ({waiting['message']})" if waiting.get("message") else ""))
            elif backing_off(pod, status, init):
                ended = state["terminated"]
                problems.append(f"exited ({ended.get('reason')}, exit {ended.get('exitCode')}) at "
                                f"{ended.get('finishedAt')} after {restarts} restarts, held in restart back-off")
            if killed:
                problems.append(f"OOMKilled (exit {killed.get('exitCode')}) at {killed.get('finishedAt')}")
            if lately:
                problems.append(f"{restarts} restarts (limit {restart_limit}), the last ended {last.get('finishedAt')}, "
                                f"{span(now - last_end)} ago")
            if problems:
                node = (pod.get("spec") or {}).get("nodeName") or "no node"
                found.flag(
                    f"{ref(pod)} container {status.get('name')} on {node}: {'; '.join(problems)}",
                    {"namespace": namespace(pod), "pod": name(pod), "container": status.get("name"), "node": node,
                     "image": status.get("image"), "restartCount": restarts, "state": status.get("state"),
                     "lastState": status.get("lastState")})
    return found.verdict()


def ephemeral_storage_evictions(pods: list[dict]) -> Judgement:
    found = Findings()
    for pod in pods:
        status = pod.get("status") or {}
        message = status.get("message") or ""
        if status.get("reason") == "Evicted" and any(m in message for m in EPHEMERAL_STORAGE_MESSAGES):
            node = (pod.get("spec") or {}).get("nodeName")
            found.flag(f"{ref(pod)} on node {node} was evicted: {message.strip()}",
                                    {"namespace": namespace(pod), "pod": name(pod), "node": node,
                                     "phase": status.get("phase"), "reason": status.get("reason"), "message": message})
    return found.verdict()
