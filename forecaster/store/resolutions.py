"""Resolutions in the event store (MODEL.md §6, issue 14): which state of a hypothesis held over a
stated period, with a rationale, a source, who resolved it and when. Append-only like reports: a
correction is a retraction plus a new resolution (migration `m004_resolutions`; triggers refuse
UPDATE, DELETE and an INSERT that would replace a row).

    with EventStore(ws.db) as store:
        res = add_resolution(store, Resolution("escalation", "grey_zone", d0, d1, "why", "000, fn 39"),
                             analyst="ana", hypotheses=states_of(priors))
        retract_resolution(store, res.id, reason="misdated", who="ana")

Ids are content ids, like reports': `res-` and the first 12 hex digits of the hash of what the
resolution says (hypothesis, state, period, rationale, source; not who recorded it or when), so
importing the same file twice adds nothing and the same resolution has the same id everywhere.

Rules every write checks (all of a batch, or nothing is written): a known hypothesis and state
(with "did you mean"), `from` ≤ `to`, `to` not in the future (a resolution records what held),
a rationale and a source, printable text; and no two resolutions in force of one hypothesis
whose periods overlap (dates inclusive) and that name different states. Agreeing overlaps are
allowed; a retracted resolution takes part in none of this.

Also here, so that the run log's module stays as it was: `forecast_runs` and `forecast_states`,
the reads of the run log that scoring needs (each run's as-of date, and per hypothesis each
state's recorded prior and posterior), as plain rows for the numpy code in
`forecaster.workflow.track_record`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from forecaster.core.errors import UsageError, did_you_mean
from forecaster.core.text import quoted
from forecaster.model.evidence import MAX_YEAR, MIN_YEAR
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.records import ambiguous, check_text, format_time, not_quarantined, readable, rows_by_prefix

ID_PREFIX = "res-"
ID_HEX = 12
_ID = re.compile(r"^res-[0-9a-f]{6,64}$")

Hypotheses = Mapping[str, Sequence[str]]
"""hypothesis id -> its state ids, in order (what `states_of(priors)` gives)."""


class ResolutionError(UsageError):
    """A resolution, or a file of them, is refused (exit 2); nothing was written."""


class ImportProblems(ResolutionError):
    """Bad rows in a file of resolutions: `problems` names each (file:line: what is wrong)."""

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        n = len(problems)
        if n == 1:
            message = f"{problems[0]}; nothing was imported"
        else:
            head = f"{name}: {n} bad rows; nothing was imported"
            message = "\n".join([head, *("  " + p for p in problems)])
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class Resolution:
    """The state of `hypothesis` that held from `start` to `end` (both inclusive)."""

    hypothesis: str
    state: str
    start: dt.date  # "from" in files and on the command line
    end: dt.date  # "to"
    rationale: str
    source: str
    analyst: str = ""
    id: str | None = None
    recorded_at: dt.datetime | None = None

    def covers(self, first: dt.date, last: dt.date) -> bool:
        return self.start <= first and last <= self.end

    def overlaps(self, other: Resolution) -> bool:
        return self.start <= other.end and other.start <= self.end


@dataclass(frozen=True)
class ResolutionRetraction:
    resolution_id: str
    reason: str
    retracted_at: dt.datetime
    retracted_by: str


@dataclass(frozen=True)
class StoredResolution:
    resolution: Resolution
    retraction: ResolutionRetraction | None = None

    @property
    def retracted(self) -> bool:
        return self.retraction is not None

    @property
    def id(self) -> str:
        assert self.resolution.id is not None
        return self.resolution.id


class ResolutionImport(NamedTuple):
    added: int
    skipped: int  # already in the store (same content), or repeated in the batch


def states_of(priors: Any) -> dict[str, tuple[str, ...]]:
    """hypothesis id -> state ids, from a `Priors`."""
    return {h.id: tuple(h.states) for h in priors.hypotheses}


def content_key(r: Resolution) -> str:
    """The hash of what a resolution says (not who recorded it or when): its de-duplication key."""
    fields = [r.hypothesis, r.state, r.start.isoformat(), r.end.isoformat(), r.rationale, r.source]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def canonical(r: Resolution) -> Resolution:
    """Surrounding white space off every text field; the content key is taken of this form."""
    return dataclasses.replace(
        r,
        hypothesis=r.hypothesis.strip(),
        state=r.state.strip(),
        rationale=r.rationale.strip(),
        source=r.source.strip(),
        analyst=r.analyst.strip(),
    )


def check_resolution(r: Resolution, hypotheses: Hypotheses | None, *, today: dt.date | None = None) -> None:
    """Everything one resolution must satisfy on its own (ResolutionError, one line, otherwise)."""
    if hypotheses is not None:
        if r.hypothesis not in hypotheses:
            raise ResolutionError(f"unknown hypothesis {quoted(r.hypothesis)}{did_you_mean(r.hypothesis, hypotheses)}")
        states = hypotheses[r.hypothesis]
        if r.state not in states:
            raise ResolutionError(
                f"unknown state {quoted(r.state)} of {r.hypothesis}{did_you_mean(r.state, states)}; "
                f"its states are {', '.join(states)}"
            )
    elif not r.hypothesis or not r.state:
        raise ResolutionError("a resolution needs a hypothesis and a state")
    for name, value in (("from", r.start), ("to", r.end)):
        if type(value) is not dt.date:
            raise ResolutionError(f"{name} {quoted(value)} is not a date")
    if r.end < r.start:
        raise ResolutionError(f"to {r.end.isoformat()} is before from {r.start.isoformat()}")
    today = today or dt.date.today()
    if r.end > today:
        raise ResolutionError(
            f"to {r.end.isoformat()} lies in the future (today is {today.isoformat()}): "
            "a resolution records what held over a period that has passed"
        )
    for name, value in (("from", r.start), ("to", r.end)):
        if not MIN_YEAR <= value.year <= MAX_YEAR:  # docs/LIMITS.md: a year typo, as for reports
            raise ResolutionError(f"{name} {value.isoformat()} is outside {MIN_YEAR}–{MAX_YEAR}: a typo? (dates are YYYY-MM-DD)")
    for name, text in (("rationale", r.rationale), ("source", r.source), ("analyst", r.analyst)):
        try:
            check_text(name, text, required=True)
        except UsageError as e:
            what = {"rationale": "say why this state held", "source": "cite where that is documented",
                    "analyst": "say who resolves it"}[name]
            raise ResolutionError(f"{e}: {what}" if "empty" in str(e) else str(e)) from None


def parse_date(value: Any, name: str) -> dt.date:
    """A date field ('from', 'to'): an ISO date that exists (2025-02-30 does not)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ResolutionError(f"{name}: missing (an ISO date, YYYY-MM-DD)")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        digits = " (write the digits 0–9)" if any(c.isdigit() and not c.isascii() for c in text[:100]) else ""
        raise ResolutionError(f"{name} {quoted(text)} is not an ISO date (YYYY-MM-DD){digits}")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise ResolutionError(f"{name} {quoted(text)} is not a date that exists ({e})") from None


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------

