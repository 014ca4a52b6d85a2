"""The PostgreSQL driver under `backend.Db` (issue 13): SQLAlchemy 2 Core over psycopg 3, from
the `forecast[postgres]` extra (imported only when a store's URL is postgresql://).

SQL arrives with `?` placeholders; each statement text becomes a SQLAlchemy `text()` with named
binds once (cached). Writers take a transaction-scoped advisory lock, so they queue as SQLite's
do and every decision a writer makes (is this content stored already?) holds until it commits;
readers never wait. Streams use a server-side cursor."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import psycopg  # noqa: F401  (missing: backend.connect says which extra to install)
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from forecaster.store.backend import Db, Dialect, DriverError, Result, Target
from forecaster.store.migrations import KEEP_TIMES

WRITE_LOCK = 0x46435354  # "FCST": the advisory lock every writer holds for its transaction
CONNECT_TIMEOUT_S = 10
# psycopg logs "error ignored terminating <psycopg.Pipeline [BAD]>: the connection is lost" (and
# SQLAlchemy's pool a failed reset) when the server drops a connection: with no handler configured
# that reached stderr as a second line after our own (issue 20). Our one line says it all.
for _name in ("psycopg", "sqlalchemy"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
_DISCONNECT = (
    "server closed the connection", "terminating connection", "connection is closed", "consuming input failed",
    "the connection is lost", "connection not open", "ssl connection has been closed", "sending query failed",
)


def _error(e: sa_exc.DBAPIError) -> DriverError:
    orig = e.orig if e.orig is not None else e
    low = str(orig).lower()
    state = getattr(orig, "sqlstate", None) or ""
    return DriverError(
        orig,
        busy=state in ("40001", "40P01"),  # serialization failure, deadlock: retried
        disconnect=bool(e.connection_invalidated) or state.startswith("08") or state == "57P01" or any(s in low for s in _DISCONNECT),
        integrity=isinstance(e, sa_exc.IntegrityError),
    )


@lru_cache(maxsize=512)
def _statement(sql: str) -> tuple[sa.TextClause, tuple[str, ...]]:
    """`?` placeholders -> named binds :p0, :p1 …; a literal colon (a ::cast) is escaped."""
    names: list[str] = []

    def bind(_m: re.Match[str]) -> str:
        names.append(f"p{len(names)}")
        return ":" + names[-1]

    return sa.text(re.sub(r"\?", bind, sql.replace(":", r"\:"))), tuple(names)


class PostgresDb(Db):
    dialect: Dialect = "postgresql"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self._engine = sa.create_engine(
            target.url.replace("postgresql://", "postgresql+psycopg://", 1),
            poolclass=sa.pool.NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "forecast"},
        )
        try:
            self.conn = self._engine.connect()
        except sa_exc.DBAPIError as e:
            self._engine.dispose()
            raise _error(e) from None

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except sa_exc.DBAPIError as e:
            raise _error(e) from None

    def _keys(self, cursor: Any) -> list[str]:
        return list(cursor.keys())

    def execute(self, sql: str, params: Sequence[Any] = (), *, stream: bool = False) -> Result:
        stmt, names = _statement(sql)
        options = {"stream_results": True, "max_row_buffer": 1000} if stream else None
        bound = dict(zip(names, params, strict=True))
        return Result(self, self._call(lambda: self.conn.execute(stmt, bound, execution_options=options)))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            stmt, names = _statement(sql)
            self._call(lambda: self.conn.execute(stmt, [dict(zip(names, r, strict=True)) for r in rows]))

    def driver_sql(self, sql: str) -> None:
        self._call(lambda: self.conn.exec_driver_sql(sql))

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction()

    def begin_write(self) -> None:
        self._call(self.conn.begin)
        self.writing_tx = True
        self.driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    def begin_read(self) -> None:
        self._call(self.conn.begin)
        self.driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def commit(self) -> None:
        self.writing_tx = False
        self._call(self.conn.commit)

    def rollback(self) -> None:
        self.writing_tx = False
        self._call(self.conn.rollback)

    def now(self) -> dt.datetime:
        t = self.execute("SELECT pg_catalog.clock_timestamp()").scalar_one()
        return t.astimezone(dt.UTC)

    def keep_times(self) -> None:
        self.execute("SELECT pg_catalog.set_config(?, 'on', true)", (KEEP_TIMES,)).close()

    def unreadable_store(self) -> str | None:
        """The schema on this login's search_path that holds a forecast store it has no grant to
        read (issue 20: such a login sees no tables at all, as if there were no store), or None."""
        row = self.execute(
            "SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'schema_migrations' AND n.nspname = ANY(pg_catalog.string_to_array(pg_catalog.replace(pg_catalog.replace("
            "pg_catalog.replace(pg_catalog.current_setting('search_path'), '\"', ''), ' ', ''), '$user', session_user), ',')) "
            "AND NOT (pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT')) LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def tables(self) -> list[str]:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name"
        return [r[0] for r in self.execute(sql).fetchall()]

    @property
    def raw(self) -> Any:
        return self.conn.connection.dbapi_connection

    def close(self) -> None:
        with contextlib.suppress(sa_exc.DBAPIError):  # a dropped connection: nothing left to close
            self.conn.close()
        self._engine.dispose()
