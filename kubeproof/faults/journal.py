"""The journal on a node: every change a fault makes is recorded there before it is made.

One file per fault under /var/lib/kubeproof/journal/, one line per change, tab-separated:

    cgroup   PATH            a cgroup tree to remove (processes still in it are killed first)
    remove   PATH            a file or directory to delete
    restore  TARGET BACKUP   a file to put back byte for byte from its backup
    restart  UNIT            a systemd unit to restart once the lines after it are undone
    hostname NAME            the hostname to set back
    nofile   PID SOFT        a process's soft open-files limit to set back (if it still runs)

`Journal.undo` undoes the lines in reverse order on the normal path (`Journal.discard` forgets them
when a real remedy replaced the fault); `sweep` does the same as undo for
every journal a killed run left, which is what `python -m kubeproof cleanup` runs on each node.
Both build one sh script from the journal's text and run it in one round trip; the journal is
deleted only when every line was undone, so an undo that failed can be retried.

Only kubeproof-named paths (last component `kubeproof-*`) can be removed, so a corrupted journal
cannot delete anything else.
"""

from __future__ import annotations

import secrets
import shlex

from ..errors import FaultError
from .node import NodeShell

ROOT = "/var/lib/kubeproof"
ACTIONS = {"cgroup": 1, "remove": 1, "restore": 2, "restart": 1, "hostname": 1, "nofile": 2}
NAME_PREFIX = "kubeproof-"
SUFFIX = ".journal"


def _removable(path: str) -> bool:
    return path.startswith("/") and path.rstrip("/").rpartition("/")[2].startswith(NAME_PREFIX)


def _check_entry(action: str, args: tuple[str, ...]) -> None:
    if ACTIONS.get(action) != len(args):
        raise FaultError(f"journal: {action} {args} is not a known entry")
    if any(c in arg for arg in args for c in "\t\n") or not all(args):
        raise FaultError(f"journal: {action}: arguments must be non-empty, without tabs or newlines")
    if action in ("cgroup", "remove") and not _removable(args[0]):
        raise FaultError(f"journal: refusing to {action} {args[0]}: not a kubeproof-named path")


class Journal:
    def __init__(self, node: NodeShell, scenario: str, *, root: str = ROOT):
        self.node, self.root = node, root
        self.name = f"{scenario}-{secrets.token_hex(4)}"
        self.path = f"{root}/journal/{self.name}{SUFFIX}"

    def __repr__(self) -> str:
        return f"<journal {self.path} on {self.node.name}>"

    def scratch(self, directory: str, what: str) -> str:
        """A kubeproof-named path for this fault under directory: what sweep may remove."""
        return f"{directory.rstrip('/')}/{NAME_PREFIX}{what}-{self.name}"

    def backup_of(self, target: str) -> str:
        return f"{self.root}/backup/{self.name}-{target.rpartition('/')[2]}"

    def record(self, action: str, *args: str) -> None:
        _check_entry(action, args)
        line = "\t".join((action, *args))
        self.node.check(f"mkdir -p {shlex.quote(self.root)}/journal {shlex.quote(self.root)}/backup "
                        f"&& printf '%s\\n' {shlex.quote(line)} >> {shlex.quote(self.path)}",
                        what=f"record {action} in {self.path}")

    def _text(self) -> str:
        return self.node.check(f"cat {shlex.quote(self.path)} 2>/dev/null || true", what=f"read {self.path}")

    def undo(self) -> None:
        """Undo every recorded change, newest first, and delete the journal."""
        _undo(self.node, self.path, self._text(), self.root)


    def discard(self) -> None:
        """Forget the changes without undoing them, once a remedy superseded them (kubeadm renewed
        the certificates the journal would put back): delete the backups and the journal."""
        entries = parse(self._text())
        backups = " ".join(shlex.quote(e[2]) for e in entries if e[0] == "restore")
        self.node.check(f"rm -f {backups} {shlex.quote(self.path)}", what=f"discard {self.path}")


def parse(text: str) -> list[tuple[str, ...]]:
    entries = []
    for line in text.splitlines():
        if line.strip():
            action, *args = line.split("\t")
            _check_entry(action, tuple(args))
            entries.append((action, *args))
    return entries


def undo_script(entries: list[tuple[str, ...]]) -> str:
    """The sh script undoing entries newest first; it exits 1 if any could not be undone."""
    steps = ["fail=0"]
    for action, *args in reversed(entries):
        q = [shlex.quote(a) for a in args]
        if action == "cgroup":
            # A fault's process may still sit in the tree (its client was killed, not the process):
            # kill it, then remove the directories deepest first; retry while the kernel reaps.
            steps.append(
                f"i=0; while [ -d {q[0]} ] && [ $i -lt 100 ]; do "
                f"find {q[0]} -name cgroup.procs -exec cat {{}} + 2>/dev/null | xargs -r kill -9 2>/dev/null; "
                f"find {q[0]} -depth -type d -exec rmdir {{}} + 2>/dev/null; "
                f"[ -d {q[0]} ] && sleep 0.05; i=$((i + 1)); done; "
                f"[ ! -d {q[0]} ] || {{ echo 'cannot remove cgroup '{q[0]} >&2; fail=1; }}")
        elif action == "remove":
            steps.append(f"rm -rf -- {q[0]} || fail=1")
        elif action == "restore":
            target, backup = args
            tmp = shlex.quote(f"{target.rpartition('/')[0]}/.{target.rpartition('/')[2]}.kubeproof-tmp")
            steps.append(f"if [ -e {q[1]} ]; then cp -p {q[1]} {tmp} && mv -f {tmp} {q[0]} "
                         f"&& rm -f {q[1]} || fail=1; fi")
        elif action == "restart":
            steps.append(f"systemctl restart {q[0]} || fail=1")
        elif action == "hostname":
            steps.append(f"hostname {q[0]} || fail=1")
        elif action == "nofile":
            steps.append(f"! kill -0 {q[0]} 2>/dev/null || prlimit --pid {q[0]} --nofile={q[1]}: || fail=1")
    return "\n".join(steps)


def _undo(node: NodeShell, path: str, text: str, root: str) -> None:
    script = undo_script(parse(text))
    qroot = shlex.quote(root)
    node.check(f"{script}\n[ $fail = 0 ] || exit 1\nrm -f {shlex.quote(path)}\n"
               f"rmdir {qroot}/journal {qroot}/backup {qroot} 2>/dev/null; exit 0",
               what=f"undo {path}", timeout=180)


def sweep(node: NodeShell, root: str = ROOT) -> list[str]:
    """Undo every journal left on the node (by a killed or interrupted run); their paths."""
    listing = node.check(
        f"for f in {shlex.quote(root)}/journal/*{SUFFIX}; do [ -e \"$f\" ] || continue; "
        f"printf '@@journal %s\\n' \"$f\"; cat \"$f\"; done", what=f"list journals under {root}")
    journals: dict[str, str] = {}
    current = None
    for line in listing.splitlines(keepends=True):
        if line.startswith("@@journal "):
            current = line.removeprefix("@@journal ").strip()
            journals[current] = ""
        elif current is not None:
            journals[current] += line
    for path, text in journals.items():
        _undo(node, path, text, root)
    return list(journals)
