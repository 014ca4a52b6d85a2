"""Where a store lives (issue 13): a file path or URL -> one connection, for embedded SQLite (the
zero-set-up default) or a PostgreSQL team server, behind one small `Db`.

Everything above this module writes SQL once, with `?` placeholders as sqlite3 takes them, and
runs it through `Db`: `execute`, `executemany`, `begin_write`, `begin_read`, `commit`,
`rollback`, `tables`. Two drivers sit under it: `SqliteDb` on the standard library's sqlite3,
and `pg.PostgresDb` on SQLAlchemy 2 Core with psycopg 3 (the `forecast[postgres]` extra; its
`text()` statements with named binds, compiled once each). SQLite does not go through
SQLAlchemy: importing it doubles the start-up of `forecast event add` (measured: ~0.3 s -> ~0.7 s
of CPU on the shared CI box; target 0.5 s), and a file store must work without the extra. The
drivers' errors become `DriverError` (busy? disconnected?), and `connection_error` turns those
into one line that says what to do: the extra is missing, the server is down, the login is
refused, the connection dropped. The only dialect-specific SQL lives in `migrations.py` (DDL and
triggers) and in the drivers (locks, the list of tables).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from forecaster.core.errors import StoreError, UsageError
from forecaster.core.text import hide_secrets
from forecaster.store.records import BUSY_TIMEOUT_S, utcnow

Dialect = Literal["sqlite", "postgresql"]
POSTGRES_EXTRA = "PostgreSQL stores need the postgres extra: pip install 'forecast[postgres]'"


@dataclass(frozen=True)
class Target:
    """A store's address: `dialect`, the URL, the file (SQLite) and a name for messages (the URL
    without its password)."""

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

    @property
    def server(self) -> str:
        u = urllib.parse.urlsplit(self.url)
        return f"{u.hostname or 'localhost'}:{u.port or 5432}"

    @property
    def user(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).username or "")

    @property
    def database(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.lstrip("/"))


def parse_target(value: str | Path) -> Target:
    """A file path, `sqlite:///path` or `postgresql://user[:password]@host[:port]/dbname[?…]`."""
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
        url = "postgresql://" + rest
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 (validates it)
        except ValueError as e:
            raise UsageError(f"--db {hide_password(text)!r}: not a PostgreSQL URL ({e})") from None
        if not parts.path.strip("/"):
            raise UsageError(f"--db {hide_password(text)!r}: no database name; expected postgresql://user@host:port/dbname")
        return Target("postgresql", url, None, hide_password(url))
    raise UsageError(f"--db {hide_password(text)!r}: unknown scheme {scheme!r}; expected a file path, sqlite:/// or postgresql://")


def _file(path: Path) -> Target:
    return Target("sqlite", "sqlite:///" + str(path), path, str(path))


def hide_password(text: str) -> str:
    """The URL with its password (user:PW@ or ?password=PW) shown as ***."""
    return hide_secrets(text)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class DriverError(Exception):
    """A driver's error, either backend: `busy` (wait and retry), `disconnect` (the server ended
    the session: it rolled back whatever was open), `integrity` (a constraint or trigger said no)."""

    def __init__(self, orig: BaseException, *, busy: bool = False, disconnect: bool = False, integrity: bool = False) -> None:
        text = str(orig).strip()
        super().__init__(text.splitlines()[0] if text else type(orig).__name__)
        self.orig = orig
        self.busy = busy
        self.disconnect = disconnect
        self.integrity = integrity


def _secrets(url: str) -> list[str]:
    """The password in a URL and, longest first, the pieces a driver may quote of it (a password
    holding an unescaped @ is split there: libpq then names the rest as part of the host)."""
    parts = urllib.parse.urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    given = [userinfo.partition(":")[2]] if ":" in userinfo else []
    given += urllib.parse.parse_qs(parts.query).get("password", []) + urllib.parse.parse_qs(parts.query).get("sslpassword", [])
    pieces = {p for g in given for p in [g, urllib.parse.unquote(g), *g.split("@")] if len(p) >= 3}
    return sorted(pieces, key=len, reverse=True)


def mask(target: Target, text: str) -> str:
    """`text` with the target's password (and any piece of it) shown as ***."""
    for secret in _secrets(target.url):
        text = text.replace(secret, "***")
    return hide_secrets(text)


