"""A read-only API server replaying a ClusterView over HTTP, for the real `kubernetes` client.

It answers as kube-apiserver does where kubeproof depends on it: cluster-wide and namespaced LISTs
paginated with `limit`/`continue` (etcd key order, opaque continue tokens in the apiserver's own
encoding, `remainingItemCount`), single-object GETs, /version, bearer-token authentication,
authorization (a set of forbidden kinds, or a ClusterRole's rules), Status objects for
400/401/403/404/405/410, a Date header on the replayed cluster's clock (the view's now()), and,
given a certificate and key, HTTPS. A replayed cluster never changes: a WATCH from its
resourceVersion sends no event until its timeoutSeconds, one from an older resourceVersion is 410
Expired, as from a compacted one. Every request is recorded with the verb the apiserver's
authorizer would see, so tests can prove a run was read-only and paginated.

    with ReplayServer("selftest/data/clusters/healthy", forbidden={"secrets"}) as server:
        server.write_kubeconfig(path)      # then: pytest --kubeconfig=path --kube-context=replay
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import parse_qsl, urlsplit

import yaml

from ..errors import KubeproofError, UsageParser
from .client import RequestInfo, request_info
from .dump import storage_key
from .kinds import KINDS, Kind, kind_of
from .view import ClusterView

@dataclass(frozen=True)
class QuietWatch:
    """A WATCH's answer on a cluster that never changes: no event, the stream ended after seconds."""

    seconds: float


Response = tuple[int, dict | bytes | QuietWatch]  # a LIST's body comes encoded
# etcd3's own wording (k8s.io/apiserver/pkg/storage/etcd3/errors.go) for a compacted continue token.
CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter.")
WATCH_TIMEOUT_CAP = 30  # seconds a replayed WATCH lasts at most, whatever timeoutSeconds asks
# What a view without a recorded version (a kubectl dump) answers on /version.
UNKNOWN_VERSION = {"major": "", "minor": "", "gitVersion": "v0.0.0-replay", "platform": "linux/amd64"}
USER = "kubeproof-replay"  # whom the token authenticates, as named in Forbidden messages
Authorizer = Callable[[RequestInfo, str], bool]  # (request, path) -> allowed, e.g. ClusterRole.allows


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for serving HTTPS: the chain presented (leaf first), its key, the CA clients trust."""

    cert: Path
    key: Path
    ca: Path


def _status(code: int, reason: str, message: str, details: dict | None = None) -> Response:
    """A metav1.Status failure, shaped as kube-apiserver writes it."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return code, body


def _details(resource: str, name: str = "") -> dict:
    """Status details name the resource as plural + group: `pods`, or `deployments` in `apps`."""
    plural, _, group = resource.partition(".")
    return {key: value for key, value in (("name", name), ("group", group), ("kind", plural)) if value}


Entry = tuple[str, bytes, int]  # an item's storage key, its JSON as a LIST returns it, its resourceVersion


def _entry(kind: Kind, item: dict) -> Entry:
    """The item's entry. Built-in kinds' LIST items carry no apiVersion/kind; a CRD's (unstructured) do."""
    listed = item if kind.optional else {k: v for k, v in item.items() if k not in ("apiVersion", "kind")}
    revision = item["metadata"].get("resourceVersion", "")
    return storage_key(item), json.dumps(listed).encode(), int(revision) if revision.isdigit() else 0


@dataclass
class _Collection:
    """A kind's items in etcd key order, each encoded once: a page is a join of bytes, so serving
    150,000 pods costs the server no more than copying them."""

    kind: Kind
    keys: list[str]
    items: list[bytes]
    revision: int  # of its newest item

    @classmethod
    def of(cls, kind: Kind, entries: Iterable[Entry]) -> "_Collection":
        ordered = sorted(entries)
        return cls(kind, [key for key, _, _ in ordered], [item for _, item, _ in ordered],
                   max((revision for _, _, revision in ordered), default=0))

    def in_namespace(self, namespace: str) -> "_Collection":
        """The namespace's items: the keys `NAMESPACE/...`, one run of the sorted keys."""
        if not namespace:
            return self
        # "/" sorts right before "0": the run starts at "NAMESPACE/" and ends before "NAMESPACE0".
        start, end = (bisect.bisect_left(self.keys, namespace + suffix) for suffix in ("/", "0"))
        return _Collection(self.kind, self.keys[start:end], self.items[start:end], self.revision)

    def get(self, key: str) -> dict | None:
        """The object stored under key, with its apiVersion and kind as a GET returns it."""
        index = bisect.bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            return None
        return {"apiVersion": self.kind.api_version, "kind": self.kind.kind, **json.loads(self.items[index])}


def _collections_of_view(view: ClusterView) -> list[_Collection]:
    return [_Collection.of(kind, (_entry(kind, item) for item in view.list(kind.name)))
            for kind in KINDS if view.has(kind.name)]


