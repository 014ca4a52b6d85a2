"""An interrupted sampled update records nothing and leaves no process behind (issue 12)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace, init_workspace
from forecaster.inference.interrupt import Guard, Terminated, interruptible

ROOT = Path(__file__).resolve().parent.parent


def test_sigterm_and_sighup_raise_like_ctrl_c_and_are_remembered() -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        before = signal.getsignal(signum)
        with pytest.raises(Terminated) as e, interruptible() as guard:
            os.kill(os.getpid(), signum)
            time.sleep(1)
        assert isinstance(e.value, KeyboardInterrupt) and e.value.exit_code == 128 + signum
        assert guard.interrupted
        with pytest.raises(KeyboardInterrupt):
            guard.check()  # swallowed by PyMC, still raised after it
        assert signal.getsignal(signum) == before


def test_a_swallowed_interrupt_is_raised_by_check() -> None:
    with interruptible() as guard:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # what pm.sample does
    with pytest.raises(KeyboardInterrupt):
        guard.check()
    Guard().check()  # nothing received: nothing raised


def test_a_short_posterior_is_refused() -> None:
    from forecaster.inference.interrupt import IncompleteRun, check_complete

    with pytest.raises(IncompleteRun, match="312"):
        check_complete({"chain": 2, "draw": 312}, chains=2, draws=1000)  # what PyMC returns on Ctrl-C
    with pytest.raises(IncompleteRun):
        check_complete({"chain": 1, "draw": 1000}, chains=2, draws=1000)
    check_complete({"chain": 2, "draw": 1000}, chains=2, draws=1000)


def test_the_cli_says_interrupted_and_exits_with_the_signal(runner: CliRunner, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real handler, raised by a real signal inside the update workflow: one line, 128 + n, no record."""
    from forecaster.inference import update

    def run_and_get_killed(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal ends this at once

    monkeypatch.setattr(update, "run_update", run_and_get_killed)
    monkeypatch.setattr("forecaster.workflow.updating.run_update", run_and_get_killed)
    r = runner.invoke(app, ["update", "--exact", "--force"])
    assert r.exit_code == 128 + signal.SIGTERM, r.output
    assert "interrupted (terminated by SIGTERM); nothing recorded" in r.stderr and "Traceback" not in r.output
    if ws.db_path.exists():
        assert sqlite3.connect(ws.db_path).execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One compile cache for the subprocess tests: only the first compiles the model."""
    return tmp_path_factory.mktemp("cache")


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found |= {int(c) for c in f.read().split()}
    except OSError:
        pass
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork")
@pytest.mark.parametrize(("signum", "sampler", "workers_expected"), [
    (signal.SIGTERM, "nuts", 2), (signal.SIGHUP, "nuts", 2), (signal.SIGINT, "nuts", 2),
    (signal.SIGTERM, "iid", 1), (signal.SIGINT, "iid", 1),
])
def test_a_signal_mid_sampling_records_nothing_and_leaves_no_worker(
    tmp_path: Path, cache: Path, signum: int, sampler: str, workers_expected: int
) -> None:
    """NUTS's chain processes, and the exact sampler's forked child making the draws (2 × 100,000
    draws: seconds of work), die with an interrupted run, which records nothing."""
    ws = init_workspace(tmp_path / "ws")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FORECAST_WORKSPACE": str(ws.root), "XDG_CACHE_HOME": str(cache)}
    env.pop("FORECAST_DB", None)
    cmd = [sys.executable, "-m", "forecaster", "update", "--draws", "100000", "--chains", "2", "--force", "--sampler", sampler]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)
            if len(workers) >= workers_expected:
                break
            time.sleep(0.05 if sampler == "iid" else 0.2)
        if len(workers) < workers_expected:
            pytest.skip("the sampler did not fork its processes here (one core?)")
        time.sleep(2 if sampler == "nuts" else 0.3)  # well into sampling
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert b"Traceback" not in err, err.decode()
    assert b"interrupted" in err
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "a sampler worker outlived its run"
    if ws.db_path.exists():
        n = sqlite3.connect(ws.db_path).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        assert n == 0
    assert not list(ws.runs_dir.glob("*.nc")) if ws.runs_dir.exists() else True


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork")
def test_a_killed_parent_leaves_no_worker(tmp_path: Path, cache: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FORECAST_WORKSPACE": str(ws.root), "XDG_CACHE_HOME": str(cache)}
    cmd = [sys.executable, "-m", "forecaster", "update", "--draws", "100000", "--chains", "2", "--force", "--sampler", "nuts"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and len(workers) < 2:
            workers = _children(proc.pid)
            time.sleep(0.2)
        if len(workers) < 2:
            pytest.skip("the sampler did not fork chain processes here (one core?)")
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
