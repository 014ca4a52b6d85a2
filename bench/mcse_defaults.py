"""The Monte Carlo error the sampler's settings give (issue 9: "defaults sized to the error").

Run by hand:  .venv/bin/python bench/mcse_defaults.py [--nets bundled,1,2,3] [--draws 1000,5000]
              [--tune 300] [--seeds 1,2]

For the bundled network with its history (scenarios/historical_events.yaml, as of 2026-11-22) and
for random networks from tests/randnet.py (seed N: 2–4 hypotheses, 2–4 states, 8–40 indicators,
30 random reports), one `run_update` per setting and seed, the model compiled once per network;
prints one JSON line each: interval_mcse_max (the largest ArviZ quantile MCSE of a 90 % interval
end point; target ≤ 0.01), mean_check (|PyMC mean − exact| ÷ MCSE), ESS, R-hat, divergences,
the prior intervals' largest MCSE (target ≤ 0.003) and seconds. The end point error scales as
1/sqrt(draws), so one run at 1000 draws tells the draws a target needs: 1000 · (mcse / 0.01)².
The networks the defaults were chosen on (1–12) are not those the tests check (21–39).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

AS_OF = dt.date(2026, 11, 22)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="bundled,1,2,3,4,5,6,7,8,9,10,11,12")
    ap.add_argument("--draws", default="1000")
    ap.add_argument("--tune", type=int, default=None, help="default: the SamplerSettings default")
    ap.add_argument("--seeds", default="1")
    args = ap.parse_args()

    import randnet

    from forecaster.inference import sampler
    from forecaster.inference.settings import SamplerSettings
    from forecaster.inference.update import in_window, run_update, window_for
    from forecaster.model.evidence import load_reports_file
    from forecaster.model.loading import load_priors
    from forecaster.model.network import build_network

    tmp = Path(tempfile.mkdtemp(prefix="mcse-defaults-"))
    tune = SamplerSettings().tune if args.tune is None else args.tune
    for name in args.nets.split(","):
        if name == "bundled":
            priors = load_priors(REPO / "priors")
            reports = load_reports_file(
                REPO / "scenarios" / "historical_events.yaml", known=priors.indicator_ids,
                today=max(AS_OF, dt.date.today()),
            )
        else:
            priors = load_priors(randnet.random_priors(tmp / name, int(name)))
            reports = randnet.to_reports(randnet.random_reports(priors, seed=int(name), n=30))
        reports = in_window(reports, window_for(AS_OF, priors.evidence_window_days))
        net = build_network(priors)
        model = sampler.build_model(net)
        for draws in (int(x) for x in args.draws.split(",")):
            for seed in (int(x) for x in args.seeds.split(",")):
                t = time.perf_counter()
                r = run_update(priors, reports, as_of=AS_OF, seed=seed, net=net, model=model,
                               sampler_settings=SamplerSettings(draws=draws, tune=tune))
                d = r.diagnostics
                print(json.dumps({
                    "net": name, "hypotheses": len(net.hypothesis_ids), "joint": net.n_joint,
                    "indicators": len(net.indicator_ids), "reports": len(reports), "draws": draws, "tune": tune,
                    "seed": seed, "interval_mcse_max": round(d.interval_mcse_max or 0.0, 4),
                    "mean_check": round(d.mean_check or 0.0, 2), "ess_min": round(d.ess_min or 0.0),
                    "r_hat_max": round(d.r_hat_max or 0.0, 3), "divergences": d.divergences,
                    "prior_interval_mcse_max": round(d.prior_interval_mcse_max or 0.0, 4),
                    "seconds": round(time.perf_counter() - t, 1),
                }), flush=True)


if __name__ == "__main__":
    main()
