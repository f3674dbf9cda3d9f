"""The API client: built from a kubeconfig, one request per call, JSON in, plain dicts out.

Every mistake a user can make (missing kubeconfig, unknown context, unreachable server, rejected
credentials) becomes one KubeproofError line. Responses are decoded with orjson.loads (exact for
API objects, whose integers are int64 by the API's schema, and twice as fast as json.loads), never
into the client's model classes: a cluster can hold 150k pods, and models cost several times the
memory (docs/benchmark.md).
"""

from __future__ import annotations

import _ssl
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Iterator, Mapping
from urllib.parse import urlsplit

import orjson
import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config import incluster_config, new_client_from_config
from kubernetes.config.config_exception import ConfigException

from .. import yamlfile
from ..errors import InsufficientPermission, KubeproofError, Unavailable

DEFAULT_KUBECONFIG = "~/.kube/config"
# (connect, read) seconds for one page of a LIST; a 500-pod page takes well under a second.
REQUEST_TIMEOUT = (10, 60)


def kubeconfig_paths(kubeconfig: str | None) -> list[str]:
    """kubectl's loading rules: the explicit file, else every file of $KUBECONFIG, else the default."""
    if kubeconfig:
        return [kubeconfig]
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [DEFAULT_KUBECONFIG]


def _read_kubeconfig(path: str) -> dict:
    data = yamlfile.read(path, "kubeconfig")
    if not isinstance(data, dict):
        raise KubeproofError(f"cannot read kubeconfig {path}: not a kubeconfig (expected a YAML mapping)")
    return data


def _existing(paths: list[str]) -> list[str]:
    """Like kubectl, files named by $KUBECONFIG that do not exist are skipped; all missing is an error."""
    found = [p for p in paths if os.path.exists(os.path.expanduser(p))]
    return found if len(paths) > 1 and found else paths


def _none_found(context: str | None) -> KubeproofError:
    """No kubeconfig given and none where kubectl looks: say where that was and how to point elsewhere."""
    listed = os.environ.get("KUBECONFIG", "")
    looked = (f"$KUBECONFIG={listed} (no such file)" if listed.strip(os.pathsep) else
              f"$KUBECONFIG (unset), then {DEFAULT_KUBECONFIG} ({os.path.expanduser(DEFAULT_KUBECONFIG)}: "
              "no such file)")
    wanted = f" for context {context!r}" if context else ""
    return KubeproofError(f"no kubeconfig{wanted}: looked in {looked}; "
                          "point at one with --kubeconfig=PATH or KUBECONFIG=PATH")


def in_cluster(kubeconfig: str | None, context: str | None) -> bool:
    """kubectl's rule: in a pod (its service host variable and token), with no kubeconfig named and
    none where kubectl looks, the pod's service account reaches the cluster the pod runs in."""
    return (kubeconfig is None and context is None and bool(os.environ.get(incluster_config.SERVICE_HOST_ENV_NAME))
            and os.path.exists(incluster_config.SERVICE_TOKEN_FILENAME)
            and not any(os.path.exists(os.path.expanduser(p)) for p in kubeconfig_paths(None)))


def choose_context(kubeconfig: str | None, context: str | None) -> tuple[list[str], str | None]:
    """The kubeconfig files to load and the context to use, checked so a mistake reads as one line;
    ([], None) in a pod that uses its in-cluster configuration."""
    if in_cluster(kubeconfig, context):
        return [], None
    paths = _existing(kubeconfig_paths(kubeconfig))
    if kubeconfig is None and not any(os.path.exists(os.path.expanduser(p)) for p in paths):
        raise _none_found(context)
    configs = [_read_kubeconfig(p) for p in paths]
    known = [c.get("name") for cfg in configs for c in cfg.get("contexts") or [] if isinstance(c, dict)]
    where = os.pathsep.join(paths)
    if context is None:
        # kubectl: the first file that sets current-context wins.
        context = next((cfg["current-context"] for cfg in configs if cfg.get("current-context")), None)
        if context is None:
            raise KubeproofError(f"kubeconfig {where} has no current-context; pass --kube-context "
                                 f"(known contexts: {', '.join(known) or 'none'})")
    if context not in known:
        raise KubeproofError(f"context {context!r} not found in kubeconfig {where} "
                             f"(known contexts: {', '.join(known) or 'none'})")
    return paths, context


def api_client(kubeconfig: str | None = None, context: str | None = None) -> ApiClient:
    """An ApiClient for the context; the client library's process-global default stays untouched."""
    paths, context = choose_context(kubeconfig, context)
    configuration = Configuration()
    # One attempt per request: a dead server must fail the run in seconds, not after urllib3's
    # three silent retries per page.
    configuration.retries = False
    if not paths:
        try:
            incluster_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise KubeproofError(f"in-cluster configuration: {_one_line(exc)}") from None
        return ApiClient(configuration)
    try:
        return new_client_from_config(config_file=os.pathsep.join(paths), context=context,
                                      persist_config=False, client_configuration=configuration)
    except (ConfigException, OSError, ValueError) as exc:
        raise KubeproofError(f"context {context!r} in kubeconfig {os.pathsep.join(paths)}: "
                             f"{_one_line(exc)}") from None


