"""How robust is the call, in words: the line per hypothesis under `update`, the `update --explain`
section, and the brief's section (context for its templates, and its JSON). Formats only: the
numbers come from forecaster.inference.robustness and forecaster.workflow.robustness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from forecaster.inference.robustness import CriticalReport, HypothesisRobustness, Robustness
    from forecaster.inference.update import UpdateResult
    from forecaster.workflow.brief import Brief

SHOWN = 3  # reports named on a one-line summary


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _ids(ids: Sequence[str], shown: int | None = SHOWN) -> str:
    if shown is None or len(ids) <= shown:
        return ", ".join(ids)
    return ", ".join(ids[:shown]) + f" and {len(ids) - shown} more"


def holds(h: HypothesisRobustness, *, shown: int | None = SHOWN) -> str:
    """'holds until 3 reports are removed (r-1, r-2, r-3; then annexation 48.0 %)' and its kin."""
    if h.removals is not None:
        ids = [s.report for s in h.steps]
        new = h.new_call()
        assert h.after is not None and new is not None
        then = f"then {new} {_pct(h.after[h.states.index(new)])}"
        n = h.removals
        return f"holds until {n} report{'s are' if n != 1 else ' is'} removed ({_ids(ids, shown)}; {then})"
    if h.exhausted:
        if not h.steps:
            return "rests on no report: the prior's call"
        return f"holds with all {h.tried} report{'s' if h.tried != 1 else ''} removed: the prior's call"
    prior = "; the prior's call too" if h.prior_call else ""
    return f"holds through more than {h.tried} removal{'s' if h.tried != 1 else ''}{prior}"


def without_words(h: HypothesisRobustness, c: CriticalReport, *, every_state: bool = False) -> str:
    """'flips the call: without it annexation 48.0 %, grey_zone 40.0 %' or 'without it grey_zone
    68.0 % (-11.0 pp)'; with `every_state`, every state in order."""
    states: list[int]
    if every_state:
        states = list(range(len(h.states)))
    elif c.flips:
        states = sorted(range(len(h.states)), key=lambda k: -c.without[k])[:2]
    else:
        states = [max(range(len(h.states)), key=lambda k: abs(c.without[k] - h.posterior[k]))]
    said = ", ".join(
        f"{h.states[k]} {_pct(c.without[k])} ({100 * (c.without[k] - h.posterior[k]):+.1f} pp)" for k in states
    )
    return f"{'flips the call: ' if c.flips else ''}without it {said}"


def critical_summary(h: HypothesisRobustness) -> str:
    """'critical: r-1 (indicator; flips the call: …) and 2 more' or 'no critical report'."""
    if not h.critical:
        return "no critical report"
    first = h.critical[0]
    more = f" and {len(h.critical) - 1} more" if len(h.critical) > 1 else ""
    return f"critical: {first.report} ({first.indicator}; {without_words(h, first)}){more}"


def call_line(h: HypothesisRobustness) -> str:
    return f"{h.hypothesis}: {h.call} {holds(h)}; {critical_summary(h)}"


def render_robustness(result: UpdateResult, console: Console, *, explain: bool = False) -> None:
    """The lines under `update`'s tables: one per hypothesis, or with `explain` the full section."""
    r = result.robustness
    if r is None:
        return
    console.print(Text(
        f"how robust is the call (exact engine; {r.reports} report{'s' if r.reports != 1 else ''} in force: "
        f"greedy removals, at most {r.limit}; critical: without it the call changes or a state moves 10 pp or more)",
        style="bold",
    ))
    for h in r.hypotheses:
        if explain:
            _explain(h, console)
        else:
            console.print(Text(call_line(h)), soft_wrap=True)
    if explain:
        _interactions(r, console)
    elif any(len(h.critical) > 1 or len(h.steps) > SHOWN for h in r.hypotheses):
        console.print(Text("every report and the interactions: forecast update --explain", style="dim"))


def _explain(h: HypothesisRobustness, console: Console) -> None:
    k = h.states.index(h.call)
    console.print(Text(f"{h.hypothesis}: {h.call} ({_pct(h.posterior[k])}) {holds(h, shown=None)}"), soft_wrap=True)
    for i, s in enumerate(h.steps, 1):
        console.print(Text(f"  {i:>2}. remove {s.report} ({s.indicator}): {h.call} {_pct(s.call_probability)}"),
                      soft_wrap=True)
    if h.after is not None:
        states = ", ".join(f"{st} {_pct(p)}" for st, p in zip(h.states, h.after, strict=True))
        console.print(Text(f"      the call is now {h.new_call()}: {states}"), soft_wrap=True)
    if not h.critical:
        console.print(Text("  no critical report: none moves a state by 10 pp or changes the call alone"))
    for c in h.critical:
        console.print(Text(f"  critical {c.report} ({c.indicator}): {without_words(h, c, every_state=True)}"),
                      soft_wrap=True)


def _interactions(r: Robustness, console: Console) -> None:
    console.print(Text(
        "interactions (the pairs of reported indicators whose joint removal moves a state most differently "
        "from their two single removals added up; at most 5 per hypothesis)", style="bold",
    ))
    found = r.interactions or ()
    for i in found:
        console.print(Text(f"{i.hypothesis}: {i.sentence}"), soft_wrap=True)
    if not found:
        console.print(Text("none: no pair of reported indicators interacts by half a percentage point or more"))


# ---------------------------------------------------------------------------------------------
# The brief's section
# ---------------------------------------------------------------------------------------------


def brief_context(brief: Brief) -> dict[str, Any]:
    """`robust`: the brief's section as rows of words for the templates (None when it has none)."""
    section = brief.robustness
    if section is None:
        return {"robust": None}
    rows = [
        {
            "hypothesis": c.now.hypothesis,
            "call": c.now.call,
            "holds": holds(c.now),
            "critical": [f"{x.report} ({x.indicator}): {without_words(c.now, x)}" for x in c.now.critical],
            "change": c.change,
        }
        for c in section.calls
    ]
    return {"robust": {"reports": section.reports, "limit": section.limit, "rows": rows}}


def brief_json(brief: Brief) -> dict[str, Any]:
    """The brief JSON's "robustness" key (absent when the brief has no such section)."""
    section = brief.robustness
    if section is None:
        return {}
    hyps = []
    for c in section.calls:
        e = c.earlier
        previous = None if e is None else {"brief": e.brief, "call": e.call, "robustness": e.removals, "more_than": e.more_than}
        hyps.append({**c.now.to_json(), "previous": previous, "change": c.change})
    return {"robustness": {"limit": section.limit, "reports": section.reports, "previous_brief": section.previous,
                           "hypotheses": hyps}}
