"""Where a store lives (issue 13): a file path or URL -> one SQLAlchemy 2 Core connection, for
embedded SQLite (the zero-set-up default) or a PostgreSQL team server, behind one small `Db`.

Everything above this module writes SQL once, with `?` placeholders as sqlite3 takes them; `Db`
turns it into a SQLAlchemy `text()` statement with named binds (cached, so each is compiled once),
runs it on the backend's driver (sqlite3, or psycopg 3 from the `forecast[postgres]` extra) and
turns the drivers' errors into one-line `StoreError`s: the extra is missing, the server is down,
the login is refused, the connection dropped. The only dialect-specific SQL lives in
`migrations.py` (DDL and triggers) and in the few `Db` helpers below (locks, the schema).
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from forecaster.core.errors import StoreError, UsageError
from forecaster.store.records import BUSY_TIMEOUT_S

Dialect = Literal["sqlite", "postgresql"]
WRITE_LOCK = 0x46435354  # "FCST": the PostgreSQL advisory lock every writer holds for its transaction
CONNECT_TIMEOUT_S = 10
POSTGRES_EXTRA = "PostgreSQL stores need the postgres extra: pip install 'forecast[postgres]'"


@dataclass(frozen=True)
class Target:
    """A store's address: `dialect`, the SQLAlchemy URL, the file (SQLite) and a name for messages
    (the URL without its password)."""

    dialect: Dialect
    url: str
    path: Path | None
    shown: str

    @property
    def is_file(self) -> bool:
        return self.dialect == "sqlite"

    def exists(self) -> bool:
        """A file store exists when its file does; a server store always might (opening says)."""
        return self.path.exists() if self.path is not None else True


def parse_target(value: str | Path) -> Target:
    """A file path, `sqlite:///path` or `postgresql://user[:password]@host[:port]/dbname`."""
    if isinstance(value, Path):
        return _file(value)
    text = value.strip()
    if "://" not in text:
        if not text:
            raise UsageError("--db: empty; give a file path, sqlite:///PATH or postgresql://user@host:port/dbname")
        return _file(Path(text).expanduser())
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise UsageError(f"--db {text!r}: expected sqlite:///PATH (three slashes, then the file)")
        return _file(Path(urllib.parse.unquote(rest[1:])).expanduser())
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        try:
            url = sa.engine.make_url("postgresql+psycopg://" + rest)
        except sa_exc.ArgumentError as e:
            raise UsageError(f"--db: not a PostgreSQL URL ({e}); expected postgresql://user@host:port/dbname") from None
        if not url.database:
            raise UsageError(f"--db {_hide(text)!r}: no database name; expected postgresql://user@host:port/dbname")
        shown = url.set(drivername="postgresql").render_as_string(hide_password=True)
        return Target("postgresql", url.render_as_string(hide_password=False), None, shown)
    raise UsageError(f"--db {_hide(text)!r}: unknown scheme {scheme!r}; expected a file path, sqlite:/// or postgresql://")


def _file(path: Path) -> Target:
    return Target("sqlite", "sqlite+pysqlite:///" + str(path), path, str(path))


def _hide(text: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", text)


# ---------------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------------


def _sqlite_engine(target: Target) -> sa.Engine:
    engine = sa.create_engine(
        target.url,
        poolclass=sa.pool.NullPool,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # the driver's own transaction handling off: we BEGIN ourselves
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        # Up to 64 MiB of page cache (taken only as used): a large import into a large store
        # touches pages all over the unique indexes, and a small cache turns that into disk I/O.
        cursor.execute("PRAGMA cache_size = -65536")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # A writer takes the write lock at once, so writers queue instead of deadlocking.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("writing") else "BEGIN")

    return engine


def _postgres_engine(target: Target) -> sa.Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(f"{target.shown}: {POSTGRES_EXTRA}") from None
    return sa.create_engine(
        target.url,
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "forecast"},
    )


def connect(target: Target) -> Db:
    """One connection to the store (no transaction open)."""
    engine = _sqlite_engine(target) if target.is_file else _postgres_engine(target)
    try:
        conn = engine.connect()
    except sa_exc.DBAPIError as e:
        engine.dispose()
        if target.is_file and isinstance(e, sa_exc.OperationalError):
            raise  # busy (e.g. another process switching to WAL): EventStore._retry waits it out
        raise connection_error(target, "connecting", e) from None
    return Db(conn, target)


def connection_error(target: Target, what: str, e: sa_exc.DBAPIError) -> StoreError:
    """The drivers' errors as one line that says what to do."""
    orig = e.orig if e.orig is not None else e
    msg = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = str(orig).lower()
    if target.is_file:
        return StoreError(f"{target.shown}: {what} failed: {msg}")
    url = sa.engine.make_url(target.url)
    server = f"{url.host or 'localhost'}:{url.port or 5432}"
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return StoreError(f"{target.shown}: the server {server} refused the login for user {url.username!r} (check the user and password)")
    if "pg_hba.conf" in low:
        return StoreError(f"{target.shown}: the server {server} refuses connections for user {url.username!r} from this host (pg_hba.conf)")
    if "does not exist" in low and "database" in low:
        return StoreError(f"{target.shown}: the server {server} has no database {url.database!r} (create it with createdb)")
    if "connection refused" in low or "could not connect" in low or "connection failed" in low or "timeout" in low:
        return StoreError(f"{target.shown}: cannot reach the PostgreSQL server at {server} (is it running?)")
    if _is_disconnect(e):
        return StoreError(
            f"{target.shown}: lost the connection to the server while {what}; the server rolled the transaction back, "
            "so none of it was written"
        )
    if "permission denied" in low:
        return StoreError(f"{target.shown}: {what} failed: {msg} (this login may only insert and read)")
    return StoreError(f"{target.shown}: {what} failed: {msg}")


