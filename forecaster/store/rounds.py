"""The panel's closed Delphi rounds in the event store (MODEL.md §7, issue 23; migration
`m008_panel_rounds`): each round's number, label, when it closed (the store's clock, UTC) and who
closed it, and the full content of `experts/` at that moment (file name -> text), so a past
round is rebuilt exactly even after the files have changed. Append-only: a round is never edited.

    with EventStore(ws.db) as store:
        r = close_round(store, {"a.yaml": "..."}, label="after the workshop", who="ana")
        in_force(list_rounds(store), dt.date(2026, 3, 1))

Nothing here reads YAML: the workflow layer (forecaster.workflow.panel) checks the folder."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from forecaster.core.errors import UsageError
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.records import check_text, format_time, parse_time, utcnow


class RoundError(UsageError):
    """A round that cannot be closed or does not exist (exit 2); nothing was written."""


@dataclass(frozen=True)
class PanelRound:
    """One closed round: `experts` maps each file name in `experts/` to its text."""

    number: int
    label: str
    closed_at: dt.datetime
    closed_by: str
    experts_hash: str
    experts: Mapping[str, str]

    @property
    def closed_on(self) -> dt.date:
        return self.closed_at.date()

    def summary(self) -> dict[str, object]:
        """The round as JSON, without the files' text."""
        return {
            "round": self.number, "label": self.label, "closed_at": format_time(self.closed_at),
            "closed_by": self.closed_by, "experts_hash": self.experts_hash, "files": sorted(self.experts),
        }


def experts_hash(files: Mapping[str, str]) -> str:
    """The content hash of an `experts/` snapshot (names and text; line endings normalised)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode())
        h.update(b"\0")
        h.update(files[name].replace("\r\n", "\n").encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


_COLUMNS = "round, label, closed_at, closed_by, experts_hash, experts"


def _round(row: Sequence[object]) -> PanelRound:
    return PanelRound(
        number=int(str(row[0])), label=str(row[1]), closed_at=parse_time(row[2]), closed_by=str(row[3]),
        experts_hash=str(row[4]), experts=json.loads(str(row[5])),
    )


def list_rounds(store: EventStore) -> list[PanelRound]:
    """Every closed round, oldest first."""
    rows = store._read("reading panel rounds", f"SELECT {_COLUMNS} FROM panel_rounds ORDER BY round")
    return [_round(r) for r in rows]


def close_round(
    store: EventStore, files: Mapping[str, str], *, label: str, who: str, now: dt.datetime | None = None
) -> PanelRound:
    """Record the next round (one more than the last) in one transaction."""
    check_text("label", label)
    check_text("who", who, required=True)
    closed_at = now or utcnow()
    body = json.dumps(dict(sorted(files.items())), ensure_ascii=False)

    def insert(db: Db) -> PanelRound:
        last = db.execute("SELECT MAX(round) FROM panel_rounds").fetchone()
        number = int(last[0] or 0) + 1 if last else 1
        if now is not None:
            db.keep_times()  # the owner's only (db copy, tests): for anyone else the server stamps its clock (m008)
        db.execute(
            f"INSERT INTO panel_rounds ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (number, label, format_time(closed_at), who, experts_hash(files), body),
        )
        stamped = db.execute("SELECT closed_at FROM panel_rounds WHERE round = ?", (number,)).fetchone()
        return PanelRound(number, label, parse_time(stamped[0]), who, experts_hash(files), dict(files))

    return store._write("closing a panel round", insert)


def in_force(rounds: Sequence[PanelRound], when: dt.date) -> PanelRound | None:
    """The latest round closed on or before `when` (MODEL.md §7); None: the folder as it is."""
    found = [r for r in rounds if r.closed_on <= when]
    return found[-1] if found else None


def get_round(rounds: Sequence[PanelRound], number: int) -> PanelRound:
    for r in rounds:
        if r.number == number:
            return r
    closed = f"rounds 1–{len(rounds)} are closed" if rounds else "no round is closed yet (forecast panel close)"
    raise RoundError(f"no panel round {number}: {closed}")
