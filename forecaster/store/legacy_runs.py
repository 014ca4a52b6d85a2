"""The run log before the store (issues 4, 12, 13): records of the JSON-file log (runs/RUN_ID.json)
and NetCDF draws a store from before issue 13 kept in runs/, moved into the store once.

Only files the tool wrote are read or removed: RUN_ID.json or RUN_ID.nc, a regular file of this
user, named by its run id (and, for the JSON log, an id that is the hash of the inputs it records),
and only into the workspace's own store (forecast.db in its folder), whose log they were."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.core.workspace import DB_NAME
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.records import parse_time
from forecaster.store.runs import _RUN_ID, NewRun, _own_file, netcdf_name, record_runs, recorded_ids

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace


def adopt_netcdf_files(ws: Workspace, store: EventStore) -> int:
    """Move the draws of runs recorded before they lived in the store (runs/RUN_ID.nc, named by
    the record) into it; a record naming a file long pruned forgets it. Returns how many moved.
    The files stay, as exports."""
    rows = store._read(
        "reading runs",
        "SELECT r.run_id, r.netcdf FROM runs r LEFT JOIN run_draws d ON d.run_id = r.run_id "
        "WHERE r.netcdf IS NOT NULL AND d.run_id IS NULL",
    )
    if not rows:
        return 0
    # Only the file a record names by the one name the tool gives it, a regular file of this user.
    found = {
        rid: ws.runs_dir / name
        for rid, name in rows
        if name == netcdf_name(rid) and _RUN_ID.match(rid) and _own_file(ws.runs_dir / name) is not None
    }

    def move(db: Db) -> None:
        for rid, path in found.items():
            raw = path.read_bytes()
            db.execute(
                "INSERT INTO run_draws (run_id, encoding, size, sha256, data) VALUES (?, 'netcdf+gzip', ?, ?, ?)",
                (rid, len(raw), hashlib.sha256(raw).hexdigest(), gzip.compress(raw, 6, mtime=0)),
            )
        db.executemany("UPDATE runs SET netcdf = NULL WHERE run_id = ?", [(rid,) for rid, _ in rows if rid not in found])

    store._write("moving draws into the store", move)
    return len(found)


def import_json_runs(ws: Workspace, store: EventStore) -> int:
    """Move run records of the JSON-file log (runs/RUN_ID.json) into the store; returns how many.
    Draws that still live in runs/ (a store from before issue 13) move in too.

    Only the workspace's own store (forecast.db in it) takes them: the JSON log predates --db
    stores and server stores. Only a file the tool wrote is read: RUN_ID.json, a regular file of
    this user, whose run id is the hash of the inputs it records. Each is deleted once its record
    is committed; any other file is neither read nor removed."""
    if not _workspace_store(ws, store):
        return 0
    adopt_netcdf_files(ws, store)
    runs_dir = ws.runs_dir
    if not runs_dir.is_dir():
        return 0
    files = sorted(f for f in runs_dir.glob("*.json") if _RUN_ID.match(f.stem) and _own_file(f) is not None)
    if not files:
        return 0
    from forecaster.inference.update import UpdateResult

    items: list[NewRun] = []
    moved: list[Path] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            result = UpdateResult.from_json(data)
            recorded = parse_time(data["recorded_at"]) if data.get("recorded_at") else None
        except (OSError, RecursionError, json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError):
            continue
        if not _is_own_run(f, result):
            continue
        nc = runs_dir / netcdf_name(result.run_id)
        items.append(
            NewRun(
                result,
                kind="update",
                evidence="unknown",
                settings={"sampler": result.diagnostics.sampler},
                recorded_at=recorded,
                draws=nc.read_bytes() if nc.is_file() else None,
            )
        )
        moved.append(f)
    known = recorded_ids(store, [i.result.run_id for i in items])
    record_runs(store, [i for i in items if i.result.run_id not in known])
    for f in moved:
        f.unlink(missing_ok=True)
    return len(items) - len(known)


def _workspace_store(ws: Workspace, store: EventStore) -> bool:
    """Whether `store` is the workspace's own file store (forecast.db in its folder)."""
    if store.path is None:
        return False
    try:
        return store.path.resolve() == (ws.root / DB_NAME).resolve()
    except (OSError, RuntimeError):
        return False


def _is_own_run(f: Path, result: Any) -> bool:
    """A run file the tool wrote: named by its run id, and that id is the hash of the inputs the
    file records (as run_id_for computes it, with the version that wrote it)."""
    key = "|".join([result.priors_hash, result.events_hash, result.as_of.isoformat(), str(result.seed), result.settings_hash, result.version])
    return bool(f.stem == result.run_id == hashlib.sha256(key.encode()).hexdigest()[:12])