def connection_error(target: Target, what: str, e: DriverError) -> StoreError:
    """A driver's error as one line that says what to do (never quoting the password)."""
    error = _connection_error(target, what, e)
    return StoreError(mask(target, str(error)))


def _connection_error(target: Target, what: str, e: DriverError) -> StoreError:
    msg, low = str(e), str(e.orig).lower()
    if target.is_file:
        return StoreError(f"{target.shown}: {what} failed: {msg}")
    server, user = target.server, target.user
    if "password authentication failed" in low or "no password supplied" in low or "authentication failed" in low:
        return StoreError(f"{target.shown}: the server {server} refused the login for user {user!r} (check the user and password)")
    if "pg_hba.conf" in low:
        return StoreError(f"{target.shown}: the server {server} refuses connections for user {user!r} from this host (pg_hba.conf)")
    if "does not exist" in low and "database" in low:
        return StoreError(f"{target.shown}: the server {server} has no database {target.database!r} (create it with createdb)")
    if e.disconnect:
        return StoreError(
            f"{target.shown}: lost the connection to the server while {what}; the server rolled the transaction back, "
            "so none of it was written"
        )
    if "ssl" in low or "tls" in low or "certificate" in low:
        return StoreError(f"{target.shown}: the TLS (SSL) connection to {server} failed: {msg} (check sslmode and the certificates)")
    if "timeout expired" in low or "timed out" in low:
        return StoreError(f"{target.shown}: the server {server} did not answer within the connection timeout; "
                          "check the host, the port and any firewall between")
    if "statement timeout" in low or "canceling statement due to" in low or "lock timeout" in low:
        return StoreError(f"{target.shown}: {what} took longer than the server allows ({msg}); nothing was written")
    if "connection refused" in low or "could not connect" in low or "connection failed" in low or "timeout" in low:
        return StoreError(f"{target.shown}: cannot reach the PostgreSQL server at {server} (is it running?)")
    if "permission denied to create role" in low:
        return StoreError(f"{target.shown}: login {user!r} may not create roles (it lacks CREATEROLE): the DBA creates the "
                          "group role once (CREATE ROLE forecast_analyst NOLOGIN), then run this again")
    if "permission denied" in low:
        return StoreError(f"{target.shown}: {what} failed: {msg}: login {user!r} has no grant for it; ask the store's owner "
                          "(an analyst's login may read and add reports, resolutions and runs, nothing more)")
    return StoreError(f"{target.shown}: {what} failed: {msg}")


# ---------------------------------------------------------------------------------------------
# One connection, either backend
# ---------------------------------------------------------------------------------------------


class Result:
    """Rows of one statement, read as the driver delivers them; driver errors as DriverError."""

    def __init__(self, db: Db, cursor: Any) -> None:
        self._db = db
        self._cursor = cursor

    def fetchone(self) -> Any:
        return self._db._call(self._cursor.fetchone)

    def fetchall(self) -> list[Any]:
        return list(self._db._call(self._cursor.fetchall))

    def fetchmany(self, n: int) -> list[Any]:
        return list(self._db._call(lambda: self._cursor.fetchmany(n)))

    def __iter__(self) -> Iterator[Any]:
        while True:
            rows = self.fetchmany(1000)
            if not rows:
                return
            yield from rows

    def scalar_one(self) -> Any:
        rows = self.fetchall()
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)}")
        return rows[0][0]

    def keys(self) -> list[str]:
        return self._db._keys(self._cursor)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._cursor.close()


