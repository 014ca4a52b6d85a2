"""Priors: ICD 203 terms, pooling (MODEL.md §2), and every validation error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forecaster.core.errors import PriorsError
from forecaster.model.loading import load_priors
from forecaster.model.priors import pool
from forecaster.model.terms import TERMS, term_for, term_probability
from tests.helpers import copy_mini, edit_yaml

# --------------------------------------------------------------------------- ICD 203


def test_term_midpoints() -> None:
    assert term_probability("likely") == pytest.approx(0.675)
    assert term_probability("almost no chance") == pytest.approx(0.03)
    assert term_probability("roughly even chance") == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("p", "term"),
    [(0.0, "almost no chance"), (0.03, "almost no chance"), (0.05, "very unlikely"), (0.2, "unlikely"),
     (0.44, "unlikely"), (0.45, "roughly even chance"), (0.5, "roughly even chance"), (0.55, "roughly even chance"),
     (0.56, "likely"), (0.8, "likely"), (0.81, "very likely"), (0.95, "very likely"), (0.96, "almost certain"),
     (1.0, "almost certain")],
)
def test_term_for(p: float, term: str) -> None:
    assert term_for(p) == term


@given(st.floats(min_value=0.0, max_value=1.0))
def test_every_probability_has_a_term_whose_range_holds_it(p: float) -> None:
    lo, hi = TERMS[term_for(p)]
    assert lo <= p <= hi or (p < 0.01 and lo == 0.01) or (p > 0.99 and hi == 0.99)


# --------------------------------------------------------------------------- pooling


def test_one_expert_gives_back_its_own_dirichlet() -> None:
    pooled = pool([(0.6, 0.3, 0.1)], [20.0], [1.0])
    assert pooled.mean == pytest.approx((0.6, 0.3, 0.1))
    assert pooled.concentration == pytest.approx(20.0)


def test_agreeing_experts_keep_concentration_and_disagreement_lowers_it() -> None:
    same = pool([(0.6, 0.4), (0.6, 0.4)], [20.0, 20.0], [1, 1])
    apart = pool([(0.8, 0.2), (0.4, 0.6)], [20.0, 20.0], [1, 1])
    assert same.concentration == pytest.approx(20.0)
    assert apart.mean == pytest.approx((0.6, 0.4))
    assert apart.concentration < same.concentration


def test_moment_matching_by_hand() -> None:
    # two experts, equal weights, n = 10 each, p = 0.8 / 0.4 on a binary table
    m = 0.6
    v = 0.5 * (0.8 * 0.2 / 11 + 0.2**2) + 0.5 * (0.4 * 0.6 / 11 + 0.2**2)
    n_expected = (2 * m * (1 - m)) / (2 * v) - 1
    assert pool([(0.8, 0.2), (0.4, 0.6)], [10, 10], [1, 1]).concentration == pytest.approx(n_expected)


def test_concentration_floor_is_two() -> None:
    assert pool([(0.99, 0.01), (0.01, 0.99)], [1000, 1000], [1, 1]).concentration == 2.0


def test_logarithmic_pool() -> None:
    pooled = pool([(0.8, 0.2), (0.4, 0.6)], [10, 10], [1, 1], method="logarithmic")
    a, b = math.sqrt(0.8 * 0.4), math.sqrt(0.2 * 0.6)
    assert pooled.mean == pytest.approx((a / (a + b), b / (a + b)))


def test_weights_shift_the_linear_pool() -> None:
    assert pool([(0.8, 0.2), (0.4, 0.6)], [10, 10], [3, 1]).mean == pytest.approx((0.7, 0.3))


@given(st.lists(st.tuples(st.floats(0.01, 0.99), st.floats(1, 100), st.floats(0.1, 5)), min_size=1, max_size=5))
def test_pooled_mean_is_a_distribution(experts: list[tuple[float, float, float]]) -> None:
    for method in ("linear", "logarithmic"):
        pooled = pool([(p, 1 - p) for p, _, _ in experts], [n for _, n, _ in experts], [w for _, _, w in experts], method=method)
        assert sum(pooled.mean) == pytest.approx(1.0)
        assert pooled.concentration >= 2.0


def test_bundled_priors_load(ws) -> None:  # type: ignore[no-untyped-def]
    priors = load_priors(ws.priors_dir)
    assert len(priors.indicators) >= 24
    assert len(priors.experts) >= 3
    assert [h.id for h in priors.hypotheses] == ["encirclement", "alignment", "escalation"]
    assert {h.claimed for h in priors.hypotheses} == {"heightened", "hedging", "grey_zone"}
    for e in priors.experts:
        assert "illustrative" in e.illustrative.lower()


def test_catalogue_counts_as_one_more_expert() -> None:
    priors = load_priors(Path("tests/data/mini"))
    # analyst_b adds a judgment on arms_east: pooled with the catalogue's, equal weights
    pooled = priors.pooled("arms_east", ("heightened",))
    assert pooled.mean[0] == pytest.approx((0.8 + 0.9) / 2)
    single = priors.pooled("armed_incident", ("grey_zone",))
    assert single.mean[0] == pytest.approx(0.6)
    assert single.concentration == pytest.approx(20.0)


# --------------------------------------------------------------------------- validation errors


def _broken(tmp_path: Path, file: str, fn) -> Path:  # type: ignore[no-untyped-def]
    root = copy_mini(tmp_path / "p")
    edit_yaml(root / file, fn)
    return root


def _error(root: Path) -> str:
    with pytest.raises(PriorsError) as e:
        load_priors(root)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_sum_not_one(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["hypotheses"]["alignment"][0]["probabilities"]["west"] = 0.11

    msg = _error(_broken(tmp_path, "experts/analyst_a.yaml", fn))
    assert "experts/analyst_a.yaml" in msg and "hypotheses.alignment[0].probabilities" in msg and "sum to 1.01" in msg


def test_sum_within_tolerance_is_accepted(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["hypotheses"]["alignment"][0]["probabilities"] = {"hedging": 0.6 + 5e-7, "west": 0.1, "east": 0.3}

    load_priors(_broken(tmp_path, "experts/analyst_a.yaml", fn))


def test_missing_parent_configuration(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][3]["likelihoods"].pop()

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "missing parent configuration" in msg and "'alignment': 'east'" in msg and "indicators[3].likelihoods" in msg


def test_cycle(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["hypotheses"][0]["parents"] = ["alignment"]

    msg = _error(_broken(tmp_path, "network.yaml", fn))
    assert "cycle" in msg and "encirclement" in msg and "alignment" in msg


def test_unknown_parent_did_you_mean(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["parents"] = ["encirclment"]

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "unknown parent 'encirclment'" in msg and "did you mean 'encirclement'" in msg


def test_not_an_icd_term(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][2]["likelihoods"][1] = {"given": {"alignment": "west"}, "term": "quite likely"}

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "not an ICD 203 term" in msg and "indicators.yaml" in msg


def test_unknown_key(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["evidence_windw_days"] = 10

    msg = _error(_broken(tmp_path, "network.yaml", fn))
    assert "unknown key 'evidence_windw_days'" in msg and "did you mean 'evidence_window_days'" in msg


def test_probability_out_of_range(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["likelihoods"][0]["p"] = 1.3

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "indicators[0].likelihoods[0].p" in msg and "less than or equal to 1" in msg


def test_malformed_yaml(tmp_path: Path) -> None:
    root = copy_mini(tmp_path / "p")
    (root / "settings.yaml").write_text("pooling: [unclosed\n", encoding="utf-8")
    msg = _error(root)
    assert "settings.yaml" in msg and "malformed YAML" in msg


def test_python_tag_refused(tmp_path: Path) -> None:
    root = copy_mini(tmp_path / "p")
    marker = tmp_path / "pwned"
    (root / "settings.yaml").write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(Exception) as e:
        load_priors(root)
    assert "malformed YAML" in str(e.value) or "could not determine a constructor" in str(e.value)
    assert not marker.exists()


def test_expert_missing_a_hypothesis_table(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        del d["hypotheses"]["escalation"]

    msg = _error(_broken(tmp_path, "experts/analyst_a.yaml", fn))
    assert "missing table for hypothesis 'escalation'" in msg


def test_unknown_state_in_given(tmp_path: Path) -> None:
    def fn(d):  # type: ignore[no-untyped-def]
        d["indicators"][0]["likelihoods"][0]["given"] = {"encirclement": "heighten"}

    msg = _error(_broken(tmp_path, "indicators.yaml", fn))
    assert "unknown state 'heighten'" in msg and "did you mean 'heightened'" in msg


def test_priors_hash_changes_with_content(tmp_path: Path) -> None:
    a = load_priors(copy_mini(tmp_path / "a")).hash
    b_root = copy_mini(tmp_path / "b")
    assert load_priors(b_root).hash == a
    edit_yaml(b_root / "indicators.yaml", lambda d: d["indicators"][0]["likelihoods"][0].update(p=0.81))
    assert load_priors(b_root).hash != a


def test_validated_priors_are_cached_by_content(tmp_path: Path) -> None:
    import sys

    root = copy_mini(tmp_path / "p")
    first = load_priors(root)
    cached = list((tmp_path / "xdg-cache").rglob("*.pickle"))
    assert len(cached) == 1
    assert load_priors(root) == first
    # an edit changes the hash: revalidated, and an invalid edit is still caught
    edit_yaml(root / "indicators.yaml", lambda d: d["indicators"][0]["likelihoods"][0].update(p=1.5))
    with pytest.raises(PriorsError):
        load_priors(root)
    # a broken cache entry is rebuilt, not trusted
    cached[0].write_bytes(b"not a pickle")
    edit_yaml(root / "indicators.yaml", lambda d: d["indicators"][0]["likelihoods"][0].update(p=0.8))
    again = load_priors(root)
    assert again.pooled("arms_east", ("heightened",)).mean[0] == pytest.approx((0.8 + 0.9) / 2)
    assert again.hash != first.hash
    assert "forecaster.model.schema" in sys.modules
