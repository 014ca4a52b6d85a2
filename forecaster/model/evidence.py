"""Reports and what they weigh (MODEL.md §3): Admiralty grades -> accuracy -> likelihood pairs,
folded into one λ per indicator so inference cost never grows with the number of reports."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecaster.core.errors import EvidenceError, did_you_mean
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
        raise EvidenceError(f"grade {text!r} is not an Admiralty grade: reliability A–F then credibility 1–6, e.g. B2")
    return m.group(1).upper(), int(m.group(2))


def check_reliability(value: Any) -> str:
    s = str(value).strip().upper()
    if len(s) != 1 or s not in RELIABILITY:
        raise EvidenceError(f"reliability {value!r} is out of range: expected one letter A–F")
    return s


def check_credibility(value: Any) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n not in CREDIBILITY or str(value).strip() not in {str(c) for c in CREDIBILITY}:
        raise EvidenceError(f"credibility {value!r} is out of range: expected a number 1–6")
    return n


def check_date(value: Any, *, today: dt.date | None = None) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise EvidenceError(f"date {value!r} is not an ISO date (YYYY-MM-DD)") from None
    today = today or dt.date.today()
    if value > today:
        raise EvidenceError(f"date {value.isoformat()} lies in the future (today is {today.isoformat()})")
    return value


def check_indicator(indicator: str, known: Iterable[str]) -> str:
    known = set(known)
    if indicator not in known:
        raise EvidenceError(f"unknown indicator {indicator!r}{did_you_mean(indicator, known)}")
    return indicator


@dataclass(frozen=True)
class FoldedEvidence:
    """All reports on one indicator combined: λ multiplied (in logs), scaled so max(λ) = 1."""

    indicator: str
    reports: int
    log_lambda: tuple[float, float]
    report_ids: tuple[str, ...] = field(default=())

    @property
    def likelihood(self) -> tuple[float, float]:
        l1, l0 = self.log_lambda
        top = max(l1, l0)
        return (math.exp(l1 - top), math.exp(l0 - top))


def fold(reports: Iterable[Report], grades: GradeTable) -> dict[str, FoldedEvidence]:
    """One λ per indicator: reports are independent given the indicator, so their λ multiply."""
    sums: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    ids: dict[str, list[str]] = {}
    for r in reports:
        l1, l0 = grades.likelihood(r.occurred, r.reliability, r.credibility)
        s = sums.setdefault(r.indicator, [0.0, 0.0])
        s[0] += math.log(l1)
        s[1] += math.log(l0)
        counts[r.indicator] = counts.get(r.indicator, 0) + 1
        if r.id is not None:
            ids.setdefault(r.indicator, []).append(r.id)
    return {
        k: FoldedEvidence(k, counts[k], (v[0], v[1]), tuple(ids.get(k, ())))
        for k, v in sorted(sums.items())
    }


_REPORT_KEYS = {"indicator", "date", "occurred", "reliability", "credibility", "grade", "source", "url", "note", "analyst", "id", "recorded_at", "citation"}


def report_from_mapping(row: Mapping[str, Any], *, known: Iterable[str], where: str, today: dt.date | None = None) -> Report:
    """Validate one report given as a mapping (a YAML entry or a CSV row); errors name `where` and the field."""
    unknown = set(row) - _REPORT_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise EvidenceError(f"{where}: unknown field {key!r}{did_you_mean(key, _REPORT_KEYS)}")

    def field_error(name: str, e: EvidenceError) -> EvidenceError:
        return EvidenceError(f"{where}: field {name!r}: {e}")

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
            raise EvidenceError(f"{where}: field 'occurred': expected true or false, got {occurred!r}")
        occurred = low in {"true", "yes", "1"}
    if not isinstance(occurred, bool):
        raise EvidenceError(f"{where}: field 'occurred': expected true or false, got {occurred!r}")
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
    )


def load_reports_file(path: Path, *, known: Iterable[str], today: dt.date | None = None) -> list[Report]:
    """Reports from a YAML file: a list, or a mapping with a `reports:` list (events and scenarios)."""
    data = load_yaml(path, error=EvidenceError)
    rows = data.get("reports") if isinstance(data, dict) else data
    if rows is None:
        rows = []
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
