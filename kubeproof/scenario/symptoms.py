"""Step 3's match: the catalog's own symptom strings, picked by a fragment, searched for in what a
scenario saw ("...", "…" and "<placeholder>" in them stand for any text)."""

from __future__ import annotations

import re
from typing import Iterable

from .. import catalog
from ..errors import FaultError


def catalog_symptom(failure_ids: Iterable[str], fragment: str) -> str:
    """The catalog's symptom string of one of failure_ids that holds fragment (exactly one)."""
    found = [s for i in failure_ids for s in catalog.load()[i].symptoms if fragment in s]
    if len(found) != 1:
        raise FaultError(f"{len(found)} symptoms of {', '.join(failure_ids)} in the catalog hold {fragment!r}")
    return found[0]


def symptom_pattern(symptom: str) -> re.Pattern:
    """A catalog symptom as a search pattern: "...", "…" and "<placeholder>" stand for any text."""
    return re.compile(".*?".join(re.escape(part) for part in re.split(r"\.\.\.|…|<[^<>]+>", symptom)), re.S)


def expected(failure_ids: Iterable[str], fragments: Iterable[str | tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The catalog strings the fragments pick; a tuple of fragments: any one of them must be seen."""
    return [tuple(catalog_symptom(failure_ids, f) for f in (fragment if isinstance(fragment, tuple) else (fragment,)))
            for fragment in fragments]


def matched(wanted: list[tuple[str, ...]], seen: list[str]) -> dict[str, str | None]:
    """Each wanted symptom (its alternatives joined by " or ") and the first text seen matching it, or None."""
    return {" or ".join(alternatives): next((text for text in seen for symptom in alternatives
                                             if symptom_pattern(symptom).search(text)), None)
            for alternatives in wanted}
