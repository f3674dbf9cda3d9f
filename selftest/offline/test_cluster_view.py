"""The cluster view, end to end: dumps on disk, and the real `kubernetes` client against the replay server.

Nothing is mocked: the live path is the official client (its kubeconfig loading, auth, urllib3 pool)
talking HTTP to kubeproof's replay server, which pages like kube-apiserver does.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import http.client
import json
import math
import re
import socket
import time
from datetime import datetime
from pathlib import Path

import kubernetes
import pytest
import yaml
from cryptography import x509

from kubeproof.errors import InsufficientPermission, KubeproofError, Unavailable
from kubeproof.kube.client import api_client, check_reachable, get_json
from kubeproof.kube.dump import node_fact_files, read_node_fact_file, write_dump
from kubeproof.kube.kinds import KINDS
from kubeproof.kube.replay import ReplayServer
from kubeproof.kube.view import ClusterView, continue_ahead, pages
from kubeproof.sharing import SessionCache
from selftest.support.kubectl_dump import KUBECTL_KINDS, write_kubectl_dump
from selftest.support.paths import DATA

HEALTHY = DATA / "clusters" / "healthy"


@pytest.fixture(scope="module")
def generator(data_script):
    """selftest/data/make_healthy_cluster.py, which made the committed healthy dump."""
    return data_script("make_healthy_cluster")


@pytest.fixture(scope="module")
def healthy() -> ClusterView:
    return ClusterView.from_dump(HEALTHY)


@pytest.fixture
def server():
    with ReplayServer(HEALTHY) as replay:
        yield replay


@pytest.fixture
def kubeconfig(tmp_path: Path, server: ReplayServer) -> str:
    return str(server.write_kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def api(kubeconfig: str):
    with api_client(kubeconfig, "replay") as client:
        yield client


def _lists(server: ReplayServer, path: str) -> list[dict[str, str]]:
    return [dict(query) for verb, p, query in server.requests if verb == "list" and p == path]


def _raw(server: ReplayServer, method: str, path: str, token: str | None = "kubeproof-replay") -> tuple[int, dict]:
    """A request outside the client, to see the server's Status objects as they are on the wire."""
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=5)
    connection.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, body


# --- the live view and the dump are the same cluster --------------------------------------------

def test_live_view_through_the_real_client_equals_the_dump(healthy, server, api):
    assert check_reachable(api, "replay") == healthy.version()
    live = ClusterView.live(api, page_size=2, context="replay")
    assert live.describe() == f"context replay ({server.url})"
    for kind in KINDS:
        assert live.list(kind.name) == healthy.list(kind.name), kind.name
    assert sum(len(healthy.list(k.name)) for k in KINDS) >= 50  # a real comparison, not of empty lists

    assert {verb for verb, _, _ in server.requests} <= {"get", "list"}
    for kind in KINDS:
        pages = _lists(server, kind.list_path)
        assert len(pages) == max(1, math.ceil(len(healthy.list(kind.name)) / 2)), kind.name
        assert all(page["limit"] == "2" for page in pages)
        tokens = [page.get("continue") for page in pages]
        assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == len(tokens) - 1
    assert len(_lists(server, "/api/v1/pods")) == 7  # 13 pods, 2 a page


def test_pagination_follows_continue_when_the_server_returns_fewer_than_asked(healthy, tmp_path):
    with ReplayServer(HEALTHY, page_size_cap=3) as server:
        with api_client(str(server.write_kubeconfig(tmp_path / "kubeconfig")), "replay") as api:
            pods = ClusterView.live(api).list("pods")
    assert pods == healthy.list("pods")
    pages = _lists(server, "/api/v1/pods")
    assert len(pages) == math.ceil(len(pods) / 3) and all(p["limit"] == "500" for p in pages)