def server_of(api: ApiClient) -> str:
    return api.configuration.host


def _of(context: str | None) -> str:
    return f" of context {context!r}" if context else ""


@dataclass(frozen=True)
class RequestInfo:
    """What a request does, in the apiserver's own terms (its RequestInfoFactory's rules)."""

    verb: str  # get list watch create update patch delete deletecollection, or the method for /version
    resource: str = ""  # kubectl's `plural.group` form (the Kind.name form); "" for non-resource paths
    api_version: str = ""  # `v1`, `apps/v1`
    namespace: str = ""
    name: str = ""
    subresource: str = ""


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def request_info(method: str, path: str, query: list[tuple]) -> RequestInfo:
    """Classify a request as the apiserver does, e.g. GET /apis/apps/v1/namespaces/x/deployments = list."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        api_version, rest = parts[1], parts[2:]
        group = ""
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, api_version, rest = parts[1], f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return RequestInfo(method.lower())
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:  # /namespaces/NAME alone is a Namespace object
        namespace, rest = rest[1], rest[2:]
    resource = f"{rest[0]}.{group}" if group else rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = "/".join(rest[2:])
    if method in ("GET", "HEAD"):
        watching = dict(query).get("watch") in ("1", "true")
        verb = "get" if name else ("watch" if watching else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return RequestInfo(verb, resource, api_version, namespace, name, subresource)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _network_reason(exc: BaseException) -> str:
    """The root cause a person recognises ("Connection refused", "timed out") behind urllib3's wrappers.

    urllib3 files a refused connection under its timeout errors too, so the OS error is looked for first.
    """
    chain = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
    for error in chain:
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
    if any(isinstance(error, (TimeoutError, urllib3.exceptions.TimeoutError)) for error in chain):
        return "timed out"
    return _one_line(exc)


def _open(api: ApiClient, path: str, query: list[tuple], timeout, context: str | None) -> urllib3.BaseHTTPResponse:
    """One GET through the client's own serialization, auth and connection pool, its body not read.

    This client generation's call_api hands back the raw, undecoded response (the equivalent of
    `_preload_content=False` in older generations): _send reads it whole, watch line by line.
    """
    method, url, headers, _, _ = api.param_serialize(
        method="GET", resource_path=path, query_params=query or None,
        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
    try:
        return api.call_api(method, url, header_params=headers, _request_timeout=timeout).response
    except urllib3.exceptions.HTTPError as exc:
        reason = _network_reason(exc)
    except ApiException as exc:  # how the client reports TLS failures: status 0, multi-line reason
        reason = _one_line(exc.reason)
    raise KubeproofError(f"cannot reach the API server {server_of(api)}{_of(context)}: {reason}") from None


def _send(api: ApiClient, path: str, query: list[tuple], timeout,
          context: str | None) -> tuple[int, bytes, Mapping[str, str]]:
    """One GET: status, body (undecoded, for answer() to decode), headers."""
    response = _open(api, path, query, timeout, context)
    try:
        return response.status, response.data, response.headers
    except urllib3.exceptions.HTTPError as exc:
        raise KubeproofError(f"cannot reach the API server {server_of(api)}{_of(context)}: "
                             f"{_network_reason(exc)}") from None


def _status_message(body: bytes) -> str:
    """The message of the apiserver's Status object, or the start of the body when it is not one."""
    try:
        status = orjson.loads(body)
        return status.get("message") or status.get("reason") or ""
    except (ValueError, AttributeError):
        return _one_line(body.decode(errors="replace"))[:200]


def _decode(api: ApiClient, path: str, body: bytes) -> dict:
    try:
        return orjson.loads(body)
    except ValueError:
        raise KubeproofError(f"GET {path} on {server_of(api)} answered something that is not JSON: "
                             f"{_status_message(body)}") from None


def check_reachable(api: ApiClient, context: str | None, timeout: float = 5) -> dict:
    """GET /version once, with short timeouts; returns the server's version dict."""
    status, body, _ = _send(api, "/version", [], (timeout, timeout), context)
    if status == 401:
        raise KubeproofError(f"the API server {server_of(api)}{_of(context)} rejected the credentials "
                             "(401 Unauthorized): renew them or use another context")
    if status != 200:
        raise KubeproofError(f"GET /version on {server_of(api)} answered {status}: {_status_message(body)}")
    return _decode(api, "/version", body)


def answer(api: ApiClient, path: str, query: list[tuple], status: int, body: bytes) -> dict | None:
    """The decoded body of a GET; None for 404; 403 is InsufficientPermission, any other error one line."""
    if status == 404:
        return None
    if status == 403:
        info = request_info("GET", path, query)
        resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource or path
        raise InsufficientPermission(info.verb, resource)  # e.g. "get pods/log", what RBAC must grant
    if status != 200:
        raise KubeproofError(f"GET {path} on {server_of(api)} answered {status}: {_status_message(body)}")
    return _decode(api, path, body)


