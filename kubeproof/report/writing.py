"""A run's reports written: the audit document and its renderings, in a directory of their own."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterable

import orjson

from ..errors import KubeproofError
from . import document, html, markdown
from .records import EvidenceTexts, Result

INDENT = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
ENTRY_INDENT = b"    "  # a failure entry's depth in audit.json: {"failures": [ {...


class NotWritten(KubeproofError):
    """The reports could not be written (a full disk, a directory gone): said, the run's verdict stands."""


def write(results: Iterable[Result], base: Path, *, target: dict | None, gate: dict, incomplete: str | None,
          waivers: list[dict]) -> Path:
    """audit.json, audit.md and audit.html of the run (document.build's arguments) in a new
    directory under base named for this moment (UTC), which is returned. NotWritten when they
    cannot be written; then nothing of them is left behind."""
    doc = document.build(results, target=target, gate=gate, incomplete=incomplete, waivers=waivers)
    texts = {"audit.md": markdown.markdown(doc), "audit.html": html.html(doc)}
    directory = base / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        written.append(directory / "audit.json")
        with written[-1].open("wb") as out:
            write_json(doc, out)
        for name, text in texts.items():
            written.append(directory / name)
            written[-1].write_text(text, encoding="utf-8")
    except OSError as exc:  # checked writable at the start; a disk may still fill up
        for path in written:
            path.unlink(missing_ok=True)
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
        raise NotWritten(f"could not write the audit report to {directory}: {exc.strerror or exc}") from None
    return directory


def write_json(doc: dict, out: IO[bytes]) -> None:
    """audit.json, the bytes orjson.dumps(doc, OPT_INDENT_2) would be, written a failure entry at a
    time: the whole text at once was three copies of it in memory (bytes, str, encoded again), 0.8
    GiB at 5,000 nodes. "failures" is the document's last key (document.build)."""
    head = _dumps({key: value for key, value in doc.items() if key != "failures"})
    out.write(head.removesuffix(b"\n}") + b',\n  "failures": [')
    for i, entry in enumerate(doc["failures"]):
        out.write(b",\n" if i else b"\n")
        out.write(ENTRY_INDENT + _dumps(entry).replace(b"\n", b"\n" + ENTRY_INDENT))
    out.write(b"\n  ]\n}" if doc["failures"] else b"]\n}")


def _dumps(value: dict) -> bytes:
    """json's text for what orjson refuses (an integer past 64 bits, such as a certificate's serial)."""
    try:
        return orjson.dumps(value, default=_plain, option=INDENT)
    except TypeError:
        return json.dumps(value, indent=2, ensure_ascii=False, default=_plain).encode()


def _plain(value: object) -> object:
    """A result's evidence parsed as it is written, one result at a time; anything else as text."""
    return dict(value) if isinstance(value, EvidenceTexts) else str(value)
