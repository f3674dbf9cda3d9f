"""A pod refused only because its namespace is new, retried.

The API server's ServiceAccount admission plugin refuses every pod of a namespace (403, "error
looking up service account NS/default") until the controller-manager has made that namespace's
default ServiceAccount: a moment on a quiet cluster, much longer on a loaded one (the lab's
controller-manager, restarting under a load of 140, refused probe pods in CI). Probe pods and
scenario pods are created right after their namespace, so that refusal is waited out, bounded.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from kubernetes.client.exceptions import ApiException
from kubernetes.utils import FailToCreateError

T = TypeVar("T")
NEW_NAMESPACE_WAIT = 60.0  # seconds for a namespace's default ServiceAccount to appear


def awaiting_service_account(exc: BaseException) -> bool:
    """Whether every refusal in exc is the ServiceAccount plugin's for a missing ServiceAccount."""
    refusals = exc.api_exceptions if isinstance(exc, FailToCreateError) else [exc]
    return bool(refusals) and all(isinstance(e, ApiException) and e.status == 403
                                  and "error looking up service account" in str(e.body or "") for e in refusals)


def in_new_namespace(create: Callable[[], T], *, timeout: float = NEW_NAMESPACE_WAIT,
                     sleep: Callable[[float], None] = time.sleep) -> T:
    """create(), again each second while it is refused for the namespace's missing ServiceAccount;
    after timeout the refusal is raised as it came."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return create()
        except (ApiException, FailToCreateError) as exc:
            if not awaiting_service_account(exc) or time.monotonic() >= deadline:
                raise
        sleep(1.0)
