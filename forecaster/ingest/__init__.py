"""Coded event data in: ACLED and GDELT exports mapped onto the indicator catalogue by reviewable rules.

May import: core and model only (errors, yamlio, evidence); knows nothing of the store.

The pieces, in the order an import uses them (issue 15):

    fmt = detect_format(path)                      # "acled", "gdelt" or "acled-deletions"
    rules = load_rules(rules_path, known_indicators)
    check_format(rules, fmt, path)
    summary = DryRun(rules)
    for line, row_id, drafts in summary.watch(map_rows(read_coded(path, fmt), rules, path.name)):
        ...                                        # drafts: ReportDraft, sharing the row's origin
    summary.result()                               # per rule: rows matched and examples; rows matched by none

Readers and `map_rows` are generators: a bad row raises `CodedFileError` (file, line, field) when
it is reached, so a caller that writes all or nothing consumes the whole file before writing.
"""

from __future__ import annotations

from forecaster.ingest.conditions import RulesError
from forecaster.ingest.dryrun import DryRun, DryRunResult, RuleTally
from forecaster.ingest.formats import (
    ACLED_COLUMNS,
    ACLED_DELETION_COLUMNS,
    GDELT_COLUMNS,
    CodedFileError,
    CodedFormat,
    CodedRow,
    Deletion,
    FileKind,
    detect_format,
    read_coded,
    read_deletions,
)
from forecaster.ingest.mapping import ReportDraft, check_format, map_rows
from forecaster.ingest.rules import Rule, Rules, load_rules, load_rules_text

__all__ = [
    "ACLED_COLUMNS",
    "ACLED_DELETION_COLUMNS",
    "GDELT_COLUMNS",
    "CodedFileError",
    "CodedFormat",
    "CodedRow",
    "Deletion",
    "DryRun",
    "DryRunResult",
    "FileKind",
    "ReportDraft",
    "Rule",
    "RuleTally",
    "Rules",
    "RulesError",
    "check_format",
    "detect_format",
    "load_rules",
    "load_rules_text",
    "map_rows",
    "read_coded",
    "read_deletions",
]
