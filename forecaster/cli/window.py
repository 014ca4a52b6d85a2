"""Which reports the model uses, told where analysts record and list them (issue 12): a report in
force is used by an update as of D when its event date lies in the evidence window
[D − evidence_window_days, D] (and, by knowledge time, it was recorded by the end of D). `event add`
and `event import` warn about reports the model ignores, `event list` marks them, and
`forecast indicators` counts what `forecast collect` and `update` use."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from forecaster.core.errors import ForecastError
from forecaster.core.workspace import Workspace


@dataclass(frozen=True)
class Window:
    start: dt.date
    as_of: dt.date
    days: int

    def why_ignored(self, date: dt.date) -> str:
        """'' when a report dated `date` is used as of `as_of`; else why not, in a few words."""
        if date < self.start:
            return "before window"
        if date > self.as_of:
            return "after as-of"
        return ""

    def warning(self, date: dt.date) -> str:
        why = self.why_ignored(date)
        if why == "before window":
            return (
                f"warning: the event date {date.isoformat()} lies before the evidence window, which opens on "
                f"{self.start.isoformat()} ({self.days} days before {self.as_of.isoformat()}): the model ignores "
                "this report (recorded all the same)"
            )
        if why == "after as-of":
            return (
                f"warning: the event date {date.isoformat()} lies after the as-of date {self.as_of.isoformat()}: "
                "the model ignores this report for that date (recorded all the same)"
            )
        return ""


def evidence_window(ws: Workspace, *, as_of: dt.date | None = None) -> Window | None:
    """The workspace's evidence window as of `as_of` (default today); None if the priors do not load
    (the command at hand does not need them: it goes on without the marks)."""
    from forecaster.model.loading import load_priors

    as_of = as_of or dt.date.today()
    try:
        days = load_priors(ws.priors_dir).evidence_window_days
        return Window(as_of - dt.timedelta(days=days), as_of, days)
    except (ForecastError, OverflowError, OSError):
        return None


def ignored_summary(window: Window, dates: Iterable[dt.date]) -> str:
    """One line for many reports: how many the model ignores and why; '' when none."""
    dates = list(dates)
    why = Counter(w for w in (window.why_ignored(d) for d in dates) if w)
    if not why:
        return ""
    parts = []
    if why["before window"]:
        n = why["before window"]
        parts.append(f"{n} dated before the evidence window (opens {window.start.isoformat()})")
    if why["after as-of"]:
        n = why["after as-of"]
        parts.append(f"{n} dated after {window.as_of.isoformat()}")
    total = sum(why.values())
    return f"warning: the model ignores {total} of the {len(dates)} reports: " + "; ".join(parts)


def warn_ignored(ws: Workspace, dates: list[dt.date]) -> None:
    """One warning line on stderr when the model ignores reports just recorded."""
    from forecaster.cli.common import err

    window = evidence_window(ws)
    if window is None or not dates:
        return
    line = window.warning(dates[0]) if len(dates) == 1 else ignored_summary(window, dates)
    if line:
        err.print(line, markup=False, highlight=False, soft_wrap=True)
