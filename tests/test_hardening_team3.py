"""Hardening, round three (issue 20): a team store no analyst login can subvert. Every hostile
write here is made the way someone with `psql` would: plain SQL through the driver, as a REAL
analyst login in the `forecast_analyst` role (not the owner), on a real PostgreSQL server; and on
SQLite where the class applies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import sqlite3
import time
import tracemalloc
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.errors import StoreError
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store import admin, runs
from forecaster.store.events import EventStore
from forecaster.store.migrations import MIGRATIONS
from tests.backends import Backend

NOW = dt.datetime.now(dt.UTC)


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def report(i: int, **kw: Any) -> Report:
    return Report("north_kosovo_unrest", dt.date(2025, 1, 1) + dt.timedelta(days=i % 300), True, "B", 2, "Reuters",
                  note=f"report {i}", **kw)


@dataclasses.dataclass(frozen=True)
class Team:
    """A store set up as the README says: the owner's URL, an analyst login's URL and name."""

    owner: str
    analyst: str
    login: str


@pytest.fixture
def pg(tmp_path: Path) -> Generator[Backend, None, None]:
    b = Backend("postgresql", tmp_path)
    try:
        yield b
    finally:
        b.cleanup()


def make_team(pg: Backend, label: str = "team", *, grant: bool = True) -> Team:
    url = pg.new_store(label)
    if grant:
        with EventStore(url) as owner:
            admin.grant_analysts(owner)
    login = f"ana_{uuid.uuid4().hex[:8]}"
    with pg.admin() as db:
        db.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'ana-pw' IN ROLE {admin.ANALYST_ROLE}")
    pg.logins = [*getattr(pg, "logins", []), login]  # type: ignore[attr-defined]
    return Team(url, re.sub(r"://[^@]*@", f"://{login}:ana-pw@", url, count=1), login)


@pytest.fixture
def team(pg: Backend) -> Generator[Team, None, None]:
    t = make_team(pg)
    try:
        yield t
    finally:
        drop_logins(pg)


def drop_logins(pg: Backend) -> None:
    pg.cleanup()
    pg.schemas = []
    with pg.admin() as db:
        for login in getattr(pg, "logins", []):
            db.execute(f"DROP OWNED BY {login}")
            db.execute(f"DROP ROLE IF EXISTS {login}")


def psql(url: str) -> Any:
    """A plain psycopg connection, autocommit: what an analyst with psql has."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


FORGED_TIME = "2020-01-02T00:00:00.000000Z"


def _insert_report(raw: Any, rid: str, *, event_date: str = "2024-06-01", recorded_at: str = FORGED_TIME, mark: str = "?",
                   by: bool = True) -> None:
    values = [rid, "north_kosovo_unrest", event_date, recorded_at, 1, "B", 2, "Reuters", "", f"forged {rid}", "the owner",
              hashlib.sha256(rid.encode()).hexdigest()] + (["forecast"] if by else [])
    raw.execute(
        "INSERT INTO reports (id, indicator, event_date, recorded_at, occurred, reliability, credibility, source, url, "
        f"note, analyst, content_key{', recorded_by' if by else ''}) VALUES ({', '.join([mark] * len(values))})",
        values,
    )


# ---------------------------------------------------------------------------------------------
# 1. Time and identity come from the server
# ---------------------------------------------------------------------------------------------


