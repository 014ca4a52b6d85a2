"""What `update` reports (MODEL.md §4, issue 9), against the independent oracle (tests/oracle.py):

- the posterior is exact: `update --json` equals exact inference by enumeration to 1e-6;
- the PyMC mean, kept as `sampler_mean`, is within 4 of its Monte Carlo standard errors of exact;
- every interval end point is within 4 combined standard errors (its reported `interval_mcse`
  and the oracle's own quantile MCSE) of the oracle's exact i.i.d. posterior sampler;
- prior intervals likewise, against the oracle's exact prior draws;

on random networks from tests/randnet.py (seeds not used to choose the defaults: other ids and
state names, DAG parents, linear and log pools, unequal weights, ICD terms, expert indicator
tables) and on the bundled network with its history. The sampled checks are `slow`: one
compiled model per network, small draws (the check is on the reported error, which grows as
the draws shrink).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecaster.core.workspace import defaults_dir
from forecaster.inference.settings import SamplerSettings
from forecaster.inference.update import UpdateResult, in_window, run_update, window_for
from forecaster.model.evidence import Report, load_reports_file
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from forecaster.model.priors import Priors
from tests import oracle as O
from tests.randnet import AS_OF, random_net, random_reports, to_reports

#: linear / log pools, DAG parents (two-parent hypotheses in 25 and 34), shuffled written order,
#: unequal and equal weights, ICD terms and expert indicator tables in all; 2–4 hypotheses.
SEEDS = (21, 22, 25, 28, 34, 39)
#: sampled (one compile each): five of them, linear and log pools, 2–4 hypotheses, DAG parents
SAMPLED = (22, 25, 28, 34, 39)
SMALL = SamplerSettings(draws=1500, tune=300, chains=2, sampler="nuts")  # NUTS: fewer draws diverge
IID = SamplerSettings(draws=500, chains=2)  # exact draws: more until the interval MCSE is ≤ 0.002
ORACLE_DRAWS = 40_000
K = 4.0


# ----------------------------------------------------------------------------- the networks


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    priors: Priors
    reports: list[Report]
    oracle: O.OracleNet
    evidence: dict[str, tuple[float, float]]


def _evidence(priors: Priors, net: O.OracleNet, reports: list[Report]) -> dict[str, tuple[float, float]]:
    """The oracle's own fold of the reports (MODEL.md §3): ageing when the priors age reports."""
    half_life = getattr(priors, "half_life_days", None)
    return O.fold_reports(reports, net.accuracy, as_of=AS_OF, half_life=half_life,
                          window_days=priors.evidence_window_days)


def _case(name: str, priors: Priors, reports: list[Report]) -> Case:
    reports = in_window(reports, window_for(AS_OF, priors.evidence_window_days))
    net = O.oracle_net_from_priors(priors)
    return Case(name, priors, reports, net, _evidence(priors, net, reports))


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("reported")
    out: dict[str, Case] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECAST_NO_CACHE", "1")
        for seed in SEEDS:
            priors = load_priors(random_net(seed).write(root / str(seed)))
            rows = random_reports(priors, seed, 30, origin_rate=0.0)
            out[f"random-{seed}"] = _case(f"random-{seed}", priors, to_reports(rows))
        bundled = load_priors(defaults_dir() / "priors")
    history = load_reports_file(
        defaults_dir() / "scenarios" / "historical_events.yaml",
        known=bundled.indicator_ids,
        today=max(AS_OF, dt.date.today()),
    )
    out["bundled"] = _case("bundled", bundled, history)
    return out


NAMES = [f"random-{s}" for s in SEEDS] + ["bundled"]


