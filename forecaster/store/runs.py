"""The run log (issue 4): every `forecast update` recorded in the event store, next to the reports.

A run record holds what a reviewer needs to trust or reproduce a forecast: the run id (a hash of
every input, `inference.run_id_for`), when it was recorded, the as-of date and evidence window,
the priors hash, the ids of the reports used and their hash, the package version, the seed, the
sampler settings, every state's prior, posterior and interval, the diagnostics and the wall time.
The whole `UpdateResult` is kept as JSON too, so an identical update is answered from the record
without sampling (and without importing pymc). A sampled run's ArviZ InferenceData is kept IN the
store too (issue 13: gzip-compressed NetCDF bytes, table `run_draws`), so every member of a team
reads it from the server; `runs export ID` writes `runs/RUN_ID.nc`; `prune` drops old draws and,
with `--records`, old records — of this store only.

Tables (migrations `m002_runs`, `m006_run_draws`): `runs` (one row per run), `run_states` (one row
per hypothesis state, for SQL over the history), `run_reports` (which reports each run used) and
`run_draws`. A run id names its inputs, so recording the same run again (`--force`) replaces the
record; `runs.netcdf` names the export file when the store holds the run's draws.

**Backfill** (`forecast history --backfill weekly`): the weekly series the evidence implies by
event time, on the exact engine, one point per ISO week (its Sunday, or the as-of date in the
last week) from the week of the first report. The points are runs like any other, with
`kind = 'backfill'` and `evidence = 'store-event-time'`; their settings hash includes
`series: weekly`, so a point never shares a run id with an update that happens to see the same
reports. History and the brief's trend chart read both kinds.

Nothing here prints; `forecaster.cli.runs` renders.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import math
import os
import re
import stat
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.core.errors import StoreError, UsageError
from forecaster.core.text import hide_secrets
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.migrations import EVIDENCE, KINDS
from forecaster.store.records import date_range, format_time, not_quarantined, parse_time, readable

if TYPE_CHECKING:
    from forecaster.core.workspace import Workspace
    from forecaster.inference.update import UpdateResult



# How the run chose its reports: from the store by recording time (the default), by event time
# (`--event-time`, backfill), from an events file (`--events`), or not known (imported JSON logs).
BACKFILL_SETTINGS: dict[str, Any] = {"sampler": "exact", "series": "weekly", "selection": "event-time"}
STALE_TEMP_S = 600  # a temp file older than this belongs to a killed writer, not a running one
_RUN_ID = re.compile(r"^[0-9a-f]{12}$")
# write_file's temp files: "." + RUN_ID.nc + "." + mkstemp's 8 characters + ".tmp"
_TEMP = re.compile(r"^\.([0-9a-f]{12})\.nc\.[A-Za-z0-9_]{8}\.tmp$")


def _own_file(path: Path) -> os.stat_result | None:
    """The file's stat if it is a regular file (not a link, folder, FIFO…) owned by this user."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return None
    return st


# ---------------------------------------------------------------------------------------------
# What a record holds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunState:
    hypothesis: str
    state: str
    prior: float
    posterior: float
    low: float | None  # the 90 % interval; None on the exact engine
    high: float | None
    exact: float