def _is_disconnect(e: sa_exc.DBAPIError) -> bool:
    if e.connection_invalidated:
        return True
    low = str(e.orig).lower()
    return any(
        s in low
        for s in ("server closed the connection", "terminating connection", "connection is closed", "consuming input failed",
                  "the connection is lost", "connection not open", "ssl connection has been closed", "sending query failed")
    )


# ---------------------------------------------------------------------------------------------
# Running SQL on either backend
# ---------------------------------------------------------------------------------------------

_QMARK = re.compile(r"\?")


@lru_cache(maxsize=512)
def _statement(sql: str) -> tuple[sa.TextClause, tuple[str, ...]]:
    """`?` placeholders -> SQLAlchemy named binds :p0, :p1 …; compiled once per statement text."""
    names: list[str] = []

    def bind(_m: re.Match[str]) -> str:
        names.append(f"p{len(names)}")
        return ":" + names[-1]

    # text() reads :name as a bind; a literal colon (none in our SQL but casts) is escaped.
    body = _QMARK.sub(bind, sql.replace("::", r"\:\:"))
    return sa.text(body), tuple(names)


class Db:
    """One connection to a store. `execute(sql, params)` with `?` placeholders, as sqlite3 takes
    them, on either backend; `dialect` for the rare SQL that differs."""

    def __init__(self, conn: sa.Connection, target: Target) -> None:
        self.conn = conn
        self.target = target
        self.dialect: Dialect = target.dialect
        self.writing_tx = False  # a write transaction is open (not on conn.info: a dropped connection has none)

    def execute(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (), *, stream: bool = False
    ) -> Any:  # a CursorResult (its type parameters differ between SQLAlchemy 2.0 and 2.1)
        """`stream`: rows fetched as read (a server-side cursor on PostgreSQL), not all at once."""
        options = {"stream_results": True, "max_row_buffer": 1000} if stream else None
        if isinstance(params, Mapping):
            return self.conn.execute(sa.text(sql), dict(params), execution_options=options)
        stmt, names = _statement(sql)
        return self.conn.execute(stmt, dict(zip(names, params, strict=True)), execution_options=options)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        stmt, names = _statement(sql)
        self.conn.execute(stmt, [dict(zip(names, r, strict=True)) for r in rows])

    def driver_sql(self, sql: str) -> None:
        """DDL and PL/pgSQL bodies, passed to the driver untouched (no binds)."""
        self.conn.exec_driver_sql(sql.replace("%", "%%") if self.dialect == "postgresql" else sql)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction()

    def begin_write(self) -> None:
        """Open a write transaction: SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory write lock
        (writers queue, as on SQLite; readers never wait)."""
        self.conn.info["writing"] = True
        try:
            self.conn.begin()
        finally:
            self.conn.info["writing"] = False
        self.writing_tx = True
        if self.dialect == "postgresql":
            self.conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    def commit(self) -> None:
        self.writing_tx = False
        self.conn.commit()

    def rollback(self) -> None:
        self.writing_tx = False
        self.conn.rollback()

    def tables(self) -> list[str]:
        """The tables of the store (SQLite: the file; PostgreSQL: the first schema on the search path)."""
        if self.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        else:
            sql = (
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                "ORDER BY table_name"
            )
        return [r[0] for r in self.execute(sql)]

    def close(self) -> None:
        with contextlib.suppress(sa_exc.DBAPIError):  # a dropped connection: nothing left to close
            self.conn.close()
        self.conn.engine.dispose()
