"""Labelled Kubernetes objects for scenarios, through the official client, and their removal.

Everything a scenario creates lives in a namespace of its own carrying the kubeproof labels, so
deleting the namespace removes it and `python -m kubeproof cleanup` finds what a killed run left.
API errors become one-line FaultErrors: against a server that refuses writes (a read-only replay,
missing RBAC) a scenario fails at once with the verb, the object and the server's message.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Callable

import urllib3
from kubernetes import client as k8s
from kubernetes import utils as k8s_utils
from kubernetes.client.exceptions import ApiException

from ..kube import client as kube_client
from ..kube.admission import in_new_namespace
from ..errors import FaultError
from ..nodes.probe import MANAGED_BY
from ..waiting import wait_for

SCENARIO_LABEL = "kubeproof.io/scenario"
FINALIZER_PREFIX = "kubeproof.io/"  # finalizers scenarios put on objects; cleanup strips them


def labels(scenario: str) -> dict[str, str]:
    return {**MANAGED_BY, SCENARIO_LABEL: scenario}


def selector() -> str:
    """What every object kubeproof creates carries."""
    return ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


def _message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return exc.reason or ""


class Cluster:
    def __init__(self, api: k8s.ApiClient):
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)

    def call(self, what: str, fn: Callable[..., Any], *args: Any, missing_ok: bool = False,
             **kwargs: Any) -> Any:
        """fn(*args, **kwargs) with API errors as FaultError(what: HTTP code reason: message);
        None for a 404 when missing_ok. Bounded by the client's request timeout: a restore must end."""
        try:
            return fn(*args, _request_timeout=kube_client.REQUEST_TIMEOUT, **kwargs)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            raise FaultError(f"{what}: HTTP {exc.status} {exc.reason}: {_message(exc)}"[:400]) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FaultError(f"{what}: no answer ({type(exc).__name__})") from None

    def as_dict(self, model: Any) -> dict:
        return self.api.sanitize_for_serialization(model)

    def create_namespace(self, scenario: str) -> str:
        name = f"kubeproof-{scenario}-{secrets.token_hex(3)}"[:63]
        self.call(f"create namespace {name}", self.core.create_namespace,
                  {"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": labels(scenario)}})
        return name

    def create(self, namespace: str, manifest: dict) -> None:
        what = f"create {manifest['kind']} {namespace}/{manifest['metadata']['name']}"
        try:
            in_new_namespace(lambda: k8s_utils.create_from_dict(self.api, manifest, namespace=namespace))
        except k8s_utils.FailToCreateError as failure:
            raise FaultError(f"{what}: " + "; ".join(
                f"HTTP {e.status} {e.reason}: {_message(e)}" for e in failure.api_exceptions)[:400]) from None

    def delete_namespace(self, name: str, *, timeout: float = 180, wait: bool = True) -> None:
        """Delete a namespace and, if wait, wait until it is gone."""
        self.call(f"delete namespace {name}", self.core.delete_namespace, name, missing_ok=True)
        if wait:
            wait_for(f"namespace {name} deleted",
                     lambda: self.call(f"read namespace {name}", self.core.read_namespace, name,
                                       missing_ok=True),
                     until=lambda ns: ns is None, timeout=timeout, interval=1)

    def pods(self, namespace: str, *, field_selector: str = "") -> list[dict]:
        listed = self.call(f"list pods in {namespace or 'all namespaces'}",
                           self.core.list_namespaced_pod if namespace else self.core.list_pod_for_all_namespaces,
                           *([namespace] if namespace else []), field_selector=field_selector)
        return [self.as_dict(p) for p in listed.items]

    def pod(self, namespace: str, name: str) -> dict:
        return self.as_dict(self.call(f"read pod {namespace}/{name}", self.core.read_namespaced_pod,
                                      name, namespace))

    def wait_running(self, namespace: str, names: list[str], *, timeout: float = 120) -> list[dict]:
        """Until every named pod runs; a pod that ended instead fails the wait at once."""
        def phases() -> list[dict]:
            pods = [self.pod(namespace, n) for n in names]
            ended = [p for p in pods if p["status"].get("phase") in ("Failed", "Succeeded")]
            if ended:
                raise FaultError(f"pod {namespace}/{ended[0]['metadata']['name']} ended "
                                 f"({ended[0]['status'].get('phase')}: {ended[0]['status'].get('reason')}) "
                                 "instead of running")
            return pods
        return wait_for(f"pods {', '.join(names)} in {namespace} running", phases,
                        until=lambda pods: all(p["status"].get("phase") == "Running" for p in pods),
                        timeout=timeout)

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod at once (no grace period); a pod already gone is no error."""
        self.call(f"delete pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace,
                  grace_period_seconds=0, missing_ok=True)

    def events(self, namespace: str = "", *, field_selector: str = "") -> list[dict]:
        list_events = self.core.list_namespaced_event if namespace else self.core.list_event_for_all_namespaces
        listed = self.call("list events", list_events, *([namespace] if namespace else []),
                           field_selector=field_selector)
        return [self.as_dict(e) for e in listed.items]

    def node(self, name: str) -> dict:
        return self.as_dict(self.call(f"read node {name}", self.core.read_node, name))

    def sweep(self) -> list[str]:
        """Strip kubeproof finalizers from labelled objects so their namespaces can go; their names.

        Only ConfigMaps carry such finalizers (the namespace-stuck scenario); the namespaces
        themselves are deleted by the probe pods' sweep, which selects the same label.
        """
        listed = self.call("list configmaps", self.core.list_config_map_for_all_namespaces,
                           label_selector=selector())
        released = []
        for cm in listed.items:
            finalizers = cm.metadata.finalizers or []
            kept = [f for f in finalizers if not f.startswith(FINALIZER_PREFIX)]
            if kept != finalizers:
                self.release(cm.metadata.namespace, cm.metadata.name, kept)
                released.append(f"{cm.metadata.namespace}/{cm.metadata.name}")
        return released

    def release(self, namespace: str, name: str, finalizers: list[str]) -> None:
        self.call(f"patch configmap {namespace}/{name}", self.core.patch_namespaced_config_map,
                  name, namespace, {"metadata": {"finalizers": finalizers or None}}, missing_ok=True)
