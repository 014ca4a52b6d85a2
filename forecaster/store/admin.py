"""Looking after a store, on either backend (issue 13): `check` (integrity and counts) and `copy`
(an SQLite store into PostgreSQL or back, or any store into any other).

`copy` is one write transaction on the destination: every row of every table the source holds
that the destination lacks is inserted, so stores that share content merge (issue 20: two
analysts who both followed the quick start bring both their stores in). A report or resolution
whose content is stored already is "already there" (counted, said), whatever id, time or analyst
it carries; a run whose id is stored is skipped with its states, reports and draws; re-running
adds nothing. Only one id naming different content is a conflict, and then nothing is written.
Before committing, the rows added are read back and their count and content hash compared with
the source's, table by table. On a server, only the store's owner copies in (the rows keep their
original recording times and logins, which the server stamps for anyone else: m008).
Nothing here prints; `forecaster.cli.db` renders."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from forecaster.core.errors import StoreError, UsageError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.migrations import DATED, MIGRATIONS, YEARS
from forecaster.store.records import check_text, content_key, format_time, parse_time
from forecaster.store.runs import DrawsDamaged, unpack_draws


@dataclass(frozen=True)
class Table:
    """A table `db copy` and `db check` see: the columns that name a row; `content`, the column
    that says what the row holds (a report's content key: the same content is the same report,
    whatever id or time it carries); `parent`: (column, table, mode): a retraction goes in only
    when its report is in the destination ("present"), a run's rows only with their run ("added")."""

    name: str
    key: tuple[str, ...]
    content: str | None = None
    parent: tuple[str, str, str] | None = None


# Tables in the order rows must go in (referenced before referencing). A table a later migration
# adds goes here too; `seq` (a row counter) is never copied.
TABLE_SPECS: tuple[Table, ...] = (
    Table("reports", ("id",), "content_key"),
    Table("retractions", ("report_id",), parent=("report_id", "reports", "present")),
    Table("runs", ("run_id",)),
    Table("run_states", ("run_id", "hypothesis", "state"), parent=("run_id", "runs", "added")),
    Table("run_reports", ("run_id", "report_id"), parent=("run_id", "runs", "added")),
    Table("run_draws", ("run_id",), parent=("run_id", "runs", "added")),
    Table("resolutions", ("id",), "content_key"),
    Table("resolution_retractions", ("resolution_id",), parent=("resolution_id", "resolutions", "present")),
    Table("quarantine", ("table_name", "row_key")),
    Table("panel_rounds", ("round",)),
)
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = tuple((t.name, t.key) for t in TABLE_SPECS)
APPEND_ONLY = ("reports", "retractions", "resolutions", "resolution_retractions", "quarantine", "panel_rounds")  # whose UPDATE and DELETE the database itself refuses
SURROGATE = ("seq",)


@dataclass(frozen=True)
class TableCopy:
    table: str
    source: int  # rows in the source
    added: int
    already: int  # already in the destination: the same content, or a run of the same id (skipped)
    sha256: str  # content hash of the rows added (verified: the destination reads them back the same)


@dataclass(frozen=True)
class CopyResult:
    source: str
    destination: str
    tables: tuple[TableCopy, ...]

    @property
    def added(self) -> int:
        return sum(t.added for t in self.tables)

    @property
    def already(self) -> int:
        return sum(t.already for t in self.tables)


@dataclass
class CheckResult:
    store: str
    dialect: str
    schema: int
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    runs_checked: int | None = None  # runs recomputed from their inputs (workflow.updating.check_runs)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------------
# Reading whole tables, and their content hash
# ---------------------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    return bytes(v) if isinstance(v, memoryview | bytearray) else v


def _columns(db: Db, table: str) -> list[str]:
    result = db.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    names = [c for c in list(result.keys()) if c not in SURROGATE]
    result.close()
    return names


