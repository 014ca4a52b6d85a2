"""Reports and what they weigh (MODEL.md §3): Admiralty grades -> accuracy -> likelihood pairs,
folded into one λ per indicator so inference cost never grows with the number of reports."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecaster.core.errors import EvidenceError, did_you_mean
from forecaster.core.text import quoted
from forecaster.core.yamlio import line_of, load_yaml

RELIABILITY = "ABCDEF"
CREDIBILITY = (1, 2, 3, 4, 5, 6)
_GRADE = re.compile(r"^\s*([A-Fa-f])\s*([1-6])\s*$")


@dataclass(frozen=True)
class Report:
    """One graded report that an indicator occurred (or did not) on a date."""

    indicator: str
    date: dt.date
    occurred: bool
    reliability: str
    credibility: int
    source: str
    url: str = ""
    note: str = ""
    analyst: str = ""
    id: str | None = None
    recorded_at: dt.datetime | None = None
    origin: str | None = None  # the original source (MODEL.md §3): same-origin reports on one indicator fold

    @property
    def grade(self) -> str:
        return f"{self.reliability}{self.credibility}"


@dataclass(frozen=True)
class GradeTable:
    """Accuracy a(R, C) = 0.5 + 0.5 · r_R · c_C (MODEL.md §3), kept with the priors."""

    reliability: Mapping[str, float]
    credibility: Mapping[int, float]

    def accuracy(self, reliability: str, credibility: int) -> float:
        return 0.5 + 0.5 * self.reliability[reliability] * self.credibility[credibility]

    def likelihood(self, report_occurred: bool, reliability: str, credibility: int) -> tuple[float, float]:
        """λ = (P(report | occurred), P(report | not occurred))."""
        a = self.accuracy(reliability, credibility)
        return (a, 1.0 - a) if report_occurred else (1.0 - a, a)


DEFAULT_GRADES = GradeTable(
    reliability={"A": 0.98, "B": 0.8, "C": 0.6, "D": 0.4, "E": 0.1, "F": 0.5},
    credibility={1: 0.98, 2: 0.8, 3: 0.6, 4: 0.4, 5: 0.1, 6: 0.5},
)


def parse_grade(text: str) -> tuple[str, int]:
    """'B2' -> ('B', 2); anything else is an EvidenceError naming the Admiralty scale."""
    m = _GRADE.match(str(text))
    if not m:
        raise EvidenceError(f"grade {quoted(text)} is not an Admiralty grade: reliability A–F then credibility 1–6, e.g. B2")
    return m.group(1).upper(), int(m.group(2))


def check_reliability(value: Any) -> str:
    s = str(value).strip().upper()
    if len(s) != 1 or s not in RELIABILITY:
        raise EvidenceError(f"reliability {quoted(value)} is out of range: expected one letter A–F")
    return s


def check_credibility(value: Any) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n not in CREDIBILITY or str(value).strip() not in {str(c) for c in CREDIBILITY}:
        raise EvidenceError(f"credibility {quoted(value)} is out of range: expected a number 1–6")
    return n


def check_date(value: Any, *, today: dt.date | None = None) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise EvidenceError(f"date {quoted(value)} is not an ISO date (YYYY-MM-DD)") from None
    today = today or dt.date.today()
    if value > today:
        raise EvidenceError(f"date {value.isoformat()} lies in the future (today is {today.isoformat()})")
    return check_year(value)


MIN_YEAR, MAX_YEAR = 1900, 2100  # dates outside are typos (1025 for 2025), not evidence


def check_year(value: dt.date) -> dt.date:
    """A date in MIN_YEAR..MAX_YEAR; anything else is refused as a likely typo."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise EvidenceError(
            f"date {value.isoformat()} is outside {MIN_YEAR}–{MAX_YEAR}: a typo? (dates are YYYY-MM-DD)"
        )
    return value


def check_indicator(indicator: str, known: Iterable[str]) -> str:
    known = set(known)
    if indicator not in known:
        raise EvidenceError(f"unknown indicator {quoted(indicator)}{did_you_mean(indicator, known)}")
    return indicator


#: Ageing off: `half_life_days: none` in settings.yaml, or `update --half-life none`.
NO_AGEING = None
DEFAULT_HALF_LIFE_DAYS = 365.0


