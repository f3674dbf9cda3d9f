"""Probe pods: the `pod` node access, and the only writes an audit makes.

One short-lived privileged pod per node, pinned with nodeName, in a dedicated labelled namespace
created for the session, with host root at /host. Its "gather" container runs gather.sh once under
`chroot /host` and ends: the controller follows the pods with paged LISTs, paced by what they cost
(_follow: a WATCH after one LIST, paced LISTs where the watch is refused), and reads each node's
facts from that container's log (kube-bench's way: every node
gathers at once, and the client pays one GET per node instead of a kubectl process and an exec
stream). Its "probe" container sleeps, for testinfra's kubectl backend: the fallback when a log
gives no facts, and scenarios' commands on nodes. The controller creates the pods in one batch and
deletes the namespace at the end of the run, on failure and on Ctrl-C too; activeDeadlineSeconds
ends any pod a killed run could not delete, and `python -m kubeproof cleanup` sweeps what is left.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import hashlib
import os
import shutil
import time
import urllib.parse
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from ..errors import InsufficientPermission, KubeproofError
from ..kube import client as kube_client
from ..kube.admission import in_new_namespace

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubeproof"}
SESSION_LABEL = "kubeproof.io/session"
# KUBEPROOF_PROBE_IMAGE: a mirror named once for every run (air-gapped clusters).
DEFAULT_IMAGE = os.environ.get("KUBEPROOF_PROBE_IMAGE") or "busybox:1.36"
LIFETIME_SECONDS = 3600
PROGRESS_SECONDS = 5  # while probe pods start and gather, say how far they are every 5 s
# Following the pods: one LIST, then a WATCH from its resourceVersion, which sends a pod again only
# when it changes (at 5,000 nodes a poll of every pod is 86 MB, read from etcd on 1.37). Where the
# watch is refused (a probe role granted before it held watch), paced LISTs: between polls at least
# a second and PACE times what the last poll took, keeping the API server and the client's core
# busy a tenth of the time at most. A LIST is 500 pods a request (the client holds one page, ~8 MB).
PAGE = 500
PACE = 9
READERS = 16  # log GETs in flight, as many as pod creations
HOST = "/host"  # where the node's root is mounted
GATHER = "gather"  # the container that runs gather.sh once; "probe" sleeps, for kubectl exec
# gather.sh comes in the pod's spec gzipped and in base64 (see pack): every poll's LIST carries it
# once a pod. Its output leaves the same way: the container log then gives it back byte for byte
# (containerd's log turns a line's "\r\n" into "\n", seen on the lab) and in under half its size
# (certificates hardly compress). Stderr goes along: when the script cannot be unpacked or run, it
# tells why. The probe image's busybox has base64 and gunzip.
GATHER_COMMAND = (f'{{ script=$(echo "$1" | base64 -d | gunzip) && chroot {HOST} /bin/sh -c "$script"; }} '
                  '2>&1 | gzip | base64')
RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
RBAC_FILE = Path(__file__).resolve().parent.parent / "rbac" / "node-probe.yaml"
# Said wherever probe pods cannot be had: the two ways out.
STOP_TIMEOUT = (5, 10)  # connect, read: seconds the namespace's DELETE may take on the way out
CLEANUP = "python -m kubeproof cleanup removes it"
WAY_OUT = (f"grant the probe role (kubectl apply -f {RBAC_FILE}, binding your user) "
           "or pass --node-access none to audit without node facts")


def pod_name(node: str) -> str:
    # Node names can be 253 characters; pod names must fit 63 and stay unique per node.
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    return f"kubeproof-probe-{node[:36].rstrip('.-').replace('.', '-')}-{digest}".lower()


@functools.lru_cache(maxsize=1)  # a run's pods all carry the same script: packed once
def pack(script: str) -> str:
    """script as the gather container's argument: gzip, then base64 (7.8 KB for gather.sh's 14.7 KB,
    which as a JSON string is 15.6 KB). No timestamp, so every pod of a run carries the same text."""
    return base64.b64encode(gzip.compress(script.encode(), mtime=0)).decode()


def pod_manifest(node: str, namespace: str, session: str, image: str, script: str) -> dict:
    """The probe pod of node; its gather container runs script (gather.sh) under chroot /host."""
    host = [{"name": "host", "mountPath": HOST, "readOnly": True}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(node), "namespace": namespace,
                     "labels": {**MANAGED_BY, SESSION_LABEL: session}},
        "spec": {
            "nodeName": node,  # bypasses the scheduler: reaches cordoned and tainted nodes too
            "hostPID": True, "hostNetwork": True,
            # What hostnetwork-dns-policy asks of every hostNetwork pod, kubeproof's own included.
            "dnsPolicy": "ClusterFirstWithHostNet",
            "restartPolicy": "Never",
            "activeDeadlineSeconds": LIFETIME_SECONDS,
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {"name": "probe", "image": image, "command": ["sleep", str(LIFETIME_SECONDS)],
                 "securityContext": {"privileged": True}, "resources": RESOURCES, "volumeMounts": host},
                {"name": GATHER, "image": image, "command": ["sh", "-c", GATHER_COMMAND, GATHER, pack(script)],
                 "securityContext": {"privileged": True}, "resources": RESOURCES, "volumeMounts": host},
            ],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    }


def decode_log(log: bytes) -> str:
    """gather.sh's output from its container's log (see GATHER_COMMAND); ValueError when the log is
    not that (e.g. the image has no gzip: the shell's complaint, in plain text)."""
    try:
        return gzip.decompress(base64.b64decode(log)).decode("utf-8", errors="replace")
    except (ValueError, OSError, EOFError, zlib.error):
        first = next((line for line in log.decode(errors="replace").splitlines() if line.strip()), "empty")
        raise ValueError(f"its log is not gather.sh's encoded output: {first[:200]}") from None


def namespace_manifest(namespace: str, session: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {
            **MANAGED_BY, SESSION_LABEL: session,
            # Pod Security Admission would reject a privileged pod under baseline/restricted.
            "pod-security.kubernetes.io/enforce": "privileged"}},
    }


