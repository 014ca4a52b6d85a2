"""How robust is the call (issue 22, MODEL.md §5 "Critical reports" and "Interactions"): hand-made
cases, the greedy definition recomputed by brute force with the independent oracle (tests/oracle.py)
on random networks (tests/randnet.py), `update` and `update --explain`, `whatif --without`, and the
brief's section rendered and escaped."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import forecaster.model.terms
from forecaster.cli.main import app
from forecaster.core.errors import UsageError
from forecaster.core.workspace import Workspace
from forecaster.inference.exact import infer_exact
from forecaster.inference.robustness import TIE, Robustness, analyse
from forecaster.inference.scenarios import compare, whatif_scenario
from forecaster.model.evidence import Report
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from forecaster.model.priors import Priors
from forecaster.workflow.robustness import CallRobustness, Earlier
from tests import oracle as O
from tests.helpers import state, write_priors

sys.modules.setdefault("forecaster.model.terms", forecaster.model.terms)
from tests.randnet import AS_OF, random_net, random_reports  # noqa: E402

DAY = dt.date(2026, 1, 1)
P_A = 0.45  # the prior's call is b
Q = {"a": 0.9, "b": 0.1}  # i1, i2, i3: a report that it occurred points to a
M = {"a": 0.7, "b": 0.2}  # mechanism m given h
K1 = {("a", "occurred"): 0.9, ("a", "not_occurred"): 0.1, ("b", "occurred"): 0.8, ("b", "not_occurred"): 0.05}
K2 = {("a", "occurred"): 0.6, ("a", "not_occurred"): 0.2, ("b", "occurred"): 0.7, ("b", "not_occurred"): 0.1}


def hand_priors(tmp_path: Path) -> Priors:
    """h (a, b), P(a) = 0.45; i1, i2, i3 on h alone (0.9 / 0.1); k1, k2 manifestations of mechanism m."""
    def on_h(q: dict[str, float]) -> list[dict[str, Any]]:
        return [{"given": {"h": h}, "p": p} for h, p in q.items()]

    def on_m(q: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
        return [{"given": {"h": h, "m": x}, "p": p} for (h, x), p in q.items()]

    plain = [{"id": i, "definition": "d", "parents": ["h"], "citation": "c", "likelihoods": on_h(Q)} for i in ("i1", "i2", "i3")]
    kids = [{"id": k, "definition": "d", "parents": ["h"], "mechanism": "m", "citation": "c", "likelihoods": on_m(q)}
            for k, q in (("k1", K1), ("k2", K2))]
    root = write_priors(
        tmp_path / "hand",
        hypotheses=[{"id": "h", "parents": [], "states": [state("a"), state("b")]}],
        mechanisms=[{"id": "m", "name": "m", "definition": "d", "parents": ["h"], "citation": "c", "likelihoods": on_h(M)}],
        indicators=plain + kids,
        experts={"e": {"hypotheses": {"h": [{"given": {}, "probabilities": {"a": P_A, "b": 1 - P_A}}]}}},
        half_life_days="none",
    )
    return load_priors(root)


def rep(rid: str, indicator: str, grade: str = "A1", origin: str | None = None, occurred: bool = True) -> Report:
    return Report(indicator, DAY, occurred, grade[0], int(grade[1]), "test", id=rid, origin=origin)


def robustness(priors: Priors, reports: list[Report], **kw: Any) -> Robustness:
    return analyse(build_network(priors), reports, lambda rs: priors.fold(rs, as_of=DAY), as_of=DAY, **kw)


def posterior_a(priors: Priors, reports: list[Report]) -> float:
    """P(h = a | reports) by the oracle's enumeration (independent of the engine)."""
    onet = O.oracle_net_from_priors(priors)
    rows = [{"indicator": r.indicator, "grade": r.grade, "date": r.date, "occurred": r.occurred, "origin": r.origin}
            for r in reports]
    return float(O.exact_posterior(onet, O.fold_reports(rows, onet.accuracy))[0][0])


# ------------------------------------------------------------------------------ hand-made cases


