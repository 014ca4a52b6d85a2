"""Results -> Rich tables. Renderers never compute: they format what the engine returned."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

from forecaster.inference.update import UpdateResult
from forecaster.outputs.columns import never_cut


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
            t.add_row(name, pct(s.prior), pct(s.posterior), interval_text(*s.interval), pp(s.change), s.term)
        tables.append(never_cut(t, 0))
    return tables


def evidence_table(result: UpdateResult, *, limit: int | None = None) -> Table:
    t = Table(title="what moved it (pp: posterior with the indicator's reports minus without them)", title_justify="left",
              box=box.SIMPLE_HEAVY, pad_edge=False)
    t.add_column("indicator")
    t.add_column("reports", justify="right")
    t.add_column("λ occurred : not", justify="right")
    t.add_column("largest shift", justify="right")
    rows = result.evidence if limit is None else result.evidence[:limit]
    for e in rows:
        hyp, state, v = max(
            ((h, s, v) for h, d in e.shift.items() for s, v in d.items()), key=lambda x: abs(x[2]), default=("", "", 0.0)
        )
        t.add_row(e.indicator, str(e.reports), f"{e.likelihood[0]:.3g} : {e.likelihood[1]:.3g}", f"{pp(v)} {hyp}.{state}")
    return never_cut(t, 0)


def footer(result: UpdateResult) -> str:
    d = result.diagnostics
    if d.sampler == "exact":
        diag = "sampler exact (prior-mean network)"
    else:
        diag = (f"sampler {d.sampler}, {d.chains}×{d.draws} draws, "
                f"R-hat max {d.r_hat_max:.3f}, ESS min {d.ess_min:.0f}, divergences {d.divergences}")
    return (f"run {result.run_id} · priors {result.priors_hash} · events {result.events_hash} · "
            f"{len(result.report_ids) or sum(e.reports for e in result.evidence)} reports "
            f"({result.window[0]} to {result.window[1]}) · seed {result.seed} · {diag} · {d.seconds:.1f}s")


def render_update(result: UpdateResult, console: Console, *, cached: bool = False) -> None:
    console.print(f"forecast as of {result.as_of}  (* = the papers' claimed state)")
    for t in hypothesis_tables(result):
        console.print(t)
    if result.evidence:
        console.print(evidence_table(result))
    else:
        console.print("no reports in the evidence window: posterior equals prior")
    for w in result.diagnostics.warnings:
        console.print(f"warning: {w}", style="yellow")
    console.print(footer(result) + ("  (cached: inputs unchanged)" if cached else ""), style="dim")
