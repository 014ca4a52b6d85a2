"""Benchmark coded event data in (issue 15): 100,000 synthetic ACLED rows through the bundled rules.

    python bench/bench_ingest.py [--rows 100000] [--runs 3]

Writes the rows (the standard 31-column layout, a realistic mix of event types, places, dates
and quoted multi-line notes) to a temporary file, then times:
- reading + mapping them with `rules/acled_balkans.yaml` against the bundled catalogue,
  in-process (median of --runs), with the peak memory traced while mapping;
- real `forecast event import FILE --rules acled_balkans.yaml` processes (wall clock, median
  of --runs, each in a fresh workspace): a dry run before the store exists, the import into an
  empty store, the same import again (adds nothing), a dry run against the filled store, and
  an export with every row updated at source (every report retracted and replaced);
- the import's peak resident memory at a fifth of the rows and at all of them (flat: the
  file is streamed, twice, and only a few numbers per event are kept).
Targets (issue 15): import <= 5 s, dry run <= 3 s. Exits 1 if a median misses one.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.core.workspace import init_workspace  # noqa: E402
from forecaster.ingest import ACLED_COLUMNS, DryRun, load_rules, map_rows, read_coded  # noqa: E402
from forecaster.model.loading import load_priors  # noqa: E402

TARGET_S = 3.0  # mapping in-process, and a dry run
IMPORT_TARGET_S = 5.0
EVENTS = [
    ("Political violence", "Battles", "Armed clash"),
    ("Political violence", "Explosions/Remote violence", "Remote explosive/landmine/IED"),
    ("Political violence", "Explosions/Remote violence", "Grenade"),
    ("Political violence", "Violence against civilians", "Attack"),
    ("Demonstrations", "Protests", "Peaceful protest"),
    ("Demonstrations", "Protests", "Protest with intervention"),
    ("Demonstrations", "Riots", "Violent demonstration"),
    ("Strategic developments", "Strategic developments", "Change to group/activity"),
    ("Strategic developments", "Strategic developments", "Arrests"),
]
PLACES = [
    ("Kosovo", "Mitrovica", "Zvecan"), ("Kosovo", "Mitrovica", "Leposavic"), ("Kosovo", "Mitrovica", "North Mitrovica"),
    ("Kosovo", "Mitrovica", "Zubin Potok"), ("Kosovo", "Pristina", "Pristina"), ("Kosovo", "Prizren", "Prizren"),
    ("Serbia", "Raska", "Raska"), ("Serbia", "Belgrade", "Belgrade"),
    ("Bosnia and Herzegovina", "Republika Srpska", "Banja Luka"),
    ("Bosnia and Herzegovina", "Federation of Bosnia and Herzegovina", "Sarajevo"),
]  # fmt: skip
ACTORS = ["Protesters (Kosovo)", "Police Forces of Kosovo (2008-)", "Military Forces of Serbia (2017-)", "Rioters (Serbia)",
          "Unidentified Armed Group (Kosovo)", "NATO: North Atlantic Treaty Organization - KFOR", "EUFOR: European Union Force"]  # fmt: skip
NOTES = [
    'On {d}, a group gathered in {p} to protest "the new rules", with police present.\nNo injuries were reported.',
    "On {d}, an explosive device damaged a water canal near {p}; authorities called it sabotage.",
    "On {d}, units deployed near the administrative line with Kosovo were put on high alert.",
    "On {d}, residents of {p} blocked a road, demanding the release of a detained local official, and later dispersed.",
]
SCALES = ["National", "International", "Subnational", "National-International", "New media", "Local partner-Other"]


def write_rows(path: Path, n: int, seed: int = 15) -> None:
    rng = random.Random(seed)
    start = dt.date(2022, 1, 1)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(ACLED_COLUMNS)
        for i in range(n):
            disorder, etype, sub = rng.choice(EVENTS)
            country, admin1, admin2 = rng.choice(PLACES)
            d = start + dt.timedelta(days=rng.randrange(1400))
            date = d.isoformat() if i % 2 else f"{d.day} {d:%B} {d.year}"
            a1, a2 = rng.choice(ACTORS), rng.choice(["", *ACTORS])
            row = {
                "event_id_cnty": f"BEN{i:06d}", "event_date": date, "year": str(d.year),
                "time_precision": rng.choice("1112"), "disorder_type": disorder, "event_type": etype,
                "sub_event_type": sub, "actor1": a1, "assoc_actor_1": "", "inter1": "State forces", "actor2": a2,
                "assoc_actor_2": "", "inter2": "", "interaction": "", "civilian_targeting": "", "iso": "0",
                "region": "Europe", "country": country, "admin1": admin1, "admin2": admin2, "admin3": "",
                "location": admin2, "latitude": "42.9", "longitude": "20.8", "geo_precision": "1",
                "source": "Koha Ditore; N1", "source_scale": rng.choice(SCALES),
                "notes": rng.choice(NOTES).format(d=date, p=admin2), "fatalities": str(rng.choice([0, 0, 0, 1, 3])),
                "tags": "crowd size=no report" if etype == "Protests" else "", "timestamp": str(1700000000 + i),
            }  # fmt: skip
            w.writerow([row[c] for c in ACLED_COLUMNS])


def bumped(src: Path, dest: Path, seconds: int) -> None:
    """The export again with every row's timestamp later by `seconds`: every event updated at source."""
    with src.open(encoding="utf-8", newline="") as f, dest.open("w", encoding="utf-8", newline="") as g:
        rows = csv.reader(f)
        w = csv.writer(g, lineterminator="\n")
        header = next(rows)
        w.writerow(header)
        i = header.index("timestamp")
        for row in rows:
            row[i] = str(int(row[i]) + seconds)
            w.writerow(row)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak resident MB) of one process."""
    t = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}): {err}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def cli_cases(tmp: Path, path: Path, runs: int) -> tuple[list[tuple[str, float | None, list[tuple[float, float, float]]]], str]:
    """Each case's timings over `runs` fresh workspaces, and a line on the store after one run."""
    updated = tmp / "acled_updated.csv"
    bumped(path, updated, 3600)
    names = ["dry run, no store yet", "import into an empty store", "the same import again (adds nothing)",
             "dry run against the filled store", "every row updated at source (supersede)"]  # fmt: skip
    targets: list[float | None] = [TARGET_S, IMPORT_TARGET_S, IMPORT_TARGET_S, TARGET_S, None]  # supersede-all: beyond the issue
    results: list[list[tuple[float, float, float]]] = [[] for _ in names]
    after = ""
    for k in range(runs):
        ws = init_workspace(tmp / f"ws{k}")
        env = dict(os.environ, FORECAST_WORKSPACE=str(ws.root), USER=os.environ.get("USER", "bench"),
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))  # fmt: skip
        env.pop("FORECAST_DB", None)
        base = [sys.executable, "-m", "forecaster", "event", "import"]
        rules = ["--rules", "acled_balkans.yaml"]
        argvs = [[*base, str(path), *rules, "--dry-run"], [*base, str(path), *rules], [*base, str(path), *rules],
                 [*base, str(path), *rules, "--dry-run"], [*base, str(updated), *rules]]  # fmt: skip
        for i, argv in enumerate(argvs):
            results[i].append(timed(argv, env))
        if not after:
            import sqlite3

            db = sqlite3.connect(ws.db_path)
            total, dead = db.execute("SELECT (SELECT COUNT(*) FROM reports), (SELECT COUNT(*) FROM retractions)").fetchone()
            db.close()
            after = f"store after one run: {total:,} reports, {dead:,} retracted ({ws.db_path.stat().st_size / 1e6:.1f} MB)"
        shutil.rmtree(ws.root)
    return [(n, t, r) for n, t, r in zip(names, targets, results, strict=True)], after