def _rows(db: Db, table: str, columns: Sequence[str], key: Sequence[str]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    at = [columns.index(k) for k in key]
    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for r in db.execute(f"SELECT {', '.join(columns)} FROM {table}", stream=True):
        row = tuple(_plain(v) for v in r)
        out[tuple(row[i] for i in at)] = row
    return out


def content_hash(columns: Sequence[str], rows: dict[tuple[Any, ...], tuple[Any, ...]]) -> str:
    """sha256 over the rows in key order, each as canonical JSON (bytes as hex, floats by repr):
    the same on SQLite and PostgreSQL for the same content."""
    h = hashlib.sha256(json.dumps(list(columns)).encode())
    for k in sorted(rows, key=lambda k: json.dumps(k, default=str)):
        row = [v.hex() if isinstance(v, bytes) else v for v in rows[k]]
        h.update(b"\n" + json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode())
    return h.hexdigest()


def _tables(store: EventStore) -> list[tuple[str, tuple[str, ...]]]:
    present = set(store.tables())
    missing = [t for t, _ in TABLES if t not in present]
    if missing:
        raise StoreError(f"{store.name}: tables missing: {', '.join(missing)} (run `forecast db check`)")
    return list(TABLES)


# ---------------------------------------------------------------------------------------------
# Copy
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snap:
    table: Table
    columns: list[str]
    rows: dict[tuple[Any, ...], tuple[Any, ...]]


@dataclass
class _Merge:
    """What a copy adds to one table, decided against the destination's rows (module docstring)."""

    new: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    already: int = 0
    conflicts: list[str] = field(default_factory=list)


def _merge(snap: _Snap, have: dict[tuple[Any, ...], tuple[Any, ...]], present: dict[str, set[Any]]) -> _Merge:
    """A report or resolution whose content is stored (under its id or another) is already there;
    a run whose id is stored is skipped with its rows; a retraction of a report already retracted
    too. Only one id holding other content is a conflict."""
    t, cols = snap.table, snap.columns
    out = _Merge()
    at = cols.index(t.content) if t.content else None
    stored_content = {row[at] for row in have.values()} if at is not None else set()
    parent_at = cols.index(t.parent[0]) if t.parent else None
    for k, row in snap.rows.items():
        if t.parent is not None and parent_at is not None:
            _col, parent, mode = t.parent
            wanted = present[parent + ":added"] if mode == "added" else present[parent]
            if row[parent_at] not in wanted:
                out.already += 1  # its run was there already, or its report is stored under another id
                continue
        if k in have:
            if at is not None and have[k][at] != row[at]:
                out.conflicts.append(f"{t.name} {'/'.join(map(str, k))}")
            else:
                out.already += 1
        elif at is not None and row[at] in stored_content:
            out.already += 1
        else:
            out.new[k] = row
    return out


def _owner_only(db: Db, name: str) -> None:
    """A server store takes a copy's original times and logins from its owner only (m008)."""
    if db.dialect == "sqlite":
        return
    login, owner = db.execute(
        "SELECT session_user, pg_catalog.pg_has_role(session_user, c.relowner, 'MEMBER') FROM pg_catalog.pg_class c "
        "WHERE c.oid = (pg_catalog.quote_ident(current_schema()) || '.reports')::regclass"
    ).fetchone()
    if not owner:
        raise StoreError(
            f"{name}: `db copy` carries every row's recording time and login over, which only the store's owner may do "
            f"(this login is {login!r}); ask the owner to run it"
        )


def copy_store(src: EventStore, dst: EventStore) -> CopyResult:
    """Everything `src` holds that `dst` lacks into `dst`, all or nothing (see the module docstring)."""
    if src.target.url == dst.target.url:
        raise StoreError("the source and the destination are the same store")
    _tables(src)
    _tables(dst)
    snapshot: list[_Snap] = []

    def read(db: Db) -> None:  # one read transaction: a consistent snapshot of the source
        for t in TABLE_SPECS:
            columns = _columns(db, t.name)
            snapshot.append(_Snap(t, columns, _rows(db, t.name, columns, t.key)))

    src._snapshot("reading the source", read)

    def write(db: Db) -> list[TableCopy]:
        _owner_only(db, dst.name)
        db.keep_times()
        merges: list[tuple[_Snap, _Merge]] = []
        present: dict[str, set[Any]] = {}
        for snap in snapshot:
            t, columns = snap.table, snap.columns
            if _columns(db, t.name) != columns:
                raise StoreError(f"{dst.name}: table {t.name} has other columns than the source's; both must be at schema {len(MIGRATIONS)}")
            have = _rows(db, t.name, columns, t.key)
            m = _merge(snap, have, present)
            merges.append((snap, m))
            if len(t.key) == 1:
                present[t.name] = {k[0] for k in have} | {k[0] for k in m.new}
                present[t.name + ":added"] = {k[0] for k in m.new}
        conflicts = [c for _, m in merges for c in m.conflicts]
        if conflicts:
            shown = "; ".join(conflicts[:5]) + (f"; … ({len(conflicts)} in all)" if len(conflicts) > 5 else "")
            raise StoreError(f"{dst.name} holds different content under the same ids: {shown}; nothing was copied")
        done = []
        for snap, m in merges:
            cols = snap.columns
            db.executemany(f"INSERT INTO {snap.table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", list(m.new.values()))
            done.append(TableCopy(snap.table.name, len(snap.rows), len(m.new), m.already, content_hash(cols, m.new)))
        # Read back what the destination now holds for the keys added: counts and hashes agree.
        for (snap, m), copied in zip(merges, done, strict=True):
            back = _rows(db, snap.table.name, snap.columns, snap.table.key)
            mine = {k: back[k] for k in m.new if k in back}
            if len(mine) != len(m.new) or content_hash(snap.columns, mine) != copied.sha256:
                raise StoreError(f"{dst.name}: {snap.table.name} does not read back as written (count or hash differs); nothing was copied")
        return done

    result = dst._write("copying the store", write)
    return CopyResult(src.name, dst.name, tuple(result))


# ---------------------------------------------------------------------------------------------
# Check
# ---------------------------------------------------------------------------------------------


def check_store(store: EventStore) -> CheckResult:
    """Integrity and counts: the database's own check (SQLite), the schema and its append-only
    triggers, every report's content id, no dangling retraction or run row, every run's draws."""
    out = CheckResult(store.name, store.dialect, store.schema_version)

    def read(db: Db) -> None:
        names = [r[0] for r in db.execute("SELECT name FROM schema_migrations ORDER BY version")]
        if names != [m.__name__ for m in MIGRATIONS]:
            out.problems.append(f"schema_migrations names {names}, this forecast knows {[m.__name__ for m in MIGRATIONS]}")
        if db.dialect == "sqlite":
            verdict = [r[0] for r in db.execute("PRAGMA integrity_check")]
            if verdict != ["ok"]:
                out.problems.extend(f"integrity_check: {v}" for v in verdict[:10])
            for r in db.execute("PRAGMA foreign_key_check"):
                out.problems.append(f"foreign_key_check: {r[0]} row {r[1]} names a missing {r[2]}")
            triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        else:
            triggers = {
                r[0]
                for r in db.execute(
                    "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
                )
            }
        for table in APPEND_ONLY:
            for op in ("update", "delete"):
                if f"{table}_no_{op}" not in triggers:
                    out.problems.append(f"trigger {table}_no_{op} is missing: {table} are not append-only")
        for table, _ in TABLES:
            out.counts[table] = int(db.execute(f"SELECT COUNT(*) FROM {table}").scalar_one())
        out.problems.extend(_undated(db))
        bad = 0
        for r in db.execute(
            "SELECT id, indicator, event_date, occurred, reliability, credibility, source, url, note, content_key, origin FROM reports "
            "WHERE id NOT IN (SELECT row_key FROM quarantine WHERE table_name = 'reports')",
            stream=True,
        ):
            try:
                rep = Report(r[1], dt.date.fromisoformat(r[2]), bool(r[3]), r[4], r[5], r[6], url=r[7], note=r[8], origin=r[10])
            except (ValueError, TypeError):
                continue  # named by _undated
            if content_key(rep) != r[9]:
                bad += 1
                if bad <= 5:
                    out.problems.append(f"report {r[0]}: its content no longer matches its content key")
        for table, what in (
            ("retractions", "report_id NOT IN (SELECT id FROM reports)"),
            ("run_states", "run_id NOT IN (SELECT run_id FROM runs)"),
            ("run_reports", "run_id NOT IN (SELECT run_id FROM runs)"),
            ("run_draws", "run_id NOT IN (SELECT run_id FROM runs)"),
            ("resolution_retractions", "resolution_id NOT IN (SELECT id FROM resolutions)"),
        ):
            n = int(db.execute(f"SELECT COUNT(*) FROM {table} WHERE {what}").scalar_one())
            if n:
                out.problems.append(f"{table}: {n} rows name what is not stored")
        for run_id, size, digest, data in db.execute("SELECT run_id, size, sha256, data FROM run_draws", stream=True):
            try:
                unpack_draws(bytes(data), size, digest)
            except DrawsDamaged as e:
                out.problems.append(f"run {run_id}: its draws are damaged: {e}")

    store._snapshot("checking the store", read)
    return out


def _undated(db: Db) -> list[str]:
    """Every row (not quarantined) whose stored date or time is not a real one (m008's DATED):
    one that reached the store before the database refused them. Each is named with the owner's
    remedy; readers leave it out meanwhile (records.readable)."""
    problems = []
    for table, columns in DATED.items():
        key = dict(TABLES)[table]
        owner = {"retractions": "reports", "resolution_retractions": "resolutions"}.get(table, table)  # quarantined with it
        names = ", ".join(c for c, _ in columns)
        sql = (f"SELECT {', '.join(key)}, {names} FROM {table} WHERE {' || '.join(key)} NOT IN "
               f"(SELECT row_key FROM quarantine WHERE table_name = '{owner}')")
        for row in db.execute(sql, stream=True):
            k = "/".join(map(str, row[: len(key)]))
            for (column, kind), value in zip(columns, row[len(key):], strict=True):
                if value is not None and not _is_real(value, kind):
                    problems.append(f"{table} row {k}: {column} {str(value)[:40]!r} is not a real {'date' if kind != 'time' else 'time'}; "
                                    f"readers leave it out; the owner can take it out of force: forecast db quarantine {owner} {k} --reason …")
    return problems


def _is_real(value: Any, kind: str) -> bool:
    try:
        if kind == "time":
            return len(str(value)) == 27 and parse_time(value).year > 0 and str(value).endswith("Z")
        day = dt.date.fromisoformat(str(value))
        return len(str(value)) == 10 and (kind != "year" or YEARS[0] <= day.isoformat() <= YEARS[1])
    except ValueError:
        return False


QUARANTINABLE = ("reports", "resolutions", "runs")


def quarantine(store: EventStore, table: str, key: str, *, reason: str, who: str) -> str:
    """Take one row out of force (issue 20): a row of `table` (reports, resolutions, runs) that no
    reader can read, or that should never have been written, is named in `quarantine` (append-only,
    the owner's: analysts may only read it) and every reader leaves it out from then on; the row
    itself stays, as everything in the store does. Returns the key."""
    if table not in QUARANTINABLE:
        raise UsageError(f"table {table!r}: quarantine takes a row of {', '.join(QUARANTINABLE)}")
    reason, who = canonical_text(reason), canonical_text(who, single_line=True)
    check_text("reason", reason, required=True)
    check_text("analyst", who, required=True)
    column = "run_id" if table == "runs" else "id"

    def insert(db: Db) -> str:
        if not db.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (key,)).fetchone():
            raise UsageError(f"no {table} row {key!r} in {store.name} (give its full id)")
        if db.execute("SELECT 1 FROM quarantine WHERE table_name = ? AND row_key = ?", (table, key)).fetchone():
            raise UsageError(f"{table} row {key} is already quarantined")
        db.execute("INSERT INTO quarantine (table_name, row_key, reason, quarantined_at, quarantined_by) VALUES (?, ?, ?, ?, ?)",
                   (table, key, reason, format_time(db.now()), who))
        return key

    return store._write("quarantining a row", insert)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: the analyst role