def test_time_and_login_come_from_the_server_whatever_an_analyst_sends(team: Team) -> None:
    with psql(team.analyst) as raw:
        _insert_report(raw, "r-aaaaaaaaaaaa", mark="%s")
        raw.execute("INSERT INTO retractions (report_id, reason, retracted_at, retracted_by, recorded_by) "
                    "VALUES ('r-aaaaaaaaaaaa', 'x', %s, 'bob', 'forecast')", (FORGED_TIME,))
        raw.execute(
            "INSERT INTO resolutions (id, hypothesis, state, period_from, period_to, rationale, source, analyst, recorded_at, "
            "content_key, recorded_by) VALUES ('res-aaaa', 'h', 's', '2024-01-01', '2024-02-01', 'r', 's', 'a', %s, 'k', 'forecast')",
            (FORGED_TIME,))
        raw.execute("INSERT INTO resolution_retractions (resolution_id, reason, retracted_at, retracted_by) "
                    "VALUES ('res-aaaa', 'x', %s, 'bob')", (FORGED_TIME,))
        tables = [("reports", "recorded_at"), ("retractions", "retracted_at"), ("resolutions", "recorded_at"),
                  ("resolution_retractions", "retracted_at")]
        for table, column in tables:
            when, who = raw.execute(f"SELECT {column}, recorded_by FROM {table}").fetchone()
            stamped = dt.datetime.fromisoformat(when)
            assert abs(stamped - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1), (table, when)
            assert who == team.login, table
    with EventStore(team.owner) as store:
        # A replay as of a past date is not moved by a row written today.
        assert store.reports_for_update(as_of=dt.date(2024, 12, 31), window_days=365) == []
        assert [r.id for r in store.reports_for_update(as_of=dt.date(2024, 12, 31), window_days=365, by_event_time=True)] == []


