"""Benchmark scenarios, what-ifs and collection priorities (issue 6).

    python bench/bench_scenarios.py [--runs 5] [--pymc-runs 5] [--skip-pymc]

In a temporary workspace holding the papers' documented events, times real `forecast` processes
(wall clock, median of --runs; the child's CPU time beside it, which a busy machine inflates
less): `collect`, `whatif` with two typed reports and `scenario run` of the five shipped
scenarios on the exact engine; then, with PyMC (median of --pymc-runs), one `update --force`
against `scenario run` of all five shipped scenarios (the baseline and each scenario drawn
afresh with exact draws; bench/bench_engine.py holds issue 19's target for it).

Targets (issue 6): collect and whatif <= 1 s; scenario run of five with PyMC <= 2 × one update.
Prints a table of medians; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.core.workspace import init_workspace  # noqa: E402

SCENARIOS = ["kfor_drawdown", "rs_secession", "second_banjska", "serbia_aligns_west", "serbia_turns_east"]
FORECAST = [sys.executable, "-m", "forecaster"]


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one `forecast` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*FORECAST, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"forecast {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(args: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `runs` runs."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = timed(args, env)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs per fast command (median)")
    ap.add_argument("--pymc-runs", type=int, default=5, help="runs per sampled command (median)")
    ap.add_argument("--skip-pymc", action="store_true", help="time only the exact-engine commands")
    opts = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        env = dict(os.environ, FORECAST_WORKSPACE=str(ws.root), NO_COLOR="1", COLUMNS="120")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        timed(["event", "import", str(ws.scenarios_dir / "historical_events.yaml")], env)
        timed(["collect"], env)  # warm the OS file cache and bytecode

        rows: list[tuple[str, float, float, str, bool]] = []
        wall, cpu = median_of(["collect"], env, opts.runs)
        rows.append(("collect", wall, cpu, "<= 1 s", wall <= 1.0))
        wall, cpu = median_of(["whatif", "csto_move", "armed_incident_north_kosovo:no@C3"], env, opts.runs)
        rows.append(("whatif (2 reports)", wall, cpu, "<= 1 s", wall <= 1.0))
        wall, cpu = median_of(["scenario", "run", *SCENARIOS, "--exact"], env, opts.runs)
        rows.append(("scenario run ×5 --exact", wall, cpu, "", True))

        if not opts.skip_pymc:
            timed(["update", "--force"], env)  # compile once so every timing below sees a warm C cache
            update, update_cpu = median_of(["update", "--force"], env, opts.pymc_runs)
            rows.append(("update --force (PyMC)", update, update_cpu, "reference", True))
            wall, cpu = median_of(["scenario", "run", *SCENARIOS], env, opts.pymc_runs)
            rows.append(("scenario run ×5 (PyMC)", wall, cpu, f"<= {2 * update:.1f} s", wall <= 2 * update))

    width = max(len(r[0]) for r in rows)
    print(f"{'command':<{width}}  {'wall (median)':>13}  {'cpu (median)':>12}  target")
    for name, wall, cpu, target, ok in rows:
        print(f"{name:<{width}}  {wall:>12.2f}s  {cpu:>11.2f}s  {target}{'' if ok else '  MISSED'}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} CPUs")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
