"""Mapping rules: a reviewable YAML file saying which coded events count as reports on which
indicator, with what outcome and grade, and why (a rationale and a citation, like any judgment).

    format: acled                 # or gdelt: the export the rules read
    description: "..."
    grade_tables:                 # optional; a rule's `grade_from: <field>` looks its grade up here
      source_scale:
        values: {National: B2, International: B2, New media: C4}
        default: C3               # for values not in the table
        rationale: "..."
      # num_sources:              # a number field takes thresholds instead (GDELT)
      #   thresholds: [{min: 10, grade: C2}, {min: 3, grade: C3}]
      #   default: D4
    rules:
      - id: north_kosovo_armed_clash
        match:                    # every condition must hold (AND)
          event_type: Battles                     # a value
          sub_event_type: [Armed clash]           # any of these values
          admin2: {regex: '(?i)^zve[cč]an$'}      # re.search over the cell
          fatalities: {min: 1}                    # a number >= 1 (and/or max:)
          # event_code: {prefix: ["19", "18"]}    # text starting with any of these (CAMEO codes)
          # civilian_targeting: true              # text field non-empty (false: empty)
        indicator: armed_incident_north_kosovo
        occurred: true            # default
        grade: B2                 # or grade_from: source_scale
        rationale: "..."
        citation: "000_44e76504c81b55c5.txt, fn 40"

Field names are ACLED's column names (`tags` matches any of its ';'-separated tags) and, for
GDELT, snake_case names of its columns (`GDELT_FIELDS`: event_code, quad_class, goldstein,
num_sources, action_country, …). Geography in GDELT is FIPS 10-4 (Serbia RI, Kosovo KV, Bosnia
and Herzegovina BK). A row may match several rules: it then yields several drafts that share the
row's origin (MODEL.md §3 folds same-origin reports on one indicator into one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from forecaster.core.errors import EvidenceError, did_you_mean
from forecaster.core.files import check_regular
from forecaster.core.text import quoted
from forecaster.core.yamlio import line_of, load_yaml_text, read_text
from forecaster.ingest.conditions import _ID, _INDEX, FIELDS, Predicate, RulesError, _BadCell, _condition
from forecaster.ingest.formats import CodedFileError, CodedFormat, CodedRow
from forecaster.model.evidence import DEFAULT_GRADES, parse_grade
from forecaster.model.problems import loc_text, pydantic_error

# ----------------------------------------------------------------------------- the file schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(v: str) -> str:
    if not v.strip():
        raise ValueError("empty: say it in words")
    return v.strip()


def _grade(v: str) -> str:
    try:
        r, c = parse_grade(v)
    except EvidenceError as e:
        raise ValueError(str(e)) from None
    return f"{r}{c}"


Grade = Annotated[str, AfterValidator(_grade)]


class ThresholdSpec(_Strict):
    min: float
    grade: Grade


class GradeTableSpec(_Strict):
    """How a field's value sets the grade: a table of values (text) or thresholds (a number)."""

    values: dict[str, Grade] | None = None
    thresholds: list[ThresholdSpec] | None = None
    default: Grade
    rationale: str
    citation: str | None = None

    @field_validator("rationale")
    @classmethod
    def _r(cls, v: str) -> str:
        return _text(v)

    @model_validator(mode="after")
    def _one_kind(self) -> GradeTableSpec:
        if (self.values is None) == (self.thresholds is None):
            raise ValueError("give exactly one of 'values' (a text field's values -> grades) or 'thresholds' (a number field)")
        if self.thresholds is not None:
            mins = [t.min for t in self.thresholds]
            if not mins or len(set(mins)) != len(mins):
                raise ValueError("thresholds need distinct 'min' values")
            if len(mins) > 100:
                raise ValueError(f"{len(mins)} thresholds, more than the 100 a grade table may have")
        return self


class RuleSpec(_Strict):
    id: str = Field(pattern=_ID)
    match: dict[str, Any] = Field(min_length=1)
    indicator: str
    occurred: bool = True
    grade: Grade | None = None
    grade_from: str | None = None
    rationale: str
    citation: str

    @field_validator("rationale", "citation")
    @classmethod
    def _t(cls, v: str) -> str:
        return _text(v)

    @model_validator(mode="after")
    def _one_grade(self) -> RuleSpec:
        if (self.grade is None) == (self.grade_from is None):
            raise ValueError("give exactly one of 'grade' (e.g. B2) or 'grade_from' (a field with a grade table, e.g. source_scale)")
        return self


# A file's rules are tried on every row: their number bounds an import's time (docs/LIMITS.md).
MAX_RULES = 300
MAX_ALTERNATIVES = 100  # prefixes of one condition, thresholds of one grade table


