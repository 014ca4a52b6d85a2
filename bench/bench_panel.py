"""The panel's speed (issue 23): `panel feedback` and `panel history` on the bundled panel with ten
closed rounds (≤ 1 s each, end to end as a user runs them), and `update` with performance weights
against stated weights (no slower, within noise). Run by hand:

    python bench/bench_panel.py [--reps 7]

A fresh workspace (`forecast init`: round 1), nine more rounds each revising one judgment, the
bundled resolutions imported; then each command `--reps` times in a subprocess, warm caches
(the first run of each is dropped). `update --exact --force` recomputes every time; the cached
path (an unchanged update answered from its record) is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FORECAST = [sys.executable, "-m", "forecaster"]


def sh(ws: Path, *args: str) -> None:
    subprocess.run([*FORECAST, "-w", str(ws), *args], check=True, capture_output=True)


def timed(ws: Path, args: list[str], reps: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds of the child): CPU time is what other processes
    on a busy machine do not inflate."""
    walls, cpus = [], []
    for _ in range(reps + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([*FORECAST, "-w", str(ws), *args], check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls[1:]), statistics.median(cpus[1:])


def show(name: str, t: tuple[float, float]) -> None:
    print(f"{name:28} wall {t[0]:.3f} s, CPU {t[1]:.3f} s (medians)")


def ten_rounds(ws: Path) -> None:
    """Rounds 2–10: one expert moves encirclement by a point and says why, each round."""
    expert = ws / "priors" / "experts" / "defence_economist.yaml"
    for i in range(2, 11):
        p = 0.40 + 0.01 * i
        text = re.sub(r"probabilities: \{heightened: [0-9.]+, contained: [0-9.]+\}",
                      f"probabilities: {{heightened: {p:.2f}, contained: {1 - p:.2f}}}", expert.read_text(), count=1)
        expert.write_text(text.replace('rationale: "', f'rationale: "Round {i}: revised. ', 1))
        sh(ws, "panel", "close", "--label", f"round {i}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-panel-"))
    os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
    try:
        ws = tmp / "ws"
        subprocess.run([*FORECAST, "init", str(ws)], check=True, capture_output=True)
        ten_rounds(ws)
        sh(ws, "resolutions", "import", str(ws / "scenarios" / "resolutions.yaml"))
        out = subprocess.run([*FORECAST, "-w", str(ws), "panel", "rounds", "--json"], check=True, capture_output=True, text=True)
        print(f"rounds closed: {len(json.loads(out.stdout))}")
        show("panel feedback -o DIR", timed(ws, ["panel", "feedback", "-o", str(tmp / "fb")], a.reps))
        show("panel history", timed(ws, ["panel", "history"], a.reps))
        stated = {"--force": timed(ws, ["update", "--exact", "--force"], a.reps), "cached": timed(ws, ["update", "--exact"], a.reps)}
        with (ws / "priors" / "settings.yaml").open("a") as f:
            f.write("\nweights: performance\ntau: 1\nfloor: 0.02\n")
        perf = {"--force": timed(ws, ["update", "--exact", "--force"], a.reps), "cached": timed(ws, ["update", "--exact"], a.reps)}
        for how in ("--force", "cached"):
            show(f"update --exact {how}: stated", stated[how])
            show(f"update --exact {how}: perf.", perf[how])
            print(f"{'':28} ratio performance/stated: wall {perf[how][0] / stated[how][0]:.2f}, CPU {perf[how][1] / stated[how][1]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