def _collections_of_objects(objects: Iterable[dict]) -> list[_Collection]:
    """Objects of any kinds, each encoded as it comes (and then left to be freed)."""
    entries: dict[Kind, list[Entry]] = {}
    for obj in objects:
        kind = kind_of(obj)
        entries.setdefault(kind, []).append(_entry(kind, obj))
    return [_Collection.of(kind, entries.get(kind, [])) for kind in KINDS]


@dataclass(frozen=True)
class Objects:
    """API objects to serve as they are, each with its apiVersion and kind, from any iterable: a
    generator keeps a cluster of any size from ever being held as Python objects, only as JSON."""

    objects: Iterable[dict]
    version: dict
    now: datetime


def _serves(collection: _Collection | None, info: RequestInfo) -> bool:
    """Whether the path names the collection the way the apiserver routes it."""
    if collection is None or info.api_version != collection.kind.api_version or info.subresource:
        return False
    if collection.kind.namespaced:
        return bool(info.namespace) or not info.name  # /api/v1/pods lists; /api/v1/pods/x is no route
    return not info.namespace


def _encode_continue(rv: int, start: str) -> str:
    """The apiserver's token (k8s.io/apiserver/pkg/storage/continue.go): base64url JSON, no padding."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    """(rv, start key) of a token; ValueError with the apiserver's reason when it is not valid."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        version, rv, start = decoded["v"], decoded["rv"], decoded["start"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"continue key is not valid: {exc}") from None
    if version != "meta.k8s.io/v1":
        raise ValueError(f"continue key is not valid: server does not recognize this encoded version {version}")
    if not isinstance(rv, int) or rv == 0 or not isinstance(start, str) or not start:
        raise ValueError("continue key is not valid: incorrect encoded start resourceVersion or key")
    return rv, start


