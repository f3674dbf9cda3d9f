"""NodeFacts: the read-only view of one node's gathered facts that assertions read.

A thin accessor over the dict gather.gather() returns (its keys are documented in gather.py).
It never touches the network, so assertions built on it run on recorded facts as well. Values
handed out are fresh: an assertion cannot change what the next one sees.

Each section is kept as its JSON text and parsed when read. A fleet audit holds every node's
facts to the last test file (each file tests every node): as parsed dicts 90 KiB a node, as JSON
38 KiB, and a parse by orjson is the fresh copy an assertion gets, faster than copying the dicts.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from .gather import UNREAD_LOG


class _JsonText(str):
    """A section orjson refused, as json's text."""


def _packed(value: Any) -> Any:
    """A dict or list as JSON text, other values as they are (strings, numbers: immutable). orjson's
    bytes, copied to their length (orjson over-allocates its buffer, 70 KiB held a node instead of
    38); json's text for what orjson refuses (an integer past 64 bits, which orjson would read back
    as a float)."""
    if not isinstance(value, (dict, list)):
        return value
    try:
        return bytes(memoryview(orjson.dumps(value)))
    except TypeError:
        return _JsonText(json.dumps(value))


def _unpacked(value: Any) -> Any:
    if isinstance(value, bytes):
        return orjson.loads(value)
    return json.loads(value) if isinstance(value, _JsonText) else value


_UNREAD = _packed(UNREAD_LOG)


class NodeFacts:
    def __init__(self, facts: dict):
        self._sections = {key: _packed(value) for key, value in facts.items()}

    def __repr__(self) -> str:
        return f"NodeFacts({self.name!r})"

    def _get(self, *keys: str) -> Any:
        value: Any = _unpacked(self._sections.get(keys[0]))
        for key in keys[1:]:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    def as_dict(self) -> dict:
        return {key: _unpacked(value) for key, value in self._sections.items()}

    @property
    def name(self) -> str | None:
        return self._sections.get("node")

    @property
    def gathered_at(self) -> str | None:
        return self._sections.get("gathered_at")

    @property
    def node_time(self) -> str | None:
        """The node's own clock when gathered (compare with gathered_at for skew)."""
        return self._sections.get("node_time")

    @property
    def hostname(self) -> str | None:
        return self._sections.get("hostname")

    @property
    def kernel_release(self) -> str | None:
        return self._get("kernel", "release")

    @property
    def kernel_version(self) -> tuple[int, ...] | None:
        version = self._get("kernel", "version")
        return tuple(version) if version is not None else None

    @property
    def kernel_cmdline_params(self) -> dict[str, str | None]:
        return self._get("kernel", "cmdline_params") or {}

    @property
    def os_release(self) -> dict[str, str]:
        return self._get("os") or {}

    @property
    def cgroup(self) -> dict:
        return self._get("cgroup") or {}

    @property
    def cgroup_version(self) -> int | None:
        return self._get("cgroup", "version")

    def process(self, name: str) -> list[dict]:
        """The running processes named name (their comm), [] if none."""
        return self._get("processes", name) or []

    @property
    def processes(self) -> dict[str, list[dict]]:
        return self._get("processes") or {}

    def sysctl(self, key: str) -> str | None:
        """The value of a gathered sysctl as /proc/sys shows it ("32768 60999"), None if absent."""
        return self._get("sysctl", key)

    def sysctl_ints(self, key: str) -> tuple[int, ...] | None:
        value = self.sysctl(key)
        return tuple(int(word) for word in value.split()) if value is not None else None

    @property
    def sockstat(self) -> dict[str, dict[str, int | None]]:
        return self._get("sockstat") or {}

    def filesystem(self, path: str) -> dict | None:
        """Space and inodes of the filesystem holding path (one of the gathered paths), or None."""
        return self._get("filesystems", path)

    @property
    def filesystems(self) -> dict[str, dict]:
        return self._get("filesystems") or {}

    @property
    def kubelet(self) -> dict:
        return self._get("kubelet") or {}

    @property
    def kubelet_running(self) -> bool:
        return self._get("kubelet", "pid") is not None

    @property
    def kubelet_flags(self) -> dict[str, list[str]]:
        return self._get("kubelet", "flags") or {}

    @property
    def kubelet_version(self) -> tuple[int, ...] | None:
        version = self._get("kubelet", "version")
        return tuple(version) if version else None

    @property
    def kubelet_config(self) -> dict | None:
        return self._get("kubelet", "config")

    @property
    def certificates(self) -> list[dict]:
        return self._get("certificates") or []

    @property
    def runtime(self) -> dict:
        return self._get("runtime") or {}

    @property
    def systemd_version(self) -> int | None:
        return self._get("systemd", "version")

    @property
    def systemd_package(self) -> str | None:
        return self._get("systemd", "package")

    @property
    def systemd_units(self) -> dict[str, dict] | None:
        """{path: {section: {key: [values]}}} of the runtimes' units and systemd's configuration, or
        None when not gathered."""
        return self._get("systemd", "units")

    @property
    def static_pods(self) -> dict[str, Any]:
        return self._get("static_pods") or {}

    @property
    def apiserver_auth_configs(self) -> dict[str, Any]:
        """{path: parsed AuthenticationConfiguration} named by kube-apiserver's --authentication-config."""
        return self._get("apiserver_auth_configs") or {}

    def static_pod(self, name: str) -> Any:
        """A parsed manifest by file name ("kube-apiserver.yaml") or full path, or None."""
        pods = self.static_pods
        return pods.get(name, pods.get(f"/etc/kubernetes/manifests/{name}"))

    def raw(self, section: str) -> dict | None:
        """gather.sh's section as {"output": str, "rc": int}: the evidence to show, or None."""
        return self._get("raw", section)

    def history(self, log: str) -> dict:
        """The lines of a node log ("kernel", "kubelet", "runtime") matching the catalog's patterns
        (gather.py's history), or why it was not read."""
        return self._get("history", log) or _unpacked(_UNREAD)