_COLUMNS = (
    "r.id, r.hypothesis, r.state, r.period_from, r.period_to, r.rationale, r.source, r.analyst, r.recorded_at, "
    "t.reason, t.retracted_at, t.retracted_by"
)
_FROM = f"FROM {not_quarantined('resolutions', 'r')} LEFT JOIN resolution_retractions t ON t.resolution_id = r.id"


def _entry(row: Sequence[Any]) -> StoredResolution:
    res = Resolution(
        hypothesis=row[1], state=row[2], start=dt.date.fromisoformat(row[3]), end=dt.date.fromisoformat(row[4]),
        rationale=row[5], source=row[6], analyst=row[7], id=row[0], recorded_at=dt.datetime.fromisoformat(row[8]),
    )
    t = None if row[9] is None else ResolutionRetraction(row[0], row[9], dt.datetime.fromisoformat(row[10]), row[11])
    return StoredResolution(res, t)


def resolution_to_row(entry: StoredResolution) -> dict[str, Any]:
    """A stored resolution as JSON-ready fields (what `resolutions list --json` prints)."""
    r, t = entry.resolution, entry.retraction
    return {
        "id": r.id,
        "hypothesis": r.hypothesis,
        "state": r.state,
        "from": r.start.isoformat(),
        "to": r.end.isoformat(),
        "rationale": r.rationale,
        "source": r.source,
        "analyst": r.analyst,
        "recorded_at": format_time(r.recorded_at) if r.recorded_at else None,
        "retracted": t is not None,
        "retracted_at": format_time(t.retracted_at) if t else None,
        "retracted_by": t.retracted_by if t else None,
        "retraction_reason": t.reason if t else None,
    }


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _in_force(db: Db, hypothesis: str) -> list[Resolution]:
    rows = db.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE r.hypothesis = ? AND t.resolution_id IS NULL ORDER BY r.period_from, r.id",
        (hypothesis,),
    ).fetchall()
    return [e.resolution for e in readable("resolutions", rows, _entry)]


