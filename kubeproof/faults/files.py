"""Replace a file on a node for the length of a fault; the original comes back byte for byte."""

from __future__ import annotations

import shlex

from .journal import Journal


def replace(journal: Journal, path: str, data: bytes) -> bytes:
    """Back path up (recorded in the journal first), write data over it; return the original bytes.

    The backup lives under the journal's root, never beside the file: a stray copy in
    /etc/kubernetes/manifests would be started as a second static pod.
    """
    node = journal.node
    original = node.read(path)
    backup = journal.backup_of(path)
    journal.record("restore", path, backup)
    node.check(f"cp -p {shlex.quote(path)} {shlex.quote(backup)}", what=f"back up {path}")
    node.write(path, data)
    return original
