"""The engine with mechanisms, ageing and origins against the independent oracle (tests/oracle.py)
on random networks (tests/randnet.py), and the PyMC sampler against exact and the oracle's exact
interval sampler with mechanisms (slow)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import forecaster.model.terms
from forecaster.inference.exact import infer_exact
from forecaster.model.evidence import Report
from forecaster.model.loading import load_priors
from forecaster.model.network import build_network
from tests import oracle as O

sys.modules.setdefault("forecaster.model.terms", forecaster.model.terms)  # randnet predates the package layout
from tests.randnet import AS_OF, random_net, random_reports  # noqa: E402

MINI_MECH = Path(__file__).parent / "data" / "mini_mech"
HALF_LIFE = 365.0


def reports_of(rows: list[dict[str, Any]]) -> list[Report]:
    return [
        Report(r["indicator"], dt.date.fromisoformat(str(r["date"])), bool(r["occurred"]), str(r["grade"])[0],
               int(str(r["grade"])[1]), str(r["source"]), origin=r.get("origin"))
        for r in rows
    ]


@pytest.mark.parametrize("seed", range(6))
def test_random_networks_with_mechanisms_ageing_and_origins_match_the_oracle(tmp_path: Path, seed: int) -> None:
    rn = random_net(seed, mechanisms=2, indicators=(8, 16), max_joint=48)
    priors = load_priors(rn.write(tmp_path / f"net{seed}"))
    assert priors.mechanisms
    net = build_network(priors)
    rows = random_reports(priors, seed, 14)
    folded = priors.fold(reports_of(rows), as_of=AS_OF, half_life_days=HALF_LIFE)
    accuracy = O.default_accuracy(dict(priors.grades.reliability), dict(priors.grades.credibility))
    evidence = O.fold_reports(rows, accuracy, as_of=AS_OF, half_life=HALF_LIFE)
    assert set(folded) == set(evidence)
    for k, (l1, l0) in evidence.items():
        assert folded[k].log_lambda[0] - folded[k].log_lambda[1] == pytest.approx(l1 - l0, abs=1e-10)
    onet = O.oracle_net_from_priors(priors)
    res = infer_exact(net, net.log_lambda(folded))
    for mine, theirs in zip(res.posterior, O.exact_posterior(onet, evidence), strict=True):
        assert np.allclose(mine, theirs, atol=1e-9)
    for k, mid in enumerate(net.mechanism_ids):
        if mid not in res.without_mechanism:
            continue
        kids = {net.indicator_ids[j] for j in net.children(k)}
        rest = {i: v for i, v in evidence.items() if i not in kids}
        for mine, theirs in zip(res.without_mechanism[mid], O.exact_posterior(onet, rest), strict=True):
            assert np.allclose(mine, theirs, atol=1e-9)
    for ind in list(res.without)[:4]:
        rest = {i: v for i, v in evidence.items() if i != ind}
        for mine, theirs in zip(res.without[ind], O.exact_posterior(onet, rest), strict=True):
            assert np.allclose(mine, theirs, atol=1e-9)


@pytest.mark.slow
def test_pymc_with_mechanisms_matches_exact_and_the_exact_interval_sampler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import arviz as az

    from forecaster.inference import sampler
    from forecaster.inference.settings import SamplerSettings

    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    priors = load_priors(MINI_MECH)
    net = build_network(priors)
    reps = [Report("armed_incident", AS_OF, True, "A", 2, "t"), Report("kfor_reinforcement", AS_OF, True, "B", 2, "t"),
            Report("cfsp_alignment", AS_OF, False, "C", 3, "t")]
    folded = priors.fold(reps, as_of=AS_OF)
    log_lam = net.log_lambda(folded)
    res = sampler.sample(net, log_lam, seed=5, settings=SamplerSettings(draws=1500, tune=400, chains=2))
    exact = infer_exact(net, log_lam).posterior
    onet = O.oracle_net_from_priors(priors)
    evidence = {k: v.log_lambda for k, v in folded.items()}
    oracle = O.oracle_summary(onet, evidence, n=40_000, seed=3)
    for h, hid in enumerate(net.hypothesis_ids):
        name = f"p_{hid}"
        mean = res.draws[h].mean(axis=0)
        mcse = az.mcse(res.idata.posterior, var_names=[name])[name].values
        assert np.all(np.abs(mean - exact[h]) <= 4 * mcse + 1e-4), (hid, mean, exact[h], mcse)
        post = res.idata.posterior
        lo = az.mcse(post, var_names=[name], method="quantile", prob=0.05)[name].values
        hi = az.mcse(post, var_names=[name], method="quantile", prob=0.95)[name].values
        interval = np.quantile(res.draws[h], [0.05, 0.95], axis=0).T
        z = O.interval_z(oracle[h], interval, np.column_stack([lo, hi]))
        assert np.all(np.abs(z) <= 4.5), (hid, interval, oracle[h].interval, z)
