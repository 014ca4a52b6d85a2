"""The brief's trend (issue 4, issue 21): one point per as-of date over the 12 weeks to the brief's
date from the runs in the store, and for a new workspace weekly exact-engine replays of the store
for the weeks without one (not recorded), so the chart has a line from the first brief."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forecaster.inference.update import UpdateResult
    from forecaster.model.network import Network
    from forecaster.model.priors import Priors
    from forecaster.store.events import EventStore
    from forecaster.store.runs import RunRecord
    from forecaster.workflow.baseline import Clock

TREND_WEEKS = 12
TREND_MIN_RECORDED = 3  # fewer recorded runs than this (a new workspace): weekly exact replays fill the chart


@dataclass(frozen=True)
class TrendPoint:
    as_of: dt.date
    run_id: str
    kind: str
    sampler: str
    values: Mapping[str, Mapping[str, tuple[float, float | None, float | None]]]  # hyp -> state -> (p, low, high)


def trend_caption(trend: Sequence[TrendPoint], as_of: dt.date) -> str:
    """What the trend chart shows, counted."""
    replays = sum(1 for p in trend if p.kind == "replay")
    runs = len(trend) - replays
    text = (
        f"{runs} recorded run{'s' if runs != 1 else ''} over the {TREND_WEEKS} weeks to {as_of.isoformat()}, "
        "one per as-of date"
    )
    if replays:
        text += (
            f", and {replays} weekly exact-engine replay{'s' if replays != 1 else ''} of the store (hollow dots, "
            "not recorded) for the weeks without one"
        )
    return text + "; a diamond marks what \"what changed\" compares against; bands are 90 % intervals of sampled runs."


def recorded_trend(records: Sequence[RunRecord], result: UpdateResult, priors_hash: str) -> tuple[TrendPoint, ...]:
    by_date: dict[dt.date, RunRecord] = {}
    for r in records:
        key = (
            r.run_id == result.run_id,
            r.priors_hash == priors_hash,
            r.kind == "update",
            r.sampled,
            r.recorded_at,
            r.run_id,
        )
        held = by_date.get(r.as_of)
        if held is None or key > (
            held.run_id == result.run_id,
            held.priors_hash == priors_hash,
            held.kind == "update",
            held.sampled,
            held.recorded_at,
            held.run_id,
        ):
            by_date[r.as_of] = r
    points = []
    for day in sorted(by_date):
        r = by_date[day]
        values: dict[str, dict[str, tuple[float, float | None, float | None]]] = {}
        for s in r.states:
            values.setdefault(s.hypothesis, {})[s.state] = (s.posterior, s.low, s.high)
        points.append(TrendPoint(day, r.run_id, r.kind, r.sampler, values))
    return tuple(points)




def with_replays(
    trend: tuple[TrendPoint, ...],
    store: EventStore,
    net: Network,
    priors: Priors,
    clock: Clock,
    *,
    since: dt.date,
    until: dt.date,
) -> tuple[TrendPoint, ...]:
    """The trend with an exact-engine replay (kind "replay", not recorded) for each week of the 12 that
    holds no recorded run: the store's reports on the brief's clock at each week's end."""
    import numpy as np

    from forecaster.inference.exact import posterior_batch
    from forecaster.workflow.backfill import week_points

    held = {p.as_of.isocalendar()[:2] for p in trend}
    days = [d for d in week_points(since + dt.timedelta(days=1), until) if d.isocalendar()[:2] not in held]
    if not days:
        return trend
    rows = [
        net.log_lambda(
            priors.fold(
                store.reports_for_update(
                    as_of=d, window_days=priors.evidence_window_days, by_event_time=clock.event_time
                ),
                as_of=d,
            )
        )
        for d in days
    ]
    margs, _ = posterior_batch(net, np.stack(rows))
    replays = [
        TrendPoint(
            d,
            "",
            "replay",
            "exact",
            {
                hid: {sid: (float(margs[h][i][k]), None, None) for k, sid in enumerate(net.states[h])}
                for h, hid in enumerate(net.hypothesis_ids)
            },
        )
        for i, d in enumerate(days)
    ]
    return tuple(sorted((*trend, *replays), key=lambda p: p.as_of))