def _conflict(r: Resolution, others: Iterable[Resolution]) -> str | None:
    for o in others:
        if o.hypothesis == r.hypothesis and o.state != r.state and o.overlaps(r):
            return (
                f"{r.hypothesis} {r.state} from {r.start.isoformat()} to {r.end.isoformat()} overlaps {o.id}, "
                f"which resolves it {o.state} from {o.start.isoformat()} to {o.end.isoformat()}; "
                f"retract {o.id} first if it is wrong"
            )
    return None


def _place(db: Db, r: Resolution, key: str) -> tuple[str, StoredResolution | None]:
    """(new id, None) after inserting `r`, or (id, the stored one) when its content is there."""
    row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.content_key = ?", (key,)).fetchone()
    if row is not None:
        existing = _entry(row)
        return existing.id, existing
    for n in (ID_HEX, 16, 24, 64):
        rid = ID_PREFIX + key[:n]
        if db.execute("SELECT 1 FROM resolutions WHERE id = ?", (rid,)).fetchone() is None:
            break
    assert r.recorded_at is not None
    db.execute(
        "INSERT INTO resolutions (id, hypothesis, state, period_from, period_to, rationale, source, analyst, "
        "recorded_at, content_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rid, r.hypothesis, r.state, r.start.isoformat(), r.end.isoformat(), r.rationale, r.source, r.analyst,
            format_time(r.recorded_at), key,
        ),
    )
    return rid, None


class AlreadyRecorded(ResolutionError):
    """The store holds a resolution with the same content (`existing`)."""

    def __init__(self, existing: StoredResolution) -> None:
        state = (
            " (retracted; a new resolution must differ from it, e.g. in its rationale)" if existing.retracted else ""
        )
        super().__init__(f"an identical resolution is already recorded as {existing.id}{state}")
        self.existing = existing


def add_resolution(
    store: EventStore,
    resolution: Resolution,
    *,
    analyst: str | None = None,
    hypotheses: Hypotheses | None = None,
    today: dt.date | None = None,
) -> Resolution:
    """Record one resolution (checked as the module doc says); returns it with id and recorded_at.
    AlreadyRecorded when the same content is stored (`.existing` names it)."""
    r = canonical(dataclasses.replace(resolution, analyst=analyst if analyst is not None else resolution.analyst))
    check_resolution(r, hypotheses, today=today)
    r = dataclasses.replace(r, id=None)
    key = content_key(r)

    def insert(db: Db) -> Resolution:
        nonlocal r
        r = dataclasses.replace(r, recorded_at=db.now())
        row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.content_key = ?", (key,)).fetchone()
        if row is not None:
            raise AlreadyRecorded(_entry(row))
        problem = _conflict(r, _in_force(db, r.hypothesis))
        if problem:
            raise ResolutionError(problem)
        rid, _ = _place(db, r, key)
        return dataclasses.replace(r, id=rid)

    return store._write("recording a resolution", insert)


