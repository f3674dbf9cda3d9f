"""ClusterView: every kind listed at most once per session, shared by all cluster assertions.

A view reads either a live API server (paginated LISTs, shared with xdist workers through the
session cache) or a dump directory; assertions cannot tell which, and never touch the network.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterable

from kubernetes.client import ApiClient

from ..errors import KubeproofError, Unavailable
from ..sharing import SessionCache
from .client import get_json, server_of
from .dump import open_dump
from .kinds import KINDS, Kind, kind_named

Fetch = Callable[[Kind], list[dict]]


def _shared(cache: SessionCache | None, key: str, compute: Callable[[], Any]) -> Any:
    return cache.get_or_compute(key, compute) if cache else compute()


def list_all(api: ApiClient, kind: Kind, page_size: int) -> list[dict]:
    """All items of a kind, cluster-wide, one page of `page_size` per request (limit + continue).

    Raises Unavailable when the server does not serve a required kind; an optional kind (a CRD
    that is not installed) is simply empty.
    """
    items: list[dict] = []
    token = ""
    while True:
        query = [("limit", page_size)] + ([("continue", token)] if token else [])
        page = get_json(api, kind.list_path, query)
        if page is None:
            if kind.optional:
                return []
            raise Unavailable(f"the API server {server_of(api)} does not serve {kind.name} ({kind.list_path})")
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def _typed(kind: Kind, item: dict) -> dict:
    """The item as `kubectl get -o json` shows it: LIST responses leave out apiVersion and kind."""
    return {"apiVersion": kind.api_version, "kind": kind.kind, **item}


class ClusterView:
    def __init__(self, fetch: Fetch, description: str, *, context: str | None = None,
                 version: Callable[[], dict | None] = lambda: None):
        """Prefer the constructors below; `fetch` returns a kind's items or raises Unavailable."""
        self._fetch = fetch
        self._description = description
        self._version = functools.cache(version)
        self.context = context
        self._lists: dict[str, list[dict] | Unavailable] = {}

    @classmethod
    def live(cls, api: ApiClient, *, page_size: int = 500, cache: SessionCache | None = None,
             context: str | None = None) -> "ClusterView":
        """A live cluster; with a cache, the first process to need a kind lists it for all workers."""
        def fetch(kind: Kind) -> list[dict]:
            return _shared(cache, "list-" + kind.name, lambda: list_all(api, kind, page_size))

        def version() -> dict | None:
            return _shared(cache, "version", lambda: get_json(api, "/version"))

        where = f"context {context} ({server_of(api)})" if context else f"API server {server_of(api)}"
        return cls(fetch, where, context=context, version=version)

    @classmethod
    def from_dump(cls, directory: str | Path) -> "ClusterView":
        """A kubeproof dump or a `kubectl cluster-info dump` directory (detected)."""
        dump = open_dump(directory)
        return cls(dump.items, dump.description, context=dump.context, version=lambda: dump.version)

    @classmethod
    def from_objects(cls, objects: Iterable[dict], *, description: str, context: str | None = None,
                     version: dict | None = None) -> "ClusterView":
        """A cluster made of exactly these objects: every kind is listable, most of them empty."""
        by_type = {(k.api_version, k.kind): k.name for k in KINDS}
        lists: dict[str, list[dict]] = {k.name: [] for k in KINDS}
        for obj in objects:
            try:
                lists[by_type[obj["apiVersion"], obj["kind"]]].append(obj)
            except KeyError:
                raise KubeproofError(f"{obj.get('apiVersion')} {obj.get('kind')} is not a kind "
                                     "kubeproof reads") from None
        return cls(lambda kind: lists[kind.name], description, context=context, version=lambda: version)

    def list(self, name: str) -> list[dict]:
        """All objects of a kind (`pods`, `daemonsets.apps`), each with apiVersion and kind.

        The list is shared by every caller: read it, never modify it.
        """
        if name not in self._lists:
            kind = kind_named(name)
            try:
                self._lists[name] = [_typed(kind, item) for item in self._fetch(kind)]
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

    def describe(self) -> str:
        return self._description