def test_the_next_page_is_asked_for_before_this_one_is_read(server, api):
    """While the caller decodes and trims a page, the server is already preparing the next one."""
    listed = pages(api, next(k for k in KINDS if k.name == "pods"), 2)
    first = next(listed)
    deadline = time.monotonic() + 5
    while len(_lists(server, "/api/v1/pods")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(first) == 2 and len(_lists(server, "/api/v1/pods")) == 2
    listed.close()


def test_listed_objects_are_out_of_the_collectors_sight(api):
    """Kept for the session and freed by reference counting, listed objects are frozen: no later
    full collection walks them again."""
    try:
        pods = ClusterView.live(api).list("pods")
        seen = {id(o) for o in gc.get_objects()}
        assert pods and not any(id(p) in seen or id(p["metadata"]) in seen for p in pods)
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_continue_token_from_the_raw_page():
    """kube-apiserver writes a list's metadata before its items: the token is read from the bytes
    ("" on the last page). A page whose metadata follows its items cannot tell before decoding."""
    page = b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"eyJ2Ij"},"items":['
    assert continue_ahead(page + b'{"metadata":{"name":"a"}}]}') == "eyJ2Ij"
    assert continue_ahead(page.replace(b',"continue":"eyJ2Ij"', b"") + b"]}") == ""
    trailing = b'{"kind":"PodList","items":[{"spec":{"continue":"x"}}],"metadata":{"continue":"eyJ2Ij"}}'
    assert continue_ahead(trailing) is None


def test_namespaced_lists_and_single_objects_through_the_client(healthy, api):
    system_pods = get_json(api, "/api/v1/namespaces/kube-system/pods", [("limit", 3)])
    assert system_pods["kind"] == "PodList" and len(system_pods["items"]) == 3
    assert system_pods["metadata"]["remainingItemCount"] == sum(
        p["metadata"]["namespace"] == "kube-system" for p in healthy.list("pods")) - 3
    assert "kind" not in system_pods["items"][0]  # as the apiserver: list items carry no type
    deployment = get_json(api, "/apis/apps/v1/namespaces/shop/deployments/web")
    assert deployment == next(d for d in healthy.list("deployments.apps") if d["metadata"]["name"] == "web")
    assert get_json(api, "/api/v1/nodes/cp-1")["metadata"]["name"] == "cp-1"
    assert get_json(api, "/api/v1/namespaces/shop/pods/no-such-pod") is None
    assert get_json(api, "/apis/example.com/v1/widgets") is None


# --- kubectl cluster-info dump ------------------------------------------------------------------

@pytest.mark.parametrize("output", ["json", "yaml"])
def test_kubectl_cluster_info_dump_loads_the_same_items(healthy, tmp_path, output):
    directory = write_kubectl_dump(healthy, tmp_path / "dump", output)
    kubectl = ClusterView.from_dump(directory)
    assert kubectl.describe() == f"dump {directory} (kubectl cluster-info dump)"
    for name in KUBECTL_KINDS:
        assert healthy.list(name) and kubectl.list(name) == healthy.list(name), name
    for kind in KINDS:
        if kind.name not in KUBECTL_KINDS:
            assert not kubectl.has(kind.name)
            with pytest.raises(Unavailable, match=f"^the dump {directory} does not contain {kind.name}$"):
                kubectl.list(kind.name)
    assert kubectl.version() is None


def test_a_directory_that_is_no_dump_is_one_line(tmp_path):
    with pytest.raises(KubeproofError, match="is neither a kubeproof dump"):
        ClusterView.from_dump(tmp_path)


# --- what the API server may refuse -------------------------------------------------------------

def test_forbidden_kind_is_insufficient_permission(healthy, tmp_path):
    with ReplayServer(HEALTHY, forbidden={"secrets"}) as server:
        with api_client(str(server.write_kubeconfig(tmp_path / "kubeconfig")), "replay") as api:
            live = ClusterView.live(api)
            with pytest.raises(InsufficientPermission) as refused:
                live.list("secrets")
            assert not live.has("secrets")
            assert live.list("pods") == healthy.list("pods")
        code, status = _raw(server, "GET", "/api/v1/namespaces/shop/secrets/web-tls")
    assert str(refused.value) == "insufficient permission: list secrets"
    assert isinstance(refused.value, Unavailable)
    assert len(_lists(server, "/api/v1/secrets")) == 1  # the refusal is remembered, not asked again
    assert code == 403 and status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "web-tls" is forbidden: User "kubeproof-replay" cannot get resource "secrets" '
                   'in API group "" in the namespace "shop"',
        "reason": "Forbidden", "details": {"name": "web-tls", "kind": "secrets"}, "code": 403}