@dataclass(frozen=True)
class RunRecord:
    """One recorded run, without its full result (see `load_result`)."""

    run_id: str
    kind: str
    evidence: str
    recorded_at: dt.datetime
    as_of: dt.date
    window_start: dt.date
    priors_hash: str
    events_hash: str
    settings_hash: str
    settings: dict[str, Any]
    seed: int
    version: str
    sampler: str
    reports: int
    r_hat_max: float | None
    ess_min: float | None
    divergences: int
    wall_seconds: float
    netcdf: str | None
    previous_run_id: str | None
    states: tuple[RunState, ...] = field(default=())

    @property
    def sampled(self) -> bool:
        return self.sampler != "exact"

    @property
    def window_days(self) -> int:
        return (self.as_of - self.window_start).days

    def posterior(self, hypothesis: str, state: str) -> float | None:
        for s in self.states:
            if s.hypothesis == hypothesis and s.state == state:
                return s.posterior
        return None

    def posteriors(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for s in self.states:
            out.setdefault(s.hypothesis, {})[s.state] = s.posterior
        return out


_RUNS = not_quarantined("runs", "runs")  # the runs table less what its owner quarantined (m008)
_RUN_COLUMNS = (
    "run_id, kind, evidence, recorded_at, as_of, window_start, priors_hash, events_hash, settings_hash, settings, "
    "seed, version, sampler, reports, r_hat_max, ess_min, divergences, wall_seconds, netcdf, previous_run_id"
)


def _num(x: Any) -> float | None:
    """A finite float or None (SQLite has no NaN; JSON from ArviZ may hold one)."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _record(row: Sequence[Any], states: tuple[RunState, ...] = ()) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        kind=row[1],
        evidence=row[2],
        recorded_at=parse_time(row[3]),
        as_of=dt.date.fromisoformat(row[4]),
        window_start=dt.date.fromisoformat(row[5]),
        priors_hash=row[6],
        events_hash=row[7],
        settings_hash=row[8],
        settings=json.loads(row[9]),
        seed=row[10],
        version=row[11],
        sampler=row[12],
        reports=row[13],
        r_hat_max=row[14],
        ess_min=row[15],
        divergences=row[16],
        wall_seconds=row[17],
        netcdf=row[18],
        previous_run_id=row[19],
        states=states,
    )


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRun:
    """A computed run and how to label it in the log."""

    result: UpdateResult
    kind: str = "update"
    evidence: str = "store"
    settings: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float | None = None
    recorded_at: dt.datetime | None = None
    draws: bytes | None = None  # NetCDF bytes (`netcdf_bytes`), kept in the store compressed


def record_runs(store: EventStore, runs: Iterable[NewRun]) -> int:
    """Record runs in one transaction (all or none); a run id already recorded is replaced."""
    items = list(runs)
    for item in items:
        if item.kind not in KINDS:
            raise ValueError(f"unknown run kind {item.kind!r}")
        if item.evidence not in EVIDENCE:
            raise ValueError(f"unknown evidence selection {item.evidence!r}")
    def insert(db: Db) -> int:
        if any(item.recorded_at for item in items):
            db.keep_times()  # the owner's only: anyone else's run is stamped by the server (m008)
        now = db.now()
        for item in items:
            _insert(db, item, item.recorded_at or now)
        return len(items)

    return store._write("recording a run", insert)


def record_run(store: EventStore, run: NewRun) -> None:
    record_runs(store, [run])


def _insert(db: Db, item: NewRun, recorded_at: dt.datetime) -> None:
    r = item.result
    d = r.diagnostics
    data = r.to_json()
    # Replacing a record (--force) deletes the old one: only then, so that a login that may only
    # insert and read (the analyst role on PostgreSQL) records new runs.
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (r.run_id,)).fetchone():
        for table in ("run_draws", "run_states", "run_reports", "runs"):  # not left to ON DELETE CASCADE
            db.execute(f"DELETE FROM {table} WHERE run_id = ?", (r.run_id,))
    n_reports = len(r.report_ids) or sum(e.reports for e in r.evidence if e.kind == "indicator")
    db.execute(
        f"INSERT INTO runs ({_RUN_COLUMNS}, result) VALUES ({', '.join('?' * 21)})",
        (
            r.run_id,
            item.kind,
            item.evidence,
            format_time(recorded_at),
            r.as_of.isoformat(),
            r.window[0].isoformat(),
            r.priors_hash,
            r.events_hash,
            r.settings_hash,
            json.dumps(item.settings, sort_keys=True),
            r.seed,
            r.version,
            d.sampler,
            n_reports,
            _num(d.r_hat_max),
            _num(d.ess_min),
            d.divergences,
            float(d.seconds if item.wall_seconds is None else item.wall_seconds),
            netcdf_name(r.run_id) if item.draws is not None else None,
            r.previous_run_id,
            hide_secrets(json.dumps(data, ensure_ascii=False)),  # a warning quoting a store URL keeps no password
        ),
    )
    states = [(h, k, s) for h in r.hypotheses for k, s in enumerate(h.states)]
    db.executemany(
        "INSERT INTO run_states (run_id, hypothesis, state, position, prior, prior_low, prior_high, posterior, low, high, "
        "exact, ord) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                r.run_id,
                h.id,
                s.id,
                k,
                s.prior,
                _num(s.prior_interval[0]),
                _num(s.prior_interval[1]),
                s.posterior,
                _num(s.interval[0]),
                _num(s.interval[1]),
                s.exact,
                i,
            )
            for i, (h, k, s) in enumerate(states)
        ],
    )
    db.executemany(
        "INSERT INTO run_reports (run_id, report_id) VALUES (?, ?)", [(r.run_id, rid) for rid in dict.fromkeys(r.report_ids)]
    )
    if item.draws is not None:
        db.execute(
            "INSERT INTO run_draws (run_id, encoding, size, sha256, data) VALUES (?, 'netcdf+gzip', ?, ?, ?)",
            (r.run_id, len(item.draws), hashlib.sha256(item.draws).hexdigest(), gzip.compress(item.draws, 1, mtime=0)),
        )


def delete_runs(store: EventStore, run_ids: Iterable[str]) -> int:
    ids = list(run_ids)

    def delete(db: Db) -> int:
        for table in ("run_draws", "run_states", "run_reports", "runs"):
            db.executemany(f"DELETE FROM {table} WHERE run_id = ?", [(i,) for i in ids])
        return len(ids)

    return store._write("deleting runs", delete)


def _forget_draws(store: EventStore, run_ids: Iterable[str]) -> None:
    ids = [(i,) for i in run_ids]

    def forget(db: Db) -> None:
        db.executemany("DELETE FROM run_draws WHERE run_id = ?", ids)
        db.executemany("UPDATE runs SET netcdf = NULL WHERE run_id = ?", ids)

    store._write("pruning draws", forget)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def load_result(store: EventStore, run_id: str) -> UpdateResult | None:
    """The full result of a recorded run (no sampling), or None. Whoever recorded it: to reuse
    one as an update's answer, `load_trusted` says whether this login may take it on trust."""
    return load_trusted(store, run_id)[0]


# Who may be taken on trust (issue 20): a run recorded by this login, or by a member of the role
# that owns the runs table (the store's owner). Anyone else's is verified before it is reused.
_TRUSTED_SQL = (
    "SELECT result, recorded_by, recorded_by = session_user OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles o "
    "WHERE o.rolname = runs.recorded_by AND pg_catalog.pg_has_role(o.oid, (SELECT c.relowner FROM pg_catalog.pg_class c "
    "WHERE c.oid = (pg_catalog.quote_ident(current_schema()) || '.runs')::regclass), 'MEMBER')) FROM {runs} WHERE run_id = ?"
)


def load_trusted(store: EventStore, run_id: str) -> tuple[UpdateResult | None, bool]:
    """(the recorded run's result or None, whether it may be reused as it is). On a server, a run
    is trusted when this login or the store's owner recorded it (`recorded_by`, stamped by the
    server: m008); a file store is its user's own, so every run in it is. An unreadable record,
    or one whose result names another run, is None (recomputed)."""
    if store.dialect == "sqlite":
        rows = [(r[0], None, True) for r in store._read("reading a run", f"SELECT result FROM {_RUNS} WHERE run_id = ?", (run_id,))]
    else:
        rows = store._read("reading a run", _TRUSTED_SQL.format(runs=_RUNS), (run_id,))
    if not rows:
        return None, False
    from forecaster.inference.update import UpdateResult

    try:
        result = UpdateResult.from_json(json.loads(rows[0][0]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None, False  # an unreadable record is recomputed
    return (result, bool(rows[0][2])) if result.run_id == run_id else (None, False)


def recorded_by(store: EventStore, run_id: str) -> str | None:
    """The login that recorded a run (a server store; None on a file, or before m008)."""
    rows = store._read("reading a run", "SELECT recorded_by FROM runs WHERE run_id = ?", (run_id,))
    return rows[0][0] if rows else None


def list_runs(
    store: EventStore,
    *,
    kinds: Sequence[str] = KINDS,
    evidence: Sequence[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    run_ids: Iterable[str] | None = None,
    with_states: bool = True,
) -> list[RunRecord]:
    """Recorded runs, oldest as-of first (then by recording time)."""
    where = [f"kind IN ({', '.join('?' * len(kinds))})"]
    params: list[Any] = list(kinds)
    if evidence is not None:
        where.append(f"evidence IN ({', '.join('?' * len(evidence))})")
        params += list(evidence)
    date_range("as_of", since, until, where, params)
    if run_ids is not None:
        ids = list(run_ids)
        if not ids:
            return []
        where.append(f"run_id IN ({', '.join('?' * len(ids))})")
        params += ids
    sql = f"SELECT {_RUN_COLUMNS} FROM {_RUNS} WHERE {' AND '.join(where)} ORDER BY as_of, recorded_at, run_id"
    rows = store._read("reading runs", sql, params)
    if not with_states or not rows:
        return list(readable("runs", rows, _record))
    states: dict[str, list[RunState]] = {}
    ids = [r[0] for r in rows]
    for chunk in range(0, len(ids), 500):  # SQLite's limit on bound parameters
        part = ids[chunk : chunk + 500]
        for s in store._read(
            "reading runs",
            "SELECT run_id, hypothesis, state, prior, posterior, low, high, exact FROM run_states "
            f"WHERE run_id IN ({', '.join('?' * len(part))}) ORDER BY run_id, ord",
            part,
        ):
            # The posterior is the exact value (MODEL.md §4); a run recorded before issue 9 stored the
            # PyMC mean as its posterior, so history, the brief and "Δ prev" read the exact column.
            posterior = s[4] if s[7] is None else s[7]
            states.setdefault(s[0], []).append(RunState(s[1], s[2], s[3], posterior, s[5], s[6], s[7]))
    return list(readable("runs", rows, lambda r: _record(r, tuple(states.get(r[0], ())))))


def get_run(store: EventStore, run_id: str) -> RunRecord:
    """A run by id or unique prefix; UsageError otherwise."""
    rid = run_id.strip().lower()
    rows = store._read(
        "reading a run",
        "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 6",
        (rid, rid + "\U0010ffff"),
    )
    exact = [r[0] for r in rows if r[0] == rid]
    ids = exact or [r[0] for r in rows]
    if not rid or not ids:
        raise UsageError(f"no run {run_id!r} recorded (see `forecast runs list`)")
    if len(ids) > 1:
        raise UsageError(
            f"run id {run_id!r} is ambiguous: it starts {', '.join(ids[:5])}{', …' if len(ids) > 5 else ''}"
        )
    return list_runs(store, run_ids=ids)[0]


def previous_update(store: EventStore, *, as_of: dt.date, evidence: str, exclude: str) -> RunRecord | None:
    """The latest update recorded for an as-of date not after `as_of` (the "Δ prev" baseline)."""
    rows = store._read(
        "reading runs",
        f"SELECT {_RUN_COLUMNS} FROM runs WHERE kind = 'update' AND evidence = ? AND as_of <= ? AND run_id <> ? "
        "ORDER BY as_of DESC, recorded_at DESC LIMIT 1",
        (evidence, as_of.isoformat(), exclude),
    )
    return list_runs(store, run_ids=[rows[0][0]])[0] if rows else None


def window_days_recorded(store: EventStore, priors_hash: str) -> list[int]:
    """The evidence windows (days) of the runs recorded with these priors, most used first."""
    rows = store._read(
        "reading runs", f"SELECT as_of, window_start, COUNT(*) FROM {_RUNS} WHERE priors_hash = ? GROUP BY as_of, window_start",
        (priors_hash,),
    )
    days: dict[int, int] = {}
    spans = readable("runs", rows, lambda r: ((dt.date.fromisoformat(r[0]) - dt.date.fromisoformat(r[1])).days, r[2]))
    for d, n in spans:
        days[d] = days.get(d, 0) + n
    return sorted(days, key=lambda d: -days[d])


def recorded_ids(store: EventStore, run_ids: Iterable[str]) -> set[str]:
    ids = list(run_ids)
    found: set[str] = set()
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        found |= {
            r[0]
            for r in store._read(
                "reading runs", f"SELECT run_id FROM runs WHERE run_id IN ({', '.join('?' * len(part))})", part
            )
        }
    return found


def has_runs_table(store: EventStore) -> bool:
    return "runs" in store.tables()


# ---------------------------------------------------------------------------------------------
# Draws: NetCDF bytes in the store, exported to runs/RUN_ID.nc; pruning
# ---------------------------------------------------------------------------------------------


def netcdf_name(run_id: str) -> str:
    return f"{run_id}.nc"


def netcdf_bytes(idata: Any) -> bytes:
    """InferenceData -> NetCDF bytes (through a temp file: the netCDF writers want a path)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix="forecast-draws-", suffix=".nc")
    os.close(fd)
    try:
        idata.to_netcdf(tmp)
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


#: The most NetCDF bytes a run's draws may hold (docs/LIMITS.md): 100,000 draws × 8 chains of a
#: large network's states fit several times over; a gzip bomb in `run_draws` stops here.
MAX_DRAWS_BYTES = 256 * 1024 * 1024
_CHUNK = 1 << 20


class DrawsDamaged(ValueError):
    """A run's stored draws do not decompress to their stated size and hash, or exceed the ceiling."""


def unpack_draws(data: bytes, size: int, digest: str) -> bytes:
    """A run_draws row's gzip bytes, decompressed in chunks of a MiB with a ceiling: never more
    than its stated size (at most MAX_DRAWS_BYTES), so a small row cannot unfold into gigabytes;
    then checked against its size and sha256. DrawsDamaged names what is wrong."""
    if not isinstance(size, int) or not 0 <= size <= MAX_DRAWS_BYTES:
        raise DrawsDamaged(f"they claim {size!r} bytes, over the ceiling of {MAX_DRAWS_BYTES // 2**20} MiB")
    unzip = zlib.decompressobj(wbits=31)
    out = bytearray()
    pending, pos = b"", 0
    try:
        while not unzip.eof:
            if not pending:
                if pos >= len(data):
                    break
                pending, pos = data[pos : pos + _CHUNK], pos + _CHUNK
            out += unzip.decompress(pending, size + 1 - len(out))
            pending = unzip.unconsumed_tail
            if len(out) > size:
                raise DrawsDamaged(f"they unpack to more than the {size:,} bytes they claim (refused there)")
    except zlib.error as e:
        raise DrawsDamaged(f"they are not gzip data ({e})") from None
    if len(out) != size or hashlib.sha256(out).hexdigest() != digest:
        raise DrawsDamaged("size or hash differs")
    return bytes(out)


def load_draws(store: EventStore, run_id: str) -> bytes | None:
    """A recorded run's NetCDF bytes from the store (bounded, checked against their hash), or None."""
    rows = store._read("reading draws", "SELECT size, sha256, data FROM run_draws WHERE run_id = ?", (run_id,))
    if not rows:
        return None
    size, digest, data = rows[0]
    try:
        return unpack_draws(bytes(data), size, digest)
    except DrawsDamaged as e:
        raise StoreError(f"{store.name}: the draws of run {run_id} are damaged: {e}") from None


def draws_sizes(store: EventStore) -> dict[str, int]:
    """run id -> bytes of NetCDF the store holds for it (uncompressed)."""
    return {r[0]: r[1] for r in store._read("reading draws", "SELECT run_id, size FROM run_draws")}


def load_idata(store: EventStore, run_id: str) -> Any:
    """A recorded run's ArviZ InferenceData (read into memory), or None when it has no draws."""
    raw = load_draws(store, run_id)
    if raw is None:
        return None
    from forecaster.inference.pymc_adapter import idata_from_netcdf

    return idata_from_netcdf(raw)


def export_draws(store: EventStore, run_id: str, path: Path) -> int:
    """Write a run's draws to `path` (atomically); returns the bytes written. UsageError when the
    store holds none (an exact run, or pruned)."""
    raw = load_draws(store, run_id)
    if raw is None:
        raise UsageError(f"run {run_id} has no draws in the store (an exact run, or pruned)")
    write_file(path, raw)
    return len(raw)


def write_file(path: Path, data: bytes) -> None:
    """Bytes to a file, atomically (temp file in the same folder, then rename)."""
    import tempfile

    from forecaster.core.safe_cache import PRIVATE_FILE, private_dir

    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, PRIVATE_FILE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class PruneResult:
    netcdf_deleted: tuple[str, ...]  # the runs' export names whose draws were dropped
    bytes_freed: int
    records_deleted: int
    netcdf_kept: int
    dry_run: bool


def prune(ws: Workspace, store: EventStore, *, keep: int, records: bool = False, dry_run: bool = False) -> PruneResult:
    """Keep the draws of the `keep` most recently recorded runs; drop the others' from the store.
    With `records`, also delete the records of every run but the `keep` most recent (history then
    starts later). Only this store's rows are touched. Files in runs/ are exports a person asked
    for (`runs export`): they stay; the only files removed are this tool's own temp files
    (".RUN_ID.nc.XXXXXXXX.tmp", a regular file of this user) left by a killed export."""
    if keep < 0:
        raise UsageError("--keep must be 0 or more")
    rows = store._read("reading runs", "SELECT run_id FROM runs ORDER BY recorded_at DESC, run_id DESC")
    newest = {r[0] for r in rows[:keep]}
    sizes = draws_sizes(store)
    forget = [rid for rid in sizes if rid not in newest]
    doomed_files: list[Path] = []
    if ws.runs_dir.is_dir():
        now = time.time()
        for f in sorted(ws.runs_dir.iterdir()):
            st = _own_file(f) if _TEMP.match(f.name) else None
            if st is not None and now - st.st_mtime > STALE_TEMP_S:
                doomed_files.append(f)
    doomed_records = [r[0] for r in rows[keep:]] if records else []
    freed = sum(sizes[rid] for rid in forget)
    if not dry_run:
        if doomed_records:
            delete_runs(store, doomed_records)
        if forget:
            _forget_draws(store, [r for r in forget if r not in set(doomed_records)])
        for f in doomed_files:
            try:
                f.unlink(missing_ok=True)
            except OSError as e:
                raise StoreError(f"cannot delete {f}: {e.strerror}") from None
    return PruneResult(
        tuple(netcdf_name(rid) for rid in forget), freed, len(doomed_records), sum(1 for rid in sizes if rid in newest), dry_run
    )
