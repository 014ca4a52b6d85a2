"""Speed, accuracy and memory of the elimination engine against the targets of the engine issue, in one run.

Run by hand (never a test):

    .venv/bin/python bench/bench_engine.py [--reps 5] [--cold-reps 3] [--cases all] [--json-out FILE] [--keep]
    .venv/bin/python bench/bench_engine.py --smoke      # one repetition: checks the bench itself, measures nothing

Every figure is the wall time of a fresh process, median over --reps repetitions after one
untimed warm-up run of each case (so caches are warm: the sampler's compiled-function cache, the
priors cache, the OS file cache). Repetitions are interleaved across cases, so a burst of load
from other processes hits every case alike. Each child is waited for with os.wait4, which gives
that child's own CPU time and peak memory (max RSS), not the high-water mark of every child.
`update` runs use `--force` (an identical recorded run would otherwise be returned from the run
cache) and `--seed` 1..reps for sampled runs (0 for the warm-up), so Monte Carlo errors are
checked over several seeds. A case whose command fails (the engine mid-edit, say) is reported
as failed and the others go on.

Cases (--cases, comma-separated; `all` by default):
- pymc: `python -c "import pymc"`, the yardstick;
- update: warm `forecast -w WS update --force --json` on a workspace made by `forecast init` and
  `forecast event import WS/scenarios/historical_events.yaml` (the bundled history): median
  ≤ 1.3 × import pymc; `diagnostics.interval_mcse_max` ≤ 0.002 (worst of seeds); draws, chains,
  sampler and the density check are shown;
- cold: the first update on a fresh machine, `forecast -w WS update --force` with
  FORECAST_CACHE_DIR, FORECAST_PYTENSOR_COMPILEDIR and XDG_CACHE_HOME fresh empty folders each
  repetition (and PYTENSOR_FLAGS unset): ≤ 3 × import pymc; its stderr is printed (it should
  say what it does while it compiles). Run after the timed loop (--cold-reps, default 3);
- net10x3: random networks (tests/randnet.py) of 10 hypotheses × 3 states, DAG "tree" and
  "chain", 40 indicators, 2 mechanisms, 30 random reports imported into the workspace's store:
  `update --exact --force` ≤ 1 s, sampled `update --force` ≤ 2 × import pymc;
- net16x4: 16 hypotheses × 4 states, tree DAG, 40 indicators, 2 mechanisms, 30 reports:
  `update --exact --force` ≤ 2 s and peak memory ≤ 1 GB. Not every random 16 × 4 tree is within
  the engine's factor-size limit: seeds from --net-seed on are tried with `priors validate` and
  those rejected as "too large for exact inference" are reported and skipped;
- scenarios: `forecast -w WS scenario run <every bundled scenario>` (default sampler) on the
  `update` workspace: ≤ 1.5 × the warm `update` median;
- backfill: `forecast -w WS score --backfill weekly` after `forecast resolutions import
  WS/scenarios/resolutions.yaml` (untimed): ≤ 5 s. The backfill records its weekly points, so a
  second run on the same store would find them recorded: every repetition (and the warm-up)
  starts from a fresh copy of the prepared workspace (copied untimed), so each one does the work;
  the number of new points each run reports is checked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ALL_CASES = ("pymc", "update", "cold", "net10x3", "net16x4", "scenarios", "backfill")
GB_KB = 1024 * 1024  # ru_maxrss is in KiB on Linux


def forecast_cmd() -> list[str]:
    for script in (Path(sys.executable).with_name("forecast"), REPO / ".venv" / "bin" / "forecast"):
        if script.exists():
            return [str(script)]
    return [sys.executable, "-m", "forecaster"]


@dataclass
class Run:
    wall: float
    cpu: float
    max_rss_kb: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def failure(self, cmd: list[str]) -> str:
        tail = (self.stderr.strip() or self.stdout.strip())[-1500:]
        return f"exit {self.returncode}: {' '.join(cmd)}\n{tail}"


def run(cmd: list[str], *, env: dict[str, str] | None = None) -> Run:
    """Wall seconds, CPU seconds and peak memory of one fresh process (os.wait4: this child's own
    resource usage, with its waited-for descendants), and its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            max_rss_kb=usage.ru_maxrss,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


class SetupError(Exception):
    pass


def must(cmd: list[str], env: dict[str, str]) -> Run:
    res = run(cmd, env=env)
    if not res.ok:
        raise SetupError(res.failure(cmd))
    return res


