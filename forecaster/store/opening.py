"""Before a byte is written to an existing SQLite file: is it ours? (issue 3) The header, then
the schema through a read-only connection; a file of another program, a corrupt one or a text
file is refused and left untouched. Server stores are checked by `EventStore._applied`."""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from pathlib import Path

from forecaster.core.errors import StoreError
from forecaster.store.migrations import APPLICATION_ID
from forecaster.store.records import BUSY_TIMEOUT_S, SQLITE_MAGIC


class FileBusy(Exception):
    """Another process is setting the file up: retried (EventStore._retry), never shown."""


def inspect_file(path: Path) -> None:
    """Refuse a file that is not ours: check the header, then the schema (read-only)."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as e:
        raise StoreError(f"cannot read the event store {path}: {e.strerror}") from None
    if not header:
        return  # an empty file is an empty SQLite database: ours to set up
    if not header.startswith(SQLITE_MAGIC) or len(header) < 100:
        raise StoreError(f"{path} is not a forecast event store: not an SQLite database (left untouched)")
    if int.from_bytes(header[68:72], "big") == APPLICATION_ID:
        return
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
    try:
        ro = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            app_id = ro.execute("PRAGMA application_id").fetchone()[0]
            tables = [r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        finally:
            ro.close()
    except sqlite3.OperationalError as e:
        msg = str(e).lower()
        if "locked" in msg or "busy" in msg:
            raise FileBusy(str(path)) from None
        raise StoreError(f"{path} is not a readable forecast event store ({e}); left untouched") from None
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is corrupt or not a forecast event store ({e}); left untouched") from None
    if app_id == APPLICATION_ID or not tables:
        return
    shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
    raise StoreError(
        f"{path} is an SQLite database of another program (tables: {shown}), not a forecast event store; "
        "left untouched — choose another file with --db"
    )


def tighten(path: Path) -> None:
    """The store is private (0600) whatever the umask was: a file of ours (and its WAL and shared
    memory files) opened to the group or the world is closed again."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = p.stat()
            if st.st_uid == os.getuid() and st.st_mode & 0o077:
                os.chmod(p, st.st_mode & 0o700)
        except (OSError, AttributeError):
            continue
