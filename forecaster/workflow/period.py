"""The brief's period (which week it covers) and its alert rules (`hypothesis.state > 40 %`)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forecaster.core.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from forecaster.model.priors import Priors


# ---------------------------------------------------------------------------------------------
# Period and alerts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    since: dt.date
    until: dt.date
    name: str

    @property
    def label(self) -> str:
        span = f"{_long_date(self.since)} – {_long_date(self.until)}"
        if "-W" in self.name:
            year, week = self.name.split("-W")
            return f"week {int(week)} of {year} ({span})"
        return span


def _long_date(d: dt.date) -> str:
    return f"{d.day} {d.strftime('%B')} {d.year}"  # English month names: strftime under the C locale


def period_name(since: dt.date, until: dt.date) -> str:
    monday = until - dt.timedelta(days=until.weekday())
    if since == monday:
        year, week, _ = until.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{since.isoformat()}_{until.isoformat()}"


def period_for(
    *, period: str = "week", since: dt.date | None = None, until: dt.date | None = None, today: dt.date | None = None
) -> Period:
    """The brief's period (see the module doc); UsageError for a bad combination."""
    today = today or dt.date.today()
    if period not in ("week", "last-week"):
        raise UsageError(
            f"--period {period!r}: expected week or last-week{did_you_mean(period, ('week', 'last-week'))}"
        )
    if period == "last-week":
        if since is not None or until is not None:
            raise UsageError("--period last-week fixes the dates; leave out --since and --until")
        end = today - dt.timedelta(days=today.weekday() + 1)
        return Period(end - dt.timedelta(days=6), end, period_name(end - dt.timedelta(days=6), end))
    end = until or today
    if end > today:
        raise UsageError(f"--until {end.isoformat()} lies in the future (today is {today.isoformat()})")
    start = since or end - dt.timedelta(days=end.weekday())
    if start > end:
        raise UsageError(f"--since {start.isoformat()} is after --until {end.isoformat()}")
    return Period(start, end, period_name(start, end))


_ALERT = re.compile(r"^\s*([A-Za-z][\w]*)\.([A-Za-z][\w]*)\s*(>=|<=|>|<)\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Alert:
    """`hypothesis.state > threshold` (or <, >=, <=) on the posterior."""

    rule: str
    hypothesis: str
    state: str
    op: str
    threshold: float

    def fires(self, p: float) -> bool:
        return {">": p > self.threshold, "<": p < self.threshold, ">=": p >= self.threshold, "<=": p <= self.threshold}[
            self.op
        ]


def parse_alert(text: str, priors: Priors) -> Alert:
    m = _ALERT.match(text)
    if not m:
        raise UsageError(
            f"--alert {text!r}: expected HYPOTHESIS.STATE>P or <P with P a probability or a percentage, "
            'e.g. --alert "escalation.annexation>0.2"'
        )
    hyp, state, op, number, percent = m.groups()
    value = float(number) / (100 if percent else 1)
    if not 0 <= value <= 1:
        raise UsageError(f"--alert {text!r}: {number}{percent} is not a probability (0–1, or 0–100 %)")
    states = {h.id: h.states for h in priors.hypotheses}
    if hyp not in states:
        raise UsageError(f"--alert {text!r}: unknown hypothesis {hyp!r}{did_you_mean(hyp, states)}")
    if state not in states[hyp]:
        raise UsageError(
            f"--alert {text!r}: {hyp} has no state {state!r}{did_you_mean(state, states[hyp])}; "
            f"its states: {', '.join(states[hyp])}"
        )
    return Alert(f"{hyp}.{state}{op}{number}{percent}", hyp, state, op, value)