@dataclass
class Case:
    name: str
    cmd: list[str]
    group: str
    seeded: bool = False  # append --seed N
    parse: Callable[[Run], dict[str, Any]] | None = None  # extra figures from one run
    prepare: Callable[[], None] | None = None  # untimed, before every run
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dropped: bool = False

    def once(self, env: dict[str, str], seed: int, record: bool) -> None:
        if self.dropped:
            return
        cmd = [*self.cmd, "--seed", str(seed)] if self.seeded else list(self.cmd)
        try:
            if self.prepare is not None:
                self.prepare()
            res = run(cmd, env=env)
            if not res.ok:
                raise SetupError(res.failure(cmd))
            extra = self.parse(res) if self.parse is not None else {}
        except Exception as e:  # the engine mid-edit: report, go on with the other cases
            msg = str(e) if isinstance(e, SetupError) else f"{type(e).__name__}: {e}"
            self.errors.append(msg)
            print(f"  FAILED {self.name}: {msg.splitlines()[0][:200]}", flush=True)
            if not record:  # failed its warm-up: not worth repeating
                self.dropped = True
            return
        if record:
            self.wall.append(res.wall)
            self.cpu.append(res.cpu)
            self.rss.append(res.max_rss_kb)
            self.extra.append(extra)

    def median(self) -> float | None:
        return statistics.median(self.wall) if self.wall else None

    def values(self, key: str) -> list[Any]:
        return [e[key] for e in self.extra if e.get(key) is not None]


def update_figures(res: Run) -> dict[str, Any]:
    """The diagnostics of `update --json` (or `--exact --json`)."""
    data = json.loads(res.stdout)
    d = data.get("diagnostics") or {}
    dc = d.get("density_check") or {}
    return {
        "cached": data.get("cached"),
        "sampler": d.get("sampler"),
        "draws": d.get("draws"),
        "chains": d.get("chains"),
        "interval_mcse_max": d.get("interval_mcse_max"),
        "mean_check": d.get("mean_check"),
        "ess_min": d.get("ess_min"),
        "checked_draws": dc.get("checked_draws"),
        "log_ratio_spread": dc.get("log_ratio_spread"),
        "warnings": list(d.get("warnings") or []),
        "engine_seconds": d.get("seconds"),
    }


def backfill_figures(res: Run) -> dict[str, Any]:
    m = re.search(r"backfill: (\d+) weekly points, (\d+) new", res.stdout + res.stderr)
    return {"points": int(m.group(1)), "new": int(m.group(2))} if m else {"points": None, "new": None}


# ------------------------------------------------------------------------- generated inputs