# ---------------------------------------------------------------------------------------------

ANALYST_ROLE = "forecast_analyst"


#: The tables an analyst's login may insert into (with SELECT); every other table of the store
#: (schema_migrations, quarantine, and any table a later migration adds until it is named here)
#: it may only read. A migration that adds a table analysts write names it here too.
ANALYST_INSERTS: tuple[str, ...] = (
    "reports", "retractions", "runs", "run_states", "run_reports", "run_draws", "resolutions", "resolution_retractions",
)


def analyst_grants(schema: str = "public", group: str = ANALYST_ROLE) -> list[str]:
    """The SQL (run by the store's owner, after every `forecast db upgrade`) that makes `group` a
    role that may only read, and insert into ANALYST_INSERTS: SELECT on every table, now and in
    later migrations; INSERT only on those named; no UPDATE, DELETE, TRUNCATE, no DDL (it owns
    nothing, so it cannot drop or disable the triggers either). Computed from the one list, so
    running it again takes back an INSERT an earlier version granted on every table. Give each
    analyst a login in it: `CREATE ROLE ana LOGIN PASSWORD '…' IN ROLE forecast_analyst`."""
    s = f'"{schema}"'
    inserts = ", ".join(f"{s}.{t}" for t in ANALYST_INSERTS)
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{group}') THEN CREATE ROLE {group} NOLOGIN; END IF; END $$",
        f"GRANT USAGE ON SCHEMA {s} TO {group}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {group}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {group}",
        f"GRANT INSERT ON {inserts} TO {group}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {group}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} REVOKE INSERT ON TABLES FROM {group}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {group}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE ON SEQUENCES TO {group}",
    ]


def grant_analysts(store: EventStore, group: str = ANALYST_ROLE) -> list[str]:
    """Run `analyst_grants` for the store's schema; returns the statements run."""
    if store.dialect != "postgresql":
        raise StoreError(f"{store.name}: roles are for PostgreSQL stores; an SQLite file is guarded by its file mode (0600)")
    schema = store._read("reading the schema", "SELECT current_schema()")[0][0]
    statements = analyst_grants(schema, group)

    def run(db: Db) -> None:
        for sql in statements:
            db.driver_sql(sql)

    store._write("granting the analyst role", run)
    return statements
