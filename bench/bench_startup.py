"""Start-up times of the everyday commands, for two source trees in one run (issue 11: the layout
must not cost start-up time; issue 24: nor may the tidy). Each command runs once untimed in each tree, then alternately in both trees, in fresh processes;
medians and the ratio new/old are printed.

    python bench/bench_startup.py --old /path/to/old/checkout --new . [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "--help": ["--help"],
    "event add": ["event", "add", "north_kosovo_unrest", "--date", "2025-03-18", "--grade", "B2", "--source", "bench {n}"],
    "event list": ["event", "list"],
    "priors validate": ["priors", "validate"],
    "update (cached)": ["update", "--exact"],
    "update (warm)": ["update", "--force"],  # sampled; caches warm after the untimed warm-up run
}


def run(tree: Path, ws: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "FORECAST_WORKSPACE": str(ws)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecaster", *args], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, default=Path("."))
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    trees = {"old": a.old.resolve(), "new": a.new.resolve()}
    with tempfile.TemporaryDirectory() as tmp:
        wss = {}
        for name, tree in trees.items():
            ws = Path(tmp) / name
            env = {**os.environ, "PYTHONPATH": str(tree)}
            subprocess.run([sys.executable, "-m", "forecaster", "init", str(ws)], env=env, check=True, capture_output=True)
            wss[name] = ws
        print(f"{'command':18} {'old (s)':>8} {'new (s)':>8} {'new/old':>8}")
        for label, args in COMMANDS.items():
            times: dict[str, list[float]] = {"old": [], "new": []}
            for name in ("old", "new"):  # untimed warm-up: compiled-function and priors caches, OS file cache
                run(trees[name], wss[name], [x.format(n="warm-up") for x in args])
            for n in range(a.repeat):
                for name in ("old", "new"):
                    times[name].append(run(trees[name], wss[name], [x.format(n=n) for x in args]))
            old, new = statistics.median(times["old"]), statistics.median(times["new"])
            print(f"{label:18} {old:8.3f} {new:8.3f} {new / old:8.2f}")


if __name__ == "__main__":
    main()