def test_kinds_the_server_lacks(tmp_path, healthy):
    """Replaying a kubectl dump: a missing CRD is empty, a missing built-in kind is unavailable."""
    directory = write_kubectl_dump(healthy, tmp_path / "kubectl", "json")
    with ReplayServer(directory) as server:
        with api_client(str(server.write_kubeconfig(tmp_path / "kubeconfig")), "replay") as api:
            live = ClusterView.live(api, page_size=4)
            assert live.list("blockaffinities.crd.projectcalico.org") == []
            with pytest.raises(Unavailable, match=f"^the API server {server.url} does not serve secrets "):
                live.list("secrets")
            written = write_dump(live, tmp_path / "again")
    again = ClusterView.from_dump(written)
    assert again.list("pods") == healthy.list("pods")
    with pytest.raises(Unavailable, match=r"does not contain secrets \(the API server .* when it was written\)"):
        again.list("secrets")


def test_replay_server_answers_like_the_apiserver(server, healthy):
    assert _raw(server, "GET", "/api/v1/pods", token=None) == (401, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
        "reason": "Unauthorized", "code": 401})
    code, first = _raw(server, "GET", "/api/v1/pods?limit=5")
    assert code == 200 and first["metadata"]["remainingItemCount"] == len(healthy.list("pods")) - 5
    token = first["metadata"]["continue"]
    code, second = _raw(server, "GET", f"/api/v1/pods?limit=5&continue={token}")
    assert [p["metadata"]["name"] for p in first["items"] + second["items"]] == [
        p["metadata"]["name"] for p in healthy.list("pods")[:10]]

    code, status = _raw(server, "GET", "/api/v1/pods?limit=5&continue=not-a-token")
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"].startswith("invalid continue token: continue key is not valid")
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    stale = base64.urlsafe_b64encode(json.dumps({**decoded, "rv": 7}).encode()).decode().rstrip("=")
    code, status = _raw(server, "GET", f"/api/v1/pods?limit=5&continue={stale}")
    assert (code, status["reason"], status["code"]) == (410, "Expired", 410)
    assert status["message"].startswith("The provided continue parameter is too old")

    assert _raw(server, "DELETE", "/api/v1/namespaces/shop/pods/x")[0] == 405
    code, status = _raw(server, "GET", "/api/v1/pods?watch=1&resourceVersion=1")  # older than the dump's
    assert (code, status["reason"]) == (410, "Expired") and status["message"].startswith("too old resource version: 1 (")
    assert _raw(server, "GET", "/apis/apps/v1beta1/deployments")[0] == 404  # a version not served
    verbs = [verb for verb, _, _ in server.requests]
    assert verbs == ["list"] * 5 + ["delete", "watch", "list"]


# --- kubeconfig and reachability mistakes are one line -------------------------------------------

def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_and_broken_kubeconfig(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(KubeproofError) as error:
        api_client(str(missing), None)
    assert _one_line(error) == f"cannot read kubeconfig {missing}: No such file or directory"
    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n  - name: a\n")
    with pytest.raises(KubeproofError) as error:
        api_client(str(broken), None)
    assert re.fullmatch(rf"cannot read kubeconfig {broken}: not YAML at line \d+: .+", _one_line(error))


def test_unknown_context_and_no_current_context(kubeconfig, tmp_path):
    with pytest.raises(KubeproofError) as error:
        api_client(kubeconfig, "prod")
    assert _one_line(error) == f"context 'prod' not found in kubeconfig {kubeconfig} (known contexts: replay)"
    config = yaml.safe_load(Path(kubeconfig).read_text())
    del config["current-context"]
    headless = tmp_path / "headless"
    headless.write_text(yaml.safe_dump(config))
    with pytest.raises(KubeproofError) as error:
        api_client(str(headless), None)
    assert _one_line(error).startswith(f"kubeconfig {headless} has no current-context")


def test_kubeconfig_env_is_searched_and_global_configuration_untouched(kubeconfig, tmp_path, monkeypatch):
    default_host = kubernetes.client.Configuration.get_default_copy().host
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{kubeconfig}")
    with api_client() as api:
        assert check_reachable(api, "replay")["gitVersion"] == "v1.32.2"
    assert kubernetes.client.Configuration.get_default_copy().host == default_host


def _kubeconfig_for(tmp_path: Path, server: str, token: str = "kubeproof-replay") -> str:
    path = tmp_path / "other-kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": server}}],
        "users": [{"name": "prod", "user": {"token": token}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}]}))
    return str(path)


