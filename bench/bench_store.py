"""Benchmark the evidence log on a store of 100,000 reports (issue 3).

    python bench/bench_store.py [--reports 100000] [--runs 7]

Builds the store through the library in one transaction, in a temporary workspace, then times
real `forecast` processes (wall clock, median of --runs): `event add`, `event list --since`
(the default table, and every matching row as a table and as JSON, all to /dev/null), and
importing a 10,000-row CSV into the full store. Targets (issue 3): add and list <= 0.5 s,
10k import <= 3 s. Prints a table of medians; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.cli.event import _indicator_ids  # noqa: E402
from forecaster.core.workspace import Workspace, init_workspace  # noqa: E402
from forecaster.model.evidence import Report  # noqa: E402
from forecaster.store.events import EventStore  # noqa: E402
from forecaster.store.records import StoredReport  # noqa: E402

TODAY = dt.date.today()
GRADES = [(r, c) for r in "ABCDEF" for c in range(1, 7)]


def build(ws: Workspace, n: int, indicators: list[str]) -> float:
    rng = random.Random(20250318)
    start_day = TODAY - dt.timedelta(days=7 * 365)
    now = dt.datetime.now(dt.UTC)
    entries = []
    for i in range(n):
        day = start_day + dt.timedelta(days=rng.randrange(7 * 365))
        rel, cred = rng.choice(GRADES)
        recorded = min(now, dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(hours=rng.randrange(1, 24 * 30)))
        r = Report(
            indicator=rng.choice(indicators), date=day, occurred=rng.random() < 0.8, reliability=rel, credibility=cred,
            source=f"Wire service {rng.randrange(40)}", url=f"https://example.org/{i}", note=f"bench report {i}",
            analyst=f"analyst{rng.randrange(8)}", recorded_at=recorded,
        )
        entries.append(StoredReport(r))
    t = time.perf_counter()
    with EventStore(ws.db_path) as store:
        store.import_reports(entries, analyst="bench")
    return time.perf_counter() - t


def write_csv(path: Path, n: int, indicators: list[str], tag: str) -> None:
    rng = random.Random(tag)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["indicator", "date", "occurred", "grade", "source", "url", "note"])
        for i in range(n):
            day = TODAY - dt.timedelta(days=rng.randrange(4 * 365))
            rel, cred = rng.choice(GRADES)
            w.writerow([rng.choice(indicators), day.isoformat(), "true", f"{rel}{cred}", "Import wire, Belgrade",
                        f"https://example.org/import/{tag}/{i}", f"imported {tag} {i}"])


def _lib_add(ws: Workspace, indicator: str, day: str, k: int) -> None:
    with EventStore(ws.db_path) as store:
        store.add(Report(indicator, dt.date.fromisoformat(day), True, "B", 2, f"library add {k} {time.time()}"), analyst="bench")


def _lib_list(ws: Workspace, since: str) -> None:
    with EventStore(ws.db_path) as store:
        for _ in store.list(since=dt.date.fromisoformat(since)):
            pass


def _lib_update(ws: Workspace, window: int) -> None:
    with EventStore(ws.db_path) as store:
        store.reports_for_update(TODAY, window)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process. CPU time is what the process itself cost; wall
    time also holds waiting for a busy machine (two cores shared with whatever else runs)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--import-rows", type=int, default=10_000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        indicators = sorted(_indicator_ids(ws))
        build_s = build(ws, args.reports, indicators)
        size_mb = ws.db_path.stat().st_size / 1e6
        env = dict(os.environ, FORECAST_WORKSPACE=str(ws.root), PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        env.pop("FORECAST_DB", None)
        forecast = [sys.executable, "-m", "forecaster"]
        since = (TODAY - dt.timedelta(days=30)).isoformat()
        with EventStore(ws.db_path) as store:
            matching = sum(1 for _ in store.list(since=dt.date.fromisoformat(since)))
        csvs = []
        for k in range(args.runs):
            path = Path(tmp) / f"import{k}.csv"
            write_csv(path, args.import_rows, indicators, tag=f"run{k}")
            csvs.append(path)

        cases: list[tuple[str, float | None, list[list[str]]]] = [
            ("python -c pass (interpreter start)", None, [[sys.executable, "-c", "pass"]] * args.runs),
            ("forecast --help", None, [[*forecast, "--help"]] * args.runs),
            ("forecast event add", 0.5, [
                [*forecast, "event", "add", indicators[k % len(indicators)], "--date", since, "--grade", "B2",
                 "--source", f"bench add {k}"] for k in range(args.runs)
            ]),
            (f"forecast event list --since {since} (table, newest 50)", 0.5, [[*forecast, "event", "list", "--since", since]] * args.runs),
            (f"forecast event list --since {since} --limit 0 ({matching} rows)", None,
             [[*forecast, "event", "list", "--since", since, "--limit", "0"]] * args.runs),
            (f"forecast event list --since {since} --json ({matching} rows)", None,
             [[*forecast, "event", "list", "--since", since, "--json"]] * args.runs),
            (f"forecast event import ({args.import_rows:,}-row CSV)", 3.0, [[*forecast, "event", "import", str(p)] for p in csvs]),
            ("forecast event export --format csv (everything)", None, [[*forecast, "event", "export"]] * min(args.runs, 3)),
        ]
        print(f"store: {args.reports:,} reports built in {build_s:.2f} s ({size_mb:.1f} MB); {args.runs} runs per command\n")
        load = os.getloadavg()[0]
        print(f"load average before timing: {load:.2f} on {os.cpu_count()} cores (wall times grow with it; CPU times much less)\n")
        print(f"{'command':<62} {'median':>8} {'min':>7} {'max':>7} {'cpu':>7} {'target':>7}")
        failed = False
        for name, target, argvs in cases:
            runs = [timed(argv, env) for argv in argvs]
            times = [w for w, _ in runs]
            med = statistics.median(times)
            cpu = statistics.median(c for _, c in runs)
            verdict = ""
            if target is not None:
                ok = med <= target
                failed |= not ok
                verdict = f"{target:>6.1f}s {'ok' if ok else 'MISSED'}"
            print(f"{name:<62} {med:>7.3f}s {min(times):>6.3f}s {max(times):>6.3f}s {cpu:>6.3f}s {verdict}")
        print("\nin process (the store's share of the above; the rest is interpreter, Typer and Rich start-up):")
        window = 1460
        lib_cases: list[tuple[str, Callable[[int], None]]] = [
            ("EventStore(path) open", lambda k: EventStore(ws.db_path).close()),
            ("open + add", lambda k: _lib_add(ws, indicators[0], since, k)),
            (f"open + list(since={since}) ({matching} rows)", lambda k: _lib_list(ws, since)),
            (f"open + reports_for_update(today, {window} days)", lambda k: _lib_update(ws, window)),
        ]
        for name, fn in lib_cases:
            times = []
            for k in range(args.runs):
                t = time.perf_counter()
                fn(k)
                times.append(time.perf_counter() - t)
            print(f"{name:<62} {statistics.median(times):>7.3f}s {min(times):>6.3f}s {max(times):>6.3f}s")
        with EventStore(ws.db_path) as store:
            total = store.counts()["total"]
            used = len(store.reports_for_update(TODAY, window))
        print(f"\nstore after the runs: {total:,} reports; {used:,} inside a {window}-day window")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