def test_only_the_owner_carries_times_over_with_db_copy(runner: CliRunner, tmp_path: Path, team: Team) -> None:
    src = str(tmp_path / "mine.db")
    with EventStore(src) as s:
        s.add(report(1), analyst="ana", recorded_at=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    code, _, err = invoke(runner, "db", "copy", src, team.analyst)
    assert code == 1 and "only the store's owner" in err and team.login in err and "ana-pw" not in err
    with psql(team.analyst) as raw:  # setting the switch by hand does not help a login that is not the owner
        raw.execute("SET forecast.keep_times = 'on'")
        _insert_report(raw, "r-bbbbbbbbbbbb", mark="%s")
        assert raw.execute("SELECT recorded_at FROM reports WHERE id = 'r-bbbbbbbbbbbb'").fetchone()[0] != FORGED_TIME
    assert invoke(runner, "db", "copy", src, team.owner)[0] == 0
    with EventStore(team.owner) as store:
        copied = [e for e in store.list() if e.report.note == "report 1"]
        assert copied[0].report.recorded_at == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------
# 2. No row an analyst inserts can lock out the team
# ---------------------------------------------------------------------------------------------


def test_an_analyst_cannot_write_schema_migrations_or_quarantine(runner: CliRunner, ws: Workspace, team: Team) -> None:
    import psycopg

    with psql(team.analyst) as raw:
        for sql in ("INSERT INTO schema_migrations VALUES (99, 'm099_evil', '2025-01-01')",
                    "INSERT INTO quarantine (table_name, row_key, reason, quarantined_at, quarantined_by) VALUES ('reports', 'x', 'y', 'z', 'w')"):
            with pytest.raises(psycopg.Error, match="permission denied"):
                raw.execute(sql)
        assert raw.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert invoke(runner, "--db", team.owner, "event", "list")[0] == 0


@pytest.mark.parametrize("bad", ["2025-02-30", "2025-13-01", "2025-00-10", "0000-01-01", "1025-03-01"])
def test_impossible_dates_are_refused_at_insert(backend: Backend, bad: str, pg_login: Any) -> None:
    url, who = pg_login(backend)
    with backend.raw(who) as raw:
        mark = "%s" if backend.is_pg else "?"
        with pytest.raises(backend.errors):
            _insert_report(raw, "r-cccccccccccc", event_date=bad, mark=mark)
        if backend.is_pg:  # a time the server stamps: replaced by a real one
            _insert_report(raw, "r-dddddddddddd", recorded_at="2025-02-30T00:00:00.000000Z", mark=mark)
        else:
            with pytest.raises(backend.errors):
                _insert_report(raw, "r-dddddddddddd", recorded_at="2025-02-30T00:00:00.000000Z", mark=mark)
    with EventStore(url) as store:
        assert store.counts()["total"] == backend.is_pg
        assert all(e.report.recorded_at for e in store.list())


@pytest.fixture
def pg_login() -> Generator[Any, None, None]:
    """make(backend) -> (the owner's store URL, the URL hostile writes use): on PostgreSQL a real
    analyst login's; on SQLite the file (whoever can write it can do anything: the class is the
    database's own checks)."""
    made: list[Backend] = []

    def make(backend: Backend) -> tuple[str, str]:
        if not backend.is_pg:
            url = backend.new_store()
            EventStore(url).close()
            return url, url
        made.append(backend)
        t = make_team(backend)
        return t.owner, t.analyst

    yield make
    for b in made:
        drop_logins(b)


def _old_store_with_a_bad_row(backend: Backend) -> str:
    """A store at schema 7 (before m008) holding a report dated 2025-02-30, then upgraded: the
    row an analyst could insert before this round."""
    url = backend.new_store("old", upgrade=False)
    real = list(MIGRATIONS)
    try:
        MIGRATIONS[:] = real[:7]
        EventStore(url, upgrade=True).close()
        with backend.raw(url) as raw:
            _insert_report(raw, "r-eeeeeeeeeeee", event_date="2025-02-30", mark="%s" if backend.is_pg else "?", by=False)
    finally:
        MIGRATIONS[:] = real
    EventStore(url, upgrade=True).close()
    return url


def test_a_row_nobody_can_read_is_named_not_fatal_and_the_owner_quarantines_it(
    runner: CliRunner, ws: Workspace, backend: Backend
) -> None:
    url = _old_store_with_a_bad_row(backend)
    with EventStore(url) as s:
        s.add(report(3), analyst="ana")
    code, out, err = invoke(runner, "--db", url, "event", "list", "--json")
    assert code == 0 and len(json.loads(out)["reports"]) == 1
    assert "r-eeeeeeeeeeee" in err and "cannot be read" in err and "db quarantine" in err
    code, _, err = invoke(runner, "--db", url, "-w", str(ws.root), "update", "--exact", "--as-of", "2025-06-01")
    assert code == 0, err
    assert "r-eeeeeeeeeeee" in err
    code, out, _ = invoke(runner, "--db", url, "db", "check")
    assert code == 1 and "r-eeeeeeeeeeee" in out
    code, out, err = invoke(runner, "--db", url, "db", "quarantine", "reports", "r-eeeeeeeeeeee", "--reason", "impossible date",
                            "--analyst", "owner")
    assert code == 0, err
    code, out, err = invoke(runner, "--db", url, "event", "list")
    assert code == 0 and "r-eeeeeeeeeeee" not in err
    code, out, _ = invoke(runner, "--db", url, "db", "check", "--json")
    assert code == 0 and json.loads(out)["counts"]["quarantine"] == 1
    code, _, err = invoke(runner, "--db", url, "db", "quarantine", "reports", "r-eeeeeeeeeeee", "--reason", "again")
    assert code == 2 and "already quarantined" in err


# ---------------------------------------------------------------------------------------------
# 3. No trigger or function resolves a name through the caller's search_path
# ---------------------------------------------------------------------------------------------


def test_a_temp_table_cannot_shadow_what_the_triggers_read(team: Team) -> None:
    with EventStore(team.owner) as s:
        rid = s.add(report(1), analyst="owner").id
    with psql(team.analyst) as raw:
        # pg_temp is searched first by default: a TEMP `reports` saying the report was recorded
        # in 2999 would make an unqualified look-up refuse (or, the other way, pass) a retraction.
        raw.execute("CREATE TEMP TABLE reports (id text, recorded_at text)")
        raw.execute("INSERT INTO pg_temp.reports VALUES (%s, '2999-01-01T00:00:00.000000Z')", (rid,))
        raw.execute("CREATE TEMP TABLE pg_class (oid oid, relowner oid)")
        raw.execute("SET search_path = pg_temp, public")
        raw.execute(f"SET search_path = pg_temp, {team.owner.rsplit('%3D', 1)[1]}")
        # Read through the shadow, the check would refuse this retraction as predating its report.
        raw.execute("INSERT INTO retractions (report_id, reason, retracted_at, retracted_by) VALUES (%s, 'x', 'y', 'z')", (rid,))
        assert raw.execute("SELECT recorded_by FROM retractions WHERE report_id = %s", (rid,)).fetchone()[0] == team.login
    with psql(team.owner) as raw:
        rows = raw.execute(
            "SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema()"
        ).fetchall()
    assert {r[0] for r in rows} >= {"forecast_append_only", "forecast_retraction_check", "forecast_server_time"}
    for name, config in rows:
        assert config and any(c.startswith("search_path=pg_catalog, pg_temp") for c in config), (name, config)


# ---------------------------------------------------------------------------------------------
# 4. No user's command prints numbers another login wrote
# ---------------------------------------------------------------------------------------------


def _forge_run(raw: Any, result: Any, *, mark: str = "%s") -> None:
    """Pre-record `result`'s run id with forged numbers, as an analyst with psql would."""
    data = result.to_json()
    for h in data["hypotheses"]:
        for s in h["states"]:
            s["posterior"] = s["exact"] = 0.999 if s is h["states"][0] else 0.001 / (len(h["states"]) - 1)
    cols = ("run_id, kind, evidence, recorded_at, as_of, window_start, priors_hash, events_hash, settings_hash, settings, seed, "
            "version, sampler, reports, divergences, wall_seconds, result")
    values = (result.run_id, "update", "store", "2025-01-01T00:00:00.000000Z", result.as_of.isoformat(), result.window[0].isoformat(),
              result.priors_hash, result.events_hash, result.settings_hash, "{}", result.seed, result.version, "exact", 0, 0, 0.1,
              json.dumps(data))
    raw.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join([mark] * len(values))})", values)


