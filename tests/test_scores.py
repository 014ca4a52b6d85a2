"""Scores and calibration (MODEL.md §6): hand-computed cases, scikit-learn cross-checks, an
independent textbook RPS, properties, and the reliability diagram's bytes."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.analysis.reliability import reliability_png
from forecaster.analysis.scores import (
    EPS,
    baseline_score,
    brier,
    calibration,
    log_score,
    rps,
    score_summary,
)
from forecaster.core.errors import PriorsError
from forecaster.core.workspace import defaults_dir
from forecaster.core.yamlio import load_yaml
from forecaster.inference.scenarios import scenario_files
from forecaster.model.loading import load_priors
from tests.helpers import copy_mini, edit_yaml

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------- hand-computed


def test_brier_by_hand() -> None:
    p = [[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.8, 0.2, 0.0]]
    # (0.7−1)² + 0.2² + 0.1² = 0.14;  0.7² + 0.2² + (0.1−1)² = 1.34;  0.8² + (0.2−1)² + 0 = 1.28
    assert brier(p, [0, 2, 1]) == pytest.approx([0.14, 1.34, 1.28])


def test_brier_ends() -> None:
    assert brier([[0.0, 1.0, 0.0]], [1]) == pytest.approx([0.0])
    assert brier([[1.0, 0.0, 0.0]], [2]) == pytest.approx([2.0])


def test_log_score_by_hand() -> None:
    assert log_score([[0.7, 0.2, 0.1]], [0]) == pytest.approx([math.log(0.7)])
    assert log_score([[0.7, 0.2, 0.1]], [2]) == pytest.approx([math.log(0.1)])


def test_log_score_clips_a_zero_probability() -> None:
    out = log_score([[1.0, 0.0]], [1])
    assert np.isfinite(out).all() and out[0] == pytest.approx(math.log(EPS))


def test_baseline_score_by_hand() -> None:
    # 100 · log2(0.7 · 3) = 100 · log2(2.1)
    assert baseline_score([[0.7, 0.2, 0.1]], [0]) == pytest.approx([100 * math.log2(2.1)])
    # a certain and right binary forecast: 100 · log2(2) = 100
    assert baseline_score([[0.0, 1.0]], [1]) == pytest.approx([100.0])
    # half the uniform probability: −100
    assert baseline_score([[0.25, 0.75]], [0]) == pytest.approx([-100.0])


@pytest.mark.parametrize("k", [2, 3, 5, 7])
def test_uniform_forecast_scores_baseline_zero(k: int) -> None:
    p = np.full((k, k), 1.0 / k)
    assert baseline_score(p, np.arange(k)) == pytest.approx(np.zeros(k), abs=1e-9)


def test_rps_by_hand() -> None:
    p = [[0.7, 0.2, 0.1]] * 3
    # cumulative P = (0.7, 0.9). o=0: O = (1, 1) → 0.09 + 0.01; o=1: O = (0, 1) → 0.49 + 0.01;
    # o=2: O = (0, 0) → 0.49 + 0.81
    assert rps(p, [0, 1, 2]) == pytest.approx([0.10, 0.50, 1.30])
    # unnormalised: the worst case for K states is K − 1
    assert rps([[1.0, 0.0, 0.0, 0.0]], [3]) == pytest.approx([3.0])


def test_rps_of_two_states_is_half_the_brier() -> None:
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.5, 0.5]])
    o = np.array([1, 1, 0])
    assert rps(p, o) == pytest.approx(brier(p, o) / 2)


def test_single_vector_is_a_batch_of_one() -> None:
    assert brier([0.7, 0.2, 0.1], 0).shape == (1,)
    assert brier([0.7, 0.2, 0.1], 0) == pytest.approx([0.14])


@pytest.mark.parametrize(
    ("p", "o", "msg"),
    [
        ([[0.7, 0.2, 0.2]], [0], "sum to 1"),
        ([[1.2, -0.2]], [0], r"\[0, 1\]"),
        ([[0.5, 0.5]], [2], "state indices"),
        ([[0.5, 0.5]], [-1], "state indices"),
        ([[0.5, 0.5]], [0.0], "integer"),
        ([[0.5, 0.5], [0.5, 0.5]], [0], r"\(N,\)"),
        ([[1.0]], [0], "K ≥ 2"),
    ],
)
def test_bad_input_is_refused(p: list[list[float]], o: list[float], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        brier(p, o)


# ----------------------------------------------------------------------------- cross-checks


def _random_batch(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(k, 0.8), size=n), rng.integers(0, k, size=n)


@pytest.mark.parametrize(("k", "seed"), [(2, 1), (3, 2), (5, 3)])
def test_brier_matches_sklearn_per_state_sum(k: int, seed: int) -> None:
    brier_score_loss = pytest.importorskip("sklearn.metrics").brier_score_loss
    p, o = _random_batch(500, k, seed)
    # sklearn's binary Brier is the mean squared error for one state; the multi-class Brier of
    # MODEL.md is the sum over states, so its mean is the sum of the per-state losses.
    expected = sum(brier_score_loss((o == s).astype(int), p[:, s], pos_label=1) for s in range(k))
    assert float(np.mean(brier(p, o))) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("k", "seed"), [(2, 4), (3, 5), (5, 6)])
def test_log_score_matches_sklearn_log_loss(k: int, seed: int) -> None:
    log_loss = pytest.importorskip("sklearn.metrics").log_loss
    p, o = _random_batch(500, k, seed)
    p = (p + 1e-3) / (1 + k * 1e-3)  # no probability near 0, where the clipping rules differ
    expected = -log_loss(o, p, labels=list(range(k)))
    assert float(np.mean(log_score(p, o))) == pytest.approx(expected, rel=1e-12)


def _textbook_rps(probs: list[float], observed_category: int) -> float:
    """RPS as textbooks write it (e.g. Wilks), categories numbered 1..K:
    Σ_{m=1}^{K−1} (Σ_{i=1}^{m} p_i − Σ_{i=1}^{m} d_i)², d_i = 1 if i is the observed category."""
    k = len(probs)
    total = 0.0
    for m in range(1, k):
        forecast_cum = 0.0
        observed_cum = 0.0
        for i in range(1, m + 1):
            forecast_cum += probs[i - 1]
            observed_cum += 1.0 if i == observed_category else 0.0
        total += (forecast_cum - observed_cum) ** 2
    return total


@pytest.mark.parametrize(("k", "seed"), [(2, 7), (3, 8), (4, 9), (6, 10)])
def test_rps_matches_a_textbook_implementation(k: int, seed: int) -> None:
    p, o = _random_batch(200, k, seed)
    expected = [_textbook_rps(list(row), int(obs) + 1) for row, obs in zip(p, o, strict=True)]  # 1-based
    assert rps(p, o) == pytest.approx(expected, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- properties


@st.composite
def forecasts(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(2, 6))
    n = draw(st.integers(1, 8))
    weights = draw(
        st.lists(
            st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=k, max_size=k).filter(lambda w: sum(w) > 1e-6),
            min_size=n,
            max_size=n,
        )
    )
    p = np.array(weights) / np.array(weights).sum(axis=1, keepdims=True)
    o = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return p, o


@settings(max_examples=200, deadline=None)
@given(forecasts())
def test_score_ranges(case: tuple[np.ndarray, np.ndarray]) -> None:
    p, o = case
    k = p.shape[1]
    b, r = brier(p, o), rps(p, o)
    assert np.all(b >= 0.0) and np.all(b <= 2.0 + 1e-9)
    assert np.all(r >= 0.0) and np.all(r <= k - 1 + 1e-9)
    assert np.all(log_score(p, o) <= 1e-12)
    assert np.all(baseline_score(p, o) <= 100 * math.log2(k) + 1e-9)


@settings(max_examples=200, deadline=None)
@given(forecasts())
def test_perfect_forecast_scores_best(case: tuple[np.ndarray, np.ndarray]) -> None:
    p, o = case
    k = p.shape[1]
    perfect = np.eye(k)[o]
    assert brier(perfect, o) == pytest.approx(np.zeros(len(o)))
    assert rps(perfect, o) == pytest.approx(np.zeros(len(o)))
    assert log_score(perfect, o) == pytest.approx(np.zeros(len(o)))
    assert baseline_score(perfect, o) == pytest.approx(np.full(len(o), 100 * math.log2(k)))
    assert np.all(brier(p, o) >= brier(perfect, o))
    assert np.all(rps(p, o) >= rps(perfect, o))
    assert np.all(log_score(p, o) <= log_score(perfect, o))


# ----------------------------------------------------------------------------- summary


def test_score_summary_by_hand() -> None:
    p = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    prior = [[1 / 3, 1 / 3, 1 / 3]] * 2
    o = [0, 1]
    s = score_summary(p, prior, o, ordered=True)
    assert s.n == 2
    assert s.forecast is not None and s.prior is not None
    # forecast Brier: 0.14 and 0.01 + 0.04 + 0.01 = 0.06 → mean 0.10; uniform: 2/3 each
    assert s.forecast.brier == pytest.approx(0.10)
    assert s.prior.brier == pytest.approx(2 / 3)
    assert s.skill == pytest.approx(1 - 0.10 / (2 / 3))
    assert s.forecast.log == pytest.approx((math.log(0.7) + math.log(0.8)) / 2)
    assert s.prior.baseline == pytest.approx(0.0, abs=1e-9)
    # RPS: 0.10 (above) and (0.1 − 0)² + (0.9 − 1)² = 0.02 → 0.06
    assert s.forecast.rps == pytest.approx(0.06)
    # uniform prior RPS: o=0: (1/3−1)² + (2/3−1)² = 5/9; o=1: (1/3)² + (2/3−1)² = 2/9 → 7/18
    assert s.prior.rps == pytest.approx(7 / 18)
    assert json.loads(json.dumps(s.to_json()))["forecast"]["brier"] == pytest.approx(0.10)


def test_score_summary_without_order_has_no_rps() -> None:
    s = score_summary([[0.6, 0.4]], [[0.5, 0.5]], [0])
    assert s.forecast is not None and s.forecast.rps is None and s.to_json()["prior"]["rps"] is None


def test_skill_is_none_when_the_prior_is_perfect() -> None:
    s = score_summary([[0.9, 0.1]], [[1.0, 0.0]], [0])
    assert s.prior is not None and s.prior.brier == 0.0 and s.skill is None


def test_score_summary_of_nothing() -> None:
    s = score_summary(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=int))
    assert s.n == 0 and s.forecast is None and s.skill is None
    assert s.to_json() == {"n": 0, "forecast": None, "prior": None, "skill": None}


def test_score_summary_refuses_mismatched_prior() -> None:
    with pytest.raises(ValueError):
        score_summary([[0.5, 0.5]], [[0.2, 0.3, 0.5]], [0])


# ----------------------------------------------------------------------------- calibration


def test_calibration_bins_by_hand() -> None:
    p = [[0.05, 0.95], [0.1, 0.9], [0.3, 0.7], [0.35, 0.65], [1.0, 0.0], [0.0, 1.0]]
    o = [0, 1, 1, 0, 0, 1]
    cal = calibration(p, o, states=["heightened", "contained"])
    assert cal.n == 6 and cal.states == ("heightened", "contained")
    assert len(cal.bins) == 2 * 10
    assert cal.edges[0] == 0.0 and cal.edges[3] == 0.3 and cal.edges[-1] == 1.0

    def table(state: str) -> dict[int, tuple[int, float | None, float | None]]:
        return {j: (b.count, b.mean_forecast, b.observed) for j, b in enumerate(cal.for_state(state)) if b.count}

    h = table("heightened")
    # 0.05 and 0.0 in [0, 0.1); 0.1 in [0.1, 0.2); 0.3 and 0.35 in [0.3, 0.4); 1.0 in the last bin
    assert h.keys() == {0, 1, 3, 9}
    assert h[0] == (2, pytest.approx(0.025), pytest.approx(0.5))
    assert h[1] == (1, pytest.approx(0.1), pytest.approx(0.0))
    assert h[3] == (2, pytest.approx(0.325), pytest.approx(0.5))
    assert h[9] == (1, pytest.approx(1.0), pytest.approx(1.0))
    c = table("contained")
    assert c.keys() == {0, 6, 7, 9}
    assert c[0] == (1, pytest.approx(0.0), pytest.approx(0.0))
    assert c[6] == (1, pytest.approx(0.65), pytest.approx(0.0))
    assert c[7] == (1, pytest.approx(0.7), pytest.approx(1.0))
    assert c[9] == (3, pytest.approx(0.95), pytest.approx(2 / 3))
    empty = cal.for_state("heightened")[5]
    assert (empty.count, empty.mean_forecast, empty.observed) == (0, None, None)
    assert (empty.lo, empty.hi) == (0.5, 0.6)
    assert json.loads(json.dumps(cal.to_json()))["bins"][0]["count"] == 2


def test_calibration_bin_edges_are_half_open() -> None:
    # j/10 lands in bin j (the edge belongs to the bin above), 1.0 in the last bin; also the
    # float 0.1 * 3 = 0.30000000000000004 and the float just below 0.3.
    xs = [j / 10 for j in range(11)] + [0.1 * 3, np.nextafter(0.3, 0.0)]
    expected = [*range(10), 9, 3, 2]
    p = np.array([[x, 1 - x] for x in xs])
    cal = calibration(p, np.zeros(len(xs), dtype=int))
    counts = [b.count for b in cal.for_state("0")]
    assert counts == [expected.count(j) for j in range(10)]


def test_calibration_other_bin_counts() -> None:
    cal = calibration([[0.5, 0.5], [0.49, 0.51]], [0, 1], bins=2)
    assert [(b.state, b.lo, b.hi, b.count) for b in cal.bins] == [
        ("0", 0.0, 0.5, 1),
        ("0", 0.5, 1.0, 1),
        ("1", 0.0, 0.5, 0),
        ("1", 0.5, 1.0, 2),
    ]
    with pytest.raises(ValueError):
        calibration([[0.5, 0.5]], [0], bins=0)
    with pytest.raises(ValueError):
        calibration([[0.5, 0.5]], [0], states=["only_one"])


def test_observed_frequencies_sum_to_counts() -> None:
    p, o = _random_batch(1000, 3, 11)
    cal = calibration(p, o)
    for s in range(3):
        bins = cal.for_state(str(s))
        assert sum(b.count for b in bins) == 1000
        hits = sum(b.count * b.observed for b in bins if b.observed is not None)
        assert hits == pytest.approx(int(np.sum(o == s)))


# ----------------------------------------------------------------------------- speed


def test_scoring_ten_thousand_forecasts_is_fast() -> None:
    p, o = _random_batch(10_000, 3, 12)
    prior, _ = _random_batch(10_000, 3, 13)
    t0 = time.perf_counter()
    score_summary(p, prior, o, ordered=True)
    calibration(p, o)
    assert time.perf_counter() - t0 < 0.5


# ----------------------------------------------------------------------------- reliability diagram


def test_reliability_png_is_a_stable_png() -> None:
    p, o = _random_batch(300, 3, 14)
    cal = calibration(p, o, states=["grey_zone", "annexation", "de_escalation"])
    a = reliability_png(cal, "Escalation: reliability")
    b = reliability_png(cal, "Escalation: reliability")
    assert a.startswith(PNG_MAGIC)
    assert a == b
    assert b"Software" not in a and b"matplotlib" not in a.lower()
    assert reliability_png(cal, "another title") != a


def test_reliability_png_per_hypothesis_state_and_empty() -> None:
    p2, o2 = _random_batch(50, 2, 15)
    p3, o3 = _random_batch(50, 3, 16)
    both = {
        "encirclement": calibration(p2, o2, states=["heightened", "contained"]),
        "alignment": calibration(p3, o3, states=["hedging", "west", "east"]),
    }
    assert reliability_png(both, "Track record").startswith(PNG_MAGIC)
    empty = calibration(np.zeros((0, 2)), np.zeros(0, dtype=int))
    assert reliability_png(empty, "Nothing resolved yet").startswith(PNG_MAGIC)


# ----------------------------------------------------------------------------- hypothesis fields


def test_bundled_hypotheses_carry_resolution_criteria() -> None:
    priors = load_priors(defaults_dir() / "priors")
    for h in priors.hypotheses:
        assert h.resolution_criteria and len(h.resolution_criteria) > 200, h.id
        assert "\n" not in h.resolution_criteria  # one paragraph, whitespace folded
        for state in h.states:
            assert f"`{state}`" in h.resolution_criteria, (h.id, state)  # every state has a test
    # two states (RPS = Brier / 2), and two unordered sets: see the comments in network.yaml
    assert {h.id: h.ordered for h in priors.hypotheses} == {
        "encirclement": False,
        "alignment": False,
        "escalation": False,
    }


def test_ordered_and_resolution_criteria_are_read(tmp_path: Path) -> None:
    root = copy_mini(tmp_path / "p")

    def fn(d: dict[str, Any]) -> None:
        d["hypotheses"][0]["ordered"] = True
        d["hypotheses"][0]["resolution_criteria"] = "Resolve  on\n what   happened."

    edit_yaml(root / "network.yaml", fn)
    h0, *rest = load_priors(root).hypotheses
    assert h0.ordered is True and h0.resolution_criteria == "Resolve on what happened."
    assert all(h.ordered is False and h.resolution_criteria is None for h in rest)


@pytest.mark.parametrize(
    ("key", "value", "msg"),
    [("resolution_criteria", "", "resolution_criteria"), ("orderd", True, "orderd"), ("ordered", "often", "ordered")],
)
def test_bad_resolution_fields_are_refused(tmp_path: Path, key: str, value: object, msg: str) -> None:
    root = copy_mini(tmp_path / "p")

    def fn(d: dict[str, Any]) -> None:
        d["hypotheses"][0][key] = value

    edit_yaml(root / "network.yaml", fn)
    with pytest.raises(PriorsError, match=msg):
        load_priors(root)


# ----------------------------------------------------------------------------- bundled resolutions

RESOLUTION_KEYS = {"hypothesis", "state", "from", "to", "rationale", "source", "analyst"}
SEED_FILES = ("000_44e76504c81b55c5.txt", "001_8a64ac4567ba3041.txt")


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(d.day, last))


def test_bundled_resolutions_are_consistent_with_the_network_and_the_record() -> None:
    scenarios = defaults_dir() / "scenarios"
    data = load_yaml(scenarios / "resolutions.yaml")
    assert set(data) == {"resolutions"}  # no `name:`, so `scenario list` skips the file
    assert "resolutions.yaml" not in {p.name for p in scenario_files(scenarios).values()}
    record = load_yaml(scenarios / "historical_events.yaml")["reports"]
    latest = max(dt.date.fromisoformat(str(r["date"])) for r in record)
    priors = load_priors(defaults_dir() / "priors")
    states = {h.id: h.states for h in priors.hypotheses}
    rows = data["resolutions"]
    assert rows
    for r in rows:
        assert set(r) == RESOLUTION_KEYS, r
        assert r["state"] in states[r["hypothesis"]], r
        start, end = dt.date.fromisoformat(str(r["from"])), dt.date.fromisoformat(str(r["to"]))
        assert end < latest, "a resolved horizon must lie wholly before the papers' latest dated event"
        # at least one forecast with the network's horizon fits inside, or the entry scores nothing
        assert _add_months(start, priors.horizon_months) <= end, r
        assert r["source"].split(",")[0] in SEED_FILES, r["source"]
        assert r["analyst"] == "forecast maintainers (illustrative)"
        assert len(r["rationale"]) > 200
    for a in rows:
        for b in rows:
            if a is not b and a["hypothesis"] == b["hypothesis"]:
                # ISO dates compare as strings
                assert str(a["to"]) < str(b["from"]) or str(b["to"]) < str(a["from"]), "overlapping resolutions"
