"""A team store on PostgreSQL beside embedded SQLite (issue 13): addresses and their one-line
errors, `db upgrade/check/copy`, the analyst role, faults (a server gone mid-import, a dropped
connection mid-update), and many writers at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import forecaster
from forecaster.cli.main import app
from forecaster.core.errors import StoreError, UsageError
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store import admin, events, runs
from forecaster.store.backend import parse_target
from forecaster.store.events import EventStore
from forecaster.store.records import StoredReport
from tests.backends import Backend, pg_server, with_schema

ROOT = Path(forecaster.__file__).resolve().parent.parent
TODAY = dt.date.today()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def report(i: int, **kw: Any) -> Report:
    return Report("north_kosovo_unrest", dt.date(2025, 1, 1) + dt.timedelta(days=i % 300), True, "B", 2, "Reuters",
                  note=f"report {i}", **kw)


@pytest.fixture
def pg(tmp_path: Path) -> Any:
    b = Backend("postgresql", tmp_path)
    try:
        yield b
    finally:
        b.cleanup()


# ---------------------------------------------------------------------------------------------
# Addresses, and the one-line errors
# ---------------------------------------------------------------------------------------------


def test_addresses(tmp_path: Path) -> None:
    assert parse_target(str(tmp_path / "a.db")).path == tmp_path / "a.db"
    assert parse_target(f"sqlite:///{tmp_path}/a.db").path == tmp_path / "a.db"
    t = parse_target("postgresql://ana:s3cret@db.team:5433/forecast")
    assert t.dialect == "postgresql" and t.path is None and "s3cret" not in t.shown and "db.team:5433/forecast" in t.shown
    for bad, why in (("mysql://x@h/db", "unknown scheme"), ("postgresql://ana@host", "no database name"), ("sqlite://a.db", "three slashes")):
        with pytest.raises(UsageError, match=why):
            parse_target(bad)


MISSING_EXTRA = textwrap.dedent(
    """
    import sys
    sys.modules["psycopg"] = None  # as without the postgres extra
    from forecaster.cli.main import app
    app(sys.argv[1:])
    """
)


def test_missing_extra_server_down_and_refused_login_are_one_line(tmp_path: Path, ws: Workspace) -> None:
    def run(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", script] if script else [sys.executable, "-m", "forecaster"]
        return subprocess.run([*argv, "-w", str(ws.root), *args], env=child_env(), capture_output=True, text=True, timeout=120)

    r = run("--db", "postgresql://ana@127.0.0.1:1/forecast", "event", "list", script=MISSING_EXTRA)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "pip install 'forecast[postgres]'" in r.stderr
    r = run("--db", "postgresql://ana:pw@127.0.0.1:1/forecast", "event", "list")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot reach the PostgreSQL server at 127.0.0.1:1 (is it running?)" in r.stderr and "pw" not in r.stderr
    server = pg_server()
    wrong = server.replace("://forecast:", "://forecast:wrong", 1) if "://forecast:" in server else server + "x"
    r = run("--db", wrong, "event", "list")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "refused the login for user 'forecast'" in r.stderr


# ---------------------------------------------------------------------------------------------
# db upgrade / check / copy
# ---------------------------------------------------------------------------------------------


def _stock(store: EventStore, n: int = 20) -> None:
    store.import_reports([report(i) for i in range(n)], analyst="ana")
    first = next(iter(store.list(newest_first=False)))
    assert first.report.id
    store.retract(first.report.id, "misread", "bob")
    from forecaster.inference.update import run_update
    from forecaster.model.loading import load_priors

    base = run_update(load_priors(ROOT / "priors"), [], as_of=dt.date(2026, 1, 1), exact_only=True)
    runs.record_runs(store, [
        runs.NewRun(dataclasses.replace(base, run_id=f"{i:012x}"), draws=os.urandom(3000) if i else None) for i in range(3)
    ])


def _export(store: EventStore) -> str:
    import io

    buf = io.StringIO()
    store.export(buf, fmt="json")
    return buf.getvalue()


def test_copy_sqlite_to_postgresql_and_back_all_or_nothing(runner: CliRunner, tmp_path: Path, ws: Workspace, pg: Backend) -> None:
    src = str(tmp_path / "src.db")
    with EventStore(src) as s:
        _stock(s)
        before = _export(s)
        draws = runs.load_draws(s, "000000000001")
    url = pg.new_store("dst", upgrade=False)  # `db copy` migrates a destination it may
    code, out, err = invoke(runner, "db", "copy", src, url, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["added"] > 0 and {t["table"]: t["added"] for t in result["tables"]}["reports"] == 20
    code, out, _ = invoke(runner, "db", "copy", src, url, "--json")
    assert code == 0 and json.loads(out)["added"] == 0  # re-running adds nothing
    with EventStore(url) as d:
        assert _export(d) == before and runs.load_draws(d, "000000000001") == draws
        assert len(runs.list_runs(d)) == 3
    back = str(tmp_path / "back.db")
    assert invoke(runner, "db", "copy", url, back)[0] == 0
    hashes = {}
    for where in (src, url, back):
        code, out, err = invoke(runner, "--db", where, "db", "check", "--json")
        assert code == 0, out + err
        hashes[where] = json.loads(out)["counts"]
    assert hashes[src] == hashes[url] == hashes[back]
    # The same key with other content in the destination: refused, nothing written.
    other = pg.new_store("other")
    with EventStore(other) as o:
        o.import_reports([StoredReport(dataclasses.replace(report(999), id=next(EventStore(src).list()).report.id))], analyst="x")
    code, _, err = invoke(runner, "db", "copy", src, other)
    assert code == 1 and "different content under the same ids" in err and "nothing was copied" in err
    with EventStore(other) as o:
        assert o.counts()["total"] == 1 and runs.list_runs(o) == []


def test_db_check_finds_a_missing_trigger(runner: CliRunner, ws: Workspace, backend: Backend) -> None:
    url = backend.new_store()
    with EventStore(url) as s:
        s.add(report(1), analyst="ana")
    code, out, _ = invoke(runner, "--db", url, "db", "check")
    assert code == 0 and out.strip().endswith("ok") and "reports" in out
    with backend.raw(url) as raw:
        raw.execute("DROP TRIGGER reports_no_update" + ("" if not backend.is_pg else " ON reports"))
    code, out, _ = invoke(runner, "--db", url, "db", "check")
    assert code == 1 and "trigger reports_no_update is missing" in out


def test_db_upgrade_is_idempotent(runner: CliRunner, ws: Workspace, pg: Backend) -> None:
    url = pg.new_store("up", upgrade=False)
    code, _, err = invoke(runner, "--db", url, "event", "list")
    assert code == 1 and "run `forecast db upgrade`" in err
    code, out, _ = invoke(runner, "--db", url, "db", "upgrade")
    assert code == 0 and "migrated from schema 0 to" in out
    code, out, _ = invoke(runner, "--db", url, "db", "upgrade")
    assert code == 0 and "up to date" in out


# ---------------------------------------------------------------------------------------------
# The analyst role: insert and read, nothing more
# ---------------------------------------------------------------------------------------------


def test_the_analyst_role_can_only_insert_and_read(runner: CliRunner, ws: Workspace, pg: Backend) -> None:
    url = pg.new_store("team")
    with EventStore(url) as owner:
        owner.add(report(1), analyst="owner")
        admin.grant_analysts(owner)
        admin.grant_analysts(owner)  # again: no harm
    login = f"ana_{os.getpid()}"
    with pg.admin() as db:
        db.execute(f"DROP ROLE IF EXISTS {login}")
        db.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'ana-pw' IN ROLE {admin.ANALYST_ROLE}")
    try:
        ana = re.sub(r"://[^@]*@", f"://{login}:ana-pw@", url, count=1)
        code, out, err = invoke(runner, "--db", ana, "event", "add", "north_kosovo_unrest", "--date", "2025-03-18",
                                "--grade", "B2", "--source", "TASS", "--analyst", "ana")
        assert code == 0, err
        rid = out.strip()
        assert invoke(runner, "--db", ana, "event", "retract", rid, "--reason", "misread", "--analyst", "ana")[0] == 0
        csv = ws.root / "batch.csv"
        csv.write_text("indicator,date,grade,source\nkfor_reinforcement,2025-01-02,B2,AP\n", encoding="utf-8")
        assert invoke(runner, "--db", ana, "event", "import", str(csv))[0] == 0
        code, out, _ = invoke(runner, "--db", ana, "event", "list", "--include-retracted", "--json")
        assert code == 0 and len(json.loads(out)["reports"]) == 3
        code, _, err = invoke(runner, "--db", ana, "-w", str(ws.root), "update", "--exact")
        assert code == 0, err  # records a run
        import psycopg

        with psycopg.connect(ana, autocommit=True) as raw:
            for sql in ("UPDATE reports SET note = 'x'", "DELETE FROM reports", "TRUNCATE reports CASCADE",
                        "DELETE FROM retractions", "DELETE FROM runs", "ALTER TABLE reports DISABLE TRIGGER ALL",
                        "DROP TRIGGER reports_no_update ON reports", "DROP TABLE retractions", "CREATE TABLE x (a int)"):
                with pytest.raises(psycopg.Error, match="permission denied|must be owner"):
                    raw.execute(sql)
        code, _, err = invoke(runner, "--db", ana, "db", "upgrade")
        assert code == 0  # up to date: nothing to do, nothing it may not do
    finally:
        with pg.admin() as db:
            db.execute(f"DROP OWNED BY {login}")
            db.execute(f"DROP ROLE IF EXISTS {login}")


# ---------------------------------------------------------------------------------------------
# Faults: the server goes away mid-import; the connection drops mid-update
# ---------------------------------------------------------------------------------------------


def _kill_own_backend(pg: Backend, store: EventStore) -> None:
    pid = store._db.execute("SELECT pg_backend_pid()").scalar_one()
    with pg.admin() as db:
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_server_gone_mid_import_leaves_nothing_and_says_so(pg: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg.new_store()
    flush = events._Placer.flush
    with EventStore(url) as store:
        def half_then_gone(self: Any) -> None:
            rows = self.reports
            self.reports = rows[:500]
            flush(self)  # 500 rows sent, not committed; then the server ends our session
            _kill_own_backend(pg, store)
            self.reports = rows[500:]
            flush(self)

        monkeypatch.setattr(events._Placer, "flush", half_then_gone)
        with pytest.raises(StoreError) as e:
            store.import_reports([report(i) for i in range(2000)], analyst="bulk")
    msg = str(e.value)
    assert "\n" not in msg and "lost the connection to the server while importing reports" in msg and "none of it was written" in msg
    monkeypatch.undo()
    with EventStore(url) as store:
        assert store.counts()["total"] == 0
        assert store.import_reports([report(i) for i in range(2000)], analyst="bulk").added == 2000


def test_server_stopped_mid_import_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server of its own, stopped (pg_ctl stop -m fast) while an import is half sent."""
    pg_server()  # the same skip-or-fail rule as every PostgreSQL test
    import shutil
    import tempfile

    # In /tmp itself: the server runs as the postgres user, which cannot enter pytest's private tmp_path.
    folder, port = Path(tempfile.mkdtemp(prefix="forecast-pg-", dir="/tmp")), str(56000 + os.getpid() % 900)
    folder.chmod(0o755)
    start = subprocess.run([str(ROOT / ".ci" / "pg"), "start", str(folder), port], capture_output=True, text=True, timeout=180)
    assert start.returncode == 0, start.stderr
    url = start.stdout.strip()
    try:
        EventStore(url, upgrade=True).close()
        flush = events._Placer.flush

        def half_then_stop(self: Any) -> None:
            rows = self.reports
            self.reports = rows[:500]
            flush(self)
            stop = subprocess.run([str(ROOT / ".ci" / "pg"), "stop", str(folder)], capture_output=True, text=True, timeout=120)
            assert stop.returncode == 0, stop.stderr
            self.reports = rows[500:]
            flush(self)

        monkeypatch.setattr(events._Placer, "flush", half_then_stop)
        with EventStore(url) as store, pytest.raises(StoreError) as e:
            store.import_reports([report(i) for i in range(2000)], analyst="bulk")
        assert "\n" not in str(e.value) and "none of it was written" in str(e.value)
        monkeypatch.undo()
        with pytest.raises(StoreError, match=r"cannot reach the PostgreSQL server at 127.0.0.1:\d+ \(is it running\?\)"):
            EventStore(url)
        resume = subprocess.run([str(ROOT / ".ci" / "pg"), "resume", str(folder), port], capture_output=True, text=True, timeout=120)
        assert resume.returncode == 0, resume.stderr
        with EventStore(url) as store:
            assert store.counts()["total"] == 0
    finally:
        subprocess.run([str(ROOT / ".ci" / "pg"), "stop", str(folder)], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_dropped_connection_during_update_records_no_partial_run(ws: Workspace, pg: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    from forecaster.model.loading import load_priors
    from forecaster.store.pg import PostgresDb as Db
    from forecaster.workflow.updating import update_forecast

    url = pg.new_store()
    team = dataclasses.replace(ws, db_override=url)
    with EventStore(url) as s:
        s.import_reports([report(i) for i in range(5)], analyst="ana")
    executemany = Db.executemany

    def drop_before_states(self: Db, sql: str, rows: Any) -> None:
        if sql.startswith("INSERT INTO run_states"):
            pid = self.execute("SELECT pg_backend_pid()").scalar_one()
            with pg.admin() as db:
                db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        executemany(self, sql, rows)

    monkeypatch.setattr(Db, "executemany", drop_before_states)
    priors = load_priors(ws.priors_dir)
    with pytest.raises(StoreError, match="lost the connection to the server while recording a run"):
        update_forecast(team, priors, as_of=TODAY, exact=True)
    monkeypatch.undo()
    with EventStore(url) as s:
        assert runs.list_runs(s) == []
        assert [s._read("", f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("runs", "run_states", "run_reports")] == [0, 0, 0]
    result, cached = update_forecast(team, priors, as_of=TODAY, exact=True)
    assert not cached
    with EventStore(url) as s:
        assert [r.run_id for r in runs.list_runs(s)] == [result.run_id]


# ---------------------------------------------------------------------------------------------
# Many writers at once on one server
# ---------------------------------------------------------------------------------------------

ADDER = textwrap.dedent(
    """
    import os, sys, time
    from forecaster.cli.main import app

    worker, n, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.005)
    for i in range(n):  # `forecast event add` itself, 100 times in one process (no interpreter start-up each)
        try:
            app(["event", "add", "north_kosovo_unrest", "--date", "2025-01-01", "--grade", "B2",
                 "--source", f"worker {worker} wire {i}", "--note", f"report {i}", "--analyst", f"w{worker}"])
        except SystemExit as e:
            if e.code:
                sys.exit(f"event add {i} exited {e.code}")
    """
)


def test_eight_writers_imports_updates_and_briefs_at_once_store_every_report_once(tmp_path: Path, ws: Workspace, pg: Backend) -> None:
    url = pg.new_store("busy")
    go = tmp_path / "go"
    batch = tmp_path / "batch.csv"
    lines = ["indicator,date,grade,source,note"] + [f"kfor_reinforcement,2025-02-{1 + i % 28:02d},B2,AP wire {i},import {i}" for i in range(300)]
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = child_env(FORECAST_DB=url, FORECAST_WORKSPACE=str(ws.root))
    adders = [
        subprocess.Popen([sys.executable, "-c", ADDER, str(w), "100", str(go)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    cli = [sys.executable, "-m", "forecaster"]
    others = []
    time.sleep(0.5)
    go.touch()
    for args in (["event", "import", str(batch)], ["event", "import", str(batch)], ["update", "--exact"],
                 ["brief", "--exact", "--output", str(tmp_path / "briefs")], ["update", "--exact", "--as-of", "2025-06-01"]):
        others.append(subprocess.Popen([*cli, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for p in [*adders, *others]:
        _out, err = p.communicate(timeout=600)
        assert p.returncode in (0, 3), err
        assert "locked" not in err.lower() and "deadlock" not in err.lower()
    with EventStore(url) as store:
        entries = list(store.list(limit=None))
        check = admin.check_store(store)
    added = [(e.report.source, e.report.note) for e in entries if e.report.source.startswith("worker")]
    assert sorted(added) == sorted((f"worker {w} wire {i}", f"report {i}") for w in range(8) for i in range(100))
    imported = [e.report.note for e in entries if e.report.source.startswith("AP wire")]
    assert sorted(imported) == sorted(f"import {i}" for i in range(300))  # two imports of one file: each report once
    assert len({e.report.id for e in entries}) == len(entries) == 1100
    assert check.ok, check.problems


def test_schemas_keep_stores_apart(pg: Backend) -> None:
    a, b = pg.new_store("a"), pg.new_store("b")
    with EventStore(a) as sa_, EventStore(b) as sb:
        sa_.add(report(1), analyst="ana")
        assert sb.counts()["total"] == 0
    assert with_schema("postgresql://x@h/db", "s").endswith("?options=-csearch_path%3Ds")
