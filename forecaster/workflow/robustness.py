"""How robust is the call, at workspace level (MODEL.md §5, forecaster.inference.robustness):
attached to an update (recorded with the run; the interactions, asked for by `update --explain`,
never recorded), and the brief's "How robust is the call" section with its changes since the
previous brief written on the same clock."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecaster.inference.robustness import HypothesisRobustness, Robustness
    from forecaster.inference.update import UpdateResult
    from forecaster.model.evidence import Report
    from forecaster.model.priors import Priors


def robustness_for(
    priors: Priors, reports: Sequence[Report], *, as_of: dt.date, half_life_days: float | None | str = "settings",
    explain: bool = False,
) -> Robustness:
    """The robustness of the calls on `reports` (the update's, folded as it folds them)."""
    from forecaster.inference.robustness import analyse
    from forecaster.model.network import build_network

    def fold(rs: Sequence[Report]) -> Any:
        return priors.fold(rs, as_of=as_of, half_life_days=half_life_days)

    return analyse(build_network(priors), reports, fold, as_of=as_of, interactions=explain)


def with_robustness(
    result: UpdateResult, priors: Priors, reports: Sequence[Report], *, half_life_days: float | None | str = "settings",
    explain: bool = False,
) -> UpdateResult:
    """`result` with its robustness, computed unless it has it already (with the interactions, if `explain`)."""
    held = result.robustness
    if held is not None and (not explain or held.interactions is not None):
        return result
    found = robustness_for(priors, reports, as_of=result.as_of, half_life_days=half_life_days, explain=explain)
    return dataclasses.replace(result, robustness=found)


# ---------------------------------------------------------------------------------------------
# The brief's section
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Earlier:
    """A hypothesis' call and robustness in the previous brief."""

    brief: str
    call: str
    removals: int | None
    more_than: int | None


@dataclass(frozen=True)
class CallRobustness:
    now: HypothesisRobustness
    earlier: Earlier | None

    @property
    def change(self) -> str:
        """What changed since the previous brief, in words."""
        e, h = self.earlier, self.now
        if e is None:
            return "no earlier brief to compare"
        was = f"{robustness_words(e.removals, e.more_than)} in {e.brief}"
        if e.call != h.call:
            return f"the call changed: {e.call} then ({was}), {h.call} now"
        before, after = _rank(e.removals, e.more_than), _rank(h.removals, h.tried)
        if before == after:
            return f"unchanged since {e.brief}"
        return f"{'more' if after > before else 'less'} robust: was {was}"


@dataclass(frozen=True)
class BriefRobustness:
    limit: int
    reports: int
    calls: tuple[CallRobustness, ...]
    previous: str | None  # the previous brief's name, when it had this section


def _rank(removals: int | None, more_than: int | None) -> float:
    return float(removals) if removals is not None else (more_than or 0) + 0.5


def robustness_words(removals: int | None, more_than: int | None) -> str:
    """'3 removals', 'more than 10 removals'."""
    if removals is not None:
        return f"{removals} removal{'s' if removals != 1 else ''}"
    return f"more than {more_than or 0} removal{'s' if more_than != 1 else ''}"


def brief_robustness(
    priors: Priors, result: UpdateResult, reports: Sequence[Report], *, previous_briefs: Path | None,
    before: dt.date, clock: str,
) -> BriefRobustness:
    """The section: the run's robustness (recorded with it, else computed on `reports`) beside the
    previous brief's (the newest earlier brief on the same clock that has one)."""
    from forecaster.workflow.baseline import previous_brief

    robust = result.robustness or robustness_for(priors, reports, as_of=result.as_of)
    earlier = previous_brief(previous_briefs, before=before, clock=clock) if previous_briefs is not None else None
    name, data = earlier if earlier is not None else (None, {})
    section = data.get("robustness") if isinstance(data.get("robustness"), dict) else None
    then = {h.get("id"): h for h in (section or {}).get("hypotheses", []) if isinstance(h, dict)}
    calls = tuple(CallRobustness(h, _earlier(str(name), then.get(h.hypothesis))) for h in robust.hypotheses)
    return BriefRobustness(robust.limit, robust.reports, calls, name if section is not None else None)


def _earlier(name: str, row: dict[str, Any] | None) -> Earlier | None:
    """The previous brief's row, if it reads as one (a foreign or damaged file is no comparison)."""
    if row is None:
        return None
    call, removals, more = row.get("call"), row.get("robustness"), row.get("more_than")
    if not isinstance(call, str) or not all(x is None or (isinstance(x, int) and x >= 0) for x in (removals, more)):
        return None
    return Earlier(name, call, removals, more)
