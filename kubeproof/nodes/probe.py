"""Probe pods: the `pod` node access, and the only writes an audit makes.

One short-lived privileged pod per node, pinned with nodeName, in a dedicated labelled namespace
created for the session; host root at /host (facts are gathered under `chroot /host`) and driven
through testinfra's kubectl backend. The controller creates them in one batch and deletes the
namespace at the end of the run, on failure and on Ctrl-C too; activeDeadlineSeconds ends any pod
a killed run could not delete, and `python -m kubeproof cleanup` sweeps what is left.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from ..errors import InsufficientPermission, KubeproofError
from ..kube import client as kube_client

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubeproof"}
SESSION_LABEL = "kubeproof.io/session"
# KUBEPROOF_PROBE_IMAGE: a mirror named once for every run (air-gapped clusters).
DEFAULT_IMAGE = os.environ.get("KUBEPROOF_PROBE_IMAGE") or "busybox:1.36"
LIFETIME_SECONDS = 3600
PROGRESS_POLLS = 5  # while probe pods start, say how many are still awaited every 5 polls (~5 s)
RBAC_FILE = Path(__file__).resolve().parent.parent / "rbac" / "node-probe.yaml"
# Said wherever probe pods cannot be had: the two ways out.
WAY_OUT = (f"grant the probe role (kubectl apply -f {RBAC_FILE}, binding your user) "
           "or pass --node-access none to audit without node facts")


def pod_name(node: str) -> str:
    # Node names can be 253 characters; pod names must fit 63 and stay unique per node.
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    return f"kubeproof-probe-{node[:36].rstrip('.-').replace('.', '-')}-{digest}".lower()


def pod_manifest(node: str, namespace: str, session: str, image: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod_name(node), "namespace": namespace,
                     "labels": {**MANAGED_BY, SESSION_LABEL: session}},
        "spec": {
            "nodeName": node,  # bypasses the scheduler: reaches cordoned and tainted nodes too
            "hostPID": True, "hostNetwork": True,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": LIFETIME_SECONDS,
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "probe", "image": image,
                "command": ["sleep", str(LIFETIME_SECONDS)],
                "securityContext": {"privileged": True},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                              "limits": {"memory": "64Mi"}},
                "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": True}],
            }],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        },
    }


def namespace_manifest(namespace: str, session: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {
            **MANAGED_BY, SESSION_LABEL: session,
            # Pod Security Admission would reject a privileged pod under baseline/restricted.
            "pod-security.kubernetes.io/enforce": "privileged"}},
    }


def _refusal(exc: ApiException) -> str:
    return "forbidden" if exc.status == 403 else f"HTTP {exc.status} {exc.reason}"


def _forbidden_or_raise(exc: ApiException, verb: str, resource: str) -> None:
    if exc.status == 403:
        raise InsufficientPermission(verb, resource) from None
    raise KubeproofError(f"{verb} {resource}: HTTP {exc.status} {exc.reason}") from None


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

    def start(self, nodes: list[str], *, timeout: float = 120,
              say: Callable[[str], None] = lambda _: None) -> dict[str, str]:
        """Create one probe pod per node; return node -> "" when running, else why it is not."""
        if shutil.which("kubectl") is None:
            raise KubeproofError("--node-access pod drives probe pods with kubectl: install kubectl "
                                 "or choose --node-access kind|ssh|none")
        say(f"kubeproof: starting {len(nodes)} probe pods in namespace {self.namespace}")
        try:
            self.core.create_namespace(namespace_manifest(self.namespace, self.session))
        except ApiException as exc:
            raise KubeproofError(f"cannot start probe pods (create namespaces: {_refusal(exc)}): {WAY_OUT}") from None
        self.created = True
        with ThreadPoolExecutor(max_workers=16) as pool:
            problems = dict(zip(nodes, pool.map(self._create, nodes)))
        started = time.monotonic()
        problems = self._await_running(problems, timeout, say)
        running = sum(not p for p in problems.values())
        say(f"kubeproof: {running}/{len(nodes)} probe pods running after {time.monotonic() - started:.0f} s")
        return problems

    def _create(self, node: str) -> str:
        try:
            self.core.create_namespaced_pod(self.namespace, pod_manifest(
                node, self.namespace, self.session, self.image))
        except ApiException as exc:
            return f"probe pod not created (create pods: {_refusal(exc)}): {WAY_OUT}"
        return ""

    def _await_running(self, problems: dict[str, str], timeout: float,
                       say: Callable[[str], None] = lambda _: None) -> dict[str, str]:
        waiting = {n for n, p in problems.items() if not p}
        deadline = time.monotonic() + timeout
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        for poll in itertools.count():
            if not waiting or time.monotonic() >= deadline:
                break
            if poll and poll % PROGRESS_POLLS == 0:
                say(f"kubeproof: waiting for {len(waiting)} of {len(problems)} probe pods to run "
                    f"(image {self.image})")
            # Plain JSON, not V1Pod models: at 5,000 probe pods a poll would cost a second of CPU.
            listed = kube_client.get_json(self.api, path, [("labelSelector", f"{SESSION_LABEL}={self.session}")])
            for pod in (listed or {}).get("items", []):
                node, status = pod["spec"].get("nodeName"), pod.get("status", {})
                phase = status.get("phase")
                if node in waiting and phase == "Running":
                    waiting.discard(node)
                elif node in waiting and phase in ("Failed", "Succeeded"):
                    problems[node] = f"probe pod ended ({phase}): {status.get('reason', '')}".strip()
                    waiting.discard(node)
            if waiting:
                time.sleep(1)
        for node in waiting:
            problems[node] = f"probe pod not running after {timeout:.0f}s (image {self.image} pullable?)"
        return problems

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

    def stop(self) -> None:
        """Delete the session's namespace, and with it every probe pod."""
        if not self.created:
            return
        try:
            self.core.delete_namespace(self.namespace, grace_period_seconds=0,
                                       propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise KubeproofError(f"could not delete probe namespace {self.namespace}: "
                                     f"HTTP {exc.status} {exc.reason}; delete it by hand") from None
        self.created = False
