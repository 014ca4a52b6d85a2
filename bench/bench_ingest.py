"""Benchmark mapping coded event data (issue 15): 100,000 synthetic ACLED rows through the bundled rules.

    python bench/bench_ingest.py [--rows 100000] [--runs 3]

Writes the rows (the standard 31-column layout, a realistic mix of event types, places, dates
and quoted multi-line notes) to a temporary file, then times reading + mapping them with
`rules/acled_balkans.yaml` against the bundled catalogue, in-process (median of --runs), and
reports peak memory growth. Target (issue 15): a dry run of 100,000 rows <= 3 s, so mapping
must take well under that. Exits 1 if the median exceeds 3 s.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.ingest import ACLED_COLUMNS, DryRun, load_rules, map_rows, read_coded  # noqa: E402
from forecaster.model.loading import load_priors  # noqa: E402

TARGET_S = 3.0
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
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
    print(f"{args.rows:,} ACLED rows ({size / 1e6:.1f} MB), {len(rules.rules)} rules: read + map + dry-run tally")
    print(f"  median of {args.runs}: {median:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)}; target <= {TARGET_S:.0f} s)")
    print(f"  CPU time, median: {statistics.median(cpu):.2f} s (the wall clock also counts other processes' load)")
    print(f"  {result.matched_rows:,} rows matched, {result.unmatched_rows:,} matched none, {result.drafts:,} drafts")
    print(f"  peak traced memory while mapping: {peak / 1e6:.1f} MB (streams: independent of the row count)")
    return 0 if median <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
