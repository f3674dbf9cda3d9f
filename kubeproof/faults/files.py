"""Replace a file on a node for the length of a fault; the original comes back byte for byte."""

from __future__ import annotations

import shlex

from .journal import Journal


def preserve(journal: Journal, path: str) -> None:
    """Back path up (recorded in the journal first): the undo puts it back as it is now.

    The backup lives under the journal's root, never beside the file: a stray copy in
    /etc/kubernetes/manifests would be started as a second static pod.
    """
    backup = journal.backup_of(path)
    journal.record("restore", path, backup)
    journal.node.check(f"cp -p {shlex.quote(path)} {shlex.quote(backup)}", what=f"back up {path}")


def replace(journal: Journal, path: str, data: bytes) -> None:
    """Preserve path, then write data over it."""
    preserve(journal, path)
    journal.node.write(path, data)
