"""Coded event data in (issue 15, part A): ACLED and GDELT readers, mapping rules, dry-run tallies.

Every fixture row is synthetic (tests/data/ingest/README.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.core.errors import EvidenceError
from forecaster.ingest import (
    ACLED_COLUMNS,
    GDELT_COLUMNS,
    CodedFileError,
    CodedRow,
    DryRun,
    RulesError,
    check_format,
    detect_format,
    load_rules,
    load_rules_text,
    map_rows,
    read_coded,
    read_deletions,
)
from forecaster.ingest.mapping import report_date
from forecaster.model.evidence import report_from_mapping
from forecaster.model.loading import load_priors

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "ingest"
TODAY = dt.date(2026, 1, 15)
SEEDS = Path(os.environ.get("FORECAST_SEEDS", "/work/shared/seeds"))


@pytest.fixture(scope="module")
def known() -> set[str]:
    return load_priors(ROOT / "priors").indicator_ids


@pytest.fixture(scope="module")
def acled_rules(known: set[str]):  # type: ignore[no-untyped-def]
    return load_rules(ROOT / "rules" / "acled_balkans.yaml", known)


@pytest.fixture(scope="module")
def gdelt_rules(known: set[str]):  # type: ignore[no-untyped-def]
    return load_rules(ROOT / "rules" / "gdelt_balkans.yaml", known)


def acled_row(**fields: str) -> list[str]:
    base = {c: "" for c in ACLED_COLUMNS}
    base.update(event_id_cnty="XKX1", event_date="2024-03-15", year="2024", time_precision="1", timestamp="1710600000",
                fatalities="0", country="Kosovo")  # fmt: skip
    base.update(fields)
    return [base[c] for c in ACLED_COLUMNS]


def write_acled(path: Path, rows: list[list[str]], header: list[str] | tuple[str, ...] = ACLED_COLUMNS) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


def rules_text(match: str, *, fmt: str = "acled", extra: str = "", indicator: str = "north_kosovo_unrest") -> str:
    return f"""format: {fmt}
