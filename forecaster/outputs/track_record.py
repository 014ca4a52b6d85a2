"""The track record rendered (issue 14): JSON and CSV for machines, Rich tables for the terminal,
the reliability diagram as PNG, and the rows the brief's "Track record" section shows. Renders
only: every number comes from forecaster.workflow.track_record (and analysis.scores)."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import numpy as np

from forecaster.analysis.reliability import reliability_png
from forecaster.analysis.scores import MeanScores
from forecaster.store.resolutions import resolution_to_row
from forecaster.workflow.track_record import HypothesisRecord, TrackRecord

SCHEMA = "forecast-track-record/1"
CSV_FIELDS = (
    "hypothesis", "resolved", "pending", "first", "last", "brier", "brier_prior", "log", "log_prior",
    "baseline", "baseline_prior", "rps", "rps_prior", "skill", "updates", "backfill", "resolutions",
)


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or x != x else round(float(x), nd)


def _means(m: MeanScores | None) -> dict[str, float | None] | None:
    if m is None:
        return None
    return {"brier": _r(m.brier), "log": _r(m.log), "baseline": _r(m.baseline), "rps": _r(m.rps)}


def hypothesis_json(h: HypothesisRecord) -> dict[str, Any]:
    s = h.summary
    return {
        "hypothesis": h.hypothesis,
        "states": list(h.states),
        "ordered": h.ordered,
        "forecasts": h.forecasts,
        "resolved": h.resolved,
        "pending": h.pending,
        "skipped": h.skipped,
        "kinds": dict(h.kinds),
        "first": h.first.isoformat() if h.first else None,
        "last": h.last.isoformat() if h.last else None,
        "scores": _means(s.forecast),
        "prior": _means(s.prior),
        "skill": _r(s.skill),
        "resolutions": list(h.resolutions),
        "calibration": {
            "edges": [_r(e) for e in h.calibration.edges],
            "bins": [
                {
                    "state": b.state,
                    "lo": _r(b.lo),
                    "hi": _r(b.hi),
                    "count": b.count,
                    "mean_forecast": _r(b.mean_forecast),
                    "observed": _r(b.observed),
                }
                for b in h.calibration.bins
            ],
        },
    }


def forecasts_json(tr: TrackRecord) -> list[dict[str, Any]]:
    """One entry per resolved forecast, by as-of date, hypothesis and run id (built from the columns:
    30,000 entries in a fraction of a second)."""
    out: list[tuple[tuple[str, str, str], dict[str, Any]]] = []
    for h in tr.hypotheses:
        t = h.table
        if t is None:
            continue
        fc, pr = np.round(t.forecast, 6).tolist(), np.round(t.prior, 6).tolist()
        sc = {name: np.round(t.scores[name], 6).tolist() if name in t.scores else [None] * len(t)
              for name in ("brier", "log", "baseline", "rps", "prior_brier", "prior_log", "prior_baseline", "prior_rps")}
        obs = t.observed.tolist()
        for i in range(len(t)):
            as_of = t.as_of[i].isoformat()
            entry = {
                "run_id": t.run_ids[i],
                "kind": t.kinds[i],
                "as_of": as_of,
                "horizon_end": t.horizon_end[i].isoformat(),
                "hypothesis": h.hypothesis,
                "resolution_id": t.resolution_ids[i],
                "observed": h.states[obs[i]],
                "forecast": fc[i],
                "prior": pr[i],
                **{name: values[i] for name, values in sc.items()},
            }
            out.append(((as_of, h.hypothesis, t.run_ids[i]), entry))
    out.sort(key=lambda x: x[0])
    return [e for _, e in out]


def track_record_json(tr: TrackRecord, *, forecasts: bool = True) -> dict[str, Any]:
    """The whole track record; `forecasts` adds one entry per resolved forecast (the brief leaves them out)."""
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "horizon_months": tr.horizon_months,
        "bins": tr.bins,
        "kinds": list(tr.kinds),
        "since": tr.since.isoformat() if tr.since else None,
        "resolved": tr.resolved,
        "pending": tr.pending,
        "resolutions": [resolution_to_row(e) for e in tr.resolutions],
        "retracted_resolutions": tr.retracted,
        "hypotheses": [hypothesis_json(h) for h in tr.hypotheses],
    }
    if forecasts:
        out["forecasts"] = forecasts_json(tr)
    return out


def dumps_json(tr: TrackRecord) -> str:
    """`track_record_json` as text: indented, but one line per resolved forecast (json's indenting
    encoder is pure Python, and 30,000 forecasts indented field by field take seconds)."""
    data = track_record_json(tr)
    forecasts = data.pop("forecasts")
    head = json.dumps(data, indent=2, ensure_ascii=False)
    if not forecasts:
        return head[:-2] + ',\n  "forecasts": []\n}\n'
    body = ",\n    ".join(json.dumps(f, ensure_ascii=False) for f in forecasts)
    return head[:-2] + ',\n  "forecasts": [\n    ' + body + "\n  ]\n}\n"


def summary_rows(tr: TrackRecord) -> list[dict[str, Any]]:
    """One row per hypothesis (the CSV, and the terminal table's numbers)."""
    rows = []
    for h in tr.hypotheses:
        fc, pr = h.summary.forecast, h.summary.prior
        rows.append({
            "hypothesis": h.hypothesis,
            "resolved": h.resolved,
            "pending": h.pending,
            "first": h.first.isoformat() if h.first else "",
            "last": h.last.isoformat() if h.last else "",
            "brier": _r(fc.brier) if fc else None,
            "brier_prior": _r(pr.brier) if pr else None,
            "log": _r(fc.log) if fc else None,
            "log_prior": _r(pr.log) if pr else None,
            "baseline": _r(fc.baseline) if fc else None,
            "baseline_prior": _r(pr.baseline) if pr else None,
            "rps": _r(fc.rps) if fc else None,
            "rps_prior": _r(pr.rps) if pr else None,
            "skill": _r(h.summary.skill),
            "updates": h.kinds.get("update", 0),
            "backfill": h.kinds.get("backfill", 0),
            "resolutions": " ".join(h.resolutions),
        })
    return rows


def write_csv(stream: IO[str], tr: TrackRecord) -> None:
    w = csv.writer(stream, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for row in summary_rows(tr):
        w.writerow(["" if row[k] is None else row[k] for k in CSV_FIELDS])


def track_png(tr: TrackRecord) -> bytes:
    """The reliability diagram of every resolved hypothesis (one series per hypothesis state)."""
    n = tr.resolved
    title = f"Reliability: {n} resolved forecast{'s' if n != 1 else ''}, {tr.bins} bins, horizon {tr.horizon_months} months"
    return reliability_png(tr.calibrations(), title)


# ---------------------------------------------------------------------------------------------
# Text: the terminal and the brief
# ---------------------------------------------------------------------------------------------


def num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if x is None else fmt.format(x)


def pair(fc: float | None, pr: float | None, fmt: str = "{:.3f}") -> str:
    """'0.214 (0.380)': the forecasts' score and, in brackets, the prior's."""
    return f"{num(fc, fmt)} ({num(pr, fmt)})" if fc is not None else "—"


def display_rows(tr: TrackRecord) -> list[dict[str, str]]:
    """The scores table as text, one row per hypothesis (terminal and brief)."""
    rows = []
    for h in tr.hypotheses:
        fc, pr = h.summary.forecast, h.summary.prior
        kinds = ", ".join(
            f"{v} back-test" if k == "backfill" else f"{v} update{'s' if v != 1 else ''}" for k, v in h.kinds.items()
        )
        rows.append({
            "hypothesis": h.hypothesis,
            "resolved": str(h.resolved),
            "pending": str(h.pending),
            "kinds": kinds,
            "period": f"{h.first.isoformat()}–{h.last.isoformat()}" if h.first and h.last else "",
            "brier": pair(fc.brier if fc else None, pr.brier if pr else None),
            "log": pair(fc.log if fc else None, pr.log if pr else None),
            "baseline": pair(fc.baseline if fc else None, pr.baseline if pr else None, "{:+.1f}"),
            "rps": pair(fc.rps if fc else None, pr.rps if pr else None) if h.ordered else "n/a",
            "skill": num(h.summary.skill, "{:+.3f}"),
        })
    return rows


def calibration_rows(tr: TrackRecord) -> list[dict[str, str]]:
    """The non-empty calibration bins as text, by hypothesis, state and bin."""
    rows = []
    for h in tr.hypotheses:
        for b in h.calibration.bins:
            if not b.count:
                continue
            close = "]" if b.hi >= 1.0 else ")"
            rows.append({
                "hypothesis": h.hypothesis,
                "state": b.state,
                "bin": f"[{b.lo:.2f}, {b.hi:.2f}{close}",
                "count": str(b.count),
                "forecast": num(b.mean_forecast, "{:.1%}"),
                "observed": num(b.observed, "{:.1%}"),
            })
    return rows


def nothing_resolved(tr: TrackRecord) -> str:
    """Why the track record is empty, in one line."""
    if not tr.resolutions:
        extra = f" ({tr.retracted} retracted)" if tr.retracted else ""
        return (
            f"no resolutions in force{extra}: record some with `forecast resolve` or "
            "`forecast resolutions import scenarios/resolutions.yaml`"
        )
    if not tr.considered:
        how = "" if "backfill" in tr.kinds else " (--backfill weekly scores the weekly back-test)"
        return f"no recorded forecasts to score{how}"
    latest = max(e.resolution.end for e in tr.resolutions)
    return (
        f"nothing resolves yet: {tr.considered} forecast{'s' if tr.considered != 1 else ''} pending; a forecast as of "
        f"d resolves when one resolution covers [d, d + {tr.horizon_months} months] (the latest resolution ends "
        f"{latest.isoformat()})"
    )


def print_tables(console: Any, tr: TrackRecord) -> None:
    """Rich tables: the scores per hypothesis (each beside the prior's), then the calibration."""
    from rich.table import Table
    from rich.text import Text

    from forecaster.outputs.columns import never_cut

    kinds = " and ".join("updates" if k == "update" else "weekly back-test" for k in tr.kinds)
    table = Table(
        title=f"Track record: {tr.resolved} resolved forecasts ({kinds}), horizon {tr.horizon_months} months",
        title_justify="left", box=None, pad_edge=False, header_style="bold",
    )
    for title, justify in (("hypothesis", "left"), ("resolved", "right"), ("pending", "right"), ("as of", "left"),
                           ("", "left"), ("Brier", "right"), ("log", "right"), ("baseline", "right"),
                           ("RPS", "right"), ("skill", "right")):
        table.add_column(title, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row, h in zip(display_rows(tr), tr.hypotheses, strict=True):
        fc, pr = h.summary.forecast, h.summary.prior
        for label, m, first in (("forecast", fc, True), ("prior", pr, False)):
            table.add_row(
                *(Text(c) for c in (
                    row["hypothesis"] if first else "", row["resolved"] if first else "",
                    row["pending"] if first else "", row["period"] if first else "", label,
                    num(m.brier if m else None), num(m.log if m else None),
                    num(m.baseline if m else None, "{:+.1f}"),
                    (num(m.rps if m else None) if h.ordered else "n/a"),
                    row["skill"] if first else "",
                ))
            )
    console.print(never_cut(table, 0))
    console.print(
        Text(
            "Brier 0 best, 2 worst; log = ln p(observed), 0 best; baseline = 100·log2(K·p(observed)), 0 for a "
            "uniform forecast, higher better; RPS only for ordered states; skill = 1 − Brier / Brier of the prior."
        )
    )
    cal = calibration_rows(tr)
    if not cal:
        return
    ct = Table(title=f"Calibration ({tr.bins} bins, one state at a time)", title_justify="left", box=None,
               pad_edge=False, header_style="bold")
    for name, kw in (("hypothesis", {"no_wrap": True}), ("state", {"no_wrap": True}), ("bin", {"no_wrap": True}),
                     ("count", {"justify": "right"}), ("forecast", {"justify": "right"}),
                     ("observed", {"justify": "right"})):
        ct.add_column(name, **kw)
    for row in cal:
        ct.add_row(*(Text(row[k]) for k in ("hypothesis", "state", "bin", "count", "forecast", "observed")))
    console.print()
    console.print(never_cut(ct, 0, 1))


__all__ = [
    "calibration_rows",
    "display_rows",
    "nothing_resolved",
    "print_tables",
    "summary_rows",
    "track_png",
    "track_record_json",
    "write_csv",
]