def test_a_single_report_flips_the_call(tmp_path: Path) -> None:
    priors = hand_priors(tmp_path)
    r = robustness(priors, [rep("r-strong", "i1"), rep("r-weak", "i2", grade="E5")])
    (h,) = r.hypotheses
    assert h.call == "a" and not h.prior_call
    assert h.removals == 1 and [s.report for s in h.steps] == ["r-strong"]
    assert h.new_call() == "b" and h.after is not None
    assert h.after[0] == pytest.approx(posterior_a(priors, [rep("r-weak", "i2", grade="E5")]), abs=1e-12)
    assert [c.report for c in h.critical] == ["r-strong"] and h.critical[0].flips
    assert h.critical[0].without == pytest.approx(h.after, abs=1e-12)


def test_no_single_report_flips_it_nor_moves_a_state_by_ten_points(tmp_path: Path) -> None:
    priors = hand_priors(tmp_path)
    reports = [rep("r-1", "i1"), rep("r-2", "i2"), rep("r-3", "i3")]
    (h,) = robustness(priors, reports).hypotheses
    assert h.call == "a" and h.critical == ()
    assert h.removals == 3 and sorted(s.report for s in h.steps) == ["r-1", "r-2", "r-3"]
    # the three are alike: each step removes the first in id order (ties within TIE)
    assert [s.report for s in h.steps] == ["r-1", "r-2", "r-3"]
    assert h.steps[0].call_probability == pytest.approx(posterior_a(priors, reports[1:]), abs=1e-12)
    # at most two removals tried: "more than 2"
    (capped,) = robustness(priors, reports, limit=2).hypotheses
    assert capped.removals is None and capped.tried == 2 and not capped.exhausted


def test_two_same_origin_reports_make_neither_critical_alone(tmp_path: Path) -> None:
    priors = hand_priors(tmp_path)
    reports = [rep("r-wire-1", "i1", origin="AFP 123"), rep("r-wire-2", "i1", origin="afp  123")]
    (h,) = robustness(priors, reports).hypotheses
    assert h.call == "a" and h.critical == ()  # the other copy still counts: nothing moves
    assert h.removals == 2


def test_removing_the_strongest_of_two_same_origin_reports_leaves_the_other_counting(tmp_path: Path) -> None:
    priors = hand_priors(tmp_path)
    strong, weaker = rep("r-a1", "i1", grade="A1", origin="wire"), rep("r-b2", "i1", grade="B2", origin="wire")
    (h,) = robustness(priors, [strong, weaker]).hypotheses
    assert [c.report for c in h.critical] == ["r-a1"]  # r-b2 alone is folded away: removing it moves nothing
    c = h.critical[0]
    assert not c.flips  # the B2 copy keeps the call at a: re-folded, not the λ dropped
    assert c.without[0] == pytest.approx(posterior_a(priors, [weaker]), abs=1e-12)
    assert c.without[0] > 0.5 > P_A and h.posterior[0] - c.without[0] >= 0.10
    assert h.removals == 2
    comparison = compare(priors, [strong, weaker], [whatif_scenario([], ["r-a1"])], as_of=DAY, exact=True)
    post = comparison.outcomes[0].result.posteriors()["h"]["a"]
    assert post == pytest.approx(c.without[0], abs=1e-12)


def test_a_mechanisms_two_indicators_overlap(tmp_path: Path) -> None:
    priors = hand_priors(tmp_path)
    reports = [rep("r-k1", "k1"), rep("r-k2", "k2"), rep("r-i3", "i3", grade="C3")]
    r = robustness(priors, reports, interactions=True)
    assert r.interactions is not None
    pairs = {(i.first, i.second): i for i in r.interactions}
    ks = pairs[("k1", "k2")]
    assert ks.kind == "overlap" and ks.state == "a"
    post = posterior_a(priors, reports)
    without = {k: posterior_a(priors, [x for x in reports if x.indicator not in k]) for k in ("k1", "k2", "k1k2")}
    assert ks.together == pytest.approx(post - without["k1k2"], abs=1e-12)
    # apart: what each moves on its own (the other's reports removed), added up
    alone = (without["k2"] - without["k1k2"]) + (without["k1"] - without["k1k2"])
    assert ks.apart == pytest.approx(alone, abs=1e-12)
    assert abs(ks.together) < abs(ks.apart)  # the second adds little once the first is known
    assert ks.sentence.startswith("k1 and k2 overlap: together they move a by +")
    # the interactions are JSON only on request, and read back
    data = r.to_json(explain=True)
    assert [i["indicators"] for i in data["interactions"]][0] == ["k1", "k2"]
    assert "interactions" not in r.to_json()