def import_resolutions(
    store: EventStore,
    resolutions: Sequence[Resolution],
    *,
    analyst: str | None = None,
    hypotheses: Hypotheses | None = None,
    labels: Sequence[str] | None = None,
    name: str = "import",
    today: dt.date | None = None,
) -> ResolutionImport:
    """Record many resolutions in one transaction: all or, on any problem, none (ImportProblems
    lists every bad row). A resolution already stored, or repeated in the batch, is skipped, so
    importing a file twice adds nothing. `analyst` is used where a row names none."""
    def where(i: int) -> str:
        return labels[i] if labels is not None else f"resolution {i + 1}"

    def run(db: Db) -> ResolutionImport:
        now = db.now()
        problems: list[str] = []
        added = skipped = 0
        accepted: dict[str, list[Resolution]] = {}
        for i, given in enumerate(resolutions):
            r = canonical(dataclasses.replace(given, analyst=given.analyst or analyst or ""))
            try:
                check_resolution(r, hypotheses, today=today)
            except ResolutionError as e:
                problems.append(f"{where(i)}: {e}")
                continue
            r = dataclasses.replace(r, id=None, recorded_at=now)
            key = content_key(r)
            row = db.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.content_key = ?", (key,)).fetchone()
            if row is not None:  # stored already (earlier in this batch too: the rows go in as we go)
                skipped += 1
                continue
            if r.hypothesis not in accepted:
                accepted[r.hypothesis] = _in_force(db, r.hypothesis)
            problem = _conflict(r, accepted[r.hypothesis])
            if problem:
                problems.append(f"{where(i)}: {problem}")
                continue
            rid, _ = _place(db, r, key)
            accepted[r.hypothesis].append(dataclasses.replace(r, id=rid))
            added += 1
        if problems:
            raise ImportProblems(name, problems)
        return ResolutionImport(added, skipped)

    return store._write("importing resolutions", run)


def retract_resolution(store: EventStore, resolution_id: str, *, reason: str, who: str) -> ResolutionRetraction:
    """Withdraw a resolution (it stays, marked; its forecasts are no longer scored)."""
    reason, who = reason.strip(), who.strip()
    for name, value in (("reason", reason), ("analyst", who)):
        try:
            check_text(name, value, required=True)
        except UsageError as e:
            raise ResolutionError(str(e)) from None

    def insert(db: Db) -> ResolutionRetraction:
        entry = _resolve(db, resolution_id, store)
        if entry.retraction is not None:
            t = entry.retraction
            raise ResolutionError(
                f"{entry.id} was already retracted on {format_time(t.retracted_at)} by {t.retracted_by}: {t.reason}"
            )
        t = ResolutionRetraction(entry.id, reason, db.now(), who)
        db.execute(
            "INSERT INTO resolution_retractions (resolution_id, reason, retracted_at, retracted_by) VALUES (?, ?, ?, ?)",
            (t.resolution_id, t.reason, format_time(t.retracted_at), t.retracted_by),
        )
        return t

    return store._write("retracting a resolution", insert)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _resolve(db: Db, resolution_id: str, store: EventStore) -> StoredResolution:
    rid = resolution_id.strip().lower()
    if rid and not rid.startswith(ID_PREFIX):
        rid = ID_PREFIX + rid
    rows = rows_by_prefix(db, f"SELECT {_COLUMNS} {_FROM}", "r.id", rid, min_length=len(ID_PREFIX) + 4)
    if len(rows) == 1:
        return _entry(rows[0])
    if rows:
        raise ResolutionError(ambiguous("resolution", resolution_id, [r[0] for r in rows]))
    raise ResolutionError(f"no resolution {quoted(resolution_id)} in {store.name} (see `forecast resolutions list`)")


def get_resolution(store: EventStore, resolution_id: str) -> StoredResolution:
    """One resolution by id or unique prefix (with or without `res-`)."""
    return store._retry("reading a resolution", lambda: _resolve(store._db, resolution_id, store))


def list_resolutions(
    store: EventStore,
    *,
    hypothesis: str | None = None,
    include_retracted: bool = False,
    known_at: dt.datetime | None = None,
) -> list[StoredResolution]:
    """Resolutions by hypothesis, then period. With `known_at`: only those recorded before it, and
    retractions only if recorded before it (what a brief for an earlier week could have known)."""
    where, params = ["1 = 1"], []
    if hypothesis is not None:
        where.append("r.hypothesis = ?")
        params.append(hypothesis)
    if known_at is not None:
        where.append("r.recorded_at < ?")
        params.append(format_time(known_at))
    sql = f"SELECT {_COLUMNS} {_FROM} WHERE {' AND '.join(where)} ORDER BY r.hypothesis, r.period_from, r.period_to, r.id"
    entries = list(readable("resolutions", store._read("reading resolutions", sql, params), _entry))
    if known_at is not None:
        entries = [
            e if e.retraction is None or e.retraction.retracted_at < known_at else StoredResolution(e.resolution)
            for e in entries
        ]
    return entries if include_retracted else [e for e in entries if not e.retracted]