def _terminated(status: dict, container: str) -> dict | None:
    """The container's terminated state in a pod's status, or None while it has not ended."""
    found = next((c for c in status.get("containerStatuses") or () if c.get("name") == container), {})
    return found.get("state", {}).get("terminated")


def _refusal(exc: ApiException) -> str:
    return "forbidden" if exc.status == 403 else f"HTTP {exc.status} {exc.reason}"


def _forbidden_or_raise(exc: ApiException, verb: str, resource: str) -> None:
    if exc.status == 403:
        raise InsufficientPermission(verb, resource) from None
    raise KubeproofError(f"{verb} {resource}: HTTP {exc.status} {exc.reason}") from None


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that, left by an exception (Ctrl-C), drops its queued work instead of doing it
    all first, as `with ThreadPoolExecutor()` would: what already runs ends within its request timeout."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


class _PodFeed:
    """A session's probe pods as they change: every pod from one LIST, then each pod again as a
    WATCH from that LIST's resourceVersion sees it change (LIST again when the server no longer
    keeps that version). Where the WATCH is refused, every pod from paced LISTs (PACE)."""

    def __init__(self, api: k8s.ApiClient, namespace: str, session: str, say: Callable[[str], None]):
        self.api, self.say = api, say
        self.path = f"/api/v1/namespaces/{namespace}/pods"
        self.selector = ("labelSelector", f"{SESSION_LABEL}={session}")
        self.resource_version: str | None = None  # where the next WATCH starts; None: LIST first
        self.polling = False
        self.next_poll = 0.0

    def changes(self, wait: float) -> Iterator[dict]:
        """The pods that changed since the last call (all of them the first time), waiting up to
        `wait` seconds for them."""
        if self.resource_version is None:
            yield from self._list()
        elif self.polling:
            pause = self.next_poll - time.monotonic()
            time.sleep(max(0.0, min(pause, wait)))
            if pause <= wait:
                yield from self._list()
        else:
            yield from self._watch(max(1, round(wait)))

    def _list(self) -> Iterator[dict]:
        """Every pod, PAGE a request, as plain JSON (V1Pod models cost several times the CPU)."""
        started, token = time.monotonic(), ""
        while True:
            query = [self.selector, ("limit", PAGE)] + ([("continue", token)] if token else [])
            page = kube_client.get_json(self.api, self.path, query) or {}
            metadata = page.get("metadata") or {}
            if not token:  # every page is read at the first page's resourceVersion
                self.resource_version = metadata.get("resourceVersion") or ""
            yield from page.get("items") or []
            token = metadata.get("continue")
            if not token:
                break
        self.next_poll = time.monotonic() + max(1.0, PACE * (time.monotonic() - started))

    def _watch(self, seconds: int) -> Iterator[dict]:
        query = [self.selector, ("resourceVersion", self.resource_version)]
        try:
            for event in kube_client.watch(self.api, self.path, query, seconds):
                pod = event.get("object") or {}
                self.resource_version = (pod.get("metadata") or {}).get("resourceVersion") or self.resource_version
                if event.get("type") in ("ADDED", "MODIFIED"):
                    yield pod
        except kube_client.WatchExpired:
            self.resource_version = None  # LIST again, then WATCH from there
        except kube_client.WatchRefused as exc:
            self.polling = True
            self.say(f"kubeproof: following probe pods by paced LISTs ({exc})")


