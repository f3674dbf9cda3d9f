"""What a node judge returns: the problems, the facts they rest on, or why nothing could be judged."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Judgement:
    """What a node test concludes.

    problems: one line each, saying what is wrong, where, the measured value, the threshold and the
      gap; none means hardened.
    judged: the facts the verdict rests on (evidence), including what was looked for and absent.
    sections: the gather.sh sections those facts came from; their exact output is evidence too.
    skip: why nothing could be judged on this node (the test skips with it instead of passing).
    """

    problems: list[str]
    judged: dict
    sections: tuple[str, ...]
    skip: str | None = None


@dataclass
class Findings:
    """Problems and evidence collected while judging, turned into a Judgement at the end."""

    sections: tuple[str, ...]
    problems: list[str] = field(default_factory=list)
    judged: dict = field(default_factory=dict)

    def verdict(self) -> Judgement:
        return Judgement(self.problems, self.judged, self.sections)

    def nothing(self, reason: str) -> Judgement:
        return Judgement([], self.judged, self.sections, skip=reason)