class Db:
    """One connection to a store. `execute(sql, params)` with `?` placeholders, as sqlite3 takes
    them, on either backend; `dialect` for the rare SQL that differs. Subclasses: the drivers."""

    dialect: Dialect

    def __init__(self, target: Target) -> None:
        self.target = target
        self.writing_tx = False  # a write transaction is open

    # the driver's part
    def _call(self, fn: Any) -> Any:
        raise NotImplementedError

    def _keys(self, cursor: Any) -> list[str]:
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = (), *, stream: bool = False) -> Result:
        """`stream`: rows fetched as read (a server-side cursor on PostgreSQL), not all at once."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def driver_sql(self, sql: str) -> None:
        """DDL and PL/pgSQL bodies, passed to the driver untouched (no binds)."""
        raise NotImplementedError

    @property
    def in_transaction(self) -> bool:
        raise NotImplementedError

    def begin_write(self) -> None:
        """Open a write transaction that writers queue for (readers never wait)."""
        raise NotImplementedError

    def begin_read(self) -> None:
        """Open a read-only transaction that sees one state of the store throughout."""
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def tables(self) -> list[str]:
        raise NotImplementedError

    def unreadable_store(self) -> str | None:
        """Where a store this login may not read lies (a server's schema), or None (see pg)."""
        return None

    def now(self) -> dt.datetime:
        """The store's clock (UTC): this machine's for a file; the server's for a server store,
        whose triggers stamp every row with it (m008), so what a writer returns is what it stored."""
        return utcnow()

    def keep_times(self) -> None:
        """For this write transaction, the times (and logins) given are kept (m008): the owner's
        `db copy` only; for anyone else the server's triggers stamp them still. A file keeps them."""

    @property
    def raw(self) -> Any:
        """The driver's own connection (tests, tools)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _sqlite_error(e: sqlite3.Error) -> DriverError:
    msg = str(e).lower()
    busy = isinstance(e, sqlite3.OperationalError) and ("database is locked" in msg or "busy" in msg)
    return DriverError(e, busy=busy, integrity=isinstance(e, sqlite3.IntegrityError))


class SqliteDb(Db):
    """The standard library's sqlite3, in autocommit mode: transactions are ours (BEGIN IMMEDIATE
    for writers, so they queue instead of deadlocking; WAL, so readers never wait)."""

    dialect: Dialect = "sqlite"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        assert target.path is not None
        try:
            self._conn = sqlite3.connect(target.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise _sqlite_error(e) from None
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            # Up to 64 MiB of page cache (taken only as used): a large import into a large store
            # touches pages all over the unique indexes, and a small cache turns that into disk I/O.
            self._conn.execute("PRAGMA cache_size = -65536")
            if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.Error as e:
            self._conn.close()
            raise _sqlite_error(e) from None

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except sqlite3.Error as e:
            raise _sqlite_error(e) from None

    def _keys(self, cursor: Any) -> list[str]:
        return [d[0] for d in cursor.description or ()]

    def execute(self, sql: str, params: Sequence[Any] = (), *, stream: bool = False) -> Result:
        # Outside a transaction a statement is its own (autocommit); begin_read/begin_write span several.
        return Result(self, self._call(lambda: self._conn.execute(sql, tuple(params))))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._call(lambda: self._conn.executemany(sql, rows))

    def driver_sql(self, sql: str) -> None:
        self._call(lambda: self._conn.execute(sql))

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def begin_write(self) -> None:
        self._call(lambda: self._conn.execute("BEGIN IMMEDIATE"))
        self.writing_tx = True

    def begin_read(self) -> None:
        self._call(lambda: self._conn.execute("BEGIN"))

    def commit(self) -> None:
        self.writing_tx = False
        if self._conn.in_transaction:
            self._call(lambda: self._conn.execute("COMMIT"))

    def rollback(self) -> None:
        self.writing_tx = False
        if self._conn.in_transaction:
            self._call(lambda: self._conn.execute("ROLLBACK"))

    def tables(self) -> list[str]:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        return [r[0] for r in self._call(lambda: self._conn.execute(sql).fetchall())]

    @property
    def raw(self) -> Any:
        return self._conn

    def close(self) -> None:
        self._conn.close()
