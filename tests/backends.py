"""Both store backends for the tests (issue 13): SQLite always; PostgreSQL when FORECAST_TEST_PG
names a server (`.ci/pg start DIR` starts a throwaway one and prints its URL). Without it the
PostgreSQL half skips and says why; in CI (CI=1) a missing server fails the run instead.

Every PostgreSQL store is a fresh schema of that database (`?options=-csearch_path=…` in its URL),
dropped after the test, so tests never see each other's rows."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

PG_ENV = "FORECAST_TEST_PG"
BACKENDS = ("sqlite", "postgresql")


def pg_server() -> str:
    """The test server's URL, or skip (fail in CI) saying why."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        why = f"no PostgreSQL server for the tests: set {PG_ENV}=postgresql://user:password@127.0.0.1:PORT/DB (.ci/pg start DIR prints one)"
        if os.environ.get("CI"):
            pytest.fail(f"CI=1 and {why}")
        pytest.skip(why)
    try:
        import psycopg
    except ImportError:
        pytest.fail("FORECAST_TEST_PG is set but psycopg is not installed: pip install -e '.[test]'")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as e:
        msg = f"{PG_ENV} is set but the server does not answer: {str(e).strip().splitlines()[0]}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return url


def with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


class Backend:
    """Stores of one backend: `new_store()` gives the address of a fresh, migrated store."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.server = pg_server() if name == "postgresql" else ""
        self.schemas: list[str] = []

    @property
    def is_pg(self) -> bool:
        return self.name == "postgresql"

    def new_store(self, label: str = "forecast", *, upgrade: bool = True) -> str:
        if not self.is_pg:
            return str(self.tmp_path / f"{label}.db")
        schema = f"t_{label}_{uuid.uuid4().hex[:10]}".lower()
        with self.admin() as db:
            db.execute(f"CREATE SCHEMA {schema}")
        self.schemas.append(schema)
        url = with_schema(self.server, schema)
        if upgrade:
            from forecaster.store.events import EventStore

            EventStore(url, upgrade=True).close()
        return url

    @contextlib.contextmanager
    def admin(self) -> Generator[Any, None, None]:
        """An autocommit connection to the server as its superuser (PostgreSQL only)."""
        import psycopg

        conn = psycopg.connect(self.server, autocommit=True)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def raw(self, store: str) -> Generator[Any, None, None]:
        """A plain driver connection to a store, autocommit: sqlite3 or psycopg, around forecast."""
        if self.is_pg:
            import psycopg

            conn: Any = psycopg.connect(store, autocommit=True)
        else:
            conn = sqlite3.connect(store, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What the driver raises when the database refuses a statement."""
        if self.is_pg:
            import psycopg

            return (psycopg.Error,)
        return (sqlite3.DatabaseError,)

    def cleanup(self) -> None:
        if not self.schemas:
            return
        with self.admin() as db:
            for schema in self.schemas:
                db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
