"""kube/admission.py: a pod refused because its namespace has no default ServiceAccount yet is created
again until it has one (bounded); every other refusal is raised at once. The refusals are the API
server's own Status bodies (plugin/pkg/admission/serviceaccount/admission.go; RBAC's authorizer)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import FailToCreateError

from kubeproof.kube.admission import awaiting_service_account, in_new_namespace


def _refusal(message: str) -> ApiException:
    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                           "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403})
    return exc


NO_ACCOUNT = _refusal('pods "kubeproof-probe-w1" is forbidden: error looking up service account '
                      'kubeproof-probe-a25b00/default: serviceaccount "default" not found')
RBAC = _refusal('pods is forbidden: User "system:serviceaccount:audit:kubeproof" cannot create resource '
                '"pods" in API group "" in the namespace "kubeproof-probe-a25b00"')


def _failing(times: int, exc: BaseException):
    calls = []

    def create():
        calls.append(1)
        if len(calls) <= times:
            raise exc
        return "created"
    return create, calls


@pytest.mark.parametrize("refusal", [NO_ACCOUNT, FailToCreateError([NO_ACCOUNT])], ids=["pod", "from a manifest"])
def test_a_pod_waits_for_its_new_namespaces_service_account(refusal):
    create, calls = _failing(3, refusal)
    slept = []
    assert in_new_namespace(create, sleep=slept.append) == "created"
    assert len(calls) == 4 and slept == [1.0] * 3


@pytest.mark.parametrize("refusal", [RBAC, FailToCreateError([NO_ACCOUNT, RBAC]), ApiException(status=500)],
                         ids=["rbac", "one of two refusals is rbac", "server error"])
def test_any_other_refusal_is_raised_at_once(refusal):
    create, calls = _failing(1, refusal)
    with pytest.raises(type(refusal)):
        in_new_namespace(create, sleep=lambda _: pytest.fail("slept"))
    assert len(calls) == 1 and not awaiting_service_account(refusal)


def test_the_wait_is_bounded():
    create, calls = _failing(10 ** 6, NO_ACCOUNT)
    with pytest.raises(ApiException):
        in_new_namespace(create, timeout=0.0, sleep=lambda _: None)
    assert len(calls) == 1