class ProbePods:
    def __init__(self, api: k8s.ApiClient, *, session: str, image: str = DEFAULT_IMAGE,
                 kubeconfig: str | None, context: str | None):
        self.api, self.core = api, k8s.CoreV1Api(api)
        self.session = session
        self.namespace = f"kubeproof-probe-{session}"
        self.image = image
        self.kubeconfig, self.context = kubeconfig, context
        self.created = False

    def url(self, node: str) -> str:
        query = {"namespace": self.namespace, "container": "probe"}
        if self.context:
            query["context"] = self.context
        if self.kubeconfig:
            query["kubeconfig"] = self.kubeconfig
        return f"kubectl://{pod_name(node)}?{urllib.parse.urlencode(query)}"

    def start(self, nodes: list[str], *, script: str, keep: Callable[[str, str], str], timeout: float = 120,
              gather_timeout: float = 120, say: Callable[[str], None] = lambda _: None) -> dict[str, str]:
        """Create one probe pod per node, each gathering with script, and collect what they gather:
        keep(node, output) takes a node's gather.sh output and says why it is no use ("" when kept).
        Returns node -> "" when its probe pod runs, else why not. A running node whose output was
        not kept is left to kubectl exec through its probe container, and a line says why."""
        say(f"kubeproof: starting {len(nodes)} probe pods in namespace {self.namespace}")
        # Before the request: a Ctrl-C while it is on its way must still delete what it may create.
        self.created = True
        try:
            self.core.create_namespace(namespace_manifest(self.namespace, self.session),
                                       _request_timeout=kube_client.REQUEST_TIMEOUT)
        except ApiException as exc:
            self.created = False  # refused: nothing to delete
            raise KubeproofError(f"cannot start probe pods (create namespaces: {_refusal(exc)}): {WAY_OUT}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeproofError(f"cannot start probe pods (create namespace {self.namespace}: "
                                 f"{type(exc).__name__})") from None
        with _pool(16) as pool:
            problems = dict(zip(nodes, pool.map(lambda node: self._create(node, script), nodes)))
        started = time.monotonic()
        left = self._follow(problems, timeout, gather_timeout, keep, say)
        if left and shutil.which("kubectl") is None:  # kubectl exec is only the fallback: those nodes go without
            problems.update({node: f"{why}; its fallback, kubectl exec, needs kubectl installed"
                             for node, why in left.items()})
            left = {}
        running = sum(not p for p in problems.values())
        say(f"kubeproof: {running}/{len(nodes)} probe pods running, facts of {running - len(left)} nodes "
            f"read from their logs after {time.monotonic() - started:.0f} s")
        by_reason: dict[str, list[str]] = {}
        for node, why in left.items():
            by_reason.setdefault(why, []).append(node)
        for why, names in by_reason.items():  # one line a reason, not one a node: a 403 hits them all
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            say(f"kubeproof: gathering by kubectl exec instead on {', '.join(names[:3])}{more}: {why}")
        return problems

    def _create(self, node: str, script: str) -> str:
        try:
            in_new_namespace(lambda: self.core.create_namespaced_pod(self.namespace, pod_manifest(
                node, self.namespace, self.session, self.image, script), _request_timeout=kube_client.REQUEST_TIMEOUT))
        except ApiException as exc:
            return f"probe pod not created (create pods: {_refusal(exc)}): {WAY_OUT}"
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return f"probe pod not created ({type(exc).__name__})"
        return ""

    def _follow(self, problems: dict[str, str], timeout: float, gather_timeout: float,
                keep: Callable[[str, str], str], say: Callable[[str], None] = lambda _: None) -> dict[str, str]:
        """Follow the session's pods (_PodFeed) until each runs and its gather container has ended,
        reading each one's log as soon as it has. Sets problems[node] for pods that do not run
        within timeout; returns node -> why its facts were not kept, for the running others."""
        feed = _PodFeed(self.api, self.namespace, self.session, say)
        starting = {n for n, p in problems.items() if not p}  # not seen running yet
        gathering = set(starting)  # gather container not seen ended yet
        running_since: dict[str, float] = {}
        left: dict[str, str] = {}
        reads: dict[str, Future] = {}
        deadline = time.monotonic() + timeout
        progress = time.monotonic() + PROGRESS_SECONDS
        with _pool(READERS) as pool:
            while True:
                now = time.monotonic()
                if now >= deadline and starting:
                    problems.update(dict.fromkeys(
                        starting, f"probe pod not running after {timeout:.0f}s (image {self.image} pullable?)"))
                    gathering -= starting
                    starting.clear()
                for node in [n for n in gathering if now - running_since.get(n, now) >= gather_timeout]:
                    left[node] = f"its gather container still ran after {gather_timeout:g} s"
                    gathering.discard(node)
                if not gathering:
                    break
                if now >= progress:
                    progress = now + PROGRESS_SECONDS
                    kept = sum(f.done() and not f.result() for f in reads.values())
                    say(f"kubeproof: facts of {kept} of {len(problems)} nodes in"
                        + (f", waiting for {len(starting)} probe pods to run (image {self.image})" if starting else ""))
                wake = min([progress, *[running_since[n] + gather_timeout for n in gathering if n in running_since],
                            *([deadline] if starting else [])])
                for pod in feed.changes(wait=wake - now):
                    node, status = pod["spec"].get("nodeName"), pod.get("status", {})
                    if node not in gathering:
                        continue
                    phase = status.get("phase")
                    if phase in ("Failed", "Succeeded"):
                        problems[node] = f"probe pod ended ({phase}): {status.get('reason', '')}".strip()
                        starting.discard(node)
                        gathering.discard(node)
                        continue
                    if phase == "Running" and node in starting:
                        starting.discard(node)
                        running_since[node] = now
                    ended = _terminated(status, GATHER)
                    if ended is not None and node not in starting:
                        gathering.discard(node)
                        reads[node] = pool.submit(self._collect, node, pod["metadata"]["name"], ended, keep)
                        if not gathering:
                            break
            left.update({node: why for node, read in reads.items() if (why := read.result())})
        return left

    def _collect(self, node: str, pod: str, ended: dict, keep: Callable[[str, str], str]) -> str:
        """Read what pod's gather container wrote and hand it to keep; why not, or ""."""
        if ended.get("exitCode") != 0:
            return f"its gather container ended {ended.get('reason') or 'with an error'} (exit code {ended.get('exitCode')})"
        try:
            log = kube_client.get_raw(self.api, f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log",
                                      [("container", GATHER)])
            output = decode_log(log) if log is not None else None
        except (KubeproofError, ValueError) as exc:  # e.g. a probe role granted before it held pods/log
            return str(exc)
        return keep(node, output) if output is not None else "its log is gone (404)"

    @staticmethod
    def sweep(api: k8s.ApiClient) -> list[str]:
        """Delete every probe namespace any kubeproof run left (a killed run cannot clean up)."""
        core = k8s.CoreV1Api(api)
        selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
        try:
            names = [n.metadata.name for n in core.list_namespace(label_selector=selector).items]
        except ApiException as exc:
            _forbidden_or_raise(exc, "list", "namespaces")
        for name in names:
            try:
                core.delete_namespace(name, grace_period_seconds=0, propagation_policy="Background")
            except ApiException as exc:
                if exc.status != 404:
                    _forbidden_or_raise(exc, "delete", "namespaces")
        return names

    def stop(self, say: Callable[[str], None] = lambda _: None) -> None:
        """Delete the session's namespace, and with it every probe pod. The request is bounded (on
        Ctrl-C too the run ends in seconds) and the deletion goes on in the cluster, where `cleanup`
        finds the namespace by its label if it is cut short."""
        if not self.created:
            return
        say(f"kubeproof: probe namespace {self.namespace} is being deleted; "
            "python -m kubeproof cleanup removes it if this is cut short")
        try:
            self.core.delete_namespace(self.namespace, grace_period_seconds=0,
                                       propagation_policy="Background", _request_timeout=STOP_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise KubeproofError(f"could not delete probe namespace {self.namespace}: "
                                     f"HTTP {exc.status} {exc.reason}; {CLEANUP}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeproofError(f"could not delete probe namespace {self.namespace} within "
                                 f"{sum(STOP_TIMEOUT)} s ({type(exc).__name__}); {CLEANUP}") from None
        self.created = False
