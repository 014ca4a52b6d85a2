"""What to collect next (issue 6, MODEL.md §5): mutual information between a hypothetical report
and the hypotheses, pinned against pyAgrum on the exported network with a report node added."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace, defaults_dir
from forecaster.inference.update import in_window, window_for
from forecaster.inference.voi import information_values, plan_collection
from forecaster.model.evidence import RELIABILITY, Report, fold, load_reports_file
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from forecaster.model.priors import Priors
from forecaster.outputs.export import to_bif

DATA = Path(__file__).parent / "data"
FLAT = DATA / "scenario_flat_priors"
AS_OF = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def bundled() -> Priors:
    return load_priors(defaults_dir() / "priors")


@pytest.fixture(scope="module")
def history(bundled: Priors) -> list[Report]:
    """The papers' documented events inside the evidence window ending on AS_OF."""
    reports = load_reports_file(defaults_dir() / "scenarios" / "historical_events.yaml", known=bundled.indicator_ids)
    return in_window(reports, window_for(AS_OF, bundled.evidence_window_days))


# ----------------------------------------------------------------------------- against pyAgrum


def _agrum_with_report(priors: Priors, tmp_path: Path, indicator: str, accuracy: float) -> tuple[Any, Any]:
    gum = pytest.importorskip("pyagrum")
    path = tmp_path / "network.bif"
    path.write_text(to_bif(priors, build_network(priors)), encoding="utf-8")
    bn = gum.loadBN(str(path))
    bn.add(gum.LabelizedVariable("report", "a hypothetical report", ["says_occurred", "says_not_occurred"]))
    bn.addArc(indicator, "report")
    # rows: the indicator's states (occurred, not_occurred); columns: what the report says
    bn.cpt("report").fillWith([accuracy, 1 - accuracy, 1 - accuracy, accuracy])
    return gum, bn


def test_information_matches_pyagrum_mutual_information(bundled: Priors, history: list[Report], tmp_path: Path) -> None:
    plan = plan_collection(bundled, history, grade="B2")
    folded = fold(history, bundled.grades)
    assert plan.ranked, "the bundled history leaves some indicators unreported"
    for value in plan.ranked:
        gum, bn = _agrum_with_report(bundled, tmp_path, value.indicator, plan.accuracy)
        ie = gum.LazyPropagation(bn)
        ie.setEvidence({k: list(ev.likelihood) for k, ev in folded.items()})  # soft (likelihood) evidence
        ie.makeInference()
        for h in bundled.hypothesis_ids:
            expected = gum.InformationTheory(ie, h, "report").mutualInformationXY()
            assert value.bits[h] == pytest.approx(expected, abs=1e-6), (value.indicator, h)
        joint = gum.InformationTheory(ie, bundled.hypothesis_ids, "report").mutualInformationXY()
        assert value.bits_joint == pytest.approx(joint, abs=1e-6), value.indicator
        assert value.p_report_yes == pytest.approx(ie.posterior("report")[0], abs=1e-6)
        assert value.p_occurs == pytest.approx(ie.posterior(value.indicator)[0], abs=1e-6)

        # the shift if the report says occurred / not occurred: pyAgrum with the report as hard evidence
        for answer, shift in ((0, value.if_yes), (1, value.if_no)):
            ie.setEvidence({**{k: list(ev.likelihood) for k, ev in folded.items()}, "report": answer})
            ie.makeInference()
            for h, states in shift.items():
                after = ie.posterior(h).toarray()
                before = np.array([plan.posterior[h][s] for s in states])
                assert np.allclose(np.array(list(states.values())), after - before, atol=1e-6), (value.indicator, h)


def test_information_matches_pyagrum_with_no_evidence_on_the_mini_network(tmp_path: Path) -> None:
    priors = load_priors(FLAT)
    plan = plan_collection(priors, [], grade="C3")
    for value in plan.ranked:
        gum, bn = _agrum_with_report(priors, tmp_path, value.indicator, plan.accuracy)
        ie = gum.LazyPropagation(bn)
        ie.makeInference()
        for h in priors.hypothesis_ids:
            assert value.bits[h] == pytest.approx(
                gum.InformationTheory(ie, h, "report").mutualInformationXY(), abs=1e-6
            )


# ----------------------------------------------------------------------------- ranking


def test_a_flat_indicator_ranks_last_with_zero_bits() -> None:
    priors = load_priors(FLAT)
    plan = plan_collection(priors, [])
    last = plan.ranked[-1]
    assert last.indicator == "flat_signal"
    assert last.bits_joint == 0.0 and set(last.bits.values()) == {0.0}
    assert all(v.bits_joint > 0.0 for v in plan.ranked[:-1])
    assert all(abs(x) < 1e-12 for shift in (last.if_yes, last.if_no) for st_ in shift.values() for x in st_.values())
    for h in priors.hypothesis_ids:
        assert plan_collection(priors, [], hypothesis=h).ranked[-1].indicator == "flat_signal"


