"""Benchmark the evidence log on a store of 100,000 reports, on each backend (issues 3, 13).

    python bench/bench_store.py [--reports 100000] [--runs 7] [--backend sqlite|postgresql|both]
                                [--pg postgresql://user:pw@127.0.0.1:PORT/DB]

Builds the store through the library in one transaction, in a temporary workspace (SQLite: its
file; PostgreSQL: a fresh schema on the server named by --pg, else $FORECAST_TEST_PG, dropped
afterwards), then times real `forecast` processes (wall clock, median of --runs): `event add`,
`event list --since` (the default table, and every matching row as a table and as JSON, all to
/dev/null), and importing a 10,000-row CSV into the full store. Targets (issues 3, 13), on both
backends: add and list <= 0.5 s, 10k import <= 3 s. Prints a table of medians per backend; exits
1 if a target is missed.
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
from forecaster.core.workspace import init_workspace  # noqa: E402
from forecaster.model.evidence import Report  # noqa: E402
from forecaster.store.events import EventStore  # noqa: E402
from forecaster.store.records import StoredReport  # noqa: E402

TODAY = dt.date.today()
GRADES = [(r, c) for r in "ABCDEF" for c in range(1, 7)]


def build(db: str, n: int, indicators: list[str]) -> float:
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
    with EventStore(db) as store:
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


def _lib_add(db: str, indicator: str, day: str, k: int) -> None:
    with EventStore(db) as store:
        store.add(Report(indicator, dt.date.fromisoformat(day), True, "B", 2, f"library add {k} {time.time()}"), analyst="bench")


def _lib_list(db: str, since: str) -> None:
    with EventStore(db) as store:
        for _ in store.list(since=dt.date.fromisoformat(since)):
            pass


def _lib_update(db: str, window: int) -> None:
    with EventStore(db) as store:
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


def _pg_schema(server: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema on the server: (its store URL, drop it)."""
    import uuid
    from urllib.parse import quote

    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    url = f"{server}{'&' if '?' in server else '?'}options={quote(f'-csearch_path={schema}')}"
    EventStore(url, upgrade=True).close()

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    return url, drop


def _size_mb(store: EventStore) -> float:
    if store.path is not None:
        return store.path.stat().st_size / 1e6
    rows = store._read(
        "size", "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r'",
    )
    return float(rows[0][0] or 0) / 1e6


def bench(backend: str, db: str | None, args: argparse.Namespace, tmp: Path) -> tuple[bool, list[tuple[str, float, float | None]]]:
    """One backend: (all targets met, [(case, median, target)])."""
    ws = init_workspace(tmp / f"ws-{backend}")
    store_db = db or str(ws.root / "forecast.db")
    indicators = sorted(_indicator_ids(ws))
    build_s = build(store_db, args.reports, indicators)
    with EventStore(store_db) as store:
        size_mb = _size_mb(store)
    env = dict(os.environ, FORECAST_WORKSPACE=str(ws.root), PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("FORECAST_DB", None)
    if db:
        env["FORECAST_DB"] = db
    forecast = [sys.executable, "-m", "forecaster"]
    since = (TODAY - dt.timedelta(days=30)).isoformat()
    with EventStore(store_db) as store:
        matching = sum(1 for _ in store.list(since=dt.date.fromisoformat(since)))
    csvs = []
    for k in range(args.runs):
        path = tmp / f"import-{backend}-{k}.csv"
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
    print(f"\n== {backend}: {args.reports:,} reports built in {build_s:.2f} s ({size_mb:.1f} MB); {args.runs} runs per command")
    load = os.getloadavg()[0]
    print(f"load average before timing: {load:.2f} on {os.cpu_count()} cores (wall times grow with it; CPU times much less)\n")
    print(f"{'command':<62} {'median':>8} {'min':>7} {'max':>7} {'cpu':>7} {'target':>7}")
    failed = False
    summary: list[tuple[str, float, float | None]] = []
    for name, target, argvs in cases:
        results = [timed(argv, env) for argv in argvs]
        times = [w for w, _ in results]
        med = statistics.median(times)
        cpu = statistics.median(c for _, c in results)
        verdict = ""
        if target is not None:
            ok = med <= target
            failed |= not ok
            verdict = f"{target:>6.1f}s {'ok' if ok else 'MISSED'}"
            summary.append((name, med, target))
        print(f"{name:<62} {med:>7.3f}s {min(times):>6.3f}s {max(times):>6.3f}s {cpu:>6.3f}s {verdict}")
    print("\nin process (the store's share of the above; the rest is interpreter, Typer and Rich start-up):")
    window = 1460
    lib_cases: list[tuple[str, Callable[[int], None]]] = [
        ("EventStore(...) open", lambda k: EventStore(store_db).close()),
        ("open + add", lambda k: _lib_add(store_db, indicators[0], since, k)),
        (f"open + list(since={since}) ({matching} rows)", lambda k: _lib_list(store_db, since)),
        (f"open + reports_for_update(today, {window} days)", lambda k: _lib_update(store_db, window)),
    ]
    for name, fn in lib_cases:
        times = []
        for k in range(args.runs):
            t = time.perf_counter()
            fn(k)
            times.append(time.perf_counter() - t)
        print(f"{name:<62} {statistics.median(times):>7.3f}s {min(times):>6.3f}s {max(times):>6.3f}s")
    with EventStore(store_db) as store:
        total = store.counts()["total"]
        used = len(store.reports_for_update(TODAY, window))
    print(f"\nstore after the runs: {total:,} reports; {used:,} inside a {window}-day window")
    return not failed, summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--import-rows", type=int, default=10_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg", default=os.environ.get("FORECAST_TEST_PG", ""), help="PostgreSQL server URL (default: $FORECAST_TEST_PG)")
    args = ap.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg:
        if args.backend == "postgresql":
            raise SystemExit("--backend postgresql needs --pg URL or $FORECAST_TEST_PG")
        print("no PostgreSQL server (--pg or $FORECAST_TEST_PG): SQLite only")
        backends = ["sqlite"]
    ok = True
    summaries: dict[str, list[tuple[str, float, float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp:
        for backend in backends:
            drop: Callable[[], None] = lambda: None  # noqa: E731
            db = None
            if backend == "postgresql":
                db, drop = _pg_schema(args.pg)
            try:
                met, summaries[backend] = bench(backend, db, args, Path(tmp))
                ok &= met
            finally:
                drop()
    print("\nmedians against the targets:")
    for backend, rows in summaries.items():
        for name, med, target in rows:
            print(f"  {backend:<11} {name:<58} {med:>6.3f}s  (target {target:.1f}s) {'ok' if target is None or med <= target else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