def peak_memory(tmp: Path, rows: int) -> list[tuple[int, float]]:
    """Peak resident MB of an import of a fifth of the rows and of all of them."""
    out = []
    for n in (max(rows // 5, 1), rows):
        path = tmp / f"acled_{n}.csv"
        write_rows(path, n, seed=5)
        ws = init_workspace(tmp / f"mem{n}")
        env = dict(os.environ, FORECAST_WORKSPACE=str(ws.root), PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        env.pop("FORECAST_DB", None)
        _, _, rss = timed([sys.executable, "-m", "forecaster", "event", "import", str(path), "--rules", "acled_balkans.yaml"], env)
        out.append((n, rss))
        shutil.rmtree(ws.root)
        path.unlink()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mapping-only", action="store_true", help="time only reading + mapping, in-process")
    args = ap.parse_args()
    known = load_priors(ROOT / "priors").indicator_ids
    rules = load_rules(ROOT / "rules" / "acled_balkans.yaml", known)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acled_bench.csv"
        write_rows(path, args.rows)
        size = path.stat().st_size
        times, cpu = [], []
        result = None
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            result = DryRun(rules).run(map_rows(read_coded(path), rules, path.name))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        tracemalloc.start()
        DryRun(rules).run(map_rows(read_coded(path), rules, path.name))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert result is not None
        median = statistics.median(times)
        failed = median > TARGET_S
        print(f"{args.rows:,} ACLED rows ({size / 1e6:.1f} MB), {len(rules.rules)} rules: read + map + dry-run tally")
        print(f"  median of {args.runs}: {median:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)}; target <= {TARGET_S:.0f} s)")
        print(f"  CPU time, median: {statistics.median(cpu):.2f} s (the wall clock also counts other processes' load)")
        print(f"  {result.matched_rows:,} rows matched, {result.unmatched_rows:,} matched none, {result.drafts:,} drafts")
        print(f"  peak traced memory while mapping: {peak / 1e6:.1f} MB (streams: independent of the row count)")
        if args.mapping_only:
            return 1 if failed else 0
        print(f"\nforecast event import {path.name} --rules acled_balkans.yaml: real processes, a fresh workspace per run")
        print(f"  load average before timing: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"  {'case':<44} {'median':>8} {'min':>7} {'max':>7} {'cpu':>7} {'peak RSS':>9} {'target':>7}")
        cases, after = cli_cases(Path(tmp), path, args.runs)
        for name, target, runs in cases:
            walls = [w for w, _, _ in runs]
            med = statistics.median(walls)
            verdict = ""
            if target is not None:
                ok = med <= target
                failed |= not ok
                verdict = f"{target:>6.1f}s {'ok' if ok else 'MISSED'}"
            print(f"  {name:<44} {med:>7.2f}s {min(walls):>6.2f}s {max(walls):>6.2f}s "
                  f"{statistics.median(c for _, c, _ in runs):>6.2f}s {max(m for _, _, m in runs):>7.0f}MB {verdict}")  # fmt: skip
        print(f"  {after}")
        mem = peak_memory(Path(tmp), args.rows)
        print("  peak resident memory of the import: " + ", ".join(f"{n:,} rows {rss:.0f} MB" for n, rss in mem))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
