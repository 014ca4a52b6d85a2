"""Results -> Rich tables. Renderers never compute: they format what the engine returned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table

from forecaster.core.text import plural
from forecaster.inference.update import EvidenceResult, StateResult, UpdateResult
from forecaster.outputs.columns import never_cut
from forecaster.outputs.robustness import render_robustness


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def pp(x: float | None) -> str:
    """A change in percentage points, signed; blank when unknown."""
    if x is None:
        return "—"
    v = 100 * x
    return "0.0" if abs(v) < 0.05 else f"{v:+.1f}"


def interval_text(lo: float, hi: float) -> str:
    if lo != lo:  # NaN: exact engine, no distribution
        return "—"
    if hi < 0.01:  # keep small intervals informative: "0.0–0.3%", not "0–0%"
        return f"{100 * lo:.1f}–{100 * hi:.1f}%"
    return f"{100 * lo:.0f}–{100 * hi:.0f}%"


def pct_state(x: float) -> str:
    """A state's probability; outside the ICD 203 scale, `< 1 %` / `> 99 %`."""
    if x < 0.01:
        return "< 1 %"
    if x > 0.99:
        return "> 99 %"
    return pct(x)


def term_text(s: StateResult) -> str:
    """The ICD 203 term, or, outside its scale, that fact and what carries the state there."""
    if s.term is not None:
        return s.term
    ex = s.extreme or {}
    names = ", ".join(c["id"] for c in ex.get("carried_by", []))
    return "outside the ICD 203 scale" + (f" (carried by {names})" if names else "")


def reports_text(e: EvidenceResult) -> str:
    """'3 reports, 2 origins' when origins fold some reports together, else the count."""
    if e.origins and e.origins != e.reports:
        return f"{e.reports} report{'s' if e.reports != 1 else ''}, {e.origins} origin{'s' if e.origins != 1 else ''}"
    return str(e.reports)


def aged_fraction(weight: Mapping[str, Any]) -> float:
    """How much of a report's grade ageing has left (MODEL.md §3): its aged accuracy's distance from
    a coin flip (0.5) over its fresh accuracy's; 1 for a new report, 0.5 one half-life later."""
    fresh = float(weight.get("accuracy", 0.0)) - 0.5
    return 1.0 if fresh <= 0 else max(0.0, (float(weight["weight"]) - 0.5) / fresh)


def weight_text(e: EvidenceResult) -> str:
    """What ageing has left of each counted report: '53 %' is aged to 53 % of its full weight."""
    ws = [w for w in e.weights if w.get("counted", True)]
    return " ".join(f"{100 * aged_fraction(w):.0f} %" for w in ws[:4]) + (" …" if len(ws) > 4 else "")


def lambda_ratio(e: EvidenceResult) -> float:
    """λ written one way: P(reports | occurred) / P(reports | not occurred)."""
    l1, l0 = e.likelihood
    return float("inf") if l0 == 0 else l1 / l0


def lambda_text(e: EvidenceResult) -> str:
    r = lambda_ratio(e)
    return "∞" if r == float("inf") else (f"{r:.2f}" if 0.01 <= r < 100 else f"{r:.3g}")


def raised(e: EvidenceResult) -> tuple[str, str, float]:
    """The state these reports raised most: (hypothesis, state, points > 0). One convention for every
    row and every run: the state that rose, never the one that fell (each hypothesis' shifts add up
    to 0, so a report that moves anything raises some state). Ties: the first hypothesis and state."""
    best = ("", "", 0.0)
    for h, d in e.shift.items():
        for s, v in d.items():
            if v > best[2]:
                best = (h, s, v)
    return best


def new_reports(e: EvidenceResult, previous: frozenset[str] | None) -> int:
    """How many of these reports the previous update did not have (0 when it is unknown)."""
    return 0 if previous is None else sum(1 for r in e.report_ids if r not in previous)


LAMBDA_NOTE = ("λ = P(reports | occurred) / P(reports | not occurred): above 1 the reports say the indicator "
               "occurred, below 1 that it did not")
AGED_NOTE = ("aged to: what ageing leaves of each report's weight (100 % when new, 50 % one half-life old); "
             "new: reports the previous update did not have")


