"""Resolutions and the track record's reads on both backends (issues 13, 14): what test_resolutions
checks on SQLite, on a PostgreSQL server too; append-only refused by each database itself; a
retraction that predates its report refused by each."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from forecaster.core.workspace import Workspace
from forecaster.inference.update import run_update
from forecaster.model.loading import load_priors
from forecaster.store import runs
from forecaster.store.events import EventStore
from forecaster.store.resolutions import (
    AlreadyRecorded,
    ImportProblems,
    ResolutionError,
    add_resolution,
    forecast_runs,
    forecast_states,
    get_resolution,
    import_resolutions,
    list_resolutions,
    retract_resolution,
    states_of,
)
from tests.backends import Backend
from tests.test_resolutions import res

D = dt.date
PRIORS = Path(__file__).parent.parent / "priors"


@pytest.fixture
def db(backend: Backend) -> str:
    return backend.new_store()


@pytest.fixture
def hyps() -> dict[str, tuple[str, ...]]:
    return states_of(load_priors(PRIORS))


def test_resolutions_round_trip_on_each_backend(db: str, hyps: dict[str, tuple[str, ...]]) -> None:
    with EventStore(db) as store:
        r = add_resolution(store, res(), analyst="ana", hypotheses=hyps)
        assert r.id is not None and get_resolution(store, r.id[4:10]).id == r.id
        with pytest.raises(AlreadyRecorded):
            add_resolution(store, res(), analyst="bob", hypotheses=hyps)
        with pytest.raises(ResolutionError, match="overlaps"):  # another state over the same years
            add_resolution(store, res(state="annexation", start="2024-01-01", end="2024-06-30"), analyst="ana", hypotheses=hyps)
        batch = [res(start="2025-01-01", end="2025-06-30"), res(start="2025-07-01", end="2025-12-31")]
        assert import_resolutions(store, batch, analyst="ana", hypotheses=hyps) == (2, 0)
        assert import_resolutions(store, batch, analyst="ana", hypotheses=hyps) == (0, 2)  # idempotent
        with pytest.raises(ImportProblems):  # all or nothing: one bad row, none of them
            import_resolutions(store, [res(start="2026-01-01", end="2026-03-31"), res(state="nope")], analyst="ana", hypotheses=hyps)
        assert len(list_resolutions(store)) == 3
        t = retract_resolution(store, r.id, reason="misdated", who="ben")
        assert [e.id for e in list_resolutions(store, include_retracted=True) if e.retracted] == [r.id]
        assert get_resolution(store, r.id).retraction == t


def test_the_track_records_pivot_reads_alike_on_each_backend(db: str, hyps: dict[str, tuple[str, ...]]) -> None:
    priors = load_priors(PRIORS)
    result = run_update(priors, [], as_of=D(2025, 1, 1), exact_only=True)
    items = [runs.NewRun(dataclasses.replace(result, run_id=f"{i:012x}")) for i in range(3)]
    with EventStore(db) as store:
        runs.record_runs(store, items)
        rows = forecast_runs(store, kinds=("update",), evidence=("store",))
        assert [r[0] for r in rows] == [f"{i:012x}" for i in range(3)]
        states = forecast_states(store, hyps, kinds=("update",), evidence=("store",))
    assert len(states) == 3
    for row in states:
        values = list(row[1:])
        for hyp, names in hyps.items():
            count, values = values[0], values[1:]
            prior, posterior, values = values[: len(names)], values[len(names) : 2 * len(names)], values[2 * len(names) :]
            assert count == len(names) and sum(prior) == pytest.approx(1) and sum(posterior) == pytest.approx(1), hyp


APPEND_ONLY_SQL = {
    "sqlite": [
        "UPDATE resolutions SET state = 'annexation'", "DELETE FROM resolutions",
        "UPDATE resolution_retractions SET reason = 'x'", "DELETE FROM resolution_retractions",
    ],
    "postgresql": [
        "UPDATE resolutions SET state = 'annexation'", "DELETE FROM resolutions", "TRUNCATE resolutions CASCADE",
        "UPDATE resolution_retractions SET reason = 'x'", "DELETE FROM resolution_retractions",
        "TRUNCATE resolution_retractions",
        "INSERT INTO resolutions SELECT * FROM resolutions ON CONFLICT (id) DO UPDATE SET state = 'annexation'",
    ],
}


def test_resolutions_are_append_only_in_each_database(db: str, backend: Backend, hyps: dict[str, tuple[str, ...]]) -> None:
    with EventStore(db) as store:
        r = add_resolution(store, res(), analyst="ana", hypotheses=hyps)
        retract_resolution(store, r.id or "", reason="wrong", who="ana")
        before = list_resolutions(store, include_retracted=True)
    with backend.raw(db) as raw:
        for sql in APPEND_ONLY_SQL[backend.name]:
            with pytest.raises(backend.errors, match="append-only"):
                raw.execute(sql)
    with EventStore(db) as store:
        assert list_resolutions(store, include_retracted=True) == before


def test_a_retraction_cannot_predate_its_report_in_either_database(db: str, backend: Backend, ws: Workspace) -> None:
    from forecaster.model.evidence import Report

    with EventStore(db) as store:
        r = store.add(Report("north_kosovo_unrest", D(2025, 1, 1), True, "B", 2, "AP"), analyst="ana")
    with backend.raw(db) as raw:
        if backend.is_pg:  # the owner carrying a time over (as `db copy` does): anyone else's is the server's (m008)
            raw.execute("SET forecast.keep_times = 'on'")
        with pytest.raises(backend.errors, match="predate"):
            raw.execute(
                "INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) "
                "VALUES ('" + str(r.id) + "', 'backdated', '2000-01-01T00:00:00.000000Z', 'eve')"
            )
        with pytest.raises(backend.errors):  # naming no stored report
            raw.execute(
                "INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) "
                "VALUES ('r-000000000000', 'none', '2030-01-01T00:00:00.000000Z', 'eve')"
            )
    with EventStore(db) as store:
        assert store.counts() == {"total": 1, "active": 1, "retracted": 0}