def test_unreachable_server_fails_fast(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with api_client(_kubeconfig_for(tmp_path, f"http://127.0.0.1:{port}"), None) as api:
        started = time.monotonic()
        with pytest.raises(KubeproofError) as error:
            check_reachable(api, "prod")
    assert time.monotonic() - started < 2
    assert _one_line(error) == f"cannot reach the API server http://127.0.0.1:{port} of context 'prod': Connection refused"


def test_silent_server_times_out_after_one_attempt(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with api_client(_kubeconfig_for(tmp_path, f"http://127.0.0.1:{port}"), None) as api:
            started = time.monotonic()
            with pytest.raises(KubeproofError) as error:
                check_reachable(api, "prod", timeout=0.5)
            elapsed = time.monotonic() - started
        silent.setblocking(False)
        attempts = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                silent.accept()[0].close()
                attempts += 1
    assert attempts == 1  # each of urllib3's default retries would connect again
    assert 0.4 < elapsed < 5  # the timeout given, not the client's default
    assert _one_line(error).endswith(": timed out")


def test_rejected_credentials(server, tmp_path):
    with api_client(_kubeconfig_for(tmp_path, server.url, token="stolen"), None) as api:
        with pytest.raises(KubeproofError) as error:
            check_reachable(api, "prod")
    assert _one_line(error).startswith(f"the API server {server.url} of context 'prod' rejected the credentials")


# --- dumps: round trip, redaction, the committed fixture ----------------------------------------

def test_write_dump_then_from_dump_round_trips(api, tmp_path):
    live = ClusterView.live(api, context="replay")
    facts = {"cp-1": {"hostname": "cp-1", "nofile": {"kubelet": 1048576}}, "worker-1": {"hostname": "worker-1"}}
    directory = write_dump(live, tmp_path / "dump", node_facts=facts)
    again = ClusterView.from_dump(directory)
    for kind in KINDS:
        assert again.list(kind.name) == live.list(kind.name), kind.name
    assert again.version() == live.version() and again.context == "replay"
    assert {node: read_node_fact_file(path) for node, path in node_fact_files(directory).items()} == facts
    assert again.describe().startswith(f"dump {directory} (kubeproof of context replay, ")


def _every_text(directory: Path) -> str:
    return "\n".join(path.read_text() for path in sorted(directory.rglob("*.json")))


def test_written_dumps_keep_certificates_and_no_keys_or_tokens(generator, tmp_path):
    bundle = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "bundle", "namespace": "shop"},
              "data": {"haproxy.pem": base64.b64encode(generator.WEB_CERT + generator.WEB_KEY_PEM).decode(),
                       "password": base64.b64encode(b"hunter2").decode()}}
    objects = generator.source_objects() + [bundle]
    secrets = [o for o in objects if o["kind"] == "Secret"]
    # The source really holds what must not leak.
    assert sum(b"PRIVATE KEY" in base64.b64decode(v) for s in secrets for v in s["data"].values()) == 2
    assert any(generator.TOKEN in base64.b64decode(v).decode() for s in secrets for v in s["data"].values())
    directory = write_dump(ClusterView.from_objects(objects, description="source"), tmp_path / "dump")

    text = _every_text(directory)
    leaks = [generator.TOKEN, base64.b64encode(generator.TOKEN.encode()).decode(), "PRIVATE KEY", "hunter2",
             base64.b64encode(generator.WEB_KEY_PEM).decode()[:40], base64.b64encode(b"hunter2").decode(),
             "last-applied-configuration"]
    assert [leak for leak in leaks if leak in text] == []
    assert "PRIVATE KEY" not in "".join(base64.b64decode(v).decode() for s in json.loads(
        (directory / "secrets.json").read_text())["items"] for v in s["data"].values())

    written = {s["metadata"]["name"]: s for s in ClusterView.from_dump(directory).list("secrets")}
    assert written["web-tls"]["metadata"]["annotations"] == {"kubeproof.io/redacted": "tls.key"}
    assert written["kube-proxy-token"]["metadata"]["annotations"]["kubeproof.io/redacted"] == "namespace,token"
    assert written["bundle"]["data"] == {} and written["bundle"]["metadata"]["annotations"] == {
        "kubeproof.io/redacted": "haproxy.pem,password"}
    served = x509.load_pem_x509_certificate(base64.b64decode(written["web-tls"]["data"]["tls.crt"]))
    assert served.subject.rfc4514_string() == "CN=shop.example.test"
    assert set(written["kube-proxy-token"]["data"]) == {"ca.crt"}


