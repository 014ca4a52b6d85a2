"""The errors `forecast` knows how to explain. Only the CLI catches them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ForecastError(Exception):
    """Base: a problem the user can fix. The message is one line, shown as is."""

    exit_code = 1


class UsageError(ForecastError):
    """Bad input on the command line or in a file the user gave."""

    exit_code = 2


class PriorsError(UsageError):
    """The priors folder is invalid."""


class EvidenceError(UsageError):
    """A report or events file is invalid."""


class StoreError(ForecastError):
    """The event store cannot be opened or written."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean …?)' for the closest choices, or '' when nothing is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
