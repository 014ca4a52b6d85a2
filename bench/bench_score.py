"""Benchmark the track record (issue 14).

    python bench/bench_score.py [--runs-recorded 10000] [--repeat 5]

1. Scoring 10,000 recorded runs: a temporary workspace whose run log holds that many updates
   (written straight into the tables: three hypotheses, eight states, as-of dates spread over
   2020–2025) and the bundled resolutions. Timed: the library call
   (`workflow.track_record.track_record`, in process) and real `forecast score` processes (the
   table, and `--json` with every resolved forecast, to /dev/null). Target: ≤ 2 s.
2. `forecast score --backfill weekly` on the bundled workspace (init, `event import` of
   scenarios/historical_events.yaml, `resolutions import` of scenarios/resolutions.yaml): cold
   (each repetition on a fresh copy of the store, so the weekly back-test is computed and recorded)
   and warm (the points already recorded). Target: ≤ 10 s.

Wall clock, median of --repeat (after one untimed warm-up process, which writes the bytecode
cache, as an install would), beside the median CPU time (user + system: what a busy shared
machine inflates least); prints a table and the load average; exits 1 if a wall-clock target is
missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.core.workspace import Workspace, init_workspace  # noqa: E402
from forecaster.model.loading import load_priors  # noqa: E402
from forecaster.store.events import EventStore  # noqa: E402
from forecaster.store.resolution_files import read_resolutions_file  # noqa: E402
from forecaster.store.resolutions import import_resolutions, states_of  # noqa: E402
from forecaster.workflow.track_record import track_record  # noqa: E402

# As installed: bytecode cached (in a temporary folder, not next to the sources), so a process
# pays for importing forecaster, not for compiling it, whatever PYTHONDONTWRITEBYTECODE says here.
PYCACHE = tempfile.mkdtemp(prefix="bench-score-pyc-")
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": PYCACHE, "NO_COLOR": "1", "COLUMNS": "160",
}


CPU: list[float] = []  # CPU seconds (user + system) of each timed call, beside its wall clock


def forecast(ws: Workspace, *args: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "forecaster", "-w", str(ws.root), *args],
        check=True, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def median(fn: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Median wall clock and median CPU time (which a busy machine inflates far less)."""
    CPU.clear()
    walls = [fn() for _ in range(repeat)]
    return statistics.median(walls), statistics.median(CPU) if CPU else float("nan")


def build_runs(ws: Workspace, n: int) -> None:
    priors = load_priors(ws.priors_dir)
    rng = random.Random(14)
    start = dt.date(2020, 1, 1)
    runs, states = [], []
    for i in range(n):
        rid = f"bench{i:08d}"
        as_of = (start + dt.timedelta(days=rng.randrange(6 * 365))).isoformat()
        recorded = f"{as_of}T12:00:00.000000Z"
        runs.append((rid, "update", "store", recorded, as_of, as_of, priors.hash, "e", "s", "{}", 0, "bench",
                     "exact", 0, None, None, 0, 0.0, None, None, "{}"))
        for h in priors.hypotheses:
            w = [rng.random() + 0.05 for _ in h.states]
            total = sum(w)
            for k, s in enumerate(h.states):
                states.append((rid, h.id, s, k, 1 / len(h.states), w[k] / total, w[k] / total))
    batch = read_resolutions_file(ws.root / "scenarios" / "resolutions.yaml")
    with EventStore(ws.db_path) as store:
        import_resolutions(store, batch.resolutions, hypotheses=states_of(priors), labels=batch.labels)
        db = store._db
        db.execute("BEGIN")
        db.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * 21)})", runs)
        db.executemany(
            "INSERT INTO run_states (run_id, hypothesis, state, position, prior, posterior, exact) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            states,
        )
        db.execute("COMMIT")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs-recorded", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rows: list[tuple[str, tuple[float, float], float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        big = init_workspace(Path(tmp) / "big")
        build_runs(big, args.runs_recorded)
        priors = load_priors(big.priors_dir)

        def library() -> float:
            t, c = time.perf_counter(), time.process_time()
            with EventStore(big.db_path) as store:
                tr = track_record(store, priors)
            assert tr.resolved > 0
            CPU.append(time.process_time() - c)
            return time.perf_counter() - t

        n = args.runs_recorded
        forecast(big, "score")  # warm-up: the bytecode cache
        rows.append((f"track_record() on {n:,} runs (in process)", median(library, args.repeat), 2.0))
        rows.append((f"forecast score, {n:,} runs", median(lambda: forecast(big, "score"), args.repeat), 2.0))
        rows.append((f"forecast score --json, {n:,} runs", median(lambda: forecast(big, "score", "--json"), args.repeat), 2.0))

        bundled = init_workspace(Path(tmp) / "bundled")
        forecast(bundled, "event", "import", str(bundled.root / "scenarios" / "historical_events.yaml"))
        forecast(bundled, "resolutions", "import", str(bundled.root / "scenarios" / "resolutions.yaml"))
        pristine = Path(tmp) / "pristine.db"
        shutil.copyfile(bundled.db_path, pristine)
        plot = Path(tmp) / "cal.png"

        def cold() -> float:
            for suffix in ("-wal", "-shm"):
                Path(str(bundled.db_path) + suffix).unlink(missing_ok=True)
            shutil.copyfile(pristine, bundled.db_path)
            return forecast(bundled, "score", "--backfill", "weekly", "--plot", str(plot))

        rows.append(("score --backfill weekly --plot, bundled (cold)", median(cold, args.repeat), 10.0))
        rows.append((
            "score --backfill weekly --plot, bundled (warm)",
            median(lambda: forecast(bundled, "score", "--backfill", "weekly", "--plot", str(plot)), args.repeat),
            10.0,
        ))
    width = max(len(r[0]) for r in rows)
    print(f"load average over the last 1/5/15 minutes: {' / '.join(f'{x:.1f}' for x in os.getloadavg())}"
          f" on {os.cpu_count()} cores")
    print(f"{'what'.ljust(width)}  median s   cpu s  target s")
    missed = False
    for what, (t, cpu), target in rows:
        flag = "" if t <= target else "  MISSED"
        missed |= t > target
        print(f"{what.ljust(width)}  {t:8.3f}  {cpu:6.3f}  {target:8.1f}{flag}")
    shutil.rmtree(PYCACHE, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