def test_no_reports_is_the_prior_s_call(tmp_path: Path) -> None:
    (h,) = robustness(hand_priors(tmp_path), []).hypotheses
    assert h.call == "b" and h.exhausted and h.removals is None and h.tried == 0 and h.critical == ()


def test_a_hypothesis_apart_from_every_report_keeps_its_prior(tmp_path: Path) -> None:
    """exact.posterior_batch answers every row for a hypothesis no batched factor reaches (it had one row)."""
    root = write_priors(
        tmp_path / "apart",
        hypotheses=[{"id": "h", "parents": [], "states": [state("a"), state("b")]},
                    {"id": "g", "parents": [], "states": [state("x"), state("y")]}],
        indicators=[{"id": i, "definition": "d", "parents": [p], "citation": "c",
                     "likelihoods": [{"given": {p: s}, "p": q} for s, q in zip(ss, (0.9, 0.1), strict=True)]}
                    for i, p, ss in (("i1", "h", "ab"), ("j1", "g", "xy"))],
        experts={"e": {"hypotheses": {"h": [{"given": {}, "probabilities": {"a": 0.45, "b": 0.55}}],
                                      "g": [{"given": {}, "probabilities": {"x": 0.3, "y": 0.7}}]}}},
        half_life_days="none",
    )
    priors = load_priors(root)
    net = build_network(priors)
    res = infer_exact(net, net.log_lambda(priors.fold([rep("r-1", "i1")], as_of=DAY)))
    assert res.posterior[1] == pytest.approx([0.3, 0.7]) and res.without["i1"][1] == pytest.approx([0.3, 0.7])
    h, g = robustness(priors, [rep("r-1", "i1")]).hypotheses
    assert h.removals == 1 and g.exhausted and g.critical == ()


# ------------------------------------------------------------------------------ brute force


def greedy_by_enumeration(priors: Priors, rows: list[dict[str, Any]], limit: int) -> list[tuple[list[str], Any]]:
    """MODEL.md §5's greedy robustness, literally: every candidate removal evaluated by the oracle's
    enumeration on the oracle's fold of the remaining reports."""
    onet = O.oracle_net_from_priors(priors)
    accuracy = onet.accuracy
    ids = sorted(r["id"] for r in rows)
    by_id = {r["id"]: r for r in rows}
    seen: dict[frozenset[str], list[np.ndarray]] = {}

    def post(gone: frozenset[str]) -> list[np.ndarray]:
        if gone not in seen:
            kept = [by_id[i] for i in ids if i not in gone]
            seen[gone] = O.exact_posterior(onet, O.fold_reports(kept, accuracy, as_of=AS_OF, half_life=365.0))
        return seen[gone]

    out = []
    for h, p in enumerate(post(frozenset())):
        call, removed, after = int(np.argmax(p)), [], None
        while len(removed) < min(limit, len(ids)) and after is None:
            left = [i for i in ids if i not in removed]
            values = [post(frozenset([*removed, i]))[h][call] for i in left]
            pick = left[next(k for k, v in enumerate(values) if v <= min(values) + TIE)]
            removed.append(pick)
            q = post(frozenset(removed))[h]
            if any(q[k] > q[call] for k in range(len(q)) if k != call):
                after = q
        out.append((removed, after))
    return out


@pytest.mark.parametrize("seed", range(8))  # seed 5: two hypotheses apart from every report
def test_greedy_robustness_matches_brute_force_on_random_networks(tmp_path: Path, seed: int) -> None:
    priors = load_priors(random_net(seed, indicators=(6, 10), max_joint=36).write(tmp_path / "net"))
    rows = random_reports(priors, seed, 9, indicators=5, grades=["A1", "A2", "B1", "B2", "C2"])
    for n, row in enumerate(rows):
        row["id"] = f"r-{n:02d}"
    reports = [Report(r["indicator"], dt.date.fromisoformat(r["date"]), r["occurred"], r["grade"][0], int(r["grade"][1]),
                      r["source"], id=r["id"], origin=r.get("origin")) for r in rows]
    net = build_network(priors)
    for limit in (10, 2):
        got = analyse(net, reports, lambda rs: priors.fold(rs, as_of=AS_OF, half_life_days=365.0), as_of=AS_OF, limit=limit)
        for h, (removed, after) in zip(got.hypotheses, greedy_by_enumeration(priors, rows, limit), strict=True):
            assert [s.report for s in h.steps] == removed
            assert h.removals == (len(removed) if after is not None else None)
            if after is not None:
                assert h.after == pytest.approx(after, abs=1e-9)