class RulesSpec(_Strict):
    format: Literal["acled", "gdelt"]
    description: str
    grade_tables: dict[str, GradeTableSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _few_enough(cls, v: list[RuleSpec]) -> list[RuleSpec]:
        if len(v) > MAX_RULES:
            raise ValueError(f"{len(v):,} rules, more than the {MAX_RULES} a file may hold (each is tried on every row): split the file")
        return v

    @field_validator("description")
    @classmethod
    def _d(cls, v: str) -> str:
        return _text(v)


def _keys_at(loc: Sequence[int | str]) -> Iterable[str]:
    """The keys allowed where an unknown key was found, for did-you-mean."""
    n = len(loc)
    if n == 1:
        return RulesSpec.model_fields
    if loc[0] == "rules" and n == 3:
        return RuleSpec.model_fields
    if loc[0] == "grade_tables" and n == 3:
        return GradeTableSpec.model_fields
    if loc[0] == "grade_tables" and n == 5:
        return ThresholdSpec.model_fields
    return ()


# ----------------------------------------------------------------------------- compiled rules


@dataclass(frozen=True)
class GradeLookup:
    """A grade table, compiled. Text values: the exact value, else (for ACLED's composite scales
    such as "National-International") the best-graded of its '-'/';'-separated parts that the table
    names, else the default. Numbers: the first threshold (highest first) the value reaches."""

    field: str
    column: str
    values: Mapping[str, tuple[str, int]] | None
    thresholds: tuple[tuple[float, tuple[str, int]], ...] | None
    default: tuple[str, int]
    rationale: str
    _cache: dict[str, tuple[str, int]] = dc_field(default_factory=dict, compare=False, repr=False)

    def grade(self, cell: str) -> tuple[str, int]:
        hit = self._cache.get(cell)
        if hit is None:
            hit = self._cache[cell] = self._look_up(cell)
        return hit

    def _look_up(self, cell: str) -> tuple[str, int]:
        if self.values is not None:
            value = cell.strip()
            if value in self.values:
                return self.values[value]
            parts = [self.values[p.strip()] for p in re.split(r"[-;]", value) if p.strip() in self.values]
            return max(parts, key=lambda g: DEFAULT_GRADES.accuracy(*g)) if parts else self.default
        assert self.thresholds is not None
        if not cell.strip():
            return self.default
        try:
            x = float(cell)
        except ValueError:
            raise _BadCell(self.column, cell, f"{quoted(cell)} is not a number (the grade table for {self.field} reads it)") from None
        for lo, g in self.thresholds:
            if x >= lo:
                return g
        return self.default


@dataclass(frozen=True)
class Rule:
    """One mapping rule, compiled: `conditions` are (cell index, predicate) pairs, cheapest first."""

    id: str
    indicator: str
    occurred: bool
    grade: tuple[str, int] | None
    grade_from: str | None
    rationale: str
    citation: str
    line: int
    fields: tuple[str, ...]
    conditions: tuple[tuple[int, Predicate], ...] = dc_field(compare=False, repr=False)
    # (position in conditions, cell index, values) of each plain-value condition: map_rows looks rules up by one
    exact: tuple[tuple[int, int, frozenset[str]], ...] = dc_field(default=(), compare=False, repr=False)

    def matches(self, row: CodedRow) -> bool:
        """Whether every condition holds for the row (map_rows does the same, faster, for a file)."""
        cells = row.cells
        try:
            return all(pred(cells[i]) for i, pred in self.conditions)
        except _BadCell as e:
            raise CodedFileError(f"{row.fmt} row {row.id}", row.line, e.column, e.problem) from None


@dataclass(frozen=True)
class Rules:
    """A validated rules file."""

    path: str
    format: CodedFormat
    description: str
    rules: tuple[Rule, ...]
    grade_tables: Mapping[str, GradeLookup]
    digest: str  # sha256 of the file's text: which rules produced an import

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)

    def grade_of(self, rule: Rule, row: CodedRow) -> tuple[str, int]:
        if rule.grade is not None:
            return rule.grade
        assert rule.grade_from is not None
        table = self.grade_tables[rule.grade_from]
        return table.grade(row.cells[row.columns[table.column]])


def load_rules(path: Path, known_indicators: Iterable[str]) -> Rules:
    """Read and validate a rules file against the indicator catalogue; RulesError names
    file:line: field.path: problem (did you mean … for indicator ids, keys and field names)."""
    text = _read(path)
    return load_rules_text(text, name=str(path), known_indicators=known_indicators)


def _read(path: Path) -> str:
    check_regular(path, error=RulesError, what="rules file")  # a FIFO or device: refused before it is opened
    return read_text(path, error=RulesError)