def write_reports_yaml(path: Path, reports: list[dict[str, Any]], what: str) -> Path:
    """Report dicts {indicator, date, occurred, grade, source[, origin]} in the format `forecast event
    import` reads (the grade split into reliability and credibility)."""
    rows = []
    for r in reports:
        row = {k: v for k, v in r.items() if k != "grade"}
        row["reliability"], row["credibility"] = str(r["grade"])[0], int(str(r["grade"])[1])
        rows.append(row)
    doc = {"description": f"generated by bench/bench_engine.py: {what}", "reports": rows}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def random_workspace(
    fc: list[str], env: dict[str, str], root: Path, name: str, seed: int, *, today: dt.date, **shape: Any
) -> Path:
    """`forecast init`, its priors replaced by a random network, 30 random reports imported."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from randnet import random_net, random_reports
    finally:
        sys.path.pop(0)
    ws = root / name
    if ws.exists():
        shutil.rmtree(ws)
    must([*fc, "init", str(ws)], env)
    shutil.rmtree(ws / "priors")
    net = random_net(seed, **shape)
    net.write(ws / "priors")
    missing = [f for f in ("network.yaml", "indicators.yaml", "settings.yaml") if not (ws / "priors" / f).exists()]
    if missing or not any((ws / "priors" / "experts").glob("*.yaml")):
        raise SetupError(f"{name}: the generated priors folder lacks {missing or 'experts/*.yaml'}")
    reports = random_reports(net, seed, n=30, as_of=today)
    path = write_reports_yaml(root / f"{name}-reports.yaml", reports, f"{name}, seed {seed}")
    must([*fc, "-w", str(ws), "event", "import", str(path)], env)
    return ws


def scenario_names(fc: list[str], env: dict[str, str], ws: Path) -> list[str]:
    res = run([*fc, "-w", str(ws), "scenario", "list", "--json"], env=env)
    if res.ok:
        try:
            return [s["name"] for s in json.loads(res.stdout)]
        except (ValueError, KeyError, TypeError):
            pass
    names = []
    for f in sorted((ws / "scenarios").glob("*.yaml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("name"):
            names.append(str(data["name"]))
    return names


# ------------------------------------------------------------------------------ the bench


def fmt_load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions per case (default 5)")
    ap.add_argument("--cold-reps", type=int, default=3, help="repetitions of the first update on an empty cache")
    ap.add_argument(
        "--smoke", action="store_true", help="one repetition of everything: checks the bench, measures nothing"
    )
    ap.add_argument("--cases", default="all", help=f"comma-separated: all, or {','.join(ALL_CASES)}")
    ap.add_argument("--net-seed", type=int, default=1, help="seed of the random networks and their reports")
    ap.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    ap.add_argument("--json-out", type=Path, help="also write every measurement to this JSON file")
    args = ap.parse_args()
    chosen = set(args.cases.split(","))
    unknown = chosen - {"all", *ALL_CASES}
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))}")

    def want(group: str) -> bool:
        return "all" in chosen or group in chosen

    reps = 1 if args.smoke else max(1, args.reps)
    cold_reps = 1 if args.smoke else max(1, args.cold_reps)
    fc = forecast_cmd()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
    env.pop("FORECAST_WORKSPACE", None)
    env.pop("FORECAST_DB", None)
    today = dt.date.today()
    root = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    load_start = fmt_load()
    print(f"workspaces in {root}; {os.cpu_count()} CPUs; load average {load_start} (1, 5, 15 min) at start", flush=True)
    print(f"forecast: {' '.join(fc)}", flush=True)

    setup_errors: dict[str, str] = {}
    notes: list[str] = []
    cases: list[Case] = [Case("import pymc", [sys.executable, "-c", "import pymc"], "pymc")]

    def update(ws: Path, *extra: str) -> list[str]:
        return [*fc, "-w", str(ws), "update", "--force", "--json", *extra]

    def setup(group: str, fn: Callable[[], None]) -> None:
        print(f"setting up {group}…", flush=True)
        try:
            fn()
        except Exception as e:
            msg = str(e) if isinstance(e, SetupError) else f"{type(e).__name__}: {e}"
            setup_errors[group] = msg
            print(f"  SETUP FAILED {group}: {msg.splitlines()[0][:200]}", flush=True)

    main_ws = root / "ws"

    def setup_main() -> None:
        must([*fc, "init", str(main_ws)], env)
        must([*fc, "-w", str(main_ws), "event", "import", str(main_ws / "scenarios" / "historical_events.yaml")], env)

    main_ok = False
    if want("update") or want("cold") or want("scenarios"):
        setup("workspace", setup_main)
        main_ok = "workspace" not in setup_errors

    if want("update") and main_ok:
        cases.append(Case("update (bundled history)", update(main_ws), "update", seeded=True, parse=update_figures))

    def setup_net10() -> None:
        for dag in ("tree", "chain"):
            try:
                ws = random_workspace(
                    fc,
                    env,
                    root,
                    f"net10x3-{dag}",
                    args.net_seed,
                    today=today,
                    hypotheses=10,
                    states=3,
                    indicators=40,
                    mechanisms=2,
                    dag=dag,
                )
            except SetupError as e:
                setup_errors[f"net10x3 {dag}"] = str(e)
                print(f"  SETUP FAILED net10x3 {dag}: {str(e).splitlines()[0][:200]}", flush=True)
                continue
            cases.append(Case(f"net10x3 {dag} exact", update(ws, "--exact"), "net10x3", parse=update_figures))
            cases.append(Case(f"net10x3 {dag} sampled", update(ws), "net10x3", seeded=True, parse=update_figures))

    if want("net10x3"):
        setup("net10x3", setup_net10)

    def setup_net16() -> None:
        rejected = []
        for seed in range(args.net_seed, args.net_seed + 20):
            ws = random_workspace(
                fc,
                env,
                root,
                "net16x4-tree",
                seed,
                today=today,
                hypotheses=16,
                states=4,
                indicators=40,
                mechanisms=2,
                dag="tree",
            )
            res = run([*fc, "-w", str(ws), "priors", "validate"], env=env)
            if res.ok:
                break
            if "too large for exact inference" not in res.stderr + res.stdout:
                raise SetupError(res.failure([*fc, "-w", str(ws), "priors", "validate"]))
            m = re.search(r"factor of ([\d,]+) states \(limit ([\d,]+)\)", res.stderr + res.stdout)
            rejected.append(f"{seed} ({m.group(1)} > {m.group(2)})" if m else str(seed))
        else:
            raise SetupError(
                f"no seed in {args.net_seed}..{args.net_seed + 19} gives a network within the factor limit"
            )
        if rejected:
            notes.append(
                f"net16x4: seeds {', '.join(rejected)} rejected by `priors validate` as too large for exact "
                f"inference (factor states > limit); measured seed {seed}"
            )
        cases.append(Case("net16x4 tree exact", update(ws, "--exact"), "net16x4", parse=update_figures))

    if want("net16x4"):
        setup("net16x4", setup_net16)

    if want("scenarios") and main_ok:
        names = scenario_names(fc, env, main_ws)
        if names:
            print(f"  scenarios: {' '.join(names)}", flush=True)
            cases.append(
                Case("scenario run (all bundled)", [*fc, "-w", str(main_ws), "scenario", "run", *names], "scenarios")
            )
        else:
            setup_errors["scenarios"] = "no scenario found in the workspace"

    bf_ws, bf_run = root / "backfill-prepared", root / "backfill-run"

    def fresh_backfill_copy() -> None:
        if bf_run.exists():
            shutil.rmtree(bf_run)
        shutil.copytree(bf_ws, bf_run, symlinks=True)

    def setup_backfill() -> None:
        must([*fc, "init", str(bf_ws)], env)
        must([*fc, "-w", str(bf_ws), "event", "import", str(bf_ws / "scenarios" / "historical_events.yaml")], env)
        must([*fc, "-w", str(bf_ws), "resolutions", "import", str(bf_ws / "scenarios" / "resolutions.yaml")], env)
        cases.append(
            Case(
                "score --backfill weekly",
                [*fc, "-w", str(bf_run), "score", "--backfill", "weekly"],
                "backfill",
                parse=backfill_figures,
                prepare=fresh_backfill_copy,
            )
        )

    if want("backfill"):
        setup("backfill", setup_backfill)

    # -- the timed loop
    print("warm-up (one untimed run of each case)…", flush=True)
    for c in cases:
        c.once(env, 0, record=False)
    for rep in range(reps):
        print(f"repetition {rep + 1}/{reps}…", flush=True)
        for c in cases:
            c.once(env, rep + 1, record=True)

    # -- the first update on an empty cache
    cold: dict[str, Any] = {"wall": [], "cpu": [], "rss": [], "stderr": [], "errors": []}
    if want("cold") and main_ok:
        cmd = [*fc, "-w", str(main_ws), "update", "--force"]
        for rep in range(cold_reps):
            print(f"first update on an empty cache {rep + 1}/{cold_reps}…", flush=True)
            fresh = Path(tempfile.mkdtemp(prefix="cold-", dir=root))
            cold_env = {
                **env,
                "FORECAST_CACHE_DIR": str(fresh / "cache"),
                "FORECAST_PYTENSOR_COMPILEDIR": str(fresh / "pytensor"),
                "XDG_CACHE_HOME": str(fresh / "xdg-cache"),
            }
            cold_env.pop("PYTENSOR_FLAGS", None)
            res = run(cmd, env=cold_env)
            if res.ok:
                cold["wall"].append(res.wall)
                cold["cpu"].append(res.cpu)
                cold["rss"].append(res.max_rss_kb)
                cold["stderr"].append(res.stderr.splitlines())
            else:
                cold["errors"].append(res.failure(cmd))
                print(f"  FAILED: {res.failure(cmd).splitlines()[0][:200]}", flush=True)
            shutil.rmtree(fresh, ignore_errors=True)
    load_end = fmt_load()

    # -- results
    by_name = {c.name: c for c in cases}
    yard = by_name["import pymc"].median()
    upd = by_name.get("update (bundled history)")
    upd_med = upd.median() if upd else None
    rows: list[tuple[str, str, str, str, str]] = []  # case, median s, ratio, target, result

    def verdict(value: float | None, target: float) -> str:
        return "n/a" if value is None else ("PASS" if value <= target else "FAIL")

    def s(x: float | None, f: str = ".3f") -> str:
        return "—" if x is None else format(x, f)

    def failed_row(label: str, target: str, why: str) -> None:
        rows.append((label, "—", "", target, f"ERROR ({why})"))

    def time_row(
        c: Case | None,
        label: str,
        *,
        abs_target: float | None = None,
        ratio_target: float | None = None,
        base: float | None = None,
        base_name: str = "pymc",
    ) -> None:
        if c is None:
            return
        med = c.median()
        target = f"≤ {abs_target:g} s" if abs_target is not None else f"≤ {ratio_target:g} × {base_name}"
        if med is None:
            failed_row(label, target, "failed" if c.errors else "no runs")
            return
        ratio = med / yard if yard else None
        if abs_target is not None:
            shown = f"{ratio:.2f} × pymc" if ratio else ""
            rows.append((label, s(med), shown, target, verdict(med, abs_target)))
        else:
            r = med / base if base else None
            shown = f"{s(r, '.2f')} × {base_name}"
            rows.append((label, s(med), shown, target, verdict(r, ratio_target) if r is not None else "n/a"))

    def density_row(c: Case) -> None:
        """The density check of the sampled draws: its spread, and whether the engine said it failed
        (then `update` prints no interval)."""
        spreads = c.values("log_ratio_spread")
        if not spreads:
            return
        checked = "/".join(sorted({str(v) for v in c.values("checked_draws")}))
        failed = sum(any("density check failed" in w for w in e.get("warnings", [])) for e in c.extra)
        result = f"FAIL ({failed}/{len(c.extra)} runs)" if failed else "PASS"
        rows.append((f"  density check ({checked} draws)", "", f"spread {max(spreads):.2e}", "passes", result))

    if yard is None:
        failed_row("import pymc", "", "failed")
    else:
        rows.append(("import pymc (yardstick)", s(yard), "1.00 × pymc", "", ""))
    if upd is not None:
        time_row(upd, "update (bundled history)", ratio_target=1.3, base=yard)
        mcse = upd.values("interval_mcse_max")
        if mcse:
            rows.append(
                ("  interval MCSE max (worst seed)", "", format(max(mcse), ".5f"), "≤ 0.002", verdict(max(mcse), 0.002))
            )
        for key in ("sampler", "chains", "draws"):
            vals = sorted({str(v) for v in upd.values(key)})
            if vals:
                rows.append((f"  {key}", "", ", ".join(vals), "", "info"))
        density_row(upd)
        if any(e.get("cached") for e in upd.extra):
            notes.append("update: a --force run came back `cached: true`")
    elif want("update") and "workspace" in setup_errors:
        failed_row("update (bundled history)", "≤ 1.3 × pymc", "setup")

    if want("cold"):
        if cold["wall"]:
            med = statistics.median(cold["wall"])
            r = med / yard if yard else None
            rows.append(
                (
                    "first update, empty caches",
                    s(med),
                    f"{s(r, '.2f')} × pymc",
                    "≤ 3 × pymc",
                    verdict(r, 3.0) if r is not None else "n/a",
                )
            )
        else:
            why = "failed" if cold["errors"] else "setup" if "workspace" in setup_errors else "not run"
            failed_row("first update, empty caches", "≤ 3 × pymc", why)

    for dag in ("tree", "chain"):
        if f"net10x3 {dag}" in setup_errors:
            failed_row(f"net10x3 {dag}", "", "setup")
        time_row(by_name.get(f"net10x3 {dag} exact"), f"net10x3 {dag} --exact", abs_target=1.0)
        sampled = by_name.get(f"net10x3 {dag} sampled")
        time_row(sampled, f"net10x3 {dag} sampled", ratio_target=2.0, base=yard)
        if sampled is not None and sampled.values("interval_mcse_max"):
            mcse = max(sampled.values("interval_mcse_max"))
            rows.append(("  interval MCSE max (worst seed)", "", f"{mcse:.5f}", "", "info"))
            density_row(sampled)
    n16 = by_name.get("net16x4 tree exact")
    if n16 is not None:
        time_row(n16, "net16x4 tree --exact", abs_target=2.0)
        if n16.rss:
            peak = max(n16.rss) / GB_KB
            rows.append(("  peak memory (max RSS, worst run)", "", f"{peak:.3f} GB", "≤ 1 GB", verdict(peak, 1.0)))
    elif "net16x4" in setup_errors:
        failed_row("net16x4 tree --exact", "≤ 2 s", "setup")
    time_row(
        by_name.get("scenario run (all bundled)"),
        "scenario run (all bundled)",
        ratio_target=1.5,
        base=upd_med,
        base_name="update",
    )
    if want("scenarios") and ("scenarios" in setup_errors or "workspace" in setup_errors):
        failed_row("scenario run (all bundled)", "≤ 1.5 × update", "setup")
    bf = by_name.get("score --backfill weekly")
    if bf is not None:
        time_row(bf, "score --backfill weekly", abs_target=5.0)
        news = bf.values("new")
        if news:
            pts = bf.values("points")
            rows.append(
                (
                    "  weekly points, new per run",
                    "",
                    f"{max(pts)} / {min(news)}–{max(news)}",
                    "all new",
                    "PASS" if min(news) > 0 and min(news) == max(pts) else "CHECK",
                )
            )
    elif "backfill" in setup_errors:
        failed_row("score --backfill weekly", "≤ 5 s", "setup")

    # -- print
    print()
    print(f"{'case':34} {'runs':>4} {'median s':>9} {'min':>7} {'max':>7} {'cpu s':>7} {'max RSS MB':>10}")
    for c in cases:
        if not c.wall:
            print(f"{c.name:34} {0:4d} {'failed' if c.errors else '—':>9}")
            continue
        print(
            f"{c.name:34} {len(c.wall):4d} {c.median():9.3f} {min(c.wall):7.3f} {max(c.wall):7.3f} "
            f"{statistics.median(c.cpu):7.2f} {max(c.rss) / 1024:10.0f}"
        )
    if cold["wall"]:
        print(
            f"{'first update, empty caches':34} {len(cold['wall']):4d} {statistics.median(cold['wall']):9.3f} "
            f"{min(cold['wall']):7.3f} {max(cold['wall']):7.3f} {statistics.median(cold['cpu']):7.2f} "
            f"{max(cold['rss']) / 1024:10.0f}"
        )
        for i, lines in enumerate(cold["stderr"]):
            print(f"  stderr of cold run {i + 1}:" + ("" if lines else " (nothing)"))
            for ln in lines:
                print(f"    | {ln}")

    warned = {w for c in cases for e in c.extra for w in e.get("warnings", [])}
    failures = [(c.name, c.errors[0]) for c in cases if c.errors]
    failures += [(f"setup {g}", m) for g, m in setup_errors.items()]
    failures += [("first update, empty caches", m) for m in cold["errors"][:1]]
    if warned:
        print("\nwarnings in the update JSON (diagnostics.warnings):")
        for c in cases:
            ws_ = sorted({w for e in c.extra for w in e.get("warnings", [])})
            for w in ws_:
                print(f"  {c.name}: {w}")
    if failures:
        print("\nfailures:")
        for name, msg in failures:
            print(f"  {name}: " + "\n    ".join(msg.splitlines()[:12]))
    if notes:
        print("\nnotes:")
        for n in notes:
            print(f"  {n}")

    print()
    print(f"{'summary':40} {'median s':>9} {'ratio / value':>20} {'target':>16}  result")
    for label, med, ratio, target, result in rows:
        print(f"{label:40} {med:>9} {ratio:>20} {target:>16}  {result}")
    print()
    print(
        f"{reps} repetition(s), medians{' (--smoke: a check of the bench, not a measurement)' if args.smoke else ''}; "
        f"{os.cpu_count()} CPUs; load average {load_start} at the start, {load_end} after the last run "
        f"(1, 5, 15 min). `--force` bypasses the run cache; backfill runs each start from a fresh copy of the "
        f"prepared workspace."
    )
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "reps": reps,
                    "cpus": os.cpu_count(),
                    "load_start": load_start,
                    "load_end": load_end,
                    "cases": {
                        c.name: {
                            "cmd": c.cmd,
                            "wall": c.wall,
                            "cpu": c.cpu,
                            "max_rss_kb": c.rss,
                            "extra": c.extra,
                            "errors": c.errors,
                            "median": c.median(),
                        }
                        for c in cases
                    },
                    "first_update_empty_cache": cold,
                    "setup_errors": setup_errors,
                    "notes": notes,
                    "summary": rows,
                },
                indent=1,
            ),
            encoding="utf-8",
        )
        print(f"wrote {args.json_out}")
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