def test_critical_reports_match_brute_force(tmp_path: Path) -> None:
    priors = load_priors(random_net(4, indicators=(6, 10), max_joint=36).write(tmp_path / "net"))
    rows = random_reports(priors, 4, 8, indicators=4, grades=["A1", "A2", "B1"])
    reports = [Report(r["indicator"], dt.date.fromisoformat(r["date"]), r["occurred"], r["grade"][0], int(r["grade"][1]),
                      r["source"], id=f"r-{n}", origin=r.get("origin")) for n, r in enumerate(rows)]
    onet = O.oracle_net_from_priors(priors)
    got = analyse(build_network(priors), reports, lambda rs: priors.fold(rs, as_of=AS_OF, half_life_days=365.0), as_of=AS_OF)

    def post(kept: list[Report]) -> list[np.ndarray]:
        data = [{"indicator": r.indicator, "grade": r.grade, "date": r.date, "occurred": r.occurred, "origin": r.origin} for r in kept]
        return O.exact_posterior(onet, O.fold_reports(data, onet.accuracy, as_of=AS_OF, half_life=365.0))

    full = post(reports)
    for h, hr in enumerate(got.hypotheses):
        call = int(np.argmax(full[h]))
        expected = {}
        for r in reports:
            w = post([x for x in reports if x is not r])[h]
            if np.max(np.abs(w - full[h])) >= 0.10 or any(w[k] > w[call] for k in range(len(w)) if k != call):
                expected[r.id] = w
        assert {c.report for c in hr.critical} == set(expected)
        for c in hr.critical:
            assert c.without == pytest.approx(expected[c.report], abs=1e-9)


# ------------------------------------------------------------------------------ the command line