def aged_accuracy(a: float, age_days: float, half_life_days: float | None) -> float:
    """a_t = 0.5 + (a − 0.5) · 2^(−t / half_life) (MODEL.md §3); no ageing when half_life is None."""
    if half_life_days is None or age_days <= 0:
        return a
    if not half_life_days > 0:
        raise EvidenceError(f"half-life {half_life_days:g} days: expected a positive number of days (or none)")
    return 0.5 + (a - 0.5) * 2.0 ** (-age_days / half_life_days)


def normalise_origin(origin: str | None) -> str | None:
    """Origins compare after Unicode NFC and whitespace folding, case-insensitively; blank is none."""
    if origin is None:
        return None
    text = " ".join(unicodedata.normalize("NFC", str(origin)).split())
    return text.casefold() or None


@dataclass(frozen=True)
class ReportWeight:
    """One report's weight now: its accuracy, aged to the as-of date, and whether it counts
    (False: folded into a stronger report of the same origin)."""

    id: str
    accuracy: float
    aged: float
    age_days: int
    origin: str | None
    counted: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "accuracy": round(self.accuracy, 6), "weight": round(self.aged, 6),
                "age_days": self.age_days, "origin": self.origin, "counted": self.counted}


@dataclass(frozen=True)
class FoldedEvidence:
    """All reports on one indicator combined: same-origin reports folded into their strongest,
    then λ multiplied over origins (in logs), scaled so max(λ) = 1."""

    indicator: str
    reports: int
    log_lambda: tuple[float, float]
    report_ids: tuple[str, ...] = field(default=())
    origins: int = 0  # distinct origins among the reports (a report without origin is its own)
    weights: tuple[ReportWeight, ...] = field(default=())

    @property
    def likelihood(self) -> tuple[float, float]:
        l1, l0 = self.log_lambda
        top = max(l1, l0)
        return (math.exp(l1 - top), math.exp(l0 - top))


def fold(
    reports: Iterable[Report],
    grades: GradeTable,
    *,
    as_of: dt.date | None = None,
    half_life_days: float | None = None,
) -> dict[str, FoldedEvidence]:
    """One λ per indicator (MODEL.md §3).

    With `as_of`, each report's accuracy is aged by `half_life_days` (None: no ageing) and a
    report dated after `as_of` is left out. On one indicator, reports sharing an origin fold into
    the one with the highest aged accuracy; reports without origin are each their own origin.
    Reports of distinct origins are independent given the indicator, so their λ multiply."""
    by_ind: dict[str, list[tuple[int, Report, float, float, int]]] = {}
    for n, r in enumerate(reports):
        a = grades.accuracy(r.reliability, r.credibility)
        age = 0 if as_of is None else (as_of - r.date).days
        if as_of is not None and age < 0:
            continue
        a_t = aged_accuracy(a, age, half_life_days if as_of is not None else None)
        by_ind.setdefault(r.indicator, []).append((n, r, a, a_t, age))
    out: dict[str, FoldedEvidence] = {}
    for k in sorted(by_ind):
        rows = by_ind[k]
        best: dict[str, tuple[int, Report, float, float, int]] = {}
        for row in rows:
            key = normalise_origin(row[1].origin)
            okey = f"\0{row[0]}" if key is None else key
            held = best.get(okey)
            if held is None or row[3] > held[3]:
                best[okey] = row
        kept = {row[0] for row in best.values()}
        l1 = l0 = 0.0
        for _, r, _a, a_t, _age in sorted(best.values(), key=lambda x: x[0]):
            lam1, lam0 = (a_t, 1.0 - a_t) if r.occurred else (1.0 - a_t, a_t)
            l1 += math.log(lam1)
            l0 += math.log(lam0)
        weights = tuple(
            ReportWeight(r.id or "", a, a_t, age, r.origin, n in kept) for n, r, a, a_t, age in rows
        )
        out[k] = FoldedEvidence(
            k, len(rows), (l1, l0), tuple(r.id for _, r, *_ in rows if r.id is not None), len(best), weights
        )
    return out


_REPORT_KEYS = {"indicator", "date", "occurred", "reliability", "credibility", "grade", "source", "url", "note", "analyst", "id", "recorded_at", "origin"}
_TEXT_KEYS = ("indicator", "source", "url", "note", "analyst", "origin")