description: "test rules"
rules:
  - id: r1
    match:
{match}
    indicator: {indicator}
    grade: B2
    rationale: "because"
    citation: "000_44e76504c81b55c5.txt, fn 39"
{extra}"""


def bad_rules(text: str, known: set[str]) -> str:
    with pytest.raises(RulesError) as e:
        load_rules_text(text, name="r.yaml", known_indicators=known)
    return str(e.value)


# ============================================================================ formats: detection


def test_detect_format_from_the_first_line() -> None:
    assert detect_format(DATA / "acled_week1.csv") == "acled"
    assert detect_format(DATA / "gdelt_events.CSV") == "gdelt"
    assert detect_format(DATA / "acled_deletions.csv") == "acled-deletions"


def test_gdelt_has_61_columns_in_the_official_order() -> None:
    assert len(GDELT_COLUMNS) == 61
    assert GDELT_COLUMNS[:2] == ("GLOBALEVENTID", "SQLDATE")
    assert GDELT_COLUMNS[26:30] == ("EventCode", "EventBaseCode", "EventRootCode", "QuadClass")
    assert GDELT_COLUMNS[51:54] == ("ActionGeo_Type", "ActionGeo_FullName", "ActionGeo_CountryCode")
    assert GDELT_COLUMNS[-2:] == ("DATEADDED", "SOURCEURL")
    assert len(ACLED_COLUMNS) == 31


@pytest.mark.parametrize(
    ("name", "line", "field", "words"),
    [
        ("wrong_format.csv", 1, None, "not an ACLED export nor a GDELT 2.0 events file"),
        ("acled_missing_column.csv", 1, "tags", "missing column"),
        ("acled_renamed_column.csv", 1, "sub_event_type", "'sub_event' instead (renamed?)"),
        ("acled_bad_date.csv", 3, "event_date", "'2024-13-45' is not a date"),
        ("gdelt_wrong_fields.CSV", 2, None, "found 58 (GDELT 1.0"),
        ("gdelt_bad_date.CSV", 2, "SQLDATE", "'2024031' is not a date in YYYYMMDD form"),
        ("acled_deletions.csv", 1, None, "read it with read_deletions"),
    ],
)
def test_bad_files_name_file_line_and_field(name: str, line: int, field: str | None, words: str) -> None:
    with pytest.raises(CodedFileError) as e:
        list(read_coded(DATA / name))
    err = e.value
    assert isinstance(err, EvidenceError)  # the CLI maps it to exit code 2 like any bad input
    assert (err.line, err.field) == (line, field)
    assert str(err).startswith(f"{DATA / name}:{line}:")
    if field:
        assert f"field {field!r}" in str(err)
    assert words in str(err)


def test_a_bad_row_is_raised_when_reached_after_the_good_ones() -> None:
    rows = read_coded(DATA / "acled_bad_date.csv")
    first = next(rows)  # the header and the first row are fine: streaming, nothing read ahead
    assert first.id == "XKX90003"
    with pytest.raises(CodedFileError, match="acled_bad_date.csv:3: field 'event_date'"):
        next(rows)


@pytest.mark.parametrize(
    ("name", "fmt", "words"),
    [
        ("acled_week1.csv", "gdelt", "found no tab (an ACLED file: use --format acled)"),
        ("gdelt_events.CSV", "acled", "use --format gdelt"),
        ("wrong_format.csv", "gdelt", "expected a GDELT 2.0 event"),
        ("wrong_format.csv", "acled", "not an ACLED export"),
    ],
)
def test_a_file_of_the_other_format_is_refused(name: str, fmt: str, words: str) -> None:
    with pytest.raises(CodedFileError, match=r":1: ") as e:
        read_coded(DATA / name, fmt)  # type: ignore[arg-type]
    assert words in str(e.value)


def test_our_own_reports_file_is_told_to_import_without_rules(tmp_path: Path) -> None:
    p = tmp_path / "reports.csv"
    p.write_text("indicator,date,occurred,grade,source\nnorth_kosovo_unrest,2024-01-01,true,B2,x\n", encoding="utf-8")
    with pytest.raises(CodedFileError, match="import it without --rules"):
        detect_format(p)


def test_empty_missing_and_non_utf8_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CodedFileError, match="empty file"):
        detect_format(empty)
    with pytest.raises(CodedFileError, match="no such file"):
        read_coded(tmp_path / "nope.csv")
    latin = write_acled(tmp_path / "latin.csv", [acled_row()])
    latin.write_bytes(latin.read_bytes() + acled_row_bytes(location="Zve\xe7an"))
    with pytest.raises(CodedFileError, match="not UTF-8"):
        list(read_coded(latin))


def acled_row_bytes(**fields: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(acled_row(event_id_cnty="XKX2", **fields))
    return buf.getvalue().encode("latin-1")


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"time_precision": "4"}, "time_precision", "expected 1 (day), 2 (week) or 3 (month)"),
        ({"timestamp": "yesterday"}, "timestamp", "not a unix time"),
        ({"event_id_cnty": ""}, "event_id_cnty", "empty"),
        ({"event_date": "15/03/2024"}, "event_date", "expected 2024-03-15 or 15 March 2024"),
    ],
)
def test_bad_acled_cells(tmp_path: Path, fields: dict[str, str], field: str, words: str) -> None:
    p = write_acled(tmp_path / "a.csv", [acled_row(), acled_row(**{"event_id_cnty": "XKX2", **fields})])
    with pytest.raises(CodedFileError) as e:
        list(read_coded(p))
    assert (e.value.line, e.value.field) == (3, field)
    assert words in str(e.value)


def test_acled_row_with_the_wrong_number_of_cells_and_broken_quotes(tmp_path: Path) -> None:
    p = write_acled(tmp_path / "a.csv", [acled_row(), acled_row()[:30]])
    with pytest.raises(CodedFileError, match=r"a.csv:3: expected 31 cells \(one per column of the header\), found 30"):
        list(read_coded(p))
    q = tmp_path / "q.csv"
    q.write_text(",".join(ACLED_COLUMNS) + '\nXKX1,2024-03-15,"unterminated\n', encoding="utf-8")
    with pytest.raises(CodedFileError, match="q.csv:2"):
        list(read_coded(q))


def test_a_duplicated_acled_column_is_refused(tmp_path: Path) -> None:
    header = [*ACLED_COLUMNS, "notes"]
    p = write_acled(tmp_path / "a.csv", [[*acled_row(), "x"]], header)
    with pytest.raises(CodedFileError, match="field 'notes': column appears twice"):
        list(read_coded(p))


# ============================================================================ formats: ACLED


def test_acled_rows_keep_quotes_newlines_empty_fields_and_start_lines() -> None:
    rows = list(read_coded(DATA / "acled_week1.csv"))
    assert [r.id for r in rows] == [f"{p}9000{i}" for p, i in zip(["XKX"] * 4 + ["SRB", "BIH", "XKX", "XKX"], range(1, 9), strict=True)]
    by_id = {r.id: r for r in rows}
    clash = by_id["XKX90002"]
    assert clash.date == dt.date(2023, 9, 24)  # "24 September 2023", the website export's dates
    assert '"Kosovo Police"' in clash.get("notes") and "\n4 killed" in clash.get("notes")
    assert clash.line == 3 and by_id["XKX90003"].line == 5  # the quoted line break takes a line
    assert [by_id[i].precision for i in ("XKX90002", "XKX90003", "XKX90004")] == [1, 2, 3]
    empty = by_id["XKX90007"]
    assert empty.get("notes") == "" and empty.get("actor2") == "" and empty.get("latitude") == ""
    assert empty.origin == "acled:XKX90007"
    assert by_id["XKX90001"].timestamp == 1710600000
    assert by_id["XKX90001"].source_time == dt.datetime(2024, 3, 16, 14, 40, tzinfo=dt.UTC)
    assert all(isinstance(r, CodedRow) and r.fmt == "acled" for r in rows)


def test_acled_columns_in_any_order_and_case_with_extra_columns(tmp_path: Path) -> None:
    header = [c.upper() for c in reversed(ACLED_COLUMNS)] + ["population_best"]
    row = [*reversed(acled_row(notes="hello, world", event_date="1 Mar 2024")), "1200"]
    p = write_acled(tmp_path / "a.csv", [row], header)
    (r,) = list(read_coded(p))
    assert r.get("notes") == "hello, world" and r.date == dt.date(2024, 3, 1) and r.get("population_best") == "1200"


@settings(max_examples=40, deadline=None)
@given(notes=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"), max_size=80))
def test_acled_notes_round_trip_through_csv(tmp_path_factory: pytest.TempPathFactory, notes: str) -> None:
    p = write_acled(tmp_path_factory.mktemp("rt") / "a.csv", [acled_row(notes=notes), acled_row(event_id_cnty="XKX2")])
    rows = list(read_coded(p))
    assert rows[0].get("notes") == notes
    assert rows[1].line == 3 + notes.count("\n")


# ============================================================================ formats: GDELT and deletions


def test_gdelt_rows_keep_codes_as_text_and_fips_geography() -> None:
    rows = list(read_coded(DATA / "gdelt_events.CSV"))
    assert [r.line for r in rows] == [1, 2, 3, 4, 5, 6]
    by_id = {r.id: r for r in rows}
    visit = by_id["1100000002"]
    assert visit.get("EventCode") == "043" and visit.get("EventRootCode") == "04"  # leading zeros kept
    assert {r.get("ActionGeo_CountryCode") for r in rows} == {"KV", "RI", "BK"}
    assert by_id["1100000006"].get("Actor2Code") == ""
    first = by_id["1100000001"]
    assert first.date == dt.date(2024, 3, 15) and first.precision == 1
    assert first.source_time == dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.UTC)  # DATEADDED
    assert first.origin == "gdelt:1100000001"
    assert all(len(r.cells) == 61 for r in rows)


def test_gdelt_zip_is_read_in_place(tmp_path: Path) -> None:
    z = tmp_path / "20240315120000.export.CSV.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(DATA / "gdelt_events.CSV", "20240315120000.export.CSV")
    assert detect_format(z) == "gdelt"
    assert [r.id for r in read_coded(z)] == [r.id for r in read_coded(DATA / "gdelt_events.CSV")]


def test_gdelt_bad_event_id_and_dateadded(tmp_path: Path) -> None:
    line = (DATA / "gdelt_events.CSV").read_text(encoding="utf-8").splitlines()[0].split("\t")
    bad_id, bad_added = list(line), list(line)
    bad_id[0] = "x1"
    bad_added[59] = "2024031512"
    for cells, field in ((bad_id, "GLOBALEVENTID"), (bad_added, "DATEADDED")):
        p = tmp_path / "g.CSV"
        p.write_text("\t".join(line) + "\n" + "\t".join(cells) + "\n", encoding="utf-8")
        with pytest.raises(CodedFileError) as e:
            list(read_coded(p))
        assert (e.value.line, e.value.field) == (2, field)


def test_read_deletions(tmp_path: Path) -> None:
    (d,) = list(read_deletions(DATA / "acled_deletions.csv"))
    assert (d.id, d.origin, d.line) == ("XKX90007", "acled:XKX90007", 2)
    assert d.deleted_at == dt.datetime.fromtimestamp(1712500000, dt.UTC)
    assert d.origin in {r.origin for r in read_coded(DATA / "acled_week1.csv")}
    bad = tmp_path / "del.csv"
    bad.write_text("event_id_cnty,deleted_timestamp\nXKX1,soon\n", encoding="utf-8")
    with pytest.raises(CodedFileError, match="del.csv:2: field 'deleted_timestamp'"):
        list(read_deletions(bad))
    with pytest.raises(CodedFileError, match="expected ACLED's deletions header"):
        read_deletions(DATA / "acled_week1.csv")


# ============================================================================ rules: bundled


def test_bundled_rules_validate_against_the_bundled_catalogue(acled_rules, gdelt_rules, known) -> None:  # type: ignore[no-untyped-def]
    assert acled_rules.format == "acled" and gdelt_rules.format == "gdelt"
    for rules in (acled_rules, gdelt_rules):
        assert len(rules.rules) >= 5
        assert len(set(rules.ids)) == len(rules.ids)
        for r in rules.rules:
            assert r.indicator in known
            assert r.rationale.strip() and r.citation.strip()
    assert {r.indicator for r in acled_rules.rules} >= {
        "infrastructure_sabotage", "armed_incident_north_kosovo", "north_kosovo_unrest", "serbian_border_deployment",
    }  # fmt: skip


def test_bundled_rules_cite_passages_of_the_seed_papers(acled_rules, gdelt_rules) -> None:  # type: ignore[no-untyped-def]
    from forecaster.analysis.seeds import citation_problem, load_seeds

    seeds = load_seeds(SEEDS) if SEEDS.is_dir() and any(SEEDS.glob("*.txt")) else None
    for rules in (acled_rules, gdelt_rules):
        for r in rules.rules:
            assert citation_problem(r.citation, seeds) is None, (r.id, r.citation)


# ============================================================================ rules: bad files


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("rules_unknown_field.yaml", "rules_unknown_field.yaml:6: rules[0].match.event_typ: unknown acled field 'event_typ' (did you mean 'event_type'"),
        ("rules_unknown_indicator.yaml", "rules_unknown_indicator.yaml:7: rules[0].indicator: unknown indicator 'armed_incident_north_kosova' (did you mean 'armed_incident_north_kosovo'"),
        ("rules_bad_regex.yaml", "rules_bad_regex.yaml:7: rules[0].match.admin2: bad regular expression"),
    ],
)  # fmt: skip
def test_bad_rules_files(known: set[str], name: str, words: str) -> None:
    with pytest.raises(RulesError) as e:
        load_rules(DATA / name, known)
    assert words in str(e.value)
    assert isinstance(e.value, EvidenceError)


@pytest.mark.parametrize(
    ("match", "words"),
    [
        ("      event_type: Protest", "'Protest' is not an ACLED event_type (did you mean 'Protests'?)"),
        ("      event_code: {prefix: ['19']}", "'event_code' is a gdelt field; this file says format: acled"),
        ("      admin2: {min: 3}", "admin2 is text: {min: N} / {max: N} apply to number fields"),
        ("      fatalities: {regex: '1'}", "fatalities is a number"),
        ("      fatalities: '3'", "fatalities is a number: write '3' without quotes"),
        ("      fatalities: {min: 5, max: 1}", "nothing can match"),
        ("      notes: {regexp: 'x'}", "unknown condition 'regexp' (did you mean 'regex'?)"),
        ("      notes: {regex: 'x', prefix: 'y'}", "cannot be combined"),
        ("      notes:", "empty condition"),
        ("      notes: []", "empty list"),
        ("      country: 7", "country is text: quote the value"),
    ],
)
def test_bad_acled_conditions(known: set[str], match: str, words: str) -> None:
    msg = bad_rules(rules_text(match), known)
    assert msg.startswith("r.yaml:6: rules[0].match.")
    assert words in msg


@pytest.mark.parametrize(
    ("match", "words"),
    [
        ("      event_code: {prefix: [19]}", "quote the value ('19')"),
        ("      event_code: {prefix: ['19x']}", "not the start of a CAMEO code"),
        ("      event_code: '43'", None),  # fine: a quoted code
        ("      action_country: XK", "where Kosovo is KV"),
        ("      action_country: Kosovo", "not a FIPS 10-4 country code"),
        ("      actor1_country: RS", "CAMEO actor country code"),
        ("      quad_class: '4'", "quad_class is a number"),
        ("      goldstein: {max: -5}", None),
        ("      sql_date: 1", "unknown gdelt field 'sql_date'"),
        ("      country: Kosovo", "'country' is a acled field"),
    ],
)
def test_gdelt_conditions(known: set[str], match: str, words: str | None) -> None:
    text = rules_text(match, fmt="gdelt")
    if words is None:
        load_rules_text(text, name="r.yaml", known_indicators=known)
    else:
        assert words in bad_rules(text, known)


def test_bad_rule_structure(known: set[str]) -> None:
    base = rules_text("      event_type: Riots")
    assert "r.yaml:9: rules[0].rationle: unknown key 'rationle' (did you mean 'rationale'" in bad_rules(
        base.replace("    rationale:", "    rationle:"), known
    )
    assert "rules[0].citation: missing: this field is required" in bad_rules(base.replace("    citation:", "    #"), known)
    assert "rules[0].citation: empty" in bad_rules(base.replace('"000_44e76504c81b55c5.txt, fn 39"', '" "'), known)
    assert "not an Admiralty grade" in bad_rules(base.replace("grade: B2", "grade: B7"), known)
    assert "give exactly one of 'grade'" in bad_rules(base.replace("grade: B2", "grade: B2\n    grade_from: source_scale"), known)
    assert "rules[0].grade_from: no grade table for 'source_scale'" in bad_rules(
        base.replace("grade: B2", "grade_from: source_scale"), known
    )
    assert "format: 'ucdp': expected 'acled' or 'gdelt'" in bad_rules(base.replace("format: acled", "format: ucdp"), known)
    assert "unknown key 'descripton' (did you mean 'description'?)" in bad_rules(base.replace("description:", "descripton:"), known)
    dup = base + base[base.index("  - id: r1") :]
    assert "rules[1].id: duplicate rule id 'r1'" in bad_rules(dup, known)
    assert "rules[0].id: 'R 1': expected an id in snake_case" in bad_rules(base.replace("id: r1", "id: R 1"), known)
    assert "malformed YAML" in bad_rules(base + "  - [unclosed\n", known)
    assert "expected a mapping at the top level" in bad_rules("- a\n- b\n", known)


def test_bad_grade_tables(known: set[str]) -> None:
    table = """grade_tables:
  {field}:
    {kind}
    default: C3
    rationale: "why"
