"""Benchmark the run log's cached path and the weekly brief (issue 4).

    python bench/bench_brief.py [--runs 5] [--sampled-runs 1]

In a temporary workspace made from the bundled defaults, with the seed papers' events in its
store, times real `forecast` processes (wall clock):

- `forecast update`, sampled with the default settings: the update a weekly brief needs
  (median of --sampled-runs; each on a fresh copy of the store, after one untimed warm-up that
  fills PyTensor's compile cache as any earlier run on the machine would have);
- `forecast brief` on a store with no run for the current inputs, so it runs that same update
  itself (median of --sampled-runs, fresh copies too); NUTS's own spread between two runs is
  larger than the 2 s budget, so the same pair is also timed on the exact engine (median of --runs),
  which isolates the brief's cost on top of its update;
- `forecast update` when the run is recorded (the cached path; median of --runs);
- `forecast brief` when the run is recorded (median of --runs);
- the library's fast lookup (`updating.cached_update`, no priors parsing) in a fresh process
  that imports the CLI as `forecast update` does: what the cached update costs once the
  command takes that path (see the note printed at the end).

Targets (issue 4): cached update <= 0.5 s; brief <= the update it needs + 2 s. Prints a table of
medians; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORECAST = [sys.executable, "-m", "forecaster"]
CACHED_UPDATE_TARGET = 0.5
BRIEF_OVER_UPDATE = 2.0

FAST_PATH = """
import datetime as dt, sys
from forecaster.cli.main import app  # the same imports as the command
from forecaster.cli.common import out
from forecaster.workflow.updating import cached_update
from forecaster.core.workspace import Workspace
from forecaster.outputs.tables import render_update
result = cached_update(Workspace(__import__("pathlib").Path(sys.argv[1])), as_of=dt.date.today())
assert result is not None, "no recorded run found"
render_update(result, out, cached=True)
"""


def timed(argv: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0,)) -> float:
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return elapsed


def fresh_copy(template: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(template, dest)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the cached measurements (median)")
    parser.add_argument("--sampled-runs", type=int, default=1, help="repetitions of the sampled ones (median)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env.pop("FORECAST_DB", None)
    with tempfile.TemporaryDirectory(prefix="bench-brief-") as tmp:
        base = Path(tmp)
        template = base / "template"
        subprocess.run([*FORECAST, "init", str(template)], env=env, check=True, capture_output=True)
        events = template / "scenarios" / "historical_events.yaml"
        subprocess.run(
            [*FORECAST, "-w", str(template), "event", "import", str(events)], env=env, check=True, capture_output=True
        )

        print("warming PyTensor's compile cache (untimed)…", file=sys.stderr)
        warm = fresh_copy(template, base / "warm")
        timed([*FORECAST, "-w", str(warm), "update"], env)

        update_s, brief_stale_s = [], []
        for i in range(args.sampled_runs):
            ws = fresh_copy(template, base / f"u{i}")
            update_s.append(timed([*FORECAST, "-w", str(ws), "update"], env))
            ws = fresh_copy(template, base / f"b{i}")
            brief_stale_s.append(timed([*FORECAST, "-w", str(ws), "brief"], env))

        # The brief's own cost on top of the update it runs, without NUTS's run-to-run spread: the
        # exact engine, each on a fresh copy (no run recorded), median of --runs.
        exact_new_update_s, exact_new_brief_s = [], []
        for i in range(args.runs):
            ws = fresh_copy(template, base / f"eu{i}")
            exact_new_update_s.append(timed([*FORECAST, "-w", str(ws), "update", "--exact"], env))
            ws = fresh_copy(template, base / f"eb{i}")
            exact_new_brief_s.append(timed([*FORECAST, "-w", str(ws), "brief", "--exact"], env))

        ws = base / "u0"  # its run is recorded now
        cached_update_s = [timed([*FORECAST, "-w", str(ws), "update"], env) for _ in range(args.runs)]
        cached_brief_s = [timed([*FORECAST, "-w", str(ws), "brief"], env) for _ in range(args.runs)]
        fast_path_s = [timed([sys.executable, "-c", FAST_PATH, str(ws)], env) for _ in range(args.runs)]
        exact_update_s = [timed([*FORECAST, "-w", str(ws), "update", "--exact"], env) for _ in range(args.runs)]
        exact_brief_s = [timed([*FORECAST, "-w", str(ws), "brief", "--exact"], env) for _ in range(args.runs)]

    med = statistics.median
    u, bs, cu, cb, fp = med(update_s), med(brief_stale_s), med(cached_update_s), med(cached_brief_s), med(fast_path_s)
    rows = [
        ("update, sampled (default settings)", u, ""),
        ("brief, stale: runs that update itself", bs, f"<= {u + BRIEF_OVER_UPDATE:.2f} s (update + 2 s)"),
        ("update, cached (`forecast update`)", cu, f"<= {CACHED_UPDATE_TARGET} s"),
        ("update, cached (library fast path + render)", fp, f"<= {CACHED_UPDATE_TARGET} s"),
        ("brief, cached run", cb, f"<= {u + BRIEF_OVER_UPDATE:.2f} s"),
        ("update --exact, new run", med(exact_new_update_s), ""),
        ("brief --exact, runs that update itself", med(exact_new_brief_s), f"<= {med(exact_new_update_s) + 2:.2f} s"),
        ("update --exact, cached", med(exact_update_s), ""),
        ("brief --exact, cached run", med(exact_brief_s), ""),
    ]
    print(f"{'measurement':<46} {'median s':>9}   target")
    for name, value, target in rows:
        print(f"{name:<46} {value:>9.2f}   {target}")
    print(f"(sampled: median of {args.sampled_runs}; cached: median of {args.runs}; machine: {os.cpu_count()} CPUs)")
    missed = []
    if med(exact_new_brief_s) > med(exact_new_update_s) + BRIEF_OVER_UPDATE:
        missed.append("brief --exact exceeds its update + 2 s")
    if bs > u + BRIEF_OVER_UPDATE:
        missed.append("stale brief exceeds update + 2 s")
    if cu > CACHED_UPDATE_TARGET:
        missed.append(f"cached `forecast update` exceeds {CACHED_UPDATE_TARGET} s")
    for m in missed:
        print(f"target missed: {m}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
