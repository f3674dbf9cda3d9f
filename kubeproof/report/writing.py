"""A run's reports written: the audit document and its renderings, in a directory of their own."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import orjson

from ..errors import KubeproofError
from . import document, html, markdown
from .records import Result


class NotWritten(KubeproofError):
    """The reports could not be written (a full disk, a directory gone): said, the run's verdict stands."""


def write(results: Iterable[Result], base: Path, *, target: dict | None, gate: dict, incomplete: str | None,
          waivers: list[dict]) -> Path:
    """audit.json, audit.md and audit.html of the run (document.build's arguments) in a new
    directory under base named for this moment (UTC), which is returned. NotWritten when they
    cannot be written."""
    doc = document.build(results, target=target, gate=gate, incomplete=incomplete, waivers=waivers)
    # Rendered before the directory exists, so a failure cannot leave an empty one behind.
    files = {"audit.json": _json_text(doc), "audit.md": markdown.markdown(doc), "audit.html": html.html(doc)}
    directory = base / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
    except OSError as exc:  # checked writable at the start; a disk may still fill up
        raise NotWritten(f"could not write the audit report to {directory}: {exc.strerror or exc}") from None
    return directory


def _json_text(doc: dict) -> str:
    """audit.json's text through orjson: json.dumps with an indent lists every chunk of the text
    before joining them, over a GiB at 2,000 nodes. json's for what orjson refuses (an integer
    past 64 bits)."""
    try:
        return orjson.dumps(doc, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str)