"""
    base = rules_text("      event_type: Riots").replace("grade: B2", "grade_from: {field}")
    text = base.replace("{field}", "fatalities") + table.format(field="fatalities", kind="values: {'1': B2}")
    assert "grade_tables.fatalities: fatalities is a number: give 'thresholds'" in bad_rules(text, known)
    text = base.replace("{field}", "source_scale") + table.format(field="source_scale", kind="thresholds: [{min: 1, grade: B2}]")
    assert "source_scale is text: give 'values'" in bad_rules(text, known)
    text = base.replace("{field}", "source_scal") + table.format(field="source_scal", kind="values: {National: B2}")
    assert "unknown acled field 'source_scal' (did you mean 'source_scale'" in bad_rules(text, known)
    text = base.replace("{field}", "source_scale") + table.format(field="source_scale", kind="values: {National: Z9}")
    assert "r.yaml:13: grade_tables.source_scale.values.National: grade 'Z9' is not an Admiralty grade" in bad_rules(text, known)
    text = base.replace("{field}", "source_scale") + table.format(field="source_scale", kind="citation: x")
    assert "give exactly one of 'values'" in bad_rules(text, known)


# ============================================================================ rules: condition semantics


def one_rule(known: set[str], match: str, fmt: str = "acled"):  # type: ignore[no-untyped-def]
    return load_rules_text(rules_text(match, fmt=fmt), name="r.yaml", known_indicators=known)


@pytest.mark.parametrize(
    ("match", "hits"),
    [
        ("      event_type: Riots", {"a"}),
        ("      event_type: [Riots, Battles]", {"a", "b"}),
        ("      admin2: {regex: '(?i)^zve[cč]an$'}", {"a", "c"}),
        ("      fatalities: {min: 2}", {"b"}),
        ("      fatalities: {max: 0}", {"a"}),
        ("      fatalities: 1", {"c"}),
        ("      tags: crowd size=no report", {"a"}),
        ("      civilian_targeting: true", {"c"}),
        ("      civilian_targeting: false", {"a", "b"}),
        ("      interaction: 13", {"b"}),
        ("      location: {prefix: [Zub, Lep]}", {"b"}),
        ("      country: Kosovo\n      event_type: Riots", {"a"}),
    ],
)
def test_conditions_match_as_documented(tmp_path: Path, known: set[str], match: str, hits: set[str]) -> None:
    rows = [
        acled_row(event_id_cnty="a", event_type="Riots", admin2="Zvecan", fatalities="0",
                  tags="crowd size=no report; women targeted: girls", location="Banjska"),
        acled_row(event_id_cnty="b", event_type="Battles", admin2="Zubin Potok", fatalities="3", interaction="13",
                  location="Zubin Potok"),
        acled_row(event_id_cnty="c", event_type="Violence against civilians", admin2="ZVEČAN", fatalities="1",
                  civilian_targeting="Civilian targeting", location="Zvecan"),
    ]  # fmt: skip
    p = write_acled(tmp_path / "a.csv", rows)
    rules = one_rule(known, match)
    got = {rid for _, rid, drafts in map_rows(read_coded(p), rules, p.name, today=TODAY) if drafts}
    assert got == hits


def test_a_cell_a_rule_cannot_read_names_line_and_field(tmp_path: Path, known: set[str]) -> None:
    p = write_acled(tmp_path / "a.csv", [acled_row(), acled_row(event_id_cnty="XKX2", fatalities="many")])
    rules = one_rule(known, "      fatalities: {min: 1}")
    with pytest.raises(CodedFileError) as e:
        list(map_rows(read_coded(p), rules, "a.csv", today=TODAY))
    assert (e.value.line, e.value.field) == (3, "fatalities")
    assert str(e.value) == "a.csv:3: field 'fatalities': 'many' is not a number"


def test_an_event_dated_after_today_is_refused(tmp_path: Path, known: set[str]) -> None:
    p = write_acled(tmp_path / "a.csv", [acled_row(event_type="Riots", event_date="2026-02-01")])
    with pytest.raises(CodedFileError, match="a.csv:2: field 'event_date': 2026-02-01 lies in the future"):
        list(map_rows(read_coded(p), one_rule(known, "      event_type: Riots"), "a.csv", today=TODAY))


def test_rules_of_the_other_format_are_refused(acled_rules, gdelt_rules) -> None:  # type: ignore[no-untyped-def]
    g = DATA / "gdelt_events.CSV"
    with pytest.raises(RulesError, match="is a GDELT 2.0 events file, but the rules .* are for an ACLED export"):
        check_format(acled_rules, detect_format(g), g)
    with pytest.raises(RulesError, match="needs no rules"):
        check_format(acled_rules, "acled-deletions", "d.csv")
    check_format(gdelt_rules, detect_format(g), g)
    with pytest.raises(RulesError, match="a gdelt row, but the rules"):
        list(map_rows(read_coded(g), acled_rules, g.name))


# ============================================================================ mapping: bundled rules on the fixtures


def mapped(path: Path, rules):  # type: ignore[no-untyped-def]
    return {rid: drafts for _, rid, drafts in map_rows(read_coded(path), rules, path.name, today=TODAY)}


def test_acled_fixture_maps_onto_the_catalogue(acled_rules) -> None:  # type: ignore[no-untyped-def]
    out = mapped(DATA / "acled_week1.csv", acled_rules)
    summary = {rid: [(d.indicator, d.grade, d.rule) for d in drafts] for rid, drafts in out.items()}
    assert summary == {
        "XKX90001": [("infrastructure_sabotage", "B2", "ied_on_infrastructure")],  # National-International: best part
        "XKX90002": [("armed_incident_north_kosovo", "B2", "north_kosovo_armed_clash")],
        "XKX90003": [("north_kosovo_unrest", "B3", "north_kosovo_riot")],  # Subnational
        "XKX90004": [],  # a peaceful protest: no indicator
        "SRB90005": [("serbian_border_deployment", "B2", "serbian_forces_deployed_towards_kosovo")],
        "BIH90006": [("eufor_reinforcement", "C4", "eufor_reinforced")],  # New media
        "XKX90007": [],
        "XKX90008": [
            ("infrastructure_sabotage", "B2", "ied_on_infrastructure"),
            ("armed_incident_north_kosovo", "B2", "north_kosovo_explosive_attack_on_security_forces"),
        ],
    }
    two = out["XKX90008"]
    assert {d.origin for d in two} == {"acled:XKX90008"}  # several indicators, one origin


def test_drafts_carry_provenance(acled_rules, known) -> None:  # type: ignore[no-untyped-def]
    d = mapped(DATA / "acled_week1.csv", acled_rules)["XKX90002"][0]
    assert d.source == "ACLED XKX90002, acled_week1.csv; coded from Reuters"
    assert d.note.startswith("acled_week1.csv line 3, ACLED XKX90002, rule north_kosovo_armed_clash: Battles / Armed clash;")
    assert "4 fatalities" in d.note and "\n" not in d.note and '"Kosovo Police"' in d.note
    assert (d.origin, d.row_id, d.line, d.url) == ("acled:XKX90002", "XKX90002", 3, "")
    assert d.source_timestamp == dt.datetime.fromtimestamp(1695600000, dt.UTC)
    report = report_from_mapping(d.report_fields(), known=known, where="draft", today=TODAY)
    assert report == d.to_report()
    assert (report.indicator, report.date, report.occurred, report.grade) == (
        "armed_incident_north_kosovo", dt.date(2023, 9, 24), True, "B2",
    )  # fmt: skip


def test_week_and_month_precision_follow_the_bundled_dating_convention(acled_rules) -> None:  # type: ignore[no-untyped-def]
    out = mapped(DATA / "acled_week1.csv", acled_rules)
    week = out["XKX90003"][0]  # ACLED: 2023-05-31 (a Wednesday), week known
    assert (week.event_date, week.date, week.precision) == (dt.date(2023, 5, 31), dt.date(2023, 6, 4), 2)
    assert "time_precision 2 (only the week is known)" in week.note and "the last day of that week" in week.note
    month = out["SRB90005"][0]  # ACLED: 2023-09-15, month known
    assert month.date == dt.date(2023, 9, 30) and "time_precision 3 (only the month is known)" in month.note
    exact = out["XKX90002"][0]
    assert exact.date == exact.event_date and "Dating" not in exact.note
    historical = " ".join((ROOT / "scenarios" / "historical_events.yaml").read_text(encoding="utf-8").replace("#", " ").split())
    assert "the last day of that month (never earlier than the event could have happened)" in historical


def test_report_date() -> None:
    assert report_date(dt.date(2024, 2, 10), 3, today=TODAY) == dt.date(2024, 2, 29)
    assert report_date(dt.date(2024, 12, 30), 2, today=TODAY) == dt.date(2025, 1, 5)
    assert report_date(dt.date(2026, 1, 10), 3, today=TODAY) == TODAY  # the month is not over yet
    assert report_date(dt.date(2026, 1, 10), 1, today=TODAY) == dt.date(2026, 1, 10)


def test_an_unfinished_month_is_dated_today_and_says_so(tmp_path: Path, known: set[str]) -> None:
    p = write_acled(tmp_path / "a.csv", [acled_row(event_type="Riots", event_date="2026-01-10", time_precision="3")])
    ((_, _, (d,)),) = list(map_rows(read_coded(p), one_rule(known, "      event_type: Riots"), "a.csv", today=TODAY))
    assert d.date == TODAY and "that month not being over" in d.note


def test_an_update_has_the_same_origin_and_a_newer_timestamp(acled_rules) -> None:  # type: ignore[no-untyped-def]
    old = mapped(DATA / "acled_week1.csv", acled_rules)["XKX90001"][0]
    new = mapped(DATA / "acled_week2.csv", acled_rules)["XKX90001"][0]
    assert old.origin == new.origin and old.indicator == new.indicator
    assert new.source_timestamp > old.source_timestamp
    assert old.identity != new.identity and "UPDATED" in new.note
    again = mapped(DATA / "acled_week1.csv", acled_rules)["XKX90001"][0]
    assert again == old and again.identity == old.identity  # re-mapping is deterministic


def test_gdelt_fixture_maps_onto_the_catalogue(gdelt_rules) -> None:  # type: ignore[no-untyped-def]
    out = mapped(DATA / "gdelt_events.CSV", gdelt_rules)
    summary = {rid: [(d.indicator, d.grade) for d in drafts] for rid, drafts in out.items()}
    assert summary == {
        "1100000001": [("armed_incident_north_kosovo", "C3")],  # 12 sources
        "1100000002": [],  # CAMEO 043 (host a visit)
        "1100000003": [("north_kosovo_unrest", "D4")],  # 2 sources
        "1100000004": [("serbian_border_deployment", "D3")],  # 5 sources
        "1100000005": [("armed_incident_north_kosovo", "C3"), ("infrastructure_sabotage", "C3")],
        "1100000006": [],
    }
    d = out["1100000004"][0]
    assert d.url == "https://example.org/synthetic/troops-near-kosovo-border"
    assert d.source == "GDELT 2.0 event 1100000004, gdelt_events.CSV"
    assert "rule serbian_force_posture_towards_kosovo: CAMEO 154" in d.note and "(RI)" in d.note
    assert {x.origin for x in out["1100000005"]} == {"gdelt:1100000005"}


def test_gdelt_single_source_falls_to_the_table_default(tmp_path: Path, gdelt_rules) -> None:  # type: ignore[no-untyped-def]
    cells = (DATA / "gdelt_events.CSV").read_text(encoding="utf-8").splitlines()[0].split("\t")
    cells[GDELT_COLUMNS.index("NumSources")] = "1"
    p = tmp_path / "g.CSV"
    p.write_text("\t".join(cells) + "\n", encoding="utf-8")
    ((_, _, (d,)),) = list(map_rows(read_coded(p), gdelt_rules, p.name, today=TODAY))
    assert d.grade == "E5"


def test_the_rule_lookup_plan_matches_every_rule_tried_in_turn(tmp_path: Path, acled_rules) -> None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_ingest
    finally:
        sys.path.pop(0)
    p = tmp_path / "bench.csv"
    bench_ingest.write_rows(p, 3000, seed=7)
    rows = list(read_coded(p))
    planned = [[d.rule for d in drafts] for _, _, drafts in map_rows(rows, acled_rules, p.name, today=TODAY)]
    naive = [[r.id for r in acled_rules.rules if r.matches(row)] for row in rows]
    assert planned == naive
    assert sum(map(len, planned)) > 100  # the check means something


# ============================================================================ dry run


def test_dry_run_tallies_rules_unmatched_rows_and_drafts(acled_rules) -> None:  # type: ignore[no-untyped-def]
    path = DATA / "acled_week1.csv"
    dry = DryRun(acled_rules, examples=3)
    seen = list(dry.watch(map_rows(read_coded(path), acled_rules, path.name, today=TODAY)))
    assert len(seen) == 8  # passes every row through
    res = dry.result()
    assert (res.rows, res.matched_rows, res.unmatched_rows, res.drafts) == (8, 6, 2, 7)
    assert res.unmatched_examples == ("XKX90004", "XKX90007")
    tally = {t.rule: (t.rows, t.examples) for t in res.per_rule}
    assert list(tally) == list(acled_rules.ids)  # every rule, in the file's order, matched or not
    assert tally["ied_on_infrastructure"] == (2, ("XKX90001", "XKX90008"))
    assert tally["kfor_reinforced"] == (0, ())
    assert dict(res.per_indicator)["armed_incident_north_kosovo"] == 2
    assert res.per_indicator[0] == ("armed_incident_north_kosovo", 2)
    assert len(res.sample) == 5
    json.dumps(res.to_dict())  # serialisable for --json


def test_dry_run_keeps_at_most_n_examples(tmp_path: Path, known: set[str]) -> None:
    p = write_acled(tmp_path / "a.csv", [acled_row(event_id_cnty=f"X{i}", event_type="Riots") for i in range(10)])
    rules = one_rule(known, "      event_type: Riots")
    res = DryRun(rules).run(map_rows(read_coded(p), rules, p.name, today=TODAY))
    assert res.per_rule[0].rows == 10 and res.per_rule[0].examples == ("X0", "X1", "X2")


# ============================================================================ boundaries and speed


def test_ingest_imports_no_store_and_no_sampler() -> None:
    code = (
        "import sys, forecaster.ingest; "
        "bad = [m for m in ('forecaster.store', 'forecaster.core.workspace', 'pymc', 'arviz', 'sqlite3') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_bench_script_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_ingest.py"), "--rows", "2000", "--runs", "1"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2,000 ACLED rows" in out.stdout and "median of 1" in out.stdout


def test_mapping_is_fast_enough_for_a_large_export(tmp_path: Path, acled_rules) -> None:  # type: ignore[no-untyped-def]
    """A tenth of the issue's 100,000 rows within a tenth of its 3 s budget, in CPU time (the wall
    clock also counts other processes' load); bench/bench_ingest.py measures the full figure."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_ingest
    finally:
        sys.path.pop(0)
    p = tmp_path / "bench.csv"
    bench_ingest.write_rows(p, 10_000)
    times = []
    for _ in range(2):
        t = time.process_time()
        DryRun(acled_rules).run(map_rows(read_coded(p), acled_rules, p.name))
        times.append(time.process_time() - t)
    assert min(times) < 0.3, times
