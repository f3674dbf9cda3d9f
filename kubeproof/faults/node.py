"""Commands on one node: a kind node container, an ssh host or this host, each under a deadline.

Node faults need a transport that may write to the node: kind (docker or podman exec), ssh or local. The
pod access mounts the host read-only, so it cannot carry a fault.
"""

from __future__ import annotations

import base64
import shlex

from ..errors import FaultError
from ..nodes import transport
from ..nodes.transport import CommandOutput, host_name

WRITABLE_SCHEMES = ("docker", "podman", "ssh", "local")


class NodeShell:
    def __init__(self, url: str, name: str | None = None, *, ssh_config: str | None = None,
                 sudo: bool = False):
        scheme = url.split("://", 1)[0]
        if scheme not in WRITABLE_SCHEMES:
            raise FaultError(f"node {name or url}: faults need kind, ssh or local node access "
                             f"(got {url.split('?')[0]})")
        self.url = url
        self.name = name or host_name(url)
        self.host = transport.open_host(url, ssh_config=ssh_config, sudo=sudo)

    def __repr__(self) -> str:
        return f"<node {self.name}>"

    def run(self, script: str, *, timeout: float = 60) -> CommandOutput:
        """Run a sh script; its exit status is the caller's to judge (NodeUnreachable if the
        transport itself failed or the deadline passed)."""
        return transport.run(self.host, script, timeout, node=self.name)

    def check(self, script: str, *, what: str, timeout: float = 60) -> str:
        """Run a sh script that must succeed; its stdout, else FaultError naming `what`."""
        result = self.run(script, timeout=timeout)
        if result.rc != 0:
            detail = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
            raise FaultError(f"node {self.name}: {what}: exit {result.rc}: {detail[:300]}")
        return result.stdout

    def read(self, path: str) -> bytes:
        # base64 keeps the bytes exact through the transport's text decoding.
        out = self.check(f"base64 < {shlex.quote(path)}", what=f"read {path}")
        return base64.b64decode(out)

    def write(self, path: str, data: bytes) -> None:
        """Replace path atomically (a hidden temporary beside it, then rename), keeping its mode."""
        directory, _, base = path.rpartition("/")
        tmp = f"{directory}/.{base}.kubeproof-tmp"
        encoded = base64.b64encode(data).decode()
        q, qt = shlex.quote(path), shlex.quote(tmp)
        # cp -p first so that the new bytes keep the file's owner and mode.
        self.check(f"{{ [ ! -e {q} ] || cp -p {q} {qt}; }} && printf %s {encoded} | base64 -d > {qt} "
                   f"&& mv -f {qt} {q}", what=f"write {path}")