def test_ranked_by_information_about_the_chosen_hypothesis(bundled: Priors, history: list[Report]) -> None:
    joint = plan_collection(bundled, history)
    assert [v.score() for v in joint.ranked] == sorted((v.score() for v in joint.ranked), reverse=True)
    for h in bundled.hypothesis_ids:
        plan = plan_collection(bundled, history, hypothesis=h)
        scores = [v.bits[h] for v in plan.ranked]
        assert scores == sorted(scores, reverse=True)


def test_only_indicators_without_a_report_are_ranked(bundled: Priors, history: list[Report]) -> None:
    plan = plan_collection(bundled, history)
    reported = {r.indicator for r in history}
    assert set(plan.reported) == reported
    assert {v.indicator for v in plan.ranked} == bundled.indicator_ids - reported
    assert len(plan_collection(bundled, []).ranked) == len(bundled.indicators)


def test_expected_signed_shift_is_zero_and_probabilities_are_consistent(bundled: Priors, history: list[Report]) -> None:
    plan = plan_collection(bundled, history, grade="A1")
    for v in plan.ranked:
        a = plan.accuracy
        assert v.p_report_yes == pytest.approx(a * v.p_occurs + (1 - a) * (1 - v.p_occurs))
        for h, states in v.if_yes.items():
            for s, yes in states.items():
                # the forecast is a martingale: what a report is expected to do on average is nothing
                assert v.p_report_yes * yes + (1 - v.p_report_yes) * v.if_no[h][s] == pytest.approx(0.0, abs=1e-12)
            tv = v.p_report_yes * 0.5 * sum(abs(x) for x in states.values()) + (1 - v.p_report_yes) * 0.5 * sum(
                abs(x) for x in v.if_no[h].values()
            )
            assert v.expected_shift[h] == pytest.approx(tv)


def test_a_coin_flip_report_is_worth_nothing(bundled: Priors, history: list[Report]) -> None:
    net = build_network(bundled)
    values = information_values(net, net.log_lambda(fold(history, bundled.grades)), accuracy=0.5)
    assert values and all(v.bits_joint == 0.0 and set(v.bits.values()) == {0.0} for v in values)


GRADES = st.tuples(st.sampled_from(RELIABILITY[:5]), st.integers(1, 5))


@settings(max_examples=25, deadline=None)
@given(better=GRADES, worse=GRADES)
def test_a_better_grade_is_never_worth_less(bundled: Priors, better: tuple[str, int], worse: tuple[str, int]) -> None:
    """A worse grade is a noisier channel: by data processing, it can only tell less."""
    rel_b, cred_b = min(better[0], worse[0]), min(better[1], worse[1])
    rel_w, cred_w = max(better[0], worse[0]), max(better[1], worse[1])
    good = {v.indicator: v for v in plan_collection(bundled, [], grade=f"{rel_b}{cred_b}").ranked}
    poor = {v.indicator: v for v in plan_collection(bundled, [], grade=f"{rel_w}{cred_w}").ranked}
    for k, v in good.items():
        assert v.bits_joint >= poor[k].bits_joint - 1e-12
        assert 0.0 <= v.bits_joint <= 1.0  # a yes/no report carries at most one bit
        for h in v.bits:
            assert v.bits[h] >= poor[k].bits[h] - 1e-12


# ----------------------------------------------------------------------------- the command


def _run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_collect_json_ranks_every_unreported_indicator(runner: CliRunner, ws: Workspace) -> None:
    imported = _run(runner, "event", "import", str(ws.scenarios_dir / "historical_events.yaml"))
    assert imported.exit_code == 0, imported.output
    result = _run(runner, "collect", "--json", "--grade", "c3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["grade"] == "C3" and data["ranked_by"] == "all hypotheses jointly"
    bits = [row["bits"] for row in data["indicators"]]
    assert bits == sorted(bits, reverse=True)
    assert not {row["indicator"] for row in data["indicators"]} & set(data["reported_indicators"])
    assert len(data["indicators"]) + len(data["reported_indicators"]) == 33
    first = data["indicators"][0]
    assert set(first) >= {
        "bits_by_hypothesis",
        "p_occurs",
        "p_report_occurred",
        "shift_if_occurred",
        "shift_if_not_occurred",
    }

    table = _run(runner, "collect", "--hypothesis", "escalation", "--limit", "3")
    assert table.exit_code == 0, table.output
    assert "ranked by expected information about escalation" in table.stdout


def test_collect_ranks_a_flat_indicator_last(runner: CliRunner, tmp_path: Path) -> None:
    root = tmp_path / "flat"
    shutil.copytree(FLAT, root / "priors")
    result = _run(runner, "-w", str(root), "collect", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["indicators"]
    assert rows[-1]["indicator"] == "flat_signal" and rows[-1]["bits"] == 0.0
    assert not (root / "forecast.db").exists(), "collect never creates the store"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hypothesis", "alignmnt"], "did you mean 'alignment'"),
        (["--grade", "G7"], "--grade"),
    ],
)
def test_collect_refuses_bad_options(runner: CliRunner, ws: Workspace, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["collect", *args])
    assert result.exit_code == 2
    assert message in result.stderr