def _states(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {h["id"]: h["states"] for h in data["hypotheses"]}


def _check_posterior_exact(case: Case, data: dict[str, Any]) -> None:
    exact = O.exact_posterior(case.oracle, case.evidence)
    states = _states(data)
    for h, hid in enumerate(case.oracle.hypothesis_ids):
        got = np.array([s["posterior"] for s in states[hid]])
        np.testing.assert_allclose(got, exact[h], rtol=0, atol=1e-6, err_msg=f"{case.name}: {hid}")
        assert [s["exact"] for s in states[hid]] == [s["posterior"] for s in states[hid]]


def _check_prior_intervals(case: Case, data: dict[str, Any], oracle_seed: int) -> None:
    summary = O.oracle_prior_summary(case.oracle, n=ORACLE_DRAWS, seed=oracle_seed)
    states = _states(data)
    assert data["diagnostics"]["prior_interval_mcse_max"] <= 0.003
    for h, hyp in enumerate(summary):
        got = np.array([s["prior_interval"] for s in states[hyp.id]])
        se = np.array([s["prior_interval_mcse"] for s in states[hyp.id]])
        assert np.all(se > 0) and np.all(se <= 0.003)
        z = O.interval_z(hyp, got, se)
        assert np.all(np.abs(z) <= K), (case.name, hyp.id, z)
        np.testing.assert_allclose([s["prior"] for s in states[hyp.id]], O.exact_prior(case.oracle)[h], atol=1e-6)


# ----------------------------------------------------------------------------- exact engine (fast)


@pytest.mark.parametrize("name", NAMES)
def test_exact_update_posterior_and_prior_intervals(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    result = run_update(case.priors, case.reports, as_of=AS_OF, exact_only=True)
    data = json.loads(json.dumps(result.to_json()))
    _check_posterior_exact(case, data)
    _check_prior_intervals(case, data, oracle_seed=11)
    for states in _states(data).values():
        for s in states:
            assert s["sampler_mean"] is None and s["interval_mcse"] is None and s["interval"] == [None, None]
    d = data["diagnostics"]
    assert d["mean_check"] is None and d["interval_mcse_max"] is None and d["prior_draws"] >= 20_000


def test_mcse_helpers_agree_with_the_oracle() -> None:
    from forecaster.inference.mcse import quantiles_iid

    rng = np.random.default_rng(3)
    x = rng.beta(2.0, 5.0, size=(5001, 3))
    q, se = quantiles_iid(x)
    q_o, se_o = O.quantiles_with_mcse(x)
    np.testing.assert_allclose(q, q_o, atol=1e-12)
    np.testing.assert_allclose(se, se_o, rtol=0.05)


def test_a_record_from_before_issue_9_reads_its_posterior_as_exact(cases: dict[str, Case]) -> None:
    case = cases["random-22"]
    data = run_update(case.priors, case.reports, as_of=AS_OF, exact_only=True).to_json()
    data["diagnostics"]["sampler"] = "pymc-nuts"
    for h in data["hypotheses"]:
        for s in h["states"]:
            for key in ("sampler_mean", "interval_mcse", "prior_interval_mcse"):
                del s[key]
            s["posterior"] = s["exact"] + 0.01  # a PyMC mean
            s["interval"] = [0.1, 0.2]
    for key in ("mean_check", "interval_mcse_max", "prior_interval_mcse_max", "prior_draws"):
        del data["diagnostics"][key]
    old = UpdateResult.from_json(data)
    for h in old.hypotheses:
        for s in h.states:
            assert s.posterior == s.exact and s.sampler_mean == pytest.approx(s.exact + 0.01)
    again = UpdateResult.from_json(old.to_json())
    assert again.to_json() == old.to_json()


def test_mean_check_is_the_largest_z() -> None:
    from forecaster.inference.update import mean_check, mean_check_warning

    exact = [np.array([0.2, 0.8]), np.array([0.5, 0.3, 0.2])]
    means = [np.array([0.21, 0.79]), np.array([0.5, 0.33, 0.17])]
    mcse = [np.array([0.01, 0.01]), np.array([0.0, 0.005, 0.01])]  # a zero MCSE is skipped
    assert mean_check(exact, means, mcse) == pytest.approx(6.0)
    assert mean_check_warning(6.0).startswith("sampler check failed: the draws' mean is 6.0 Monte Carlo")


def test_compile_estimate_is_the_last_compile_timed(tmp_path: Path) -> None:
    from forecaster.inference import compile_times

    empty = tmp_path / "pytensor"
    assert compile_times.estimate(tmp_path / "cache", empty) == compile_times.COLD_S
    for i in range(25):
        (empty / f"tmp{i}").mkdir(parents=True)
    assert compile_times.estimate(tmp_path / "cache", empty) == compile_times.WARM_S
    compile_times.record(tmp_path / "cache", 12.34)
    assert compile_times.estimate(tmp_path / "cache", None) == pytest.approx(12.34)
    compile_times.record(None, 1.0)  # no cache: nothing kept, nothing fails


def test_warnings_are_one_line_on_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecaster.cli import common

    long = "Monte Carlo error ±0.013 on a 90% interval end point (> 0.01); raise --draws " + "x" * 200 + " [dim]"
    buf = io.StringIO()
    # Rich's Console.file falls back to the *current* sys.stderr while `_file` is None: restore
    # that None (not the stream it resolves to now), or later captured runs lose their stderr.
    monkeypatch.setattr(common.err, "_file", buf)
    common.warn(long)
    assert buf.getvalue() == f"warning: {long}\n"


# ----------------------------------------------------------------------------- PyMC (slow)


@pytest.fixture(scope="module")
def sampler_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sampler-cache")


def _sampled_json(case: Case, cache: Path, seed: int, settings: SamplerSettings = SMALL) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECAST_CACHE_DIR", str(cache))
        net = build_network(case.priors)
        model = None
        if settings.sampler == "nuts":
            from forecaster.inference import sampler

            model = sampler.build_model(net)
        result = run_update(case.priors, case.reports, as_of=AS_OF, seed=seed, sampler_settings=settings, net=net,
                            model=model)
    return json.loads(json.dumps(result.to_json()))


def _check_sampled(case: Case, data: dict[str, Any], oracle_seed: int, sampler: str = "pymc-nuts") -> None:
    _check_posterior_exact(case, data)
    d = data["diagnostics"]
    assert d["sampler"] == sampler and d["mean_check"] is not None
    if sampler == "pymc-iid":
        assert d["density_check"]["checked_draws"] > 0 and d["density_check"]["log_ratio_spread"] < 1e-8
        assert d["interval_mcse_max"] <= 0.0021
    states = _states(data)
    summary = O.oracle_summary(case.oracle, case.evidence, n=ORACLE_DRAWS, seed=oracle_seed)
    worst_mean, worst_iv, worst_se = 0.0, 0.0, 0.0
    for hyp in summary:
        rows = states[hyp.id]
        means = np.array([s["sampler_mean"] for s in rows])
        interval = np.array([s["interval"] for s in rows])
        se = np.array([s["interval_mcse"] for s in rows])
        assert np.all(se > 0)
        worst_se = max(worst_se, float(se.max()))
        # the mean check: |PyMC mean − exact| ÷ its MCSE, as reported, is the largest z of the means
        z_iv = O.interval_z(hyp, interval, se)
        worst_iv = max(worst_iv, float(np.max(np.abs(z_iv))))
        assert np.all(np.abs(z_iv) <= K), (case.name, hyp.id, interval, hyp.interval, se, z_iv)
        worst_mean = max(worst_mean, float(np.max(np.abs(means - hyp.exact))))
    assert d["mean_check"] <= K, (case.name, d["mean_check"])
    assert d["interval_mcse_max"] == pytest.approx(worst_se, abs=1e-6)
    _check_prior_intervals(case, data, oracle_seed=oracle_seed + 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", [f"random-{s}" for s in SAMPLED])
def test_sampled_update_on_random_networks(cases: dict[str, Case], sampler_cache: Path, name: str) -> None:
    case = cases[name]
    _check_sampled(case, _sampled_json(case, sampler_cache, seed=5), oracle_seed=17)


@pytest.mark.parametrize("name", ["bundled", *(f"random-{s}" for s in SAMPLED)])
def test_exact_draws_update_matches_the_oracle(cases: dict[str, Case], sampler_cache: Path, name: str) -> None:
    """The default sampler (exact i.i.d. draws, checked against the PyMC model): its mean within
    Monte Carlo error of the exact posterior, its interval within 4 combined standard errors of
    the oracle's independent exact sampler's."""
    case = cases[name]
    _check_sampled(case, _sampled_json(case, sampler_cache, seed=5, settings=IID), oracle_seed=19, sampler="pymc-iid")


@pytest.mark.slow
def test_update_json_on_the_bundled_network_with_its_history(
    cases: dict[str, Case], sampler_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the command line: `forecast update --events historical_events.yaml --json`."""
    from typer.testing import CliRunner

    from forecaster.cli.main import app
    from forecaster.core.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    monkeypatch.setenv("FORECAST_WORKSPACE", str(ws.root))
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(sampler_cache))
    events = ws.scenarios_dir / "historical_events.yaml"
    args = ["update", "--events", str(events), "--as-of", AS_OF.isoformat(), "--json", "--seed", "3",
            "--draws", str(SMALL.draws), "--tune", str(SMALL.tune), "--sampler", "nuts"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    _check_sampled(cases["bundled"], data, oracle_seed=23)
    lines = r.stderr.splitlines()
    for line in lines:
        assert line.startswith(("warning: ", "compiling")), line
    said = [i for i, line in enumerate(lines) if line.startswith("compiling the model for this network (first run; ~")]
    took = [i for i, line in enumerate(lines) if line.startswith("compiling took ")]
    assert len(said) == len(took) <= 1 and all(a < b for a, b in zip(said, took, strict=True))


@pytest.mark.slow
def test_whatif_scenario_intervals_on_the_bundled_network(cases: dict[str, Case], sampler_cache: Path) -> None:
    """A what-if drawn afresh with exact draws: posterior exact, interval within 4 combined
    standard errors (its MCSE and the oracle's) of the oracle's exact sampler's."""
    from forecaster.inference.scenarios import compare, parse_hypothetical, whatif_scenario

    case = cases["bundled"]
    typed = parse_hypothetical("csto_move:no@C3", known=case.priors.indicator_ids, today=AS_OF)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORECAST_CACHE_DIR", str(sampler_cache))
        comparison = compare(case.priors, case.reports, [whatif_scenario([typed])], as_of=AS_OF, seed=7,
                             sampler_settings=IID)
    (outcome,) = comparison.outcomes
    assert outcome.method == "iid"
    data = json.loads(json.dumps(comparison.to_json()))["scenarios"][0]
    assert data["diagnostics"]["interval_mcse_max"] > 0
    assert data["diagnostics"]["mean_check"] <= K  # the weighted PyMC mean against the exact posterior
    evidence = _evidence(case.priors, case.oracle, [*case.reports, typed])
    summary = O.oracle_summary(case.oracle, evidence, n=ORACLE_DRAWS, seed=29)
    for hyp in summary:
        rows = [data["hypotheses"][hyp.id][s] for s in hyp.states]
        np.testing.assert_allclose([r["posterior"] for r in rows], hyp.exact, atol=1e-6)
        interval = np.array([r["interval"] for r in rows])
        se = np.array([r["interval_mcse"] for r in rows])
        z = O.interval_z(hyp, interval, se)
        assert np.all(np.abs(z) <= K), (hyp.id, interval, hyp.interval, se, z)


def test_history_reads_the_exact_posterior_of_an_older_record(cases: dict[str, Case], tmp_path: Path) -> None:
    """A run recorded before issue 9 stored the PyMC mean as its posterior: the run log reads the
    exact value (history, the brief's trend and "Δ prev" use it)."""
    from forecaster.store import runs
    from forecaster.store.events import EventStore

    case = cases["random-28"]
    result = run_update(case.priors, case.reports, as_of=AS_OF, exact_only=True)
    old = dataclasses.replace(result, hypotheses=tuple(
        dataclasses.replace(h, states=tuple(dataclasses.replace(s, posterior=s.exact + 0.01) for s in h.states))
        for h in result.hypotheses
    ))
    with EventStore(tmp_path / "forecast.db") as store:
        runs.record_run(store, runs.NewRun(old, settings={"sampler": "exact"}))
        (record,) = runs.list_runs(store)
    exact = result.posteriors()
    assert record.posteriors() == {h: {s: pytest.approx(p, abs=1e-12) for s, p in st.items()} for h, st in exact.items()}
