"""What each PyMC/PyTensor internal in forecaster/inference/pymc_adapter.py buys, against the time
of one warm sampled update, measured in one process (issue 11: "where the public API costs under
10 % of update time, use it").

    python bench/bench_adapter.py [--reps 3]

- PrecompiledTrace: without it, `pm.sample` compiles the trace's point function in every process
  (the public path); measured here as the compile time of that function with a warm C cache;
- march flags: the g++ probing PyTensor runs on the first C compilation of a process (only when
  something must be compiled: a cold cache);
- raw_function / trust_input: the input checks PyTensor runs on every log-density call, measured
  as the time of the calls NUTS makes in one update with and without them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    from forecaster.inference import pymc_adapter, sampler
    from forecaster.model.evidence import fold, load_reports_file
    from forecaster.model.loading import load_priors
    from forecaster.model.network import build_network

    priors = load_priors(REPO / "priors")
    net = build_network(priors)
    reports = load_reports_file(REPO / "scenarios" / "historical_events.yaml", known=priors.indicator_ids)
    log_lam = net.log_lambda(fold(reports, priors.grades))
    model = sampler.build_model(net)
    sampler.sample(net, log_lam, seed=1, model=model)  # warm: compiled functions loaded or built

    update = []
    for i in range(a.reps):
        t = time.perf_counter()
        sampler.sample(net, log_lam, seed=2 + i, model=model)
        update.append(time.perf_counter() - t)
    u = statistics.median(update)

    comp = sampler._compiled(model, net)
    trace_compile = []
    for _ in range(a.reps):
        t = time.perf_counter()
        sampler._compile(model, net, comp.mean)  # logp/dlogp and trace function, as a process without the cache would
        trace_compile.append(time.perf_counter() - t)
    c = statistics.median(trace_compile)

    fn = pymc_adapter.raw_function(comp.logp_dlogp)
    x = np.concatenate([comp.mean[v.name].ravel() for v in model.value_vars])
    calls = 2 * (200 + 1000) * 15  # chains × (tune + draws) × ~15 leapfrog steps
    timings = {}
    for trust in (True, False):
        fn.trust_input = trust
        t = time.perf_counter()
        for _ in range(calls):
            fn(x)
        timings[trust] = time.perf_counter() - t
    fn.trust_input = True

    print(f"warm sampled update (sample() only), median of {a.reps}: {u:.2f} s")
    print(f"compiling logp/dlogp + trace functions (what the cache and PrecompiledTrace save per process): {c:.2f} s = {100 * c / u:.0f} % of it")
    print(f"{calls} log-density calls: trust_input on {timings[True]:.2f} s, off {timings[False]:.2f} s "
          f"(+{100 * (timings[False] - timings[True]) / u:.0f} % of the update without it)")


if __name__ == "__main__":
    main()
