"""Speed of mechanisms (issue 10, "Speed"), measured in one run.

Run by hand:  /work/main/.venv/bin/python bench/bench_mechanisms.py [--reps 5] [--json-out FILE]

Targets: mechanisms add ≤ 10 % to a warm update; 200 indicators with 20 mechanisms take
≤ 2 × the bundled network's update. Each figure is the wall time of a fresh `forecast update
--force --events FILE` process, median over --reps repetitions after one untimed warm-up run of
each case (warm: the sampler's compiled-function cache, PyTensor's C modules, the OS file
cache); repetitions are interleaved across cases, so load from other processes hits all alike.
Both the exact engine (`--exact`) and the sampler (default settings) are timed.

Folders (generated from the bundled priors, 30 generated reports each):
- `bundled`: the bundled priors, 33 indicators, 3 mechanisms;
- `bundled, no mechanisms`: the same with the mechanisms stripped (each indicator on a mechanism
  keeps its `occurred` rows as its table; expert judgments of mechanism tables dropped);
- `200 ind, 20 mech`: 200 indicators cloned from the catalogue in turn; each copy of a
  mechanism's children, split in two halves, on two clones of that mechanism, until there are 20
  mechanisms (later clones stripped as above); expert judgments on indicators and mechanisms dropped.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_update import forecast_cmd, make_reports, run, write_reports_yaml  # noqa: E402


def _strip(ind: dict[str, Any]) -> dict[str, Any]:
    """An indicator on a mechanism as an independent one: its `occurred` rows, the mechanism key gone."""
    mech = ind.pop("mechanism", None)
    if mech is None:
        return ind
    rows = []
    for row in ind.get("likelihoods", []):
        given = dict(row.get("given", {}))
        if given.pop(mech, "occurred") == "occurred":
            rows.append({**row, "given": given})
    ind["likelihoods"] = rows
    return ind


def _dump(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def without_mechanisms(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest)
    cat = yaml.safe_load((src / "indicators.yaml").read_text(encoding="utf-8"))
    cat.pop("mechanisms", None)
    cat["indicators"] = [_strip(i) for i in cat["indicators"]]
    _dump(dest / "indicators.yaml", cat)
    for f in (dest / "experts").glob("*.yaml"):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        data.pop("mechanisms", None)
        data.pop("indicators", None)  # some judge tables over a mechanism; the catalogue's rows stay
        _dump(f, data)


def synthetic(src: Path, dest: Path, n_indicators: int, n_mechanisms: int) -> None:
    shutil.copytree(src, dest)
    cat = yaml.safe_load((src / "indicators.yaml").read_text(encoding="utf-8"))
    templates, mechs = cat["indicators"], {m["id"]: m for m in cat.get("mechanisms", [])}
    out_inds, out_mechs = [], []
    for i in range(n_indicators):
        copy_no = i // len(templates)
        ind = copy.deepcopy(templates[i % len(templates)])
        if copy_no:
            ind["id"] = f"{ind['id']}_{copy_no}"
        mech = ind.get("mechanism")
        if mech is not None:
            # each copy of a mechanism's children in two halves, each on its own mechanism clone
            siblings = [t["id"] for t in templates if t.get("mechanism") == mech]
            half = siblings.index(templates[i % len(templates)]["id"]) % 2
            mid = f"{mech}_{copy_no}_{half}"
            if mid not in {m["id"] for m in out_mechs}:
                if len(out_mechs) >= n_mechanisms:
                    ind = _strip(ind)
                    out_inds.append(ind)
                    continue
                m = copy.deepcopy(mechs[mech])
                m["id"] = mid
                out_mechs.append(m)
            ind["mechanism"] = mid
            for row in ind["likelihoods"]:
                row["given"] = {(mid if k == mech else k): v for k, v in row["given"].items()}
        out_inds.append(ind)
    cat["indicators"], cat["mechanisms"] = out_inds, out_mechs
    _dump(dest / "indicators.yaml", cat)
    for f in (dest / "experts").glob("*.yaml"):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        data.pop("mechanisms", None)
        data.pop("indicators", None)
        _dump(f, data)
    assert len(out_mechs) == n_mechanisms, len(out_mechs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--smoke", action="store_true", help="one repetition, to check the bench itself")
    args = ap.parse_args()
    reps = 1 if args.smoke else max(5, args.reps)
    fc = forecast_cmd()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
    env.pop("FORECAST_WORKSPACE", None)
    env.pop("FORECAST_DB", None)
    today = dt.date.today()
    root = Path(tempfile.mkdtemp(prefix="bench-mech-"))
    print(f"workspaces in {root}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start", flush=True)

    folders: dict[str, tuple[Path, Path]] = {}
    for name, make in (
        ("bundled", None),
        ("bundled, no mechanisms", lambda src, dst: without_mechanisms(src, dst)),
        ("200 ind, 20 mech", lambda src, dst: synthetic(src, dst, 200, 20)),
    ):
        ws = root / name.replace(" ", "_").replace(",", "")
        run([*fc, "init", str(ws)], env=env)
        if make is not None:
            bundled = ws.parent / (ws.name + "-src")
            shutil.move(ws / "priors", bundled)
            make(bundled, ws / "priors")
        run([*fc, "-w", str(ws), "priors", "validate"], env=env)
        ids = [i["id"] for i in yaml.safe_load((ws / "priors" / "indicators.yaml").read_text(encoding="utf-8"))["indicators"]]
        events = write_reports_yaml(root / f"{ws.name}-reports.yaml", make_reports(ids, 30, seed=len(ids), today=today))
        folders[name] = (ws, events)

    cases = {
        f"{name} ({mode})": [*fc, "-w", str(ws), "update", "--force", "--json", "--events", str(ev),
                             *(["--exact"] if mode == "exact" else [])]
        for mode in ("exact", "sampled")
        for name, (ws, ev) in folders.items()
    }
    for name, cmd in cases.items():  # warm-up: compiles and caches each sampled model once
        wall, _, _ = run([*cmd, "--seed", "0"], env=env)
        print(f"warm-up {name}: {wall:.2f} s", flush=True)
    times: dict[str, list[float]] = {n: [] for n in cases}
    for rep in range(1, reps + 1):
        for name, cmd in cases.items():
            wall, _, res = run([*cmd, "--seed", str(rep)], env=env)
            times[name].append(wall)
            if rep == 1 and "sampled" in name:
                d = json.loads(res.stdout)["diagnostics"]
                print(f"  {name}: ESS min {d['ess_min']}, R-hat max {d['r_hat_max']}, sampler {d['seconds']} s", flush=True)
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"\nmedian wall time of {reps} fresh processes (load average {os.getloadavg()[0]:.2f} at end)")
    for n, m in med.items():
        print(f"  {n:34} {m:7.2f} s   ({', '.join(f'{t:.2f}' for t in times[n])})")
    ratios = {}
    for mode in ("exact", "sampled"):
        ratios[f"mechanisms / none ({mode})"] = med[f"bundled ({mode})"] / med[f"bundled, no mechanisms ({mode})"]
        ratios[f"200 ind 20 mech / bundled ({mode})"] = med[f"200 ind, 20 mech ({mode})"] / med[f"bundled ({mode})"]
    print("\nratios (targets: mechanisms / none ≤ 1.10; 200 ind 20 mech / bundled ≤ 2.0)")
    for n, r in ratios.items():
        print(f"  {n:40} {r:5.2f}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"times": times, "median": med, "ratios": ratios}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