def run(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def history(runner: CliRunner, ws: Workspace) -> Workspace:
    assert run(runner, "event", "import", str(ws.scenarios_dir / "historical_events.yaml")).exit_code == 0
    return ws


def test_update_json_and_table_carry_the_robustness_and_explain_adds_the_rest(runner: CliRunner, history: Workspace) -> None:
    first = run(runner, "update", "--exact", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    robust = data["robustness"]
    assert [h["id"] for h in robust["hypotheses"]] == [h["id"] for h in data["hypotheses"]]
    assert "interactions" not in robust and robust["limit"] == 10
    calls = {h["id"]: max(h["states"], key=lambda s: s["posterior"])["id"] for h in data["hypotheses"]}
    assert {h["id"]: h["call"] for h in robust["hypotheses"]} == calls
    again = json.loads(run(runner, "update", "--exact", "--json").stdout)  # the recorded run, read back
    assert again["cached"] and again["robustness"] == robust
    table = run(runner, "update", "--exact")
    assert "how robust is the call" in table.stdout
    for h in robust["hypotheses"]:
        assert f"{h['id']}: {h['call']} holds" in table.stdout
    explained = run(runner, "update", "--exact", "--explain")
    assert explained.exit_code == 0 and "interactions (the pairs" in explained.stdout
    assert "1. remove r-" in explained.stdout
    data = json.loads(run(runner, "update", "--exact", "--explain", "--json").stdout)
    assert isinstance(data["robustness"]["interactions"], list)


def test_whatif_without_matches_the_greedy_first_step(runner: CliRunner, history: Workspace) -> None:
    data = json.loads(run(runner, "update", "--exact", "--json").stdout)
    esc = next(h for h in data["robustness"]["hypotheses"] if h["id"] == "escalation")
    step = esc["removed"][0]
    out = run(runner, "whatif", "--without", step["report"], "--json")
    assert out.exit_code == 0, out.output
    scenario = json.loads(out.stdout)["scenarios"][0]
    assert scenario["without"] == [step["report"]]
    assert scenario["hypotheses"]["escalation"][esc["call"]]["posterior"] == pytest.approx(step["call_probability"], abs=1e-6)
    table = run(runner, "whatif", "--without", step["report"])
    assert f"whatif: without {step['report']}" in table.stdout


def test_whatif_without_a_bad_id_is_one_line_exit_2_with_a_suggestion(runner: CliRunner, history: Workspace) -> None:
    data = json.loads(run(runner, "update", "--exact", "--json").stdout)
    real = data["report_ids"][0]
    out = run(runner, "whatif", "--without", real[:-1])
    assert out.exit_code == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.output
    assert f"did you mean {real!r}" in out.stderr and "no report with this id is in force" in out.stderr
    nothing = run(runner, "whatif")
    assert nothing.exit_code == 2 and nothing.stderr.count("\n") == 1 and "--without REPORT_ID" in nothing.stderr


def test_check_without_refuses_an_id_not_in_force(tmp_path: Path) -> None:
    priors = hand_priors(tmp_path)
    with pytest.raises(UsageError, match=r"'r-nope'.*did you mean 'r-one'"):
        compare(priors, [rep("r-one", "i1")], [whatif_scenario([], ["r-nope"])], as_of=DAY, exact=True)


# ------------------------------------------------------------------------------ the brief


def test_changes_since_the_previous_brief_in_words(tmp_path: Path) -> None:
    (h,) = robustness(hand_priors(tmp_path), [rep("r-1", "i1"), rep("r-2", "i2"), rep("r-3", "i3")]).hypotheses
    assert CallRobustness(h, None).change == "no earlier brief to compare"
    assert CallRobustness(h, Earlier("2026-W46", "a", 3, None)).change == "unchanged since 2026-W46"
    assert CallRobustness(h, Earlier("2026-W46", "a", 1, None)).change == "more robust: was 1 removal in 2026-W46"
    assert CallRobustness(h, Earlier("2026-W46", "a", None, 10)).change == (
        "less robust: was more than 10 removals in 2026-W46")
    assert CallRobustness(h, Earlier("2026-W46", "b", 2, None)).change == (
        "the call changed: b then (2 removals in 2026-W46), a now")


def test_the_brief_section_is_rendered_compared_and_escaped(runner: CliRunner, tmp_path: Path) -> None:
    from tests.test_brief import golden_workspace

    ws = golden_workspace(tmp_path / "golden")
    out = tmp_path / "briefs"
    code = run(runner, "-w", str(ws.root), "brief", "--exact", "--until", "2026-11-22", "--output", str(out))
    assert code.exit_code == 0, code.output
    data = json.loads((out / "2026-W47.json").read_text(encoding="utf-8"))
    section = data["robustness"]
    assert [h["id"] for h in section["hypotheses"]] == ["encirclement", "alignment", "escalation"]
    assert "## How robust is the call" in (out / "2026-W47.md").read_text(encoding="utf-8")
    assert "<h2>How robust is the call</h2>" in (out / "2026-W47.html").read_text(encoding="utf-8")
    # A previous brief under a name full of markup, whose escalation call held through one removal only.
    nasty = "w<b>x<i>*y*|z&amp;"
    for h in section["hypotheses"]:
        if h["id"] == "escalation":
            h["robustness"], h["more_than"] = 1, None
    data["period"] = {"since": "2026-11-09", "until": "2026-11-15"}
    (out / f"{nasty}.json").write_text(json.dumps(data), encoding="utf-8")
    for f in out.glob("2026-W47.*"):
        f.unlink()
    code = run(runner, "-w", str(ws.root), "brief", "--exact", "--until", "2026-11-22", "--output", str(out))
    assert code.exit_code == 0, code.output
    now = json.loads((out / "2026-W47.json").read_text(encoding="utf-8"))["robustness"]
    esc = next(h for h in now["hypotheses"] if h["id"] == "escalation")
    assert now["previous_brief"] == nasty and esc["previous"]["robustness"] == 1
    assert esc["change"] == f"more robust: was 1 removal in {nasty}"
    md = (out / "2026-W47.md").read_text(encoding="utf-8")
    section_md = md.split("## How robust is the call")[1].split("## What to watch")[0]
    assert r"more robust: was 1 removal in w\<b>x\<i>\*y\*\|z\&amp;" in section_md
    assert "<b>" not in section_md.replace(r"\<b>", "")
    html = (out / "2026-W47.html").read_text(encoding="utf-8")
    section_html = html.split("<h2>How robust is the call</h2>")[1].split("<h2>What to watch</h2>")[0]
    assert "w&lt;b&gt;x&lt;i&gt;*y*|z&amp;amp;" in section_html and "<b>" not in section_html