def hypothesis_tables(result: UpdateResult) -> list[RenderableType]:
    tables: list[RenderableType] = []
    for h in result.hypotheses:
        t = Table(title=f"{h.id}", title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
        t.add_column("state")
        t.add_column("prior", justify="right")
        t.add_column("posterior", justify="right")
        t.add_column("90% interval", justify="right")
        t.add_column("Δ prev (pp)", justify="right")
        t.add_column("ICD 203")
        for s in h.states:
            name = f"{s.id} *" if s.claimed else s.id
            t.add_row(name, pct(s.prior), pct_state(s.posterior), interval_text(*s.interval), pp(s.change), term_text(s))
        tables.append(never_cut(t, 0))
    return tables


def evidence_table(
    result: UpdateResult, *, limit: int | None = None, previous: frozenset[str] | None = None
) -> RenderableType:
    """What moved it: per indicator (and mechanism), the state its reports raised most, in points;
    λ one way; what ageing left of each report; `new` beside reports the previous update lacked."""
    t = Table(title="what moved it: the state each indicator's reports raised most, in points (posterior with "
                    "its reports minus without them; a mechanism: all its indicators' reports, the episode as a whole)",
              title_justify="left", box=box.SIMPLE_HEAVY, pad_edge=False)
    t.add_column("indicator / mechanism", no_wrap=True)
    t.add_column("reports", justify="right")
    if previous is not None:
        t.add_column("new", justify="right")
    t.add_column("aged to", justify="right")
    t.add_column("λ", justify="right")
    t.add_column("raised", justify="left")
    t.add_column("by (pp)", justify="right")
    rows = result.evidence if limit is None else result.evidence[:limit]
    for e in rows:
        hyp, state, v = raised(e)
        name = f"mechanism {e.indicator}" if e.kind == "mechanism" else (f"  {e.indicator}" if e.mechanism else e.indicator)
        fresh = new_reports(e, previous)
        cells = [name, reports_text(e), *([f"{fresh} new" if fresh else ""] if previous is not None else []),
                 "" if e.kind == "mechanism" else weight_text(e), lambda_text(e),
                 f"{hyp}.{state}" if hyp else "—", pp(v) if hyp else "0.0"]
        t.add_row(*cells)
    return never_cut(t, 0, len(t.columns) - 2)


def evidence_json(result: UpdateResult, previous: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """What the table says, per `evidence` item of update --json (added keys; none removed):
    `raised` (the state the reports raised most, and by how much), `lambda_ratio`, `aged_to` per
    counted report, and `new_report_ids` (null when there is no previous update to compare with)."""
    out = []
    for e in result.evidence:
        hyp, state, v = raised(e)
        ratio = lambda_ratio(e)
        out.append({
            "raised": {"hypothesis": hyp, "state": state, "change": round(v, 6)} if hyp else None,
            "lambda_ratio": None if ratio == float("inf") else float(f"{ratio:.6g}"),
            "aged_to": [round(aged_fraction(w), 4) for w in e.weights if w.get("counted", True)],
            "new_report_ids": None if previous is None else [r for r in e.report_ids if r not in previous],
        })
    return out


def update_json(result: UpdateResult, previous: frozenset[str] | None = None, *, explain: bool = False) -> dict[str, Any]:
    """`UpdateResult.to_json` with what moved it's convention added to each evidence item (`evidence_json`)."""
    data = result.to_json(explain=explain)
    for item, extra in zip(data["evidence"], evidence_json(result, previous), strict=True):
        item.update(extra)
    return data


def mcse_text(result: UpdateResult) -> str:
    """The Monte Carlo error of the sampled numbers, for the footer ('' on the exact engine)."""
    d = result.diagnostics
    parts = []
    if d.interval_mcse_max is not None:
        parts.append(f"interval MCSE max {d.interval_mcse_max:.3f}")
    if d.mean_check is not None:
        parts.append(f"sampler check {d.mean_check:.1f} MCSE")
    return ", ".join(parts)


def footer(result: UpdateResult) -> str:
    d = result.diagnostics
    if d.sampler == "exact":
        diag = "sampler exact (prior-mean network)"
    elif d.sampler == "pymc-iid":
        extra = mcse_text(result)
        check = "" if d.density_checked is None else f", {d.density_checked} checked against the PyMC model's density"
        diag = (f"posterior exact; {d.chains}×{d.draws:,} exact i.i.d. draws{check}" + (f", {extra}" if extra else ""))
    else:
        extra = mcse_text(result)
        diag = (f"posterior exact; sampler {d.sampler}, {d.chains}×{d.draws} draws, "
                f"R-hat max {d.r_hat_max:.3f}, ESS min {d.ess_min:.0f}, divergences {d.divergences}"
                + (f", {extra}" if extra else ""))
    return (f"run {result.run_id} · priors {result.priors_hash} · events {result.events_hash} · "
            f"{plural(len(result.report_ids) or sum(e.reports for e in result.evidence if e.kind == 'indicator'), 'report')} "
            f"({result.window[0]} to {result.window[1]}) · seed {result.seed} · {diag} · {d.seconds:.1f}s")


def render_update(
    result: UpdateResult,
    console: Console,
    *,
    cached: bool = False,
    previous: frozenset[str] | None = None,
    explain: bool = False,
) -> None:
    """The update for the terminal; `previous`: the report ids of the previous update, to mark new ones;
    `explain`: every robustness step and the interactions."""
    console.print(f"forecast as of {result.as_of}  (* = the state network.yaml marks claimed)")
    for t in hypothesis_tables(result):
        console.print(t)
    if result.evidence:
        console.print(evidence_table(result, previous=previous))
        console.print(f"{LAMBDA_NOTE}; {AGED_NOTE}", style="dim")
    else:
        console.print("no reports in the evidence window: posterior equals prior")
    render_robustness(result, console, explain=explain)
    for w in result.diagnostics.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False, soft_wrap=True)
    console.print(footer(result) + ("  (cached: inputs unchanged)" if cached else ""), style="dim", soft_wrap=True)
