"""Reach a node through testinfra and run one command there, under a deadline.

A node is named by a testinfra host URL: local://, docker://CONTAINER, podman://CONTAINER,
kubectl://POD?namespace=..&container=..&context=.., ssh://[USER@]HOST[:PORT]. Those backends all
spawn one local client process per command (sh, docker/podman exec, kubectl exec, ssh); `run` tells the
client's own failure (NodeUnreachable) from the exit status of the command on the node.
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import signal
import socket
import subprocess
import urllib.parse
from dataclasses import dataclass

import testinfra
import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from ..errors import KubeproofError, NodeUnreachable

# The backends that spawn their client through BaseBackend.run_local, the one place a deadline
# can be put (paramiko, salt, ansible and winrm talk to the node in-process instead).
SUPPORTED_SCHEMES = ("local", "docker", "podman", "kubectl", "ssh")

# Applies to commands run on a host from open_host without going through run() (testinfra
# modules, host.run in a test): nothing may wait forever on a hung node.
DEFAULT_TIMEOUT = 120.0

_timeout: contextvars.ContextVar[float] = contextvars.ContextVar("kubeproof_timeout",
                                                                 default=DEFAULT_TIMEOUT)

# docker exec reports its own failures with exit status 1 (current CLIs) or 125-127, statuses the
# command inside may use too, so only docker's own messages tell them apart (a bare "Error: " could
# be the command's).
_DOCKER_FAILURE = re.compile(
    r"^(Error response from daemon: |Error: No such container|Cannot connect to the Docker daemon|"
    r"error during connect|OCI runtime exec failed|permission denied while trying to connect|"
    r".*\bdocker: not found)")
# podman exec: its own errors start "Error: " and name the container or the engine.
_PODMAN_FAILURE = re.compile(
    r"^(Error: (no container with name or ID|can only create exec sessions on running containers|"
    r"cannot connect to Podman|.*OCI runtime)|.*\bpodman: not found)")
_KUBECTL_COMMAND_EXIT = "command terminated with exit code"  # kubectl's trailer for the remote's status
_SSH_FAILURE_STATUS = 255  # ssh exits with the remote status, or 255 for its own errors
_CLIENT_PREFIXES = ("Error response from daemon: ", "Error: ", "error: ")


@dataclass(frozen=True)
class CommandOutput:
    rc: int
    stdout: str
    stderr: str


def host_name(url: str) -> str:
    """The node name a testinfra host URL stands for: docker://kind-worker -> kind-worker."""
    parsed = urllib.parse.urlparse(url if "://" in url else f"paramiko://{url}")
    if parsed.scheme == "local":
        return socket.gethostname()
    return (parsed.netloc.rsplit("@", 1)[-1]) or url


def open_host(url: str, *, ssh_config: str | None = None, sudo: bool = False) -> testinfra.host.Host:
    """A testinfra Host for url whose every command runs under a deadline (see run)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in SUPPORTED_SCHEMES:
        raise KubeproofError(f"node URL {url!r}: the scheme must be one of "
                             f"{', '.join(s + '://' for s in SUPPORTED_SCHEMES)}")
    options: dict[str, object] = {}
    if ssh_config is not None:
        options["ssh_config"] = ssh_config
    if sudo:
        options["sudo"] = True
    host = testinfra.get_host(url, **options)
    # testinfra has no timeout anywhere, but every supported backend spawns its client through
    # backend.run_local: shadowing that one method on the instance bounds them all, without
    # forking testinfra's command construction and quoting per backend.
    host.backend.run_local = functools.partial(_run_local_with_deadline, host.backend)
    return host


def _run_local_with_deadline(backend: BaseBackend, command: str, *args: str) -> CommandResult:
    cmd = backend.encode(backend.quote(command, *args))
    # A session of its own: the deadline kills the whole group (sh, docker/kubectl/ssh and their
    # helpers), and ssh has no terminal to prompt for a password on, so it fails instead of hanging.
    with subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=_timeout.get())
        except BaseException:  # the deadline, or Ctrl-C: in its own session the group would outlive the run
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise
    return backend.result(proc.returncode, cmd, stdout, stderr)


def run(host: testinfra.host.Host, command: str, timeout: float, *,
        node: str | None = None) -> CommandOutput:
    """Run command (sh syntax) on host within timeout seconds.

    Returns the command's exit status and output (UTF-8, undecodable bytes replaced). Raises
    NodeUnreachable(node, reason) on timeout or when the transport itself failed; node defaults to
    the host's testinfra id (e.g. "docker://kind-worker").
    """
    node = node or host.backend.get_pytest_id()
    token = _timeout.set(timeout)
    try:
        result = host.run(command)
    except subprocess.TimeoutExpired:
        raise NodeUnreachable(node, f"no answer within {timeout:g} s") from None
    except RuntimeError as exc:
        # testinfra's ssh backend raises with the result when ssh itself failed (exit 255).
        result = exc.args[0] if exc.args else None
        if not isinstance(result, CommandResult):
            raise
    finally:
        _timeout.reset(token)
    # Decoded here, not by testinfra: on non-ASCII output it would run python on the node to ask
    # for the node's locale, one more round trip per command, and fail where python is absent.
    output = CommandOutput(result.rc, _text(result.stdout_bytes), _text(result.stderr_bytes))
    reason = transport_failure(host.backend.NAME, output)
    if reason:
        raise NodeUnreachable(node, reason)
    return output


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def transport_failure(scheme: str, output: CommandOutput) -> str | None:
    """Why the client for scheme failed to run the command at all, or None if the node answered."""
    if output.rc == 0:
        return None
    lines = [line.strip() for line in output.stderr.splitlines() if line.strip()]
    if scheme in ("docker", "podman"):
        pattern = _DOCKER_FAILURE if scheme == "docker" else _PODMAN_FAILURE
        failed = bool(lines) and bool(pattern.match(lines[0]))
    elif scheme == "kubectl":
        failed = not any(line.startswith(_KUBECTL_COMMAND_EXIT) for line in lines)
    elif scheme == "ssh":
        failed = output.rc == _SSH_FAILURE_STATUS
    else:
        failed = False
    return _one_line_reason(scheme, output.rc, lines) if failed else None


def _one_line_reason(scheme: str, rc: int, lines: list[str]) -> str:
    client = {"docker": "docker exec", "podman": "podman exec", "kubectl": "kubectl exec"}.get(scheme, scheme)
    if not lines:
        return f"{client}: exit status {rc}, no message"
    # Clients print notices (kubectl's "Defaulted container", ssh's host-key warnings) around
    # their error: take the first error-looking line, else the last line.
    errors = [line for line in lines if line.lower().startswith(("error", "cannot", "unable"))]
    message = errors[0] if errors else lines[-1]
    for prefix in _CLIENT_PREFIXES:
        message = message.removeprefix(prefix)
    message = message.removeprefix(f"{scheme}: ")
    return f"{client}: {message[:300]}"
