"""Results -> Rich tables. Renderers never compute: they format what the engine returned."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

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


def weight_text(e: EvidenceResult) -> str:
    """Each counted report's weight now (aged accuracy)."""
    ws = [w for w in e.weights if w.get("counted", True)]
    return " ".join(f"{w['weight']:.2f}" for w in ws[:4]) + (" …" if len(ws) > 4 else "")


def hypothesis_tables(result: UpdateResult) -> list[Table]:
    tables = []
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


def evidence_table(result: UpdateResult, *, limit: int | None = None) -> Table:
    t = Table(title="what moved it (pp: posterior with the indicator's reports minus without them; "
                    "a mechanism: all its indicators' reports, the episode as a whole)", title_justify="left",
              box=box.SIMPLE_HEAVY, pad_edge=False)
    t.add_column("indicator / mechanism", no_wrap=True)
    t.add_column("reports", justify="right", no_wrap=True)
    t.add_column("weight now", justify="right")
    t.add_column("λ occurred : not", justify="right")
    t.add_column("largest shift", justify="right")
    rows = result.evidence if limit is None else result.evidence[:limit]
    for e in rows:
        hyp, state, v = max(
            ((h, s, v) for h, d in e.shift.items() for s, v in d.items()), key=lambda x: abs(x[2]), default=("", "", 0.0)
        )
        name = f"mechanism {e.indicator}" if e.kind == "mechanism" else (f"  {e.indicator}" if e.mechanism else e.indicator)
        t.add_row(name, reports_text(e), "" if e.kind == "mechanism" else weight_text(e),
                  f"{e.likelihood[0]:.3g} : {e.likelihood[1]:.3g}", f"{pp(v)} {hyp}.{state}")
    return never_cut(t, 0)


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
            f"{len(result.report_ids) or sum(e.reports for e in result.evidence if e.kind == 'indicator')} reports "
            f"({result.window[0]} to {result.window[1]}) · seed {result.seed} · {diag} · {d.seconds:.1f}s")


def render_update(result: UpdateResult, console: Console, *, cached: bool = False, explain: bool = False) -> None:
    console.print(f"forecast as of {result.as_of}  (* = the papers' claimed state)")
    for t in hypothesis_tables(result):
        console.print(t)
    if result.evidence:
        console.print(evidence_table(result))
    else:
        console.print("no reports in the evidence window: posterior equals prior")
    render_robustness(result, console, explain=explain)
    for w in result.diagnostics.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False, soft_wrap=True)
    console.print(footer(result) + ("  (cached: inputs unchanged)" if cached else ""), style="dim", soft_wrap=True)
