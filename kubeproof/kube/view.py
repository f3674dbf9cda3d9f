"""ClusterView: every kind listed at most once per session, shared by all cluster assertions.

A view reads either a live API server (paginated LISTs, shared with xdist workers through the
session cache) or a dump directory; assertions cannot tell which, and never touch the network.
What it reads is kept as plain dicts (json.loads, never the client's model classes: docs/
benchmark.md measures both), trimmed to the fields assertions read (trimming.py). Besides the
objects it holds the facts about the cluster that are not objects: the server's version, the
moment the view stands for (`now()`) and the API server's serving certificate.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import re
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from kubernetes.client import ApiClient

from ..errors import Unavailable
from ..sharing import API_OBJECTS, JSON, Codec, SessionCache
from .client import answer, get_bytes, server_of, serving_chain, version_and_date
from .dump import open_dump
from .kinds import KINDS, Kind, kind_named, kind_of
from .redaction import redact_secret
from .serving import ServingCertificate
from .trimming import trim

Fetch = Callable[[Kind], list[dict]]
Progress = Callable[[str], None]
PROGRESS_PAGES = 20  # a long LIST says how far it got every 20 pages (10,000 objects at 500 a page)


def _shared(cache: SessionCache | None, key: str, compute: Callable[[], Any], codec: Codec = JSON) -> Any:
    return cache.get_or_compute(key, compute, codec) if cache else compute()


_CONTINUE = re.compile(rb'"continue"\s*:\s*"([^"]*)"')


def continue_ahead(body: bytes) -> str | None:
    """A LIST page's continue token read from its raw bytes ("" on the last page), or None when its
    metadata does not come before its items (kube-apiserver writes it first) and decoding must tell."""
    items = body.find(b'"items"')
    head = body[:items] if items >= 0 else b""
    if b'"metadata"' not in head:
        return None
    found = _CONTINUE.search(head)
    return found.group(1).decode() if found else ""


def pages(api: ApiClient, kind: Kind, page_size: int) -> Iterator[list[dict]]:
    """The items of a kind, cluster-wide, one page of `page_size` per request (limit + continue).

    Pages are yielded as they arrive, so the caller trims each before the next is read: a whole
    LIST of 150,000 pods is never held as the API server sent it. The next page is asked for as
    soon as this one's bytes are in, so the server prepares it while this one is decoded and
    trimmed. Raises Unavailable when the server does not serve a required kind; an optional kind
    (a CRD that is not installed) is empty.
    """
    def fetch(token: str) -> tuple[list[tuple], int, bytes]:
        query = [("limit", page_size)] + ([("continue", token)] if token else [])
        return query, *get_bytes(api, kind.list_path, query)

    with ThreadPoolExecutor(1, thread_name_prefix="kubeproof-list") as ahead:
        pending: Future | None = ahead.submit(fetch, "")
        while pending is not None:
            query, status, body = pending.result()
            token = continue_ahead(body) if status == 200 else ""
            pending = ahead.submit(fetch, token) if token else None
            page = answer(api, kind.list_path, query, status, body)
            del body
            if page is None:
                if kind.optional:
                    return
                raise Unavailable(f"the API server {server_of(api)} does not serve {kind.name} ({kind.list_path})")
            yield page.get("items") or []
            if token is None:  # known only now
                token = (page.get("metadata") or {}).get("continue") or ""
                pending = ahead.submit(fetch, token) if token else None


def _listed(api: ApiClient, kind: Kind, page_size: int, progress: Progress | None, every: int) -> list[dict]:
    """A kind's items as the view keeps them, page by page; a LIST of several pages tells progress."""
    kept: list[dict] = []
    read = 0
    for read, page in enumerate(pages(api, kind, page_size), 1):
        kept += _kept(kind, page)
        if progress and read % every == 0:
            progress(f"kubeproof: listing {kind.name}: {read} pages, {len(kept):,} objects so far")
    if progress and read > 1:
        progress(f"kubeproof: listed {len(kept):,} {kind.name} in {read} pages")
    return kept


def _redacted(kind: Kind, items: Iterable[dict]) -> list[dict]:
    """Secrets reduced to their certificates, the rest as given."""
    return [redact_secret(item) for item in items] if kind.name == "secrets" else list(items)


def _kept(kind: Kind, items: Iterable[dict]) -> list[dict]:
    """The items read from a cluster or a dump as the view keeps them: redacted, then trimmed to
    what the assertions read (trimming.py), each with its apiVersion and kind."""
    return [trim(kind, item) for item in _redacted(kind, items)]


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Listed objects are trees of dicts, lists and strings, freed by reference counting alone: the
    cyclic garbage collector finds nothing to free in them, but while a list grows it scans what
    was kept again and again. Paused while a kind is listed (decoded, trimmed, cached or loaded from
    the cache), 15,000 pods list three times as fast (docs/benchmark.md). What was listed is then
    moved out of the collector's sight (gc.freeze): kept for the session, it would otherwise be
    scanned by every full collection after, seconds each at 150,000 pods."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _no_serving_certificate(description: str) -> Callable[[], ServingCertificate]:
    def unavailable() -> ServingCertificate:
        raise Unavailable(f"{description} records no serving certificate")
    return unavailable


