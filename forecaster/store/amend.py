"""Amending a report (issue 21): in one append-only transaction, the report is retracted with the
reason "amended: replaced by NEW_ID" and the corrected report is added (same indicator, date,
outcome, source and url; a new origin, grade or note). Nothing is updated: the old report stays,
marked, and its retraction names the report that replaced it. Used by `forecast event amend`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from forecaster.core.errors import UsageError
from forecaster.core.text import canonical_text
from forecaster.model.evidence import Report
from forecaster.store.backend import Db
from forecaster.store.events import EventStore
from forecaster.store.placing import _INSERT_RETRACTION, _Placer, _retraction_row
from forecaster.store.records import (
    Retraction,
    StoredReport,
    canonical_report,
    check_report,
    check_text,
    content_key,
    format_time,
)

AMENDED = "amended: replaced by "  # the retraction's reason, then the new report's id


@dataclass(frozen=True)
class Change:
    """What an amendment changes; None leaves a field as it was ("" clears the origin)."""

    origin: str | None = None
    reliability: str | None = None
    credibility: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Amended:
    old: StoredReport  # the report as it was, now retracted
    new: Report  # the report that replaced it (with its id)
    retraction: Retraction


def _changed(old: Report, change: Change, who: str) -> Report:
    origin = old.origin if change.origin is None else (change.origin.strip() or None)
    new = dataclasses.replace(
        old, id=None, recorded_at=None, analyst=who, origin=origin,
        reliability=change.reliability or old.reliability, credibility=change.credibility or old.credibility,
        note=old.note if change.note is None else change.note,
    )
    new = canonical_report(new)
    check_report(new)
    return new


def amend_report(store: EventStore, report_id: str, change: Change, *, who: str) -> Amended:
    """Retract `report_id` (an id or unique prefix) as amended and add its corrected form, linked,
    in one transaction. UsageError when it is retracted already, when nothing would change, or
    when the corrected report is stored already (naming it)."""
    who = canonical_text(who, single_line=True)
    check_text("analyst", who, required=True)

    def write(db: Db) -> Amended:
        entry = store._resolve(db, report_id)
        old = entry.report
        assert old.id is not None and old.recorded_at is not None
        if entry.retraction is not None:
            t = entry.retraction
            raise UsageError(f"{old.id} was retracted on {format_time(t.retracted_at)} by {t.retracted_by} ({t.reason}); "
                             "amend the report in force instead")
        new = _changed(old, change, who)
        key = content_key(new)
        if key == content_key(old):
            raise UsageError(f"{old.id}: nothing to change (give --origin, --grade or --note with a new value)")
        placer = _Placer(db, [(new, who, key)])
        now = db.now()
        new_id, existing = placer.place(new, key, format_time(now), who)
        if existing is not None:
            raise UsageError(f"the amended report is already recorded as {new_id}; retract {old.id} instead")
        placer.flush()
        retraction = Retraction(old.id, AMENDED + new_id, max(now, old.recorded_at), who)
        db.execute(_INSERT_RETRACTION, _retraction_row(retraction))
        return Amended(entry, dataclasses.replace(new, id=new_id, recorded_at=now), retraction)

    return store._write("amending a report", write)
