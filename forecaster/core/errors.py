"""The errors `forecast` knows how to explain. Only the CLI catches them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ForecastError(Exception):
    """Base: a problem the user can fix. The message is one line, shown as is."""

    exit_code = 1


class UsageError(ForecastError):
    """Bad input on the command line or in a file the user gave."""

    exit_code = 2


MAX_FIELD, MAX_PROBLEM = 200, 600  # characters of a problem's field path and text


@dataclass(frozen=True)
class Problem:
    """One problem in a priors folder: file (relative to the folder's parent), line (0 unknown),
    field path and what is wrong."""

    file: str
    line: int
    field: str
    problem: str

    def __post_init__(self) -> None:  # a message never grows with its input (core.text.excerpt)
        if len(self.field) > MAX_FIELD or len(self.problem) > MAX_PROBLEM:
            from forecaster.core.text import excerpt

            object.__setattr__(self, "field", excerpt(self.field, MAX_FIELD))
            object.__setattr__(self, "problem", excerpt(self.problem, MAX_PROBLEM))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line or None, "field": self.field, "problem": self.problem}


class PriorsError(UsageError):
    """The priors folder is invalid. `problems` lists every problem found (the message names the first)."""

    def __init__(self, message: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> PriorsError:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return cls(f"{problems[0]}{more}", problems)


class EvidenceError(UsageError):
    """A report or events file is invalid."""


class StoreError(ForecastError):
    """The event store cannot be opened or written."""


MAX_SUGGESTED = 100  # characters: a longer word or choice is no typo of a name, and difflib is quadratic in it
MAX_CHOICES = 10_000  # choices compared at most


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean …?)' for the closest choices, or '' when nothing is close. Bounded: a word
    or choice over MAX_SUGGESTED characters is never compared (a huge cell costs nothing here)."""
    if not isinstance(word, str) or len(word) > MAX_SUGGESTED:
        return ""
    names: list[str] = []
    for c in choices:
        if isinstance(c, str) and len(c) <= MAX_SUGGESTED:
            names.append(c)
            if len(names) >= MAX_CHOICES:
                break
    close = difflib.get_close_matches(word, sorted(names), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