def test_a_run_pre_recorded_by_another_login_is_not_printed_as_cached(runner: CliRunner, ws: Workspace, team: Team) -> None:
    from forecaster.model.loading import load_priors
    from forecaster.workflow.updating import update_forecast

    owner_ws = dataclasses.replace(ws, db_override=team.owner)
    with EventStore(team.owner) as s:
        s.import_reports([report(i) for i in range(5)], analyst="ana")
    priors = load_priors(ws.priors_dir)
    as_of = dt.date(2025, 6, 1)
    truth, _ = update_forecast(owner_ws, priors, as_of=as_of, exact=True, record=False)
    earlier, _ = update_forecast(owner_ws, priors, as_of=dt.date(2025, 5, 1), exact=True, record=False)
    with psql(team.analyst) as raw:
        _forge_run(raw, truth)
        _forge_run(raw, earlier)  # a forged "Δ prev" baseline too
    code, out, _ = invoke(runner, "--db", team.owner, "-w", str(ws.root), "db", "check")
    assert code == 1 and f"run {truth.run_id}" in out and "do not give" in out
    code, out, err = invoke(runner, "--db", team.owner, "-w", str(ws.root), "update", "--exact", "--as-of", "2025-06-01", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert not shown.get("cached") and shown["hypotheses"] == truth.to_json()["hypotheses"]
    assert shown["previous_run_id"] is None  # the forged earlier run is not the baseline either
    assert "99.9" not in out
    # The owner replaced it: now the owner's own run, reused.
    code, out, _ = invoke(runner, "--db", team.owner, "-w", str(ws.root), "update", "--exact", "--as-of", "2025-06-01")
    assert code == 0 and "cached" in out + _
    code, out, _ = invoke(runner, "--db", team.owner, "-w", str(ws.root), "db", "check")
    assert code == 1 and f"run {earlier.run_id}" in out and f"run {truth.run_id}" not in out
    assert invoke(runner, "--db", team.owner, "-w", str(ws.root), "update", "--exact", "--as-of", "2025-05-01")[0] == 0
    assert invoke(runner, "--db", team.owner, "-w", str(ws.root), "db", "check")[0] == 0
    # Another analyst's honest run is verified (exact, milliseconds) and reused.
    ana_ws = dataclasses.replace(ws, db_override=team.analyst)
    result, cached = update_forecast(ana_ws, priors, as_of=as_of, exact=True)
    assert cached and result.to_json()["hypotheses"] == truth.to_json()["hypotheses"]


def test_db_check_recomputes_runs_on_a_file_store_too(runner: CliRunner, ws: Workspace) -> None:
    from forecaster.model.loading import load_priors
    from forecaster.workflow.updating import update_forecast

    with EventStore(ws.db) as s:
        s.import_reports([report(i) for i in range(5)], analyst="ana")
    truth, _ = update_forecast(ws, load_priors(ws.priors_dir), as_of=dt.date(2025, 6, 1), exact=True, record=False)
    raw = sqlite3.connect(ws.db_path, isolation_level=None)
    _forge_run(raw, truth, mark="?")
    raw.close()
    code, out, _ = invoke(runner, "-w", str(ws.root), "db", "check")
    assert code == 1 and f"run {truth.run_id}" in out and "do not give" in out


# ---------------------------------------------------------------------------------------------
# 5. Secrets never reach output
# ---------------------------------------------------------------------------------------------


def test_passwords_in_a_store_url_are_masked_everywhere(runner: CliRunner, ws: Workspace) -> None:
    for url in ("postgresql://ana:s3cr@t-pw@127.0.0.1:1/forecast", "postgresql://ana@127.0.0.1:1/forecast?password=s3cr3t-pw",
                "postgresql://ana@127.0.0.1:1/forecast?sslmode=require&password=s3cr3t-pw"):
        for args in (("info",), ("event", "list"), ("db", "check"), ("update", "--exact")):
            code, out, err = invoke(runner, "--db", url, "-w", str(ws.root), *args)
            assert code != 0 and "s3cr" not in out + err and err.count("\n") == 1, (args, err)


def test_info_and_the_run_log_mask_a_live_stores_password(runner: CliRunner, ws: Workspace, pg: Backend) -> None:
    from urllib.parse import urlsplit

    url = pg.new_store("secret")
    pw = urlsplit(url).password
    assert pw
    query_form = url.replace(f":{pw}@", "@", 1) + f"&password={pw}"
    for given in (url, query_form):
        code, out, err = invoke(runner, "--db", given, "-w", str(ws.root), "info", "--json")
        assert code == 0, err
        assert pw not in out + err and "***" in json.loads(out)["database"]
    code, out, err = invoke(runner, "--db", query_form, "-w", str(ws.root), "update", "--exact", "--json")
    assert code == 0 and pw not in out + err
    with EventStore(url) as s:
        assert all(pw not in r[0] for r in s._read("", "SELECT result || settings FROM runs"))


# ---------------------------------------------------------------------------------------------
# 6. db copy merges stores that share content
# ---------------------------------------------------------------------------------------------


def test_two_quick_start_stores_both_come_in(runner: CliRunner, tmp_path: Path, backend: Backend) -> None:
    from forecaster.inference.update import run_update
    from forecaster.model.loading import load_priors

    base = run_update(load_priors(Path(__file__).resolve().parent.parent / "priors"), [], as_of=dt.date(2026, 1, 1), exact_only=True)
    stores = []
    for who in ("ana", "bob"):  # both recorded the same report (at their own times) and the same run
        path = str(tmp_path / f"{who}.db")
        with EventStore(path) as s:
            s.add(report(1), analyst=who)
            s.add(report(2 if who == "ana" else 3), analyst=who)
            runs.record_run(s, runs.NewRun(base))
        stores.append(path)
        time.sleep(0.01)
    team = backend.new_store("merged")
    code, out, err = invoke(runner, "db", "copy", stores[0], team, "--json")
    assert code == 0, err
    code, out, err = invoke(runner, "db", "copy", stores[1], team, "--json")
    assert code == 0, err
    done = json.loads(out)
    by = {t["table"]: t for t in done["tables"]}
    assert by["reports"]["added"] == 1 and by["reports"]["already"] == 1
    assert by["runs"]["added"] == 0 and by["runs"]["already"] == 1 and by["run_states"]["added"] == 0
    assert done["already"] >= 2
    code, _, err = invoke(runner, "db", "copy", stores[1], team)
    assert code == 0 and "already there" in err
    with EventStore(team) as s:
        assert s.counts()["total"] == 3


# ---------------------------------------------------------------------------------------------
# 8. A stored run's draws: bounded decompression
# ---------------------------------------------------------------------------------------------


def test_a_gzip_bomb_in_run_draws_is_refused_in_bounded_memory(runner: CliRunner, ws: Workspace, backend: Backend, pg_login: Any) -> None:
    url, who = pg_login(backend)
    from forecaster.inference.update import run_update
    from forecaster.model.loading import load_priors

    base = run_update(load_priors(ws.priors_dir), [], as_of=dt.date(2026, 1, 1), exact_only=True)
    with EventStore(who) as s:
        runs.record_run(s, runs.NewRun(base))
    bomb = gzip.compress(b"\0" * (200 * 2**20), 9)  # 200 MiB of zeros in ~200 KB
    assert len(bomb) < 2**20
    with backend.raw(who) as raw:
        mark = "%s" if backend.is_pg else "?"
        raw.execute(f"INSERT INTO run_draws (run_id, encoding, size, sha256, data) VALUES ({mark}, 'netcdf+gzip', {mark}, {mark}, {mark})",
                    (base.run_id, 1000, "0" * 64, bomb))
    tracemalloc.start()
    t0 = time.perf_counter()
    with EventStore(url) as s, pytest.raises(StoreError) as e:
        runs.load_draws(s, base.run_id)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 20 * 2**20, peak
    assert "\n" not in str(e.value) and "more than the 1,000 bytes they claim" in str(e.value)
    code, out, _ = invoke(runner, "--db", url, "db", "check")
    assert code == 1 and f"run {base.run_id}: its draws are damaged" in out
    code, _, err = invoke(runner, "--db", url, "-w", str(ws.root), "runs", "export", base.run_id)
    assert code == 1 and err.count("\n") == 1 and "damaged" in err


def test_draws_over_the_ceiling_are_refused_without_unpacking() -> None:
    with pytest.raises(runs.DrawsDamaged, match="over the ceiling"):
        runs.unpack_draws(gzip.compress(b"x"), runs.MAX_DRAWS_BYTES + 1, "0")
    raw = os.urandom(5000)
    assert runs.unpack_draws(gzip.compress(raw), len(raw), hashlib.sha256(raw).hexdigest()) == raw


# ---------------------------------------------------------------------------------------------
# 9. `forecast event amend` (issue 21)
# ---------------------------------------------------------------------------------------------


def test_event_amend_retracts_and_adds_linked_in_one_step(runner: CliRunner, backend_ws: Workspace) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        return invoke(runner, "-w", str(backend_ws.root), *args)

    code, first, _ = run("event", "add", "north_kosovo_unrest", "--date", "2025-03-18", "--grade", "B2", "--source", "Reuters")
    code, second, err = run("event", "add", "north_kosovo_unrest", "--date", "2025-03-19", "--grade", "C3", "--source", "TASS")
    assert code == 0 and "likely the same episode" in err and "forecast event amend ID --origin ORIGIN" in err
    first, second = first.strip(), second.strip()
    code, out, err = run("event", "amend", second, "--origin", "AP wire 18 March", "--grade", "B3", "--json")
    assert code == 0, err
    done = json.loads(out)
    new = done["report"]["id"]
    assert done["amended"] == second and done["reason"] == f"amended: replaced by {new}"
    assert done["report"]["origin"] == "AP wire 18 March" and done["report"]["grade"] == "B3"
    code, out, _ = run("event", "show", second, "--json")
    assert json.loads(out)["retraction_reason"] == f"amended: replaced by {new}"
    code, out, err = run("event", "amend", first[:8], "--origin", "AP wire 18 March")
    assert code == 0 and err.startswith(f"retracted {first} (amended: replaced by r-")
    code, out, _ = run("event", "list", "--json")
    live = json.loads(out)["reports"]
    assert len(live) == 2 and {r["origin"] for r in live} == {"AP wire 18 March"}
    # Bad id, retracted, nothing changed, nothing given: one line, exit 2, nothing written.
    for args, why in ((("r-ffffffffffff", "--note", "x"), "no report"), ((second, "--note", "x"), "was retracted"),
                      ((new, "--origin", "AP wire 18 March"), "nothing to change"), ((new,), "nothing to amend"),
                      ((new, "--grade", "Z9"), "grade")):
        code, _, err = run("event", "amend", *args)
        assert code == 2 and err.count("\n") == 1 and why in err, (args, err)
    code, out, _ = run("event", "list", "--include-retracted", "--json")
    assert len(json.loads(out)["reports"]) == 4


# ---------------------------------------------------------------------------------------------
# 7. Messages that said the wrong thing
# ---------------------------------------------------------------------------------------------


def test_a_login_without_grants_is_told_to_ask_the_owner(runner: CliRunner, pg: Backend) -> None:
    t = make_team(pg, grant=False)
    try:
        with pg.admin() as db:
            db.execute(f"REVOKE {admin.ANALYST_ROLE} FROM {t.login}")
        code, _, err = invoke(runner, "--db", t.analyst, "db", "check")
        assert code == 1 and err.count("\n") == 1, err
        assert "ask the store's owner" in err and "db upgrade" not in err and "ana-pw" not in err
    finally:
        drop_logins(pg)


def test_tls_timeout_createrole_and_a_lost_connection_say_what_failed(
    runner: CliRunner, pg: Backend, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import socket

    from forecaster.store import pg as pg_driver

    url = pg.new_store("msgs")
    code, _, err = invoke(runner, "--db", url + "&sslmode=require", "db", "check")
    assert code == 1 and err.count("\n") == 1 and "TLS (SSL) connection" in err and "sslmode" in err, err
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    monkeypatch.setattr(pg_driver, "CONNECT_TIMEOUT_S", 1)
    try:
        code, _, err = invoke(runner, "--db", f"postgresql://ana:pw@127.0.0.1:{silent.getsockname()[1]}/forecast", "db", "check")
    finally:
        silent.close()
    assert code == 1 and err.count("\n") == 1 and "did not answer within the connection timeout" in err, err
    # An owner login without CREATEROLE, granting a group role that does not exist yet.
    login = f"own_{uuid.uuid4().hex[:8]}"
    schema = f"t_own_{uuid.uuid4().hex[:8]}"
    with pg.admin() as db:
        db.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'own-pw'")
        db.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {login}")
    pg.schemas.append(schema)
    pg.logins = [login]  # type: ignore[attr-defined]
    owner = re.sub(r"://[^@]*@", f"://{login}:own-pw@", url.rsplit("%3D", 1)[0] + "%3D" + schema, count=1)
    try:
        assert invoke(runner, "--db", owner, "db", "upgrade")[0] == 0
        code, _, err = invoke(runner, "--db", owner, "db", "grant-analysts", "--role", f"grp_{uuid.uuid4().hex[:8]}")
        assert code == 1 and err.count("\n") == 1 and "lacks CREATEROLE" in err and "DBA creates the group role" in err, err
        # A connection the server ends: our one line, and no second line from the driver.
        capfd.readouterr()
        store = EventStore(url)
        pid = store._db.execute("SELECT pg_backend_pid()").scalar_one()
        with pg.admin() as db:
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreError, match="lost the connection"):
            store.counts()
        store.close()
        assert capfd.readouterr().err == ""
    finally:
        drop_logins(pg)


LOSE_MID_UPDATE = """
import os, sys, psycopg
from forecaster.store.pg import PostgresDb as Db
from forecaster.cli.main import app
url, admin_url = os.environ["FORECAST_DB"], sys.argv.pop(1)
executemany = Db.executemany
def drop(self, sql, rows):
    if sql.startswith("INSERT INTO run_states"):
        pid = self.execute("SELECT pg_backend_pid()").scalar_one()
        with psycopg.connect(admin_url, autocommit=True) as a:
            a.execute("SELECT pg_terminate_backend(%s)", (pid,))
    executemany(self, sql, rows)
Db.executemany = drop
app(sys.argv[1:])
"""


def test_a_lost_connection_is_one_line_without_the_drivers_own(ws: Workspace, pg: Backend) -> None:
    import subprocess
    import sys

    url = pg.new_store("lost")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "FORECAST_DB": url, "PYTHONPATH": str(root)}
    r = subprocess.run([sys.executable, "-c", LOSE_MID_UPDATE, pg.server, "-w", str(ws.root), "update", "--exact"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "lost the connection to the server while recording a run" in r.stderr and "Pipeline" not in r.stderr