def has_resolutions(store: EventStore) -> bool:
    return bool(store._read("reading resolutions", "SELECT 1 FROM resolutions LIMIT 1"))


# ---------------------------------------------------------------------------------------------
# What scoring reads from the run log
# ---------------------------------------------------------------------------------------------

RunRow = tuple[str, str, str, str]
"""(run_id, kind, as_of, recorded_at)."""


def _run_filter(
    kinds: Sequence[str],
    evidence: Sequence[str],
    since: dt.date | None,
    until: dt.date | None,
    priors_hash: str | None,
) -> tuple[str, list[Any]]:
    where = [f"kind IN ({', '.join('?' * len(kinds))})", f"evidence IN ({', '.join('?' * len(evidence))})"]
    params: list[Any] = [*kinds, *evidence]
    for sql, value in (("as_of >= ?", since), ("as_of <= ?", until), ("priors_hash = ?", priors_hash)):
        if value is not None:
            where.append(sql)
            params.append(value.isoformat() if isinstance(value, dt.date) else value)
    return " AND ".join(where), params


def forecast_runs(
    store: EventStore,
    *,
    kinds: Sequence[str],
    evidence: Sequence[str],
    since: dt.date | None = None,
    until: dt.date | None = None,
    priors_hash: str | None = None,
) -> list[RunRow]:
    """The recorded runs to score, oldest as-of first (then by recording time and id)."""
    where, params = _run_filter(kinds, evidence, since, until, priors_hash)
    sql = f"SELECT run_id, kind, as_of, recorded_at FROM runs WHERE {where} ORDER BY as_of, recorded_at, run_id"
    return store._read("reading runs", sql, params)  # type: ignore[no-any-return]


def forecast_states(
    store: EventStore,
    hypotheses: Mapping[str, Sequence[str]],
    *,
    kinds: Sequence[str],
    evidence: Sequence[str],
    since: dt.date | None = None,
    until: dt.date | None = None,
    priors_hash: str | None = None,
) -> list[tuple[Any, ...]]:
    """One row per run: (run_id, then for each hypothesis in order: the number of states it
    recorded for it, the prior of each of its states, the posterior of each; None where a state
    was not recorded). Pivoted in SQL, in one pass over run_states in key order, so 10,000 runs
    come back as 10,000 rows of numbers rather than 80,000 rows of text."""
    where, params = _run_filter(kinds, evidence, since, until, priors_hash)
    cols: list[str] = []
    args: list[Any] = []
    for hyp, states in hypotheses.items():
        cols.append("SUM(CASE WHEN hypothesis = ? THEN 1 ELSE 0 END)")
        args.append(hyp)
        for value in ("prior", "posterior"):
            for state in states:
                cols.append(f"MAX(CASE WHEN hypothesis = ? AND state = ? THEN {value} END)")
                args += [hyp, state]
    sql = (
        f"SELECT run_id, {', '.join(cols)} FROM run_states "
        f"WHERE run_id IN (SELECT run_id FROM runs WHERE {where}) GROUP BY run_id"
    )
    return store._read("reading runs", sql, [*args, *params])  # type: ignore[no-any-return]


__all__ = [
    "AlreadyRecorded",
    "ImportProblems",
    "Resolution",
    "ResolutionError",
    "ResolutionImport",
    "ResolutionRetraction",
    "StoredResolution",
    "add_resolution",
    "canonical",
    "check_resolution",
    "content_key",
    "forecast_runs",
    "forecast_states",
    "get_resolution",
    "has_resolutions",
    "import_resolutions",
    "list_resolutions",
    "parse_date",
    "resolution_to_row",
    "retract_resolution",
    "states_of",
]
