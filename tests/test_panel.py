"""The panel (MODEL.md §7, issue 23): rounds in the store (both backends, append-only), the
judgments in force at a date, the anonymised feedback, letters that do not follow an expert,
convergence, experts' forecasts and performance weights checked by hand, no hindsight."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from forecaster.analysis import panel as ap
from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.loading import load_priors
from forecaster.store.events import EventStore
from forecaster.store.resolutions import Resolution, add_resolution
from forecaster.store.rounds import in_force, list_rounds
from forecaster.workflow import panel as wp
from tests.backends import Backend

DATA = Path(__file__).parent / "data"
UTC = dt.UTC


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def mini_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    root = tmp_path / "mini"
    shutil.copytree(DATA / "mini", root / "priors")
    monkeypatch.setenv("FORECAST_WORKSPACE", str(root))
    return Workspace(root)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def close(ws: Workspace, day: dt.date, label: str = "") -> None:
    wp.close_round(ws, label=label, who="facilitator", now=dt.datetime.combine(day, dt.time(12), tzinfo=UTC))


# ---------------------------------------------------------------------------------------------
# Rounds in the store
# ---------------------------------------------------------------------------------------------


def test_rounds_on_both_backends_append_only(backend_ws: Workspace, backend: Backend, runner: CliRunner) -> None:
    code, _, err = run(runner, "panel", "close", "--label", "first")
    assert code == 0 and "closed panel round 1" in err
    edit(backend_ws.priors_dir / "experts" / "defence_economist.yaml", "heightened: 0.4, contained: 0.6",
         "heightened: 0.5, contained: 0.5")
    assert run(runner, "panel", "close", "--label", "second")[0] == 0
    code, out, _ = run(runner, "panel", "rounds", "--json")
    rounds = json.loads(out)
    assert [r["round"] for r in rounds] == [1, 2] and rounds[1]["label"] == "second"
    # round 1 keeps the file as it was, whatever the folder says now
    stored = wp.list_rounds(backend_ws)
    assert "heightened: 0.4, contained: 0.6" in stored[0].experts["defence_economist.yaml"]
    assert "heightened: 0.5, contained: 0.5" in stored[1].experts["defence_economist.yaml"]
    with backend.raw(str(backend_ws.db)) as conn:
        for sql in ("UPDATE panel_rounds SET label = 'x'", "DELETE FROM panel_rounds"):
            with pytest.raises(backend.errors):
                conn.execute(sql)
    assert len(wp.list_rounds(backend_ws)) == 2
    # history and the status on that backend too
    code, out, _ = run(runner, "panel", "history", "--table", "encirclement", "--json")
    hist = json.loads(out)
    assert code == 0 and hist[0]["moves"][0]["expert"] == "defence_economist"


def test_init_closes_round_one(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, _ = run(runner, "init", str(tmp_path / "w"))
    assert code == 0
    monkeypatch.setenv("FORECAST_WORKSPACE", str(tmp_path / "w"))
    rounds = json.loads(run(runner, "panel", "rounds", "--json")[1])
    assert [r["round"] for r in rounds] == [1] and rounds[0]["label"] == wp.BUNDLED_LABEL
    assert len(rounds[0]["files"]) == 4


def test_close_refuses_an_invalid_folder(ws: Workspace, runner: CliRunner) -> None:
    edit(ws.priors_dir / "experts" / "defence_economist.yaml", "heightened: 0.4", "heightened: 1.4")
    code, _, err = run(runner, "panel", "close")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not ws.has_store() or wp.list_rounds(ws) == []


def test_feedback_for_a_round_that_does_not_exist(ws: Workspace, runner: CliRunner, tmp_path: Path) -> None:
    assert run(runner, "panel", "close")[0] == 0
    code, _, err = run(runner, "panel", "feedback", "--round", "7", "-o", str(tmp_path / "fb"))
    assert code == 2 and "no panel round 7" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "fb").exists()


@pytest.mark.parametrize(("text", "word"), [("tau: -1", "tau"), ("floor: 0.7", "floor"), ("weights: best", "weights")])
def test_weight_setting_out_of_range(ws: Workspace, runner: CliRunner, text: str, word: str) -> None:
    with (ws.priors_dir / "settings.yaml").open("a") as f:
        f.write(f"\n{text}\n")
    for args in (("priors", "validate"), ("update", "--exact"), ("panel", "close")):
        code, _, err = run(runner, *args)
        assert code == 2 and word in err, (args, err)
    assert not ws.has_store() or wp.list_rounds(ws) == []


def test_a_renamed_expert_file(ws: Workspace, runner: CliRunner) -> None:
    assert run(runner, "panel", "close")[0] == 0
    old = ws.priors_dir / "experts" / "defence_economist.yaml"
    new = ws.priors_dir / "experts" / "defence_economist_2.yaml"
    new.write_text(old.read_text().replace("id: defence_economist", "id: defence_economist_2"))
    old.unlink()
    edit(ws.priors_dir / "settings.yaml", "defence_economist:", "defence_economist_2:")
    code, _, err = run(runner, "panel", "close")
    assert code == 2 and "previously: defence_economist" in err and len(err.strip().splitlines()) == 1
    assert len(wp.list_rounds(ws)) == 1
    edit(new, "id: defence_economist_2", "id: defence_economist_2\npreviously: defence_economist")
    assert run(runner, "panel", "close")[0] == 0
    hist = wp.history(ws, "encirclement")
    assert not hist[0].moves  # same judgments, same expert under a new file name
    # a previously: that names nobody of the last round is refused
    edit(new, "previously: defence_economist", "previously: nobody_known")
    code, _, err = run(runner, "panel", "close")
    assert code == 2 and "nobody_known" in err


def test_new_expert_declared(ws: Workspace, runner: CliRunner) -> None:
    assert run(runner, "panel", "close")[0] == 0
    old = ws.priors_dir / "experts" / "defence_economist.yaml"
    (ws.priors_dir / "experts" / "newcomer.yaml").write_text(old.read_text().replace("id: defence_economist", "id: newcomer"))
    old.unlink()
    edit(ws.priors_dir / "settings.yaml", "defence_economist:", "newcomer:")
    assert run(runner, "panel", "close")[0] == 2
    code, _, err = run(runner, "panel", "close", "--new", "newcomer")
    assert code == 0, err


# ---------------------------------------------------------------------------------------------
# Judgments in force
# ---------------------------------------------------------------------------------------------


def test_the_round_in_force_at_a_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = mini_ws(tmp_path, monkeypatch)
    a = ws.priors_dir / "experts" / "analyst_a.yaml"
    close(ws, dt.date(2026, 1, 10), "one")
    edit(a, "heightened: 0.6, contained: 0.4", "heightened: 0.9, contained: 0.1")
    close(ws, dt.date(2026, 3, 1), "two")
    edit(a, "heightened: 0.9, contained: 0.1", "heightened: 0.2, contained: 0.8")  # the open round
    rounds = list_rounds(EventStore(ws.db))
    assert in_force(rounds, dt.date(2026, 1, 9)) is None
    assert in_force(rounds, dt.date(2026, 1, 10)).number == 1  # type: ignore[union-attr]
    assert in_force(rounds, dt.date(2026, 2, 28)).number == 1  # type: ignore[union-attr]
    assert in_force(rounds, dt.date(2026, 3, 1)).number == 2  # type: ignore[union-attr]

    def p_a(day: dt.date) -> float:
        info = wp.in_force_at(ws, day)
        return next(j.probs[0] for j in info.priors.judgments if j.source == "analyst_a" and j.node == "encirclement")

    assert p_a(dt.date(2025, 12, 1)) == 0.2  # no round yet: the folder as it is
    assert p_a(dt.date(2026, 2, 1)) == 0.6
    assert p_a(dt.date(2026, 6, 1)) == 0.9
    # a past round is rebuilt from the store after its files changed; same hash as the folder would give
    assert wp.in_force_at(ws, dt.date(2026, 2, 1)).priors.hash != load_priors(ws.priors_dir).hash
    fp = wp.fingerprint_in_force(ws, dt.date(2026, 2, 1), "x")
    assert fp == wp.in_force_at(ws, dt.date(2026, 2, 1)).priors.hash


def test_update_records_the_round_it_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forecaster.store import runs
    from forecaster.workflow.updating import update_forecast

    ws = mini_ws(tmp_path, monkeypatch)
    close(ws, dt.date(2026, 1, 10), "one")
    edit(ws.priors_dir / "experts" / "analyst_a.yaml", "heightened: 0.6, contained: 0.4", "heightened: 0.9, contained: 0.1")
    folder = load_priors(ws.priors_dir)
    result, _ = update_forecast(ws, folder, as_of=dt.date(2026, 2, 1), exact=True)
    assert result.priors_hash == wp.in_force_at(ws, dt.date(2026, 2, 1)).priors.hash != folder.hash
    with EventStore(ws.db) as store:
        record = runs.list_runs(store, run_ids=[result.run_id])[0]
    assert record.settings["panel"]["round"] == 1
    assert record.settings["panel"]["weights"]["mode"] == "stated"


# ---------------------------------------------------------------------------------------------
# Feedback: anonymity and letters
# ---------------------------------------------------------------------------------------------


def test_feedback_names_nobody_in_any_format(ws: Workspace, runner: CliRunner, tmp_path: Path) -> None:
    # an expert who signs a rationale with their own id and role is not named either
    edit(ws.priors_dir / "experts" / "defence_economist.yaml",
         'rationale: "The Serbo-Croat', 'rationale: "defence_economist (Defence economist) says: The Serbo-Croat')
    assert run(runner, "panel", "close")[0] == 0
    code, md, _ = run(runner, "panel", "feedback")
    assert code == 0 and "| A |" in md
    assert run(runner, "panel", "feedback", "-o", str(tmp_path / "fb"))[0] == 0
    texts = [md, *(p.read_text() for p in sorted((tmp_path / "fb").iterdir()))]
    assert len(texts) == 4
    priors = load_priors(ws.priors_dir)
    names: set[str] = set()
    for e in priors.experts:
        stem = Path(e.file).stem
        names |= {e.id, e.id.replace("_", " "), stem, Path(e.file).name, e.role}
        if e.reviewed_by:
            names.add(e.reviewed_by)
    for text in texts:
        low = text.lower()
        for name in names:
            assert name.lower() not in low, name
    fb = json.loads(texts[-2]) if texts[-2].lstrip().startswith("{") else json.loads(next(t for t in texts if t.lstrip().startswith("{")))
    widths = [max(hi - lo for lo, hi in t["spread"]) for t in fb["tables"]]
    assert widths == sorted(widths, reverse=True)  # widest disagreement first


def test_feedback_html_is_escaped(ws: Workspace, runner: CliRunner, tmp_path: Path) -> None:
    edit(ws.priors_dir / "experts" / "defence_economist.yaml",
         'rationale: "The Serbo-Croat', 'rationale: "<script>alert(1)</script> The Serbo-Croat')
    assert run(runner, "panel", "close")[0] == 0
    assert run(runner, "panel", "feedback", "-o", str(tmp_path / "fb"))[0] == 0
    html = (tmp_path / "fb" / "panel-round-1.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = (tmp_path / "fb" / "panel-round-1.md").read_text()
    assert "\\<script>" in md and "| <script>" not in md


def test_letters_do_not_follow_an_expert(ws: Workspace) -> None:
    a = ws.priors_dir / "experts" / "defence_economist.yaml"
    for i in range(6):
        edit(a, "confidence: low", "confidence: medium") if i % 2 == 0 else edit(a, "confidence: medium", "confidence: low")
        wp.close_round(ws, label=f"r{i + 1}", who="f")
    rounds = wp.list_rounds(ws)
    letters = [wp.round_letters(rounds, r.number) for r in rounds]
    for before, after in zip(letters, letters[1:], strict=False):
        assert sorted(before.values()) == sorted(after.values()) == ["A", "B", "C", "D"]
        assert all(before[k] != after[k] for k in before)
    # a plain seeded shuffle is deterministic: the same round gives the same letters
    assert wp.round_letters(rounds, 3) == letters[2]


def test_outlier_is_outside_every_other_interval() -> None:
    from forecaster.analysis.tables import beta_quantile
    from forecaster.model.priors import Judgment

    def j(src: str, p: float, n: float) -> Judgment:
        return Judgment(src, "h", (), (p, 1 - p), n, "x", (None, None), None, None, "f", "")

    js = [j("a", 0.5, 60), j("b", 0.55, 60), j("c", 0.95, 60)]
    assert ap.outliers(js, beta_quantile) == [False, False, True]
    assert ap.outliers([j("a", 0.5, 5), j("b", 0.7, 5)], beta_quantile) == [False, False]  # wide intervals


# ---------------------------------------------------------------------------------------------
# Experts' forecasts and weights, by hand
# ---------------------------------------------------------------------------------------------


def test_an_experts_forecast_by_hand() -> None:
    from forecaster.model.priors import Judgment

    priors = load_priors(DATA / "mini")
    # a hand-made third expert who judged encirclement only (the files require every hypothesis
    # table; indicator tables are where the pool of the others fills in, and a prior marginal of
    # a hypothesis does not depend on them: this case makes the hypothesis part of the rule visible)
    c = Judgment("analyst_c", "encirclement", (), (0.2, 0.8), 20.0, "medium", (None, None), "r", "c", "f", "")
    priors = dataclasses.replace(priors, judgments=(*priors.judgments, c))
    got = ap.prior_marginals(ap.expert_view(priors, "analyst_c"))
    # C's own encirclement; escalation | encirclement pooled from A and B (linear, equal weights)
    esc_a = {"heightened": (0.6, 0.1, 0.3), "contained": (0.4, 0.05, 0.55)}
    esc_b = {"heightened": (0.7, 0.15, 0.15), "contained": (0.5, 0.05, 0.45)}
    p_enc = {"heightened": 0.2, "contained": 0.8}
    want = sum(p_enc[e] * (np.array(esc_a[e]) + np.array(esc_b[e])) / 2 for e in p_enc)
    assert np.allclose(got["escalation"], want, atol=1e-12)
    assert np.allclose(got["encirclement"], [0.2, 0.8], atol=1e-12)
    # A's forecast uses A's own tables throughout (and the catalogue's indicator tables change nothing)
    a = ap.expert_forecasts(load_priors(DATA / "mini"))["analyst_a"]
    assert np.allclose(a["encirclement"], [0.6, 0.4], atol=1e-12)
    assert np.allclose(a["escalation"], 0.6 * np.array(esc_a["heightened"]) + 0.4 * np.array(esc_a["contained"]), atol=1e-12)


def test_performance_weights_by_hand() -> None:
    scores = {"a": math.log(0.8) + math.log(0.6), "b": math.log(0.3) + math.log(0.5)}
    w = ap.performance_weights(scores, {"a": 1.0, "b": 1.0}, tau=1.0, floor=0.0)
    pa, pb = 0.8 * 0.6, 0.3 * 0.5
    assert w["a"] == pytest.approx(pa / (pa + pb)) and w["b"] == pytest.approx(pb / (pa + pb))
    # tempering and stated weights: w ∝ w0 · (Π p)^τ
    w = ap.performance_weights(scores, {"a": 1.0, "b": 3.0}, tau=0.5, floor=0.0)
    ra, rb = 1.0 * pa**0.5, 3.0 * pb**0.5
    assert w["a"] == pytest.approx(ra / (ra + rb))
    # the floor holds exactly, and the weights still sum to one
    w = ap.performance_weights({"a": 0.0, "b": -50.0, "c": -60.0}, dict.fromkeys("abc", 1.0), tau=1.0, floor=0.1)
    assert w["b"] == pytest.approx(0.1) and w["c"] == pytest.approx(0.1) and w["a"] == pytest.approx(0.8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-40, 0), min_size=1, max_size=8),
    st.floats(0.0, 0.12),
    st.floats(0.05, 5),
)
def test_weights_floored_and_summing_to_one(logs: list[float], floor: float, tau: float) -> None:
    experts = {f"e{i}": 1.0 for i in range(len(logs))}
    w = ap.performance_weights({f"e{i}": x for i, x in enumerate(logs)}, experts, tau=tau, floor=floor)
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    assert min(w.values()) >= floor - 1e-12


def test_a_back_test_never_uses_a_resolution_from_its_future(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = mini_ws(tmp_path, monkeypatch)
    with (ws.priors_dir / "settings.yaml").open("a") as f:
        f.write("weights: performance\ntau: 1\nfloor: 0.02\n")
    close(ws, dt.date(2024, 1, 1), "one")
    with EventStore(ws.db) as store:
        add_resolution(store, Resolution("encirclement", "heightened", dt.date(2024, 1, 1), dt.date(2024, 12, 31), "r", "s"), analyst="t")
    before = wp.in_force_at(ws, dt.date(2025, 3, 1))
    assert before.basis.resolutions and len(before.basis.resolutions) == 1
    assert before.basis.warning  # fewer than five
    with EventStore(ws.db) as store:  # a resolution whose period ends on the as-of date: not yet
        add_resolution(store, Resolution("encirclement", "contained", dt.date(2025, 1, 1), dt.date(2025, 3, 1), "r", "s"), analyst="t")
    again = wp.in_force_at(ws, dt.date(2025, 3, 1))
    assert again.basis.weights == before.basis.weights and again.basis.resolutions == before.basis.resolutions
    later = wp.in_force_at(ws, dt.date(2025, 3, 2))
    assert len(later.basis.resolutions) == 2 and later.basis.weights != before.basis.weights
    # by hand: A said heightened 0.6, B 0.4 (round in force at 2024-01-01)
    w = before.basis.weights
    assert w["analyst_a"] == pytest.approx(0.6 / (0.6 + 0.4))
    # the pooling uses them, the catalogue keeps its share, and the hash says so
    assert before.priors.weights["analyst_a"] + before.priors.weights["analyst_b"] == pytest.approx(2.0)
    assert before.priors.hash != before.equal.hash  # type: ignore[union-attr]


def test_scores_and_audit_with_performance_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    ws = mini_ws(tmp_path, monkeypatch)
    with (ws.priors_dir / "settings.yaml").open("a") as f:
        f.write("weights: performance\n")
    close(ws, dt.date(2024, 1, 1), "one")
    with EventStore(ws.db) as store:
        add_resolution(store, Resolution("encirclement", "heightened", dt.date(2024, 1, 1), dt.date(2024, 12, 31), "r", "s"), analyst="t")
    code, out, err = run(runner, "panel", "scores", "--json")
    assert code == 0, err
    data = json.loads(out)
    by = {x["who"]: x for x in data["experts"]}
    assert by["analyst_a"]["resolutions"] == 1
    assert by["analyst_a"]["brier"] == pytest.approx(2 * 0.4**2)
    assert data["equal_weight_pool"]["resolutions"] == data["prior_mean_pool"]["resolutions"] == 1
    code, out, err = run(runner, "priors", "audit", "--json")
    audit = json.loads(out)
    assert audit["weights"]["basis"]["mode"] == "performance"
    assert any(f["kind"] == "performance_weights_thin" for f in audit["findings"])
    code, md, _ = run(runner, "priors", "audit", "--markdown")
    assert "## Pooling weights" in md and "prior, equal weights" in md
    code, _, err = run(runner, "priors", "show", "--json")
    assert code == 0 and "performance weights" in err


def test_status_names_who_changed_what(ws: Workspace, runner: CliRunner) -> None:
    assert run(runner, "panel", "close")[0] == 0
    edit(ws.priors_dir / "experts" / "defence_economist.yaml", 'rationale: "The Serbo-Croat',
         'rationale: "New reading. The Serbo-Croat')
    code, out, _ = run(runner, "panel", "status", "--json")
    s = json.loads(out)
    assert code == 0 and s["last_round"] == 1
    assert [(c["expert"], c["node"]) for c in s["changes"]] == [("defence_economist", "encirclement")]
    assert "+New reading." in s["changes"][0]["rationale_diff"]


def test_convergence_settles() -> None:
    tr = ap.TableRound
    h = ap.TableHistory("x", (), ("a", "b"), (tr(1, (0.5, 0.5), 5, ((0.3, 0.7), (0.3, 0.7)), 2),
                                               tr(2, (0.53, 0.47), 6, ((0.4, 0.6), (0.4, 0.6)), 2)), ())
    assert h.settled is True
    moved = dataclasses.replace(h, rounds=(h.rounds[0], tr(2, (0.6, 0.4), 6, ((0.4, 0.6), (0.4, 0.6)), 2)))
    assert moved.settled is False
    wider = dataclasses.replace(h, rounds=(h.rounds[0], tr(2, (0.5, 0.5), 6, ((0.2, 0.8), (0.2, 0.8)), 2)))
    assert wider.settled is False


def test_beta_quantile_matches_scipy() -> None:
    from scipy.special import betainc, betaincinv

    rng = np.random.default_rng(7)
    for a, b, q in zip(rng.uniform(0.05, 300, 400), rng.uniform(0.05, 300, 400), rng.uniform(0.001, 0.999, 400), strict=True):
        assert ap.beta_quantile(q, a, b) == pytest.approx(float(betaincinv(a, b, q)), abs=1e-9)
        x = float(rng.uniform())
        assert ap.beta_cdf(x, a, b) == pytest.approx(float(betainc(a, b, x)), abs=1e-10)