def check_field_types(row: Mapping[str, Any], where: str) -> None:
    """Text fields hold text: a number, list or mapping is an error, never coerced (`note: 0`
    is not ''). `citation` is not a report field: say so rather than drop it."""
    if "citation" in row:
        raise EvidenceError(
            f"{where}: field 'citation': reports do not carry a citation; put the source in 'source', "
            "the link in 'url' and the passage in 'note'"
        )
    for name in _TEXT_KEYS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise EvidenceError(f"{where}: field {quoted(name)}: expected text, got {type(value).__name__} {quoted(value)}")


def report_from_mapping(row: Mapping[str, Any], *, known: Iterable[str], where: str, today: dt.date | None = None) -> Report:
    """Validate one report given as a mapping (a YAML entry or a CSV row); errors name `where` and the field."""
    check_field_types(row, where)
    unknown = set(row) - _REPORT_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise EvidenceError(f"{where}: unknown field {quoted(key)}{did_you_mean(key, _REPORT_KEYS)}")

    def field_error(name: str, e: EvidenceError) -> EvidenceError:
        return EvidenceError(f"{where}: field {quoted(name)}: {e}")

    try:
        indicator = check_indicator(str(row.get("indicator") or ""), known)
    except EvidenceError as e:
        raise field_error("indicator", e) from None
    if row.get("date") in (None, ""):
        raise EvidenceError(f"{where}: field 'date': missing")
    try:
        date = check_date(row["date"], today=today)
    except EvidenceError as e:
        raise field_error("date", e) from None
    occurred = row.get("occurred", True)
    if isinstance(occurred, str):
        low = occurred.strip().lower()
        if low not in {"true", "false", "yes", "no", "1", "0"}:
            raise EvidenceError(f"{where}: field 'occurred': expected true or false, got {quoted(occurred)}")
        occurred = low in {"true", "yes", "1"}
    if not isinstance(occurred, bool):
        raise EvidenceError(f"{where}: field 'occurred': expected true or false, got {quoted(occurred)}")
    try:
        if row.get("grade") not in (None, ""):
            reliability, credibility = parse_grade(str(row["grade"]))
        else:
            reliability = check_reliability(row.get("reliability", ""))
            credibility = check_credibility(row.get("credibility", ""))
    except EvidenceError as e:
        raise field_error("grade", e) from None
    source = str(row.get("source") or "").strip()
    if not source:
        raise EvidenceError(f"{where}: field 'source': empty; say where the report came from")
    return Report(
        indicator=indicator,
        date=date,
        occurred=occurred,
        reliability=reliability,
        credibility=credibility,
        source=source,
        url=str(row.get("url") or ""),
        note=str(row.get("note") or ""),
        analyst=str(row.get("analyst") or ""),
        origin=(str(row["origin"]).strip() or None) if row.get("origin") not in (None, "") else None,
    )


def reports_list(data: Any, path: Path | str) -> Any:
    """The reports of a parsed file: the list itself, or the mapping's `reports:`. An empty file,
    or a mapping without `reports:`, is an error, never "0 reports" (`reports: []` says none)."""
    if data is None:
        raise EvidenceError(f"{path}: empty file; expected a list of reports, or a mapping with a 'reports:' list")
    if isinstance(data, dict):
        if "reports" not in data:
            raise EvidenceError(f"{path}: no 'reports:' key; expected a list of reports, or a mapping with a 'reports:' list")
        if data["reports"] is None:
            raise EvidenceError(f"{path}: 'reports:' is empty; write 'reports: []' for a file with no reports")
        return data["reports"]
    return data


def load_reports_file(path: Path, *, known: Iterable[str], today: dt.date | None = None) -> list[Report]:
    """Reports from a YAML file: a list, or a mapping with a `reports:` list (events and scenarios)."""
    data = load_yaml(path, error=EvidenceError)
    rows = reports_list(data, path)
    if not isinstance(rows, list):
        raise EvidenceError(f"{path}: expected a list of reports (or a mapping with 'reports:')")
    known = set(known)
    reports = []
    for i, row in enumerate(rows, 1):
        where = f"{path}:{line_of(row) or '?'} (report {i})"
        if not isinstance(row, dict):
            raise EvidenceError(f"{where}: expected a mapping of report fields")
        reports.append(report_from_mapping(row, known=known, where=where, today=today))
    return reports