def load_rules_text(text: str, *, name: str, known_indicators: Iterable[str]) -> Rules:
    raw = load_yaml_text(text, name=name, error=RulesError)
    if not isinstance(raw, dict):
        raise RulesError(f"{name}: expected a mapping at the top level (format, description, rules), got {type(raw).__name__}")
    if isinstance(raw.get("rules"), list) and len(raw["rules"]) > MAX_RULES:  # before validating thousands
        raise RulesError(
            f"{name}:{line_of(raw['rules'][0]) or 1}: rules: {len(raw['rules']):,} rules, more than the {MAX_RULES} a file may hold "
            "(each is tried on every row): split the file"
        )
    spec = _validate(raw, name, text)
    known = set(known_indicators)

    def fail(loc: Sequence[int | str], msg: str) -> RulesError:
        line = _line_at(text, loc)
        return RulesError(f"{name}:{line}: {loc_text(loc)}: {msg}" if line else f"{name}: {loc_text(loc)}: {msg}")

    fields = FIELDS[spec.format]
    tables: dict[str, GradeLookup] = {}
    for fname, t in spec.grade_tables.items():
        loc: list[int | str] = ["grade_tables", fname]
        if fname not in fields:
            raise fail(loc, f"unknown {spec.format} field {quoted(fname)}{did_you_mean(fname, fields)}")
        column, kind = fields[fname]
        if t.values is not None and kind == "number":
            raise fail(loc, f"{fname} is a number: give 'thresholds' ([{{min: N, grade: G}}, …]), not 'values'")
        if t.thresholds is not None and kind != "number":
            raise fail(loc, f"{fname} is text: give 'values' ({{value: grade}}), not 'thresholds'")
        tables[fname] = GradeLookup(
            field=fname,
            column=column,
            values=None if t.values is None else {k.strip(): parse_grade(g) for k, g in t.values.items()},
            thresholds=None
            if t.thresholds is None
            else tuple(sorted(((x.min, parse_grade(x.grade)) for x in t.thresholds), key=lambda p: -p[0])),
            default=parse_grade(t.default),
            rationale=t.rationale,
        )

    rules: list[Rule] = []
    seen: dict[str, int] = {}
    index = _INDEX[spec.format]
    for i, r in enumerate(spec.rules):
        loc = ["rules", i]
        if r.id in seen:
            raise fail([*loc, "id"], f"duplicate rule id {quoted(r.id)} (also rules[{seen[r.id]}])")
        seen[r.id] = i
        if r.indicator not in known:
            raise fail([*loc, "indicator"], f"unknown indicator {quoted(r.indicator)}{did_you_mean(r.indicator, known)}")
        if r.grade_from is not None and r.grade_from not in tables:
            have = f"; the file's grade_tables: {', '.join(tables)}" if tables else "; the file has no grade_tables"
            raise fail([*loc, "grade_from"], f"no grade table for {quoted(r.grade_from)}{did_you_mean(r.grade_from, tables)}{have}")
        conditions: list[tuple[int, int, Predicate, frozenset[str] | None]] = []
        for fname, value in r.match.items():
            floc = [*loc, "match", fname]
            if not isinstance(fname, str) or fname not in fields:
                other: CodedFormat = "gdelt" if spec.format == "acled" else "acled"
                elsewhere = f" ({quoted(fname)} is a {other} field; this file says format: {spec.format})" if fname in FIELDS[other] else ""
                raise fail(floc, f"unknown {spec.format} field {quoted(fname)}{did_you_mean(str(fname), fields)}{elsewhere}")
            column, kind = fields[fname]
            try:
                cost, pred, exact = _condition(fname, column, kind, value)
            except ValueError as e:
                raise fail(floc, f"{e} (rule {r.id})") from None
            conditions.append((cost, index[column], pred, exact))
        conditions.sort(key=lambda c: c[0])
        grade = None if r.grade is None else parse_grade(r.grade)
        rules.append(
            Rule(
                id=r.id, indicator=r.indicator, occurred=r.occurred, grade=grade, grade_from=r.grade_from,
                rationale=r.rationale, citation=r.citation, line=getattr(raw["rules"][i], "line", 0), fields=tuple(r.match),
                conditions=tuple((ix, p) for _, ix, p, _ in conditions),
                exact=tuple((k, ix, ex) for k, (_, ix, _, ex) in enumerate(conditions) if ex is not None),
            )
        )  # fmt: skip
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Rules(name, spec.format, spec.description, tuple(rules), tables, digest)


def _validate(raw: dict[str, Any], name: str, text: str) -> RulesSpec:
    try:
        return RulesSpec.model_validate(raw)
    except ValidationError as e:
        errors = e.errors()
        # an unknown key is most often a misspelt one, whose absence pydantic also reports: name the typo
        first = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        loc, msg = pydantic_error(first, _keys_at)
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        line = _line_at(text, loc)
        where = f"{name}:{line}" if line else name
        raise RulesError(f"{where}: {loc_text(loc)}: {msg}{more}") from None


def _line_at(text: str, loc: Sequence[int | str]) -> int:
    """The line of the deepest key or item of `loc` in the YAML text (0 if none). Runs only on
    the error path, on text the safe loader has already accepted; composing does not expand aliases."""
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 0
    line = node.start_mark.line + 1 if node is not None else 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