class ClusterView:
    def __init__(self, fetch: Fetch, description: str, *, context: str | None = None,
                 version: Callable[[], dict | None] = lambda: None,
                 now: Callable[[], datetime] | None = None,
                 serving_certificate: Callable[[], ServingCertificate] | None = None):
        """Prefer the constructors below; `fetch` returns a kind's items as kept (see _kept), each
        with its apiVersion and kind, or raises Unavailable; `now` defaults to the wall clock;
        `serving_certificate` returns the chain or raises Unavailable (the default: there is none)."""
        self._fetch = fetch
        self._description = description
        self._version = functools.cache(version)
        self._now = functools.cache(now or (lambda: datetime.now(timezone.utc)))
        self._serving = functools.cache(serving_certificate or _no_serving_certificate(description))
        self.context = context
        self._lists: dict[str, list[dict] | Unavailable] = {}

    @classmethod
    def live(cls, api: ApiClient, *, page_size: int = 500, cache: SessionCache | None = None,
             context: str | None = None, progress: Progress | None = None,
             progress_every: int = PROGRESS_PAGES) -> "ClusterView":
        """A live cluster; with a cache, the first process to need a kind lists it for all workers.

        Each page is redacted and trimmed as it arrives, before anything is cached: no key or token,
        and no field the assertions do not read, is written to the session cache. `progress`, when
        given, hears how far a LIST of several pages got.
        """
        def fetch(kind: Kind) -> list[dict]:
            return _shared(cache, "list-" + kind.name,
                           lambda: _listed(api, kind, page_size, progress, progress_every), API_OBJECTS)

        @functools.cache  # one GET /version answers both version() and now()
        def version_and_clock() -> dict:
            return _shared(cache, "version", lambda: version_and_date(api))

        def now() -> datetime:
            """The API server's clock when first asked (its Date header), the wall clock without one."""
            date = version_and_clock()["date"]
            return parsedate_to_datetime(date) if date else datetime.now(timezone.utc)

        def serving_certificate() -> ServingCertificate:
            chain = _shared(cache, "serving-chain", lambda: serving_chain(api))
            return ServingCertificate(server_of(api), tuple(chain))

        where = f"context {context} ({server_of(api)})" if context else f"API server {server_of(api)}"
        return cls(fetch, where, context=context, version=lambda: version_and_clock()["version"],
                   now=now, serving_certificate=serving_certificate)

    @classmethod
    def from_dump(cls, directory: str | Path) -> "ClusterView":
        """A kubeproof dump or a `kubectl cluster-info dump` directory (detected)."""
        dump = open_dump(directory)
        return cls(lambda kind: _kept(kind, dump.items(kind)), dump.description, context=dump.context,
                   version=lambda: dump.version, now=dump.now, serving_certificate=dump.serving_certificate)

    @classmethod
    def from_objects(cls, objects: Iterable[dict], *, description: str, context: str | None = None,
                     version: dict | None = None, now: datetime | None = None,
                     serving_certificate: ServingCertificate | None = None) -> "ClusterView":
        """A cluster made of exactly these objects: every kind is listable, most of them empty.

        The objects are kept as given but Secrets, redacted: nothing is trimmed, the caller holds
        them already. Without `now` it is the wall clock; without a serving certificate, asking for
        it is Unavailable.
        """
        lists: dict[str, list[dict]] = {k.name: [] for k in KINDS}
        for obj in objects:
            kind = kind_of(obj)
            lists[kind.name] += _redacted(kind, [obj])
        return cls(lambda kind: lists[kind.name], description, context=context, version=lambda: version,
                   now=(lambda: now) if now else None,
                   serving_certificate=(lambda: serving_certificate) if serving_certificate else None)

    def list(self, name: str) -> list[dict]:
        """All objects of a kind (`pods`, `daemonsets.apps`), each with apiVersion and kind.

        The list is shared by every caller: read it, never modify it.
        """
        if name not in self._lists:
            kind = kind_named(name)
            try:
                with _cycle_collector_paused():
                    self._lists[name] = self._fetch(kind)
            except Unavailable as exc:  # remembered too: a forbidden kind is asked about once
                self._lists[name] = exc
        result = self._lists[name]
        if isinstance(result, Unavailable):
            raise result
        return result

    def has(self, name: str) -> bool:
        """Whether list(name) succeeds (lists it if needed): False for a kind missing or forbidden."""
        try:
            self.list(name)
        except Unavailable:
            return False
        return True

    def version(self) -> dict | None:
        """The API server's /version, when known (a kubectl dump does not record it)."""
        return self._version()

    def now(self) -> datetime:
        """The moment this view stands for, the "now" of every age an assertion computes.

        A dump's creation time (a kubectl dump: its newest Node heartbeat); for a live cluster the
        API server's clock at the first request (its HTTP Date header), else the wall clock.
        """
        return self._now()

    def judge_as_of(self, moment: datetime) -> None:
        """Make `moment` this view's now() (--as-of): what expires or ages by then is judged so."""
        self._now = lambda: moment

    def serving_certificate(self) -> ServingCertificate:
        """The certificate chain the API server presents over TLS: read once per session on a live
        cluster, as recorded in a kubeproof dump. Raises Unavailable when there is none to read."""
        return self._serving()

    def describe(self) -> str:
        return self._description