class ReplayServer:
    def __init__(self, source: ClusterView | str | Path | Objects, *, page_size_cap: int | None = None,
                 token: str = "kubeproof-replay", forbidden: set[str] | frozenset[str] = frozenset(),
                 authorize: Authorizer | None = None, tls: TLSFiles | None = None,
                 now: datetime | None = None, port: int = 0):
        """Serve the view (or dump directory, or objects) at 127.0.0.1:port.

        forbidden: kinds (`secrets`) every request for is refused; authorize: a further decision per
        request (a ClusterRole's allows), refused when False; tls: serve HTTPS with these files;
        now: the time the Date header states (default: the view's now(), the replayed moment).
        """
        if isinstance(source, Objects):
            collections, self._version, moment = _collections_of_objects(source.objects), source.version, source.now
        else:
            view = source if isinstance(source, ClusterView) else ClusterView.from_dump(source)
            collections, self._version, moment = (_collections_of_view(view), view.version() or UNKNOWN_VERSION,
                                                  view.now())
        self._collections = {c.kind.name: c for c in collections}
        # The LISTs' resourceVersion: etcd's revision is at least that of the newest object.
        self._rv = max([c.revision for c in collections] + [1])
        self.date = format_datetime(now or moment, usegmt=True)
        self.page_size_cap = page_size_cap
        self.token = token
        self.forbidden = frozenset(forbidden)
        self._authorize = authorize or (lambda info, path: True)
        self.tls = tls
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.sent_bytes = 0  # response bodies, all requests
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "ReplayServer":
        # A short poll interval: stop() waits for the next poll, and tests start many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the CLI's `replay` command)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def write_kubeconfig(self, path: str | Path, context: str = "replay", server_name: str | None = None) -> Path:
        """A kubeconfig whose context reaches this server with its bearer token; over HTTPS it trusts
        the CA, and server_name (tls-server-name) is the name its certificate is verified for."""
        path = Path(path)
        cluster = {"server": self.url}
        if self.tls:
            cluster["certificate-authority-data"] = base64.b64encode(self.tls.ca.read_bytes()).decode()
        if server_name:
            cluster["tls-server-name"] = server_name
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }, sort_keys=False))
        return path

    def respond(self, method: str, path: str, query: list[tuple[str, str]], authorization: str) -> Response:
        """The answer to one request; records it first, whatever the answer."""
        info = request_info(method, path, query)
        with self._lock:
            self.requests.append((info.verb, path, query))
        if authorization != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        # The apiserver authorizes before it looks the resource up: forbidden wins over not found.
        if info.resource in self.forbidden or not self._authorize(info, path):
            return self._forbidden(info, path)
        if method != "GET":
            return _status(405, "MethodNotAllowed", "the server does not allow this method on the "
                          "requested resource (the replay server is read-only)", {})
        if path.rstrip("/") == "/version":
            return 200, self._version
        collection = self._collections.get(info.resource)
        if not _serves(collection, info):
            return _status(404, "NotFound", "the server could not find the requested resource", {})
        if info.name:
            return self._get(collection, info)
        if info.verb == "watch":
            return self._watch(dict(query))
        return self._list(collection.in_namespace(info.namespace), dict(query))

    def _watch(self, query: dict[str, str]) -> Response:
        since = query.get("resourceVersion") or ""
        if since.isdigit() and 0 < int(since) < self._rv:  # kube-apiserver's watch cache's wording
            return _status(410, "Expired", f"too old resource version: {since} ({self._rv})")
        try:
            seconds = float(query.get("timeoutSeconds") or WATCH_TIMEOUT_CAP)
        except ValueError:
            return _status(400, "BadRequest", f"timeoutSeconds: Invalid value: {query['timeoutSeconds']!r}")
        return 200, QuietWatch(min(seconds, WATCH_TIMEOUT_CAP))

    def _forbidden(self, info: RequestInfo, path: str) -> Response:
        if not info.resource:  # a path outside the API, e.g. /version
            return _status(403, "Forbidden", f'forbidden: User "{USER}" cannot {info.verb} path "{path}"', {})
        plural, _, group = info.resource.partition(".")
        subject = f'{info.resource} "{info.name}"' if info.name else info.resource
        scope = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
        return _status(403, "Forbidden", f'{subject} is forbidden: User "{USER}" cannot {info.verb} '
                      f'resource "{plural}" in API group "{group}" {scope}', _details(info.resource, info.name))

    def _get(self, collection: _Collection, info: RequestInfo) -> Response:
        found = collection.get(f"{info.namespace}/{info.name}" if info.namespace else info.name)
        if found is not None:
            return 200, found
        return _status(404, "NotFound", f'{info.resource} "{info.name}" not found',
                      _details(info.resource, info.name))

    def _list(self, collection: _Collection, query: dict[str, str]) -> Response:
        start = 0
        if query.get("continue"):
            try:
                rv, start_key = _decode_continue(query["continue"])
            except ValueError as exc:
                return _status(400, "BadRequest", f"invalid continue token: {exc}")
            if rv != self._rv:  # issued against another revision: as if etcd had compacted it
                return _status(410, "Expired", CONTINUE_EXPIRED)
            start = bisect.bisect_left(collection.keys, start_key)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return _status(400, "BadRequest", f"limit: Invalid value: {query['limit']!r}")
        if limit > 0 and self.page_size_cap:
            limit = min(limit, self.page_size_cap)  # the server may return fewer than asked
        end = min(start + limit, len(collection.items)) if limit > 0 else len(collection.items)
        metadata: dict = {"resourceVersion": str(self._rv)}
        if end < len(collection.items):
            # Like etcd3's store: continue right after the last returned key.
            metadata["continue"] = _encode_continue(self._rv, collection.keys[end - 1] + "\x00")
            metadata["remainingItemCount"] = len(collection.items) - end
        kind = collection.kind
        envelope = json.dumps({"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": metadata})
        # What json.dumps would write for the whole list, with the items joined as encoded.
        return 200, b"".join((envelope[:-1].encode(), b', "items": [', b", ".join(collection.items[start:end]), b"]}"))


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
        # Headers and body go out in two writes; with Nagle on, the second waits for the client's
        # delayed ACK (~40 ms a request).
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # drain a request body so the connection stays usable
            url = urlsplit(self.path)
            code, body = server.respond(self.command, url.path, parse_qsl(url.query, keep_blank_values=True),
                                        self.headers.get("Authorization", ""))
            if isinstance(body, QuietWatch):
                time.sleep(body.seconds)
                payload = b""
            else:
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            with server._lock:
                server.sent_bytes += len(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def date_time_string(self, timestamp=None) -> str:
            """The Date header: the replayed cluster's clock, not this machine's."""
            return server.date

        def log_message(self, format, *args) -> None:
            """Quiet: the requests are recorded in server.requests instead."""

    return Handler


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """`python -m kubeproof replay DIR`: serve a dump as a read-only API server until interrupted."""
    parser = UsageParser(prog="python -m kubeproof replay",
                                     description="Serve a dump (kubeproof's or kubectl cluster-info dump's) "
                                                 "read-only over HTTP as a Kubernetes API server.")
    parser.add_argument("directory", metavar="DIR", help="a kubeproof dump or a kubectl cluster-info dump directory")
    parser.add_argument("--port", type=_port, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--kubeconfig", metavar="PATH", help="write a kubeconfig reaching the server here")
    args = parser.parse_args(argv)
    if not Path(args.directory).is_dir():
        raise KubeproofError(f"replay {args.directory}: not a directory")
    try:
        server = ReplayServer(args.directory, port=args.port)
    except OSError as exc:  # reading the dump says its own errors: this is the socket's
        raise KubeproofError(f"replay: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}") from None
    if args.kubeconfig:
        try:
            server.write_kubeconfig(args.kubeconfig)
        except OSError as exc:
            raise KubeproofError(f"replay --kubeconfig {args.kubeconfig}: {exc.strerror or exc}") from None
    print(f"kubeproof: replaying {args.directory} at {server.url}"
          + (f" (kubeconfig {args.kubeconfig}, context replay)" if args.kubeconfig else ""), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
