"""A JSON cache shared by the controller and all xdist workers of one session.

Node facts and cluster lists are expensive (a round trip per node, a paginated LIST per kind).
Whichever process needs one first computes it under a file lock; the others wait and read it,
so `-n8` gathers each node and lists each kind once, whatever the distribution mode.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, NamedTuple

import orjson
from filelock import FileLock


class Codec(NamedTuple):
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


# Anything JSON can hold, integers of any size included (a certificate's serial number).
JSON = Codec(lambda value: json.dumps(value).encode(), json.loads)
# API objects, whose integers are int64 by the API's schema: orjson is exact for those and encodes
# 150,000 trimmed pods about ten times as fast (orjson would turn a larger integer into a float).
API_OBJECTS = Codec(orjson.dumps, orjson.loads)


class SessionCache:
    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._memory: dict[str, Any] = {}

    def _path(self, key: str) -> Path:
        return self.directory / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".json")

    def get_or_compute(self, key: str, compute: Callable[[], Any], codec: Codec = JSON) -> Any:
        """Return the value for key, computing it once per session across processes."""
        if key in self._memory:
            return self._memory[key]
        path = self._path(key)
        with FileLock(str(path) + ".lock"):
            if path.exists():
                value = codec.loads(path.read_bytes())
            else:
                value = compute()
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(codec.dumps(value))
                tmp.replace(path)
        self._memory[key] = value
        return value
