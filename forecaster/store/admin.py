"""Looking after a store, on either backend (issue 13): `check` (integrity and counts) and `copy`
(an SQLite store into PostgreSQL or back, or any store into any other).

`copy` is one write transaction on the destination: every row of every table the source holds
that the destination lacks is inserted (the same report, retraction or run is recognised by its
key, so re-running adds nothing); a key the destination holds with different content is a
conflict and nothing is written. Before committing, the destination's rows for the source's keys
are read back and their count and content hash compared with the source's, table by table.
Nothing here prints; `forecaster.cli.db` renders."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from forecaster.core.errors import StoreError
from forecaster.model.evidence import Report
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.migrations import MIGRATIONS
from forecaster.store.records import content_key

# Tables in the order rows must go in (referenced before referencing), with the columns that name
# a row. A table a later migration adds goes here too; `seq` (a row counter) is never copied.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reports", ("id",)),
    ("retractions", ("report_id",)),
    ("runs", ("run_id",)),
    ("run_states", ("run_id", "hypothesis", "state")),
    ("run_reports", ("run_id", "report_id")),
    ("run_draws", ("run_id",)),
    ("resolutions", ("id",)),
    ("resolution_retractions", ("resolution_id",)),
    ("panel_rounds", ("round",)),
)
APPEND_ONLY = ("reports", "retractions", "resolutions", "resolution_retractions", "panel_rounds")  # whose UPDATE and DELETE the database itself refuses
SURROGATE = ("seq",)


@dataclass(frozen=True)
class TableCopy:
    table: str
    source: int  # rows in the source
    added: int
    already: int  # already in the destination, identical
    sha256: str  # content hash of the source's rows (and, verified, of the destination's for those keys)


@dataclass(frozen=True)
class CopyResult:
    source: str
    destination: str
    tables: tuple[TableCopy, ...]

    @property
    def added(self) -> int:
        return sum(t.added for t in self.tables)


@dataclass
class CheckResult:
    store: str
    dialect: str
    schema: int
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

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
    table: str
    key: tuple[str, ...]
    columns: list[str]
    rows: dict[tuple[Any, ...], tuple[Any, ...]]


def copy_store(src: EventStore, dst: EventStore) -> CopyResult:
    """Everything `src` holds into `dst`, all or nothing (see the module docstring)."""
    if src.target.url == dst.target.url:
        raise StoreError("the source and the destination are the same store")
    tables = _tables(src)
    _tables(dst)
    snapshot: list[_Snap] = []

    def read(db: Db) -> None:  # one read transaction: a consistent snapshot of the source
        for table, key in tables:
            columns = _columns(db, table)
            snapshot.append(_Snap(table, key, columns, _rows(db, table, columns, key)))

    src._snapshot("reading the source", read)

    def write(db: Db) -> list[TableCopy]:
        done: list[TableCopy] = []
        conflicts: list[str] = []
        for snap in snapshot:
            table, key, columns, rows = snap.table, snap.key, snap.columns, snap.rows
            if _columns(db, table) != columns:
                raise StoreError(f"{dst.name}: table {table} has other columns than the source's; both must be at schema {len(MIGRATIONS)}")
            have = _rows(db, table, columns, key)
            new = [row for k, row in rows.items() if k not in have]
            for k, row in rows.items():
                if k in have and have[k] != row:
                    conflicts.append(f"{table} {'/'.join(map(str, k))}")
            if conflicts:
                continue
            db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", new)
            done.append(TableCopy(table, len(rows), len(new), len(rows) - len(new), content_hash(columns, rows)))
        if conflicts:
            shown = "; ".join(conflicts[:5]) + (f"; … ({len(conflicts)} in all)" if len(conflicts) > 5 else "")
            raise StoreError(f"{dst.name} holds different content under the same keys: {shown}; nothing was copied")
        # Read back what the destination now holds for the source's keys: counts and hashes agree.
        for snap, t in zip(snapshot, done, strict=True):
            back = _rows(db, snap.table, snap.columns, snap.key)
            mine = {k: back[k] for k in snap.rows if k in back}
            if len(mine) != len(snap.rows) or content_hash(snap.columns, mine) != t.sha256:
                raise StoreError(f"{dst.name}: {snap.table} does not read back as written (count or hash differs); nothing was copied")
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
        bad = 0
        for r in db.execute(
            "SELECT id, indicator, event_date, occurred, reliability, credibility, source, url, note, content_key, origin FROM reports",
            stream=True,
        ):
            rep = Report(r[1], dt.date.fromisoformat(r[2]), bool(r[3]), r[4], r[5], r[6], url=r[7], note=r[8], origin=r[10])
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
                raw = gzip.decompress(bytes(data))
            except (OSError, EOFError):
                raw = b""
            if len(raw) != size or hashlib.sha256(raw).hexdigest() != digest:
                out.problems.append(f"run {run_id}: its draws are damaged")

    store._snapshot("checking the store", read)
    return out


# ---------------------------------------------------------------------------------------------
# PostgreSQL: the analyst role
# ---------------------------------------------------------------------------------------------

ANALYST_ROLE = "forecast_analyst"


def analyst_grants(schema: str = "public", group: str = ANALYST_ROLE) -> list[str]:
    """The SQL (run once, by the store's owner, after `forecast db upgrade`) that makes `group` a
    role that may only read and insert: SELECT and INSERT on every table, now and in later
    migrations; no UPDATE, DELETE, TRUNCATE, no DDL (it owns nothing, so it cannot drop or
    disable the append-only triggers either). Give each analyst a login in it:
    `CREATE ROLE ana LOGIN PASSWORD '…' IN ROLE forecast_analyst`."""
    s = f'"{schema}"'
    return [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{group}') THEN CREATE ROLE {group} NOLOGIN; END IF; END $$",
        f"GRANT USAGE ON SCHEMA {s} TO {group}",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {group}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {group}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT ON TABLES TO {group}",
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
