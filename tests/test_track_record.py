"""The track record (issue 14, MODEL.md §6): which forecasts resolve (a horizon not yet covered is
never scored, a retracted resolution unscores), scores equal to forecaster.analysis.scores on
hand-made runs, the backfill selection, `forecast score` (tables, JSON, CSV, PNG) and the brief's
"Track record" section; and the issue's end-to-end check on a fresh workspace."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from forecaster.analysis.scores import baseline_score, brier, calibration, log_score, rps
from forecaster.cli.main import app
from forecaster.core.workspace import Workspace, init_workspace
from forecaster.model.loading import load_priors
from forecaster.model.priors import Priors
from forecaster.store.events import EventStore
from forecaster.store.resolutions import Resolution, add_resolution, retract_resolution, states_of
from forecaster.workflow.track_record import add_months, track_record
from tests.helpers import edit_yaml

D = dt.date
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ESC = ("grey_zone", "annexation", "de_escalation")


def put_run(
    store: EventStore,
    run_id: str,
    as_of: str,
    states: dict[str, dict[str, tuple[float, float]]],
    *,
    kind: str = "update",
    evidence: str = "store",
    priors_hash: str = "hand-made",
    recorded_at: str = "2026-01-01T00:00:00.000000Z",
) -> None:
    """A run record written straight into the run log: hypothesis -> state -> (prior, posterior)."""
    db = store._db
    db.execute(
        "INSERT INTO runs (run_id, kind, evidence, recorded_at, as_of, window_start, priors_hash, events_hash, "
        "settings_hash, settings, seed, version, sampler, reports, r_hat_max, ess_min, divergences, wall_seconds, "
        "netcdf, previous_run_id, result) VALUES (?, ?, ?, ?, ?, ?, ?, 'e', 's', '{}', 0, 't', 'exact', 0, NULL, NULL, "
        "0, 0.0, NULL, NULL, '{}')",
        (run_id, kind, evidence, recorded_at, as_of, as_of, priors_hash),
    )
    db.executemany(
        "INSERT INTO run_states (run_id, hypothesis, state, position, prior, posterior, exact) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (run_id, h, s, k, pr, po, po)
            for h, by_state in states.items()
            for k, (s, (pr, po)) in enumerate(by_state.items())
        ],
    )


def esc(prior: tuple[float, float, float], post: tuple[float, float, float]) -> dict[str, dict[str, tuple[float, float]]]:
    return {"escalation": {s: (a, b) for s, a, b in zip(ESC, prior, post, strict=True)}}


def resolve(store: EventStore, priors: Priors, state: str, start: str, end: str, hyp: str = "escalation",
            why: str = "hand-made") -> str:
    r = add_resolution(store, Resolution(hyp, state, D.fromisoformat(start), D.fromisoformat(end), why, "src"),
                       analyst="ana", hypotheses=states_of(priors))
    assert r.id is not None
    return r.id


@pytest.fixture
def priors(ws: Workspace) -> Priors:
    return load_priors(ws.priors_dir)


def invoke(runner: CliRunner, ws: Workspace, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["-w", str(ws.root), *args])
    return r.exit_code, r.stdout, r.stderr


# ---------------------------------------------------------------------------------------------
# Which forecasts resolve
# ---------------------------------------------------------------------------------------------


def test_add_months() -> None:
    assert add_months(D(2024, 3, 12), 12) == D(2025, 3, 12)
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)
    assert add_months(D(2024, 2, 29), 12) == D(2025, 2, 28)
    assert add_months(D(2024, 11, 30), 3) == D(2025, 2, 28)


def test_a_horizon_not_yet_covered_is_never_scored(ws: Workspace, priors: Priors) -> None:
    assert priors.horizon_months == 12
    p = esc((0.5, 0.3, 0.2), (0.7, 0.2, 0.1))
    with EventStore(ws.db_path) as store:
        for rid, day in (("before", "2022-12-31"), ("first", "2023-01-01"), ("last", "2024-03-12"),
                         ("late", "2024-03-13"), ("recent", "2025-06-01")):
            put_run(store, rid, day, p)
        tr = track_record(store, priors)
        assert tr.resolved == 0 and tr.pending == 5  # no resolution: nothing resolves
        rid = resolve(store, priors, "grey_zone", "2023-01-01", "2025-03-12")
        tr = track_record(store, priors)
    (h,) = [h for h in tr.hypotheses if h.hypothesis == "escalation"]
    # [d, d + 12 months] must lie inside [2023-01-01, 2025-03-12]: as of 2023-01-01 … 2024-03-12 only.
    assert sorted(f.run_id for f in tr.forecasts) == ["first", "last"]
    assert (h.resolved, h.pending, h.forecasts) == (2, 3, 5)
    assert {f.resolution_id for f in tr.forecasts} == {rid} and h.resolutions == (rid,)
    assert (h.first, h.last) == (D(2023, 1, 1), D(2024, 3, 12))
    assert all(f.horizon_end == add_months(f.as_of, 12) for f in tr.forecasts)
    # The other hypotheses have neither forecasts nor scores.
    assert all(o.resolved == 0 and o.forecasts == 0 for o in tr.hypotheses if o.hypothesis != "escalation")


def test_a_retracted_resolution_unscores_its_forecasts(ws: Workspace, priors: Priors) -> None:
    with EventStore(ws.db_path) as store:
        put_run(store, "a", "2023-02-01", esc((0.5, 0.3, 0.2), (0.7, 0.2, 0.1)))
        rid = resolve(store, priors, "grey_zone", "2023-01-01", "2024-12-31")
        assert track_record(store, priors).resolved == 1
        retract_resolution(store, rid, reason="misread", who="ana")
        tr = track_record(store, priors)
        assert tr.resolved == 0 and tr.retracted == 1 and tr.resolutions == ()
        # The correction: another state, and the forecast is scored against it.
        resolve(store, priors, "de_escalation", "2023-01-01", "2024-12-31")
        (f,) = track_record(store, priors).forecasts
    assert f.observed == "de_escalation"


def test_a_brief_sees_only_what_was_recorded_by_its_end(ws: Workspace, priors: Priors) -> None:
    with EventStore(ws.db_path) as store:
        put_run(store, "a", "2023-02-01", esc((0.5, 0.3, 0.2), (0.7, 0.2, 0.1)))
        rid = resolve(store, priors, "grey_zone", "2023-01-01", "2024-12-31")
        past = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        assert track_record(store, priors, known_at=past).resolutions == ()
        now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        assert track_record(store, priors, known_at=now).resolved == 1
        retract_resolution(store, rid, reason="x", who="ana")
        assert track_record(store, priors, known_at=now).resolved == 0


# ---------------------------------------------------------------------------------------------
# The numbers are analysis.scores'
# ---------------------------------------------------------------------------------------------


def test_scores_equal_analysis_scores_on_hand_made_runs(ws: Workspace, priors: Priors) -> None:
    rng = np.random.default_rng(7)
    posts = rng.dirichlet([2.0, 1.0, 1.0], size=40)
    prior = (0.5, 0.3, 0.2)
    with EventStore(ws.db_path) as store:
        for i, p in enumerate(posts):
            put_run(store, f"run{i:02d}", (D(2021, 1, 1) + dt.timedelta(days=7 * i)).isoformat(), esc(prior, tuple(p)))
        resolve(store, priors, "annexation", "2021-01-01", "2022-06-30")  # covers as of ≤ 2021-06-30
        resolve(store, priors, "grey_zone", "2022-07-01", "2024-12-31")  # as of ≥ 2022-07-01: none of them
        tr = track_record(store, priors, bins=5)
    days = [D(2021, 1, 1) + dt.timedelta(days=7 * i) for i in range(40)]
    hit = np.array([d <= D(2021, 6, 30) for d in days])
    p, o = posts[hit], np.ones(int(hit.sum()), dtype=int)
    q = np.tile(prior, (len(o), 1))
    (h,) = [h for h in tr.hypotheses if h.hypothesis == "escalation"]
    assert h.resolved == len(o) == 26 and h.pending == 14
    s = h.summary
    assert s.forecast is not None and s.prior is not None and s.skill is not None
    assert s.forecast.brier == pytest.approx(brier(p, o).mean())
    assert s.forecast.log == pytest.approx(log_score(p, o).mean())
    assert s.forecast.baseline == pytest.approx(baseline_score(p, o).mean())
    assert s.prior.brier == pytest.approx(brier(q, o).mean())
    assert s.prior.log == pytest.approx(np.log(0.3))
    assert s.forecast.rps is None and s.prior.rps is None  # escalation's states are not ordered
    assert s.skill == pytest.approx(1 - brier(p, o).mean() / brier(q, o).mean())
    expected = calibration(p, o, 5, states=ESC)
    assert [b.count for b in h.calibration.bins] == [b.count for b in expected.bins]
    assert [b.observed for b in h.calibration.bins] == [b.observed for b in expected.bins]
    assert [b.mean_forecast for b in h.calibration.bins] == pytest.approx([b.mean_forecast for b in expected.bins])
    per = {f.run_id: f for f in tr.forecasts}
    f0 = per["run00"]
    assert f0.brier == pytest.approx(brier(posts[0], 1)[0]) and f0.prior_brier == pytest.approx(brier(prior, 1)[0])
    assert f0.observed == "annexation" and f0.kind == "update"


def test_rps_where_ordered_and_uniform_scores_baseline_zero(ws: Workspace) -> None:
    edit_yaml(ws.priors_dir / "network.yaml",
              lambda d: next(h for h in d["hypotheses"] if h["id"] == "escalation").update(ordered=True))
    priors = load_priors(ws.priors_dir)
    third = 1 / 3
    p = np.array([[0.6, 0.3, 0.1], [third, third, third]])
    with EventStore(ws.db_path) as store:
        put_run(store, "a", "2021-01-03", esc((third, third, third), tuple(p[0])))
        put_run(store, "b", "2021-01-10", esc((third, third, third), tuple(p[1])))
        resolve(store, priors, "de_escalation", "2021-01-01", "2022-12-31")
        tr = track_record(store, priors)
    (h,) = [h for h in tr.hypotheses if h.hypothesis == "escalation"]
    o = np.array([2, 2])
    assert h.ordered and h.summary.forecast is not None and h.summary.prior is not None
    assert h.summary.forecast.rps == pytest.approx(rps(p, o).mean())
    assert h.summary.prior.baseline == pytest.approx(0.0, abs=1e-9)  # the uniform prior scores baseline 0
    assert [f.baseline for f in tr.forecasts if f.run_id == "b"][0] == pytest.approx(0.0, abs=1e-9)


def test_which_runs_are_scored(ws: Workspace, priors: Priors) -> None:
    p = esc((0.5, 0.3, 0.2), (0.7, 0.2, 0.1))
    with EventStore(ws.db_path) as store:
        put_run(store, "update", "2023-01-08", p)
        put_run(store, "replay", "2023-01-08", p, evidence="file")  # an --events replay: not ours
        put_run(store, "bf-old", "2023-01-08", p, kind="backfill", evidence="store-event-time", priors_hash=priors.hash,
                recorded_at="2026-01-01T00:00:00.000000Z")
        put_run(store, "bf-new", "2023-01-08", p, kind="backfill", evidence="store-event-time", priors_hash=priors.hash,
                recorded_at="2026-02-01T00:00:00.000000Z")
        put_run(store, "bf-other-priors", "2023-01-15", p, kind="backfill", evidence="store-event-time",
                priors_hash="older")
        put_run(store, "old-states", "2023-01-22", {"escalation": {"grey_zone": (0.5, 0.6), "quiet": (0.5, 0.4)}})
        put_run(store, "later", "2023-03-01", p)
        resolve(store, priors, "grey_zone", "2023-01-01", "2024-12-31")
        default = track_record(store, priors)
        with_backfill = track_record(store, priors, kinds=("update", "backfill"))
        since = track_record(store, priors, since=D(2023, 2, 1))
        only = track_record(store, priors, hypothesis="escalation")
    assert sorted(f.run_id for f in default.forecasts) == ["later", "update"]
    assert sorted(f.run_id for f in with_backfill.forecasts) == ["bf-new", "later", "update"]
    (h,) = [h for h in with_backfill.hypotheses if h.hypothesis == "escalation"]
    assert dict(h.kinds) == {"backfill": 1, "update": 2} and h.skipped == 1
    assert [f.run_id for f in since.forecasts] == ["later"]
    assert [h.hypothesis for h in only.hypotheses] == ["escalation"]


# ---------------------------------------------------------------------------------------------
# `forecast score`
# ---------------------------------------------------------------------------------------------


def _scored_workspace(ws: Workspace, priors: Priors) -> None:
    with EventStore(ws.db_path) as store:
        for i in range(12):
            post = (0.5 + 0.03 * i, 0.3 - 0.015 * i, 0.2 - 0.015 * i)
            put_run(store, f"r{i:02d}", (D(2023, 1, 1) + dt.timedelta(days=7 * i)).isoformat(), esc((0.5, 0.3, 0.2), post))
        put_run(store, "pending", "2025-01-05", esc((0.5, 0.3, 0.2), (0.6, 0.3, 0.1)))
        resolve(store, priors, "grey_zone", "2023-01-01", "2024-12-31")


def test_score_json_shape(runner: CliRunner, ws: Workspace, priors: Priors) -> None:
    _scored_workspace(ws, priors)
    code, out, err = invoke(runner, ws, "score", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema"] == "forecast-track-record/1"
    assert set(data) == {"schema", "horizon_months", "bins", "kinds", "since", "resolved", "pending", "resolutions",
                         "retracted_resolutions", "hypotheses", "forecasts"}
    assert (data["resolved"], data["pending"], data["bins"], data["kinds"]) == (12, 1, 10, ["update"])
    esc_h = next(h for h in data["hypotheses"] if h["hypothesis"] == "escalation")
    assert set(esc_h) == {"hypothesis", "states", "ordered", "forecasts", "resolved", "pending", "skipped", "kinds",
                          "first", "last", "scores", "prior", "skill", "resolutions", "calibration"}
    assert set(esc_h["scores"]) == {"brier", "log", "baseline", "rps"} and esc_h["skill"] > 0
    assert len(esc_h["calibration"]["bins"]) == 3 * 10
    assert sum(b["count"] for b in esc_h["calibration"]["bins"] if b["state"] == "grey_zone") == 12
    f = data["forecasts"][0]
    assert set(f) == {"run_id", "kind", "as_of", "horizon_end", "hypothesis", "resolution_id", "observed", "forecast",
                      "prior", "brier", "log", "baseline", "rps", "prior_brier", "prior_log", "prior_baseline",
                      "prior_rps"}
    code, out, _ = invoke(runner, ws, "score", "--json", "--bins", "4", "-H", "escalation")
    data = json.loads(out)
    assert [h["hypothesis"] for h in data["hypotheses"]] == ["escalation"]
    assert len(data["hypotheses"][0]["calibration"]["bins"]) == 12


def test_score_table_csv_plot(runner: CliRunner, ws: Workspace, priors: Priors, tmp_path: Path) -> None:
    _scored_workspace(ws, priors)
    code, out, err = invoke(runner, ws, "score")
    assert code == 0, err
    assert "Track record: 12 resolved forecasts" in out and "escalation" in out and "Calibration" in out
    assert "1 forecast pending" in err
    code, out, _ = invoke(runner, ws, "score", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["hypothesis"] for r in rows] == ["encirclement", "alignment", "escalation"]
    assert rows[2]["resolved"] == "12" and float(rows[2]["skill"]) > 0 and rows[0]["brier"] == ""
    png = tmp_path / "cal.png"
    code, _, err = invoke(runner, ws, "score", "--plot", str(png))
    assert code == 0 and png.read_bytes().startswith(PNG_MAGIC), err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-H", "escalaton"], "unknown hypothesis 'escalaton' (did you mean 'escalation'?)"),
        (["--json", "--csv"], "choose one of --json and --csv"),
        (["--backfill", "daily"], "only weekly"),
        (["--since", "2023-02-30"], "--since '2023-02-30' is not an ISO date"),
        (["--plot", "cal.svg"], "name the file FILE.png"),
        (["--plot", "/no/such/folder/cal.png"], "does not exist"),
        (["--bins", "0"], "0"),
    ],
)
def test_score_bad_usage(runner: CliRunner, ws: Workspace, args: list[str], message: str) -> None:
    code, _, err = invoke(runner, ws, "score", *args)
    assert code == 2 and message in err, err


def test_nothing_resolves_yet_says_why(runner: CliRunner, ws: Workspace, priors: Priors, tmp_path: Path) -> None:
    code, out, err = invoke(runner, ws, "score")
    assert code == 0 and out == "" and "no resolutions in force" in err
    with EventStore(ws.db_path) as store:
        put_run(store, "late", "2024-06-01", esc((0.5, 0.3, 0.2), (0.7, 0.2, 0.1)))
        resolve(store, priors, "grey_zone", "2023-01-01", "2024-12-31")
    png = tmp_path / "cal.png"
    code, out, err = invoke(runner, ws, "score", "--plot", str(png))
    assert code == 0 and "nothing resolves yet: 1 forecast pending" in " ".join(err.split())
    assert not png.exists()
    code, out, _ = invoke(runner, ws, "score", "--json")
    assert json.loads(out)["resolved"] == 0


# ---------------------------------------------------------------------------------------------
# The check, and the brief
# ---------------------------------------------------------------------------------------------


def test_fresh_workspace_import_and_score_backfill(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "new"
    code = runner.invoke(app, ["init", str(root)]).exit_code
    assert code == 0
    ws = Workspace(root)
    code, out, err = invoke(runner, ws, "event", "import", str(root / "scenarios" / "historical_events.yaml"))
    assert code == 0, err
    code, out, err = invoke(runner, ws, "resolutions", "import", str(root / "scenarios" / "resolutions.yaml"))
    assert (code, out) == (0, "added 3 resolutions; 0 already in the store\n"), err
    png = tmp_path / "cal.png"
    code, out, err = invoke(runner, ws, "score", "--backfill", "weekly", "--plot", str(png))
    assert code == 0, err
    assert "Track record:" in out and "weekly back-test" in out
    for hyp in ("encirclement", "alignment", "escalation"):
        assert hyp in out
    assert "backfill:" in err and f"wrote the reliability diagram to {png}" in " ".join(err.split())
    assert png.read_bytes().startswith(PNG_MAGIC)
    code, out, _ = invoke(runner, ws, "score", "--backfill", "weekly", "--json")
    data = json.loads(out)
    assert data["resolved"] > 100 and all(h["resolved"] > 0 for h in data["hypotheses"])
    assert all(f["kind"] == "backfill" for f in data["forecasts"])
    # Every scored horizon lies inside its resolution, which ends before the papers' last event.
    ends = {r["id"]: (r["from"], r["to"]) for r in data["resolutions"]}
    assert all(ends[f["resolution_id"]][0] <= f["as_of"] and f["horizon_end"] <= ends[f["resolution_id"]][1]
               for f in data["forecasts"])


def test_brief_gains_a_track_record_section(runner: CliRunner, ws: Workspace, priors: Priors, tmp_path: Path) -> None:
    _scored_workspace(ws, priors)
    out_dir = tmp_path / "briefs"
    code, _, err = invoke(runner, ws, "brief", "--exact", "--output", str(out_dir))
    assert code == 0, err
    (md_file,) = out_dir.glob("*.md")
    name = md_file.stem
    md = md_file.read_text(encoding="utf-8")
    html = (out_dir / f"{name}.html").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads((out_dir / f"{name}.json").read_text(encoding="utf-8"))
    assert "## Track record" in md and f"]({name}.calibration.png)" in md
    assert md.index("## Track record") < md.index("## Provenance")
    assert "<h2>Track record</h2>" in html and html.count("data:image/png;base64,") == 2
    assert (out_dir / f"{name}.calibration.png").read_bytes().startswith(PNG_MAGIC)
    tr = data["track_record"]
    assert tr["resolved"] == 12 and "forecasts" not in tr
    assert list(data)[-2:] == ["track_record", "provenance"]


def test_brief_without_resolutions_has_no_section(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    out_dir = tmp_path / "briefs"
    code, _, err = invoke(runner, ws, "brief", "--exact", "--output", str(out_dir))
    assert code == 0, err
    (md_file,) = out_dir.glob("*.md")
    assert "Track record" not in md_file.read_text(encoding="utf-8")
    assert "track_record" not in json.loads(md_file.with_suffix(".json").read_text(encoding="utf-8"))
    assert not list(out_dir.glob("*.calibration.png"))


def test_init_workspace_ships_the_resolutions(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    assert (ws.root / "scenarios" / "resolutions.yaml").is_file()


@pytest.mark.parametrize("args", [["score", "--backfill", "weekly"], ["resolutions", "list"], ["score", "--help"]])
def test_track_record_commands_never_import_pymc(ws: Workspace, args: list[str]) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from forecaster.cli.main import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED:' + ','.join(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "FORECAST_WORKSPACE": str(ws.root)})
    assert r.stdout.strip().splitlines()[-1] == "LOADED:", r.stderr


def test_backfill_on_an_empty_store_says_so(runner: CliRunner, ws: Workspace) -> None:
    code, out, err = invoke(runner, ws, "score", "--backfill", "weekly")
    assert code == 0 and "no reports in force" in err and "no resolutions in force" in err