def get_json(api: ApiClient, path: str, query: list[tuple] | None = None,
             timeout=REQUEST_TIMEOUT) -> dict | None:
    """GET path as a dict; None when the server has no such resource (404)."""
    query = query or []
    status, body, _ = _send(api, path, query, timeout, None)
    return answer(api, path, query, status, body)


def get_bytes(api: ApiClient, path: str, query: list[tuple], timeout=REQUEST_TIMEOUT) -> tuple[int, bytes]:
    """GET path: the status and the body undecoded, for `answer` to decode (view.pages decodes a
    LIST page while the next one is on its way)."""
    status, body, _ = _send(api, path, query, timeout, None)
    return status, body


def get_raw(api: ApiClient, path: str, query: list[tuple], timeout=REQUEST_TIMEOUT) -> bytes | None:
    """GET path's body as the server sent it, e.g. a pod's log (the bytes its container wrote, not
    JSON); None for 404, any other error as answer() raises it."""
    status, body = get_bytes(api, path, query, timeout)
    return body if status == 200 else answer(api, path, query, status, body)


class WatchExpired(KubeproofError):
    """A WATCH's resourceVersion is older than the API server keeps (410): LIST again."""


class WatchRefused(KubeproofError):
    """The API server does not serve this WATCH (403: not granted; 405: a server without watches)."""


def watch(api: ApiClient, path: str, query: list[tuple], seconds: int) -> Iterator[dict]:
    """WATCH path from the resourceVersion in query for at most `seconds` (the server's
    timeoutSeconds, after which it ends the stream): each event as sent, {"type", "object"},
    bookmarks included. WatchRefused on 403 or 405, WatchExpired on 410, KubeproofError for any
    other answer. Closing the generator closes the stream."""
    query = [*query, ("watch", "1"), ("timeoutSeconds", str(seconds)), ("allowWatchBookmarks", "true")]
    raw = _open(api, path, query, (REQUEST_TIMEOUT[0], seconds + REQUEST_TIMEOUT[0]), None)
    try:
        if raw.status != 200:
            body = raw.read()
            if raw.status == 403:
                raise WatchRefused(str(InsufficientPermission("watch", request_info("GET", path, query).resource)))
            error = {405: WatchRefused, 410: WatchExpired}.get(raw.status, KubeproofError)
            raise error(f"WATCH {path} on {server_of(api)} answered {raw.status}: {_status_message(body)}")
        for line in raw:  # one JSON event a line
            if not line.strip():
                continue
            event = orjson.loads(line)
            if event.get("type") == "ERROR":  # the stream's own refusal, a Status object
                status = event.get("object") or {}
                error = WatchExpired if status.get("code") == 410 else KubeproofError
                raise error(f"WATCH {path}: {status.get('message') or status.get('reason')}")
            yield event
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise KubeproofError(f"WATCH {path} on {server_of(api)} broke off: {_network_reason(exc)}") from None
    finally:  # closed, not pooled: a stream left part read would hand its rest to the next request
        raw.close()
        raw.release_conn()


def version_and_date(api: ApiClient) -> dict:
    """GET /version: {"version": the server's version, "date": its HTTP Date header}.

    The Date header is the API server's own clock (Go's net/http sets it on every response): ages of
    objects it stamped are measured on that clock, not on the auditor's.
    """
    status, body, headers = _send(api, "/version", [], REQUEST_TIMEOUT, None)
    return {"version": answer(api, "/version", [], status, body), "date": headers.get("Date")}


def serving_chain(api: ApiClient, timeout: float = 10) -> list[str]:
    """The certificate chain the API server presents in its TLS handshake, as PEM, leaf first.

    A read of public data: nothing is verified (an expired certificate must still be read), no
    credentials are sent, and the connection is closed right after the handshake. The server name
    sent (SNI) is the kubeconfig's tls-server-name or the server's host, as kubectl sends it.
    """
    url = urlsplit(server_of(api))
    if url.scheme != "https":
        raise Unavailable(f"the API server {server_of(api)} is reached over plain {url.scheme.upper()}: "
                          "it presents no serving certificate")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    name = api.configuration.tls_server_name or url.hostname
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=name) as tls:
                # Public as SSLSocket.get_unverified_chain() only from Python 3.13; the object under
                # it has had the method since 3.10. getpeercert() would give the leaf alone.
                chain = tls._sslobj.get_unverified_chain() or []
                return [cert.public_bytes(_ssl.ENCODING_PEM) for cert in chain]
    except OSError as exc:  # ssl.SSLError is an OSError too
        raise Unavailable(f"cannot read the serving certificate of {server_of(api)}: "
                          f"{exc.strerror or _one_line(exc)}") from None