def test_committed_healthy_dump_is_what_the_generator_writes(generator, tmp_path):
    regenerated = generator.build(tmp_path / "healthy")
    committed = {p.relative_to(HEALTHY): p.read_bytes() for p in HEALTHY.rglob("*") if p.is_file()}
    fresh = {p.relative_to(regenerated): p.read_bytes() for p in regenerated.rglob("*") if p.is_file()}
    assert sorted(committed) == sorted(fresh)
    assert [str(p) for p in committed if committed[p] != fresh[p]] == []
    assert "PRIVATE KEY" not in _every_text(HEALTHY)


def test_healthy_objects_match_the_official_openapi_schema(healthy, generator):
    import kubernetes_validate  # the selftest extra; no skip: a missing validator must fail CI

    checked = 0
    for kind in KINDS:
        for item in healthy.list(kind.name):
            kubernetes_validate.validate(item, generator.SCHEMA_VERSION, strict=True)
            checked += 1
    assert checked >= 50
    node = healthy.list("nodes")[0]
    with pytest.raises(kubernetes_validate.ValidationError):  # the validator does reject a wrong shape
        kubernetes_validate.validate({**node, "status": {**node["status"], "conditions": "Ready"}},
                                     generator.SCHEMA_VERSION, strict=True)


# --- one LIST per kind per session, whichever worker asks first ---------------------------------

def test_session_cache_shares_lists_between_workers(server, api, tmp_path):
    first = ClusterView.live(api, page_size=5, cache=SessionCache(tmp_path / "cache"))
    second = ClusterView.live(api, page_size=5, cache=SessionCache(tmp_path / "cache"))  # another worker
    for kind in KINDS:
        first.list(kind.name)
    one_set = len(server.requests)
    assert one_set > len(KINDS)
    for kind in KINDS:
        assert second.list(kind.name) == first.list(kind.name)
    assert second.version() == first.version()
    assert len([r for r in server.requests if r[0] == "list"]) == one_set


# --- the view's now(), its serving certificate, and what it keeps of Secrets ----------------------

def test_now_is_the_moment_the_view_stands_for(healthy, generator, api, tmp_path):
    assert healthy.now() == generator.DUMPED  # the dump's created time
    # Live: the API server's clock, from its Date header (the replay server states the dump's moment).
    assert ClusterView.live(api).now() == generator.DUMPED
    # A kubectl dump records no time: its newest Node heartbeat stands for it.
    kubectl = ClusterView.from_dump(write_kubectl_dump(healthy, tmp_path / "kubectl", "json"))
    assert kubectl.now() == max(datetime.fromisoformat(c["lastHeartbeatTime"].replace("Z", "+00:00"))
                                for n in healthy.list("nodes") for c in n["status"]["conditions"])


def test_serving_certificate_of_dumps_and_plain_http(healthy, generator, api, tmp_path):
    assert healthy.serving_certificate() == generator.apiserver_certificate()
    with pytest.raises(Unavailable, match="reached over plain HTTP: it presents no serving certificate"):
        ClusterView.live(api).serving_certificate()
    kubectl = ClusterView.from_dump(write_kubectl_dump(healthy, tmp_path / "kubectl", "json"))
    with pytest.raises(Unavailable, match="does not record the API server's serving certificate"):
        kubectl.serving_certificate()


def test_secrets_keep_only_certificates_before_anything_sees_them(generator, tmp_path):
    """A source serving Secrets in clear: the live view's cache, its lists and a dump hold certificates only."""
    raw = {kind.name: [o for o in generator.source_objects() if (o["apiVersion"], o["kind"]) ==
                       (kind.api_version, kind.kind)] for kind in KINDS}
    clear = ClusterView(lambda kind: raw[kind.name], "secrets in clear", version=lambda: generator.SERVER_VERSION)
    assert any("PRIVATE KEY" in base64.b64decode(v).decode() for s in clear.list("secrets") for v in s["data"].values())
    with ReplayServer(clear) as server:
        with api_client(str(server.write_kubeconfig(tmp_path / "kubeconfig")), "replay") as api:
            live = ClusterView.live(api, cache=SessionCache(tmp_path / "cache"))
            secrets = live.list("secrets")
            written = write_dump(live, tmp_path / "dump")
    kept = {s["metadata"]["name"]: sorted(s["data"]) for s in secrets}
    assert kept == {"kube-proxy-token": ["ca.crt"], "web-tls": ["tls.crt"]}
    assert "PRIVATE KEY" not in _every_text(tmp_path / "cache") and "PRIVATE KEY" not in _every_text(written)
    assert generator.TOKEN not in _every_text(tmp_path / "cache")
