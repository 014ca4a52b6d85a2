"""The weekly back-test series by event time (`history --backfill weekly`): one exact run per
week, recorded in the run log."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from forecaster.core.errors import UsageError
from forecaster.store.events import EventStore
from forecaster.store.runs import BACKFILL_SETTINGS, NewRun, load_result, record_runs, recorded_ids

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.model.priors import Priors


# ---------------------------------------------------------------------------------------------
# Backfill: the weekly series by event time
# ---------------------------------------------------------------------------------------------


def week_points(first: dt.date, until: dt.date) -> list[dt.date]:
    """One date per ISO week from the week of `first` to the week of `until`: each week's Sunday,
    or `until` itself in the last week."""
    if first > until:
        return []
    monday = first - dt.timedelta(days=first.weekday())
    points = []
    while monday <= until:
        points.append(min(monday + dt.timedelta(days=6), until))
        monday += dt.timedelta(days=7)
    return points


#: More weekly points than this (about 19 years) is refused before anything is computed: the
#: series starts at the earliest report in force, so one report with a year typo (1925 for 2025)
#: would otherwise record thousands of runs.
MAX_BACKFILL_POINTS = 1_000


@dataclass(frozen=True)
class BackfillResult:
    points: int
    added: int
    first: dt.date | None
    until: dt.date
    priors_hashes: tuple[str, ...] = ()  # of the priors in force at the points (MODEL.md §7: panel rounds)


def backfill_weekly(ws: Workspace, priors: Priors, *, until: dt.date, seed: int, force: bool = False) -> BackfillResult:
    """Compute and record the weekly exact-engine series by event time (see the module doc)."""
    from forecaster.inference.update import events_hash, run_id_for, run_update, settings_hash
    from forecaster.model.network import build_network

    with EventStore(ws.db) as store:
        first_rows = store._read(
            "reading reports",
            "SELECT MIN(r.event_date) FROM reports r LEFT JOIN retractions t ON t.report_id = r.id "
            "WHERE t.report_id IS NULL",
        )
        first = dt.date.fromisoformat(first_rows[0][0]) if first_rows and first_rows[0][0] else None
        if first is None:
            return BackfillResult(0, 0, None, until)
        weeks = ((until - first).days + first.weekday()) // 7 + 1 if first <= until else 0
        if weeks > MAX_BACKFILL_POINTS:
            oldest = store._read(
                "reading reports",
                "SELECT r.id FROM reports r LEFT JOIN retractions t ON t.report_id = r.id "
                "WHERE t.report_id IS NULL AND r.event_date = ? ORDER BY r.id LIMIT 1", (first.isoformat(),),
            )
            rid = oldest[0][0] if oldest else "?"
            raise UsageError(
                f"backfill: the earliest report in force, {rid}, is dated {first.isoformat()}: {weeks:,} weekly points "
                f"to {until.isoformat()}, more than the {MAX_BACKFILL_POINTS:,} a backfill computes; a year typo? "
                f"(forecast event show {rid}; retract it and add it again with the right date)"
            )
        points = week_points(first, until)
        s_hash = settings_hash(BACKFILL_SETTINGS)
        window = priors.evidence_window_days
        selections = [store.reports_for_update(as_of=p, window_days=window, by_event_time=True) for p in points]
        forces = _in_force(ws, priors, points, store)  # the judgments in force at each point (§7)
        ids = [
            run_id_for(f[0].hash, events_hash(rs), p, seed, s_hash)
            for p, rs, f in zip(points, selections, forces, strict=True)
        ]
        have = set() if force else recorded_ids(store, ids)
        nets = {f[0].hash: (f[0], build_network(f[0])) for f in forces}
        new: list[NewRun] = []
        previous: dict[str, dict[str, float]] | None = None
        previous_id: str | None = None
        for p, rs, rid, (in_force, recorded) in zip(points, selections, ids, forces, strict=True):
            priors, net = nets[in_force.hash]
            if rid in have:
                previous_id = rid
                previous = None
                continue
            if previous is None and previous_id is not None:
                earlier = load_result(store, previous_id)
                previous = earlier.posteriors() if earlier else None
            start = time.perf_counter()
            result = run_update(
                priors, rs, as_of=p, seed=seed, exact_only=True, net=net, previous=previous, previous_run_id=previous_id
            )
            from dataclasses import replace

            result = replace(result, run_id=rid, settings_hash=s_hash)
            new.append(
                NewRun(
                    result,
                    kind="backfill",
                    evidence="store-event-time",
                    settings={**BACKFILL_SETTINGS, **recorded},
                    wall_seconds=time.perf_counter() - start,
                )
            )
            previous, previous_id = result.posteriors(), rid
        record_runs(store, new)
    return BackfillResult(len(points), len(new), first, until, tuple(nets))


def _in_force(ws: Workspace, priors: Priors, points: list[dt.date], store: EventStore) -> list[tuple[Priors, dict[str, object]]]:
    """Per point, the priors in force (forecaster.workflow.panel) and what its run records of them."""
    from forecaster.workflow.panel import Panel, is_workspace_priors

    if not is_workspace_priors(ws, priors):
        return [(priors, {}) for _ in points]
    panel = Panel(ws, store=store, folder=priors)
    infos = [panel.in_force(p) for p in points]
    return [(i.priors, i.record()) for i in infos]
