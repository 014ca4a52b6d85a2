"""What an import would do, without doing it: per rule, the rows it matched (with examples), the
rows no rule matched, and the drafts that would be stored. A result object; the CLI renders it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from forecaster.ingest.mapping import MappedRow, ReportDraft
from forecaster.ingest.rules import Rules


@dataclass(frozen=True)
class RuleTally:
    rule: str
    indicator: str
    rows: int  # rows the rule matched (one draft each)
    examples: tuple[str, ...]  # up to `examples` row ids, in file order


@dataclass(frozen=True)
class DryRunResult:
    rules_file: str
    format: str
    rows: int
    matched_rows: int
    unmatched_rows: int
    unmatched_examples: tuple[str, ...]
    per_rule: tuple[RuleTally, ...]  # every rule, in the file's order, matched or not
    drafts: int  # reports the import would make (before the store skips repeats)
    per_indicator: tuple[tuple[str, int], ...]  # drafts per indicator, most first
    sample: tuple[ReportDraft, ...]  # the first drafts, to show what would be stored

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules_file": self.rules_file,
            "format": self.format,
            "rows": self.rows,
            "matched_rows": self.matched_rows,
            "unmatched_rows": self.unmatched_rows,
            "unmatched_examples": list(self.unmatched_examples),
            "per_rule": [vars_of(t) for t in self.per_rule],
            "drafts": self.drafts,
            "per_indicator": dict(self.per_indicator),
            "sample": [
                {**d.report_fields(), "origin": d.origin, "rule": d.rule, "source_timestamp": d.source_timestamp.isoformat()}
                for d in self.sample
            ],
        }


def vars_of(t: RuleTally) -> dict[str, Any]:
    return {"rule": t.rule, "indicator": t.indicator, "rows": t.rows, "examples": list(t.examples)}


class DryRun:
    """Tally mapped rows as they stream past: `for item in dry.watch(map_rows(...))`, then `result()`."""

    def __init__(self, rules: Rules, *, examples: int = 3, sample: int = 5) -> None:
        self.rules = rules
        self._examples = examples
        self._sample_size = sample
        self._rows = 0
        self._matched = 0
        self._unmatched: list[str] = []
        self._unmatched_count = 0
        self._counts = {r.id: 0 for r in rules.rules}
        self._rule_examples: dict[str, list[str]] = {r.id: [] for r in rules.rules}
        self._indicators: dict[str, int] = {}
        self._drafts = 0
        self._sample: list[ReportDraft] = []

    def add(self, line: int, row_id: str, drafts: list[ReportDraft]) -> None:
        self._rows += 1
        if not drafts:
            self._unmatched_count += 1
            if len(self._unmatched) < self._examples:
                self._unmatched.append(row_id)
            return
        self._matched += 1
        for d in drafts:
            self._counts[d.rule] += 1
            ex = self._rule_examples[d.rule]
            if len(ex) < self._examples:
                ex.append(row_id)
            self._indicators[d.indicator] = self._indicators.get(d.indicator, 0) + 1
            if len(self._sample) < self._sample_size:
                self._sample.append(d)
        self._drafts += len(drafts)

    def watch(self, mapped: Iterable[MappedRow]) -> Iterator[MappedRow]:
        for item in mapped:
            self.add(*item)
            yield item

    def run(self, mapped: Iterable[MappedRow]) -> DryRunResult:
        for item in mapped:
            self.add(*item)
        return self.result()

    def result(self) -> DryRunResult:
        rules = self.rules.rules
        return DryRunResult(
            rules_file=self.rules.path,
            format=self.rules.format,
            rows=self._rows,
            matched_rows=self._matched,
            unmatched_rows=self._unmatched_count,
            unmatched_examples=tuple(self._unmatched),
            per_rule=tuple(RuleTally(r.id, r.indicator, self._counts[r.id], tuple(self._rule_examples[r.id])) for r in rules),
            drafts=self._drafts,
            per_indicator=tuple(sorted(self._indicators.items(), key=lambda kv: (-kv[1], kv[0]))),
            sample=tuple(self._sample),
        )
