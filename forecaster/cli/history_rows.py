"""`forecast history --json` and `--csv`: one row per recorded run (forecaster.cli.runs prints them)."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

from forecaster.cli import console

if TYPE_CHECKING:
    from forecaster.store.runs import RunRecord


def claimed_states(ws: Any) -> dict[str, str]:
    """hypothesis -> its claimed state, from the current priors ({} if they do not load)."""
    from forecaster.core.errors import ForecastError
    from forecaster.model.loading import load_priors

    try:
        return {h.id: h.claimed for h in load_priors(ws.priors_dir).hypotheses}
    except ForecastError:
        return {}


def history_row(
    r: RunRecord, hypothesis: str | None, *, claimed: dict[str, str] | None = None, before: RunRecord | None = None
) -> dict[str, Any]:
    from forecaster.inference.states import hypothesis_json, state_json

    shaped: dict[str, list[dict[str, Any]]] = {}
    for s in r.states:
        if hypothesis is None or s.hypothesis == hypothesis:
            then = before.posterior(s.hypothesis, s.state) if before is not None else None
            shaped.setdefault(s.hypothesis, []).append(
                state_json(
                    s.state,
                    claimed=(claimed or {}).get(s.hypothesis) == s.state,
                    prior=s.prior,
                    posterior=s.posterior,
                    low=s.low,
                    high=s.high,
                    exact=s.exact,
                    change=None if then is None else s.posterior - then,
                )
            )
    states: dict[str, dict[str, dict[str, float | None]]] = {}
    for s in r.states:
        if hypothesis is None or s.hypothesis == hypothesis:
            states.setdefault(s.hypothesis, {})[s.state] = {
                "posterior": s.posterior,
                "low": s.low,
                "high": s.high,
                "prior": s.prior,
            }
    return {
        "run_id": r.run_id,
        "kind": r.kind,
        "evidence": r.evidence,
        "as_of": r.as_of.isoformat(),
        "recorded_at": r.recorded_at.isoformat().replace("+00:00", "Z"),
        "sampler": r.sampler,
        "seed": r.seed,
        "priors_hash": r.priors_hash,
        "events_hash": r.events_hash,
        "reports": r.reports,
        "states": states,
        "previous_in_list": before.run_id if before is not None else None,
        "hypotheses": [hypothesis_json(h, rows) for h, rows in shaped.items()],
    }


def history_csv(records: list[RunRecord], columns: list[tuple[str, str]]) -> None:
    w = csv.writer(console.stdout, lineterminator="\n")
    head = [
        "run_id",
        "kind",
        "evidence",
        "as_of",
        "recorded_at",
        "sampler",
        "seed",
        "priors_hash",
        "events_hash",
        "reports",
    ]
    for h, s in columns:
        head += [f"{h}.{s}", f"{h}.{s}.low", f"{h}.{s}.high"]
    w.writerow(head)
    for r in records:
        by = {(s.hypothesis, s.state): s for s in r.states}
        row: list[Any] = [
            r.run_id,
            r.kind,
            r.evidence,
            r.as_of.isoformat(),
            r.recorded_at.isoformat().replace("+00:00", "Z"),
            r.sampler,
            r.seed,
            r.priors_hash,
            r.events_hash,
            r.reports,
        ]
        for c in columns:
            st = by.get(c)
            row += (
                ["", "", ""]
                if st is None
                else [
                    f"{st.posterior:.6f}",
                    "" if st.low is None else f"{st.low:.6f}",
                    "" if st.high is None else f"{st.high:.6f}",
                ]
            )
        w.writerow(row)


