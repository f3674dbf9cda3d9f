"""What every judge returns, node and cluster alike: the problems, the facts they rest on, the
offending objects, the gather.sh output read, or why nothing could be judged."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from ..nodes.facts import NodeFacts


@dataclass(frozen=True)
class Judgement:
    """What a test concludes (Verdict.conclude).

    problems: one line each, saying what is wrong, where, the measured value, the threshold and the
      gap; none means hardened.
    judged: the facts the verdict rests on (evidence), including what was looked for and absent.
    offenders: one evidence dict per offending object (cluster judges), YAML-able, never secret.
    raw: gather.sh's exact output of the sections the facts came from (node judges), by section.
    skip: why nothing could be judged here (the test skips with it instead of passing).
    """

    problems: list[str]
    judged: dict
    offenders: list[dict] = field(default_factory=list)
    raw: Mapping[str, str] = field(default_factory=dict)
    skip: str | None = None


class RawOutput(Mapping):
    """gather.sh's output of the sections a node judge read, taken from the facts when read: the
    verdict shows it only for a failure or a skip, and reading it for every test was 3% of a
    fleet audit (cProfile, 500 nodes)."""

    def __init__(self, facts: NodeFacts, sections: tuple[str, ...]):
        self._facts, self._sections = facts, sections

    def __getitem__(self, section: str) -> str:
        if section not in self._sections:
            raise KeyError(section)
        raw = self._facts.raw(section)
        return raw["output"] if raw else "(not in the facts)"

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)


@dataclass
class Findings:
    """Problems and evidence collected while judging, turned into a Judgement at the end.

    sections and facts: the gather.sh sections a node judge reads, and the facts holding them.
    """

    sections: tuple[str, ...] = ()
    facts: NodeFacts | None = None
    problems: list[str] = field(default_factory=list)
    judged: dict = field(default_factory=dict)
    offenders: list[dict] = field(default_factory=list)

    def flag(self, problem: str, evidence: dict) -> None:
        """One offending object: its problem line and its evidence."""
        self.problems.append(problem)
        self.offenders.append(evidence)

    def _raw(self) -> Mapping[str, str]:
        return {} if self.facts is None else RawOutput(self.facts, self.sections)

    def verdict(self) -> Judgement:
        return Judgement(self.problems, self.judged, self.offenders, self._raw())

    def nothing(self, reason: str) -> Judgement:
        return Judgement([], self.judged, [], self._raw(), skip=reason)
