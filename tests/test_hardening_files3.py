"""Issue 20, hostile files: bounded time, bounded memory, one clear line (one test per class).

Each hostile input is under 1 MB. The bounded-resource tests run the real `forecast` in a child
process and measure its wall time and peak resident memory (getrusage of the children): generous
limits (10 s, 300 MB) that catch "a tenth of a second becoming a hang", not a slow machine."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.text import excerpt, quoted
from forecaster.core.workspace import Workspace
from forecaster.ingest import ACLED_COLUMNS, GDELT_COLUMNS, load_rules_text
from forecaster.ingest.conditions import RulesError

SECONDS = 10.0
MEGABYTES = 300
FORECAST = [sys.executable, "-m", "forecaster"]


def acled_row(**fields: str) -> list[str]:
    base = {c: "" for c in ACLED_COLUMNS}
    base.update(event_id_cnty="XKX1", event_date="2024-03-15", year="2024", time_precision="1", timestamp="1710600000",
                fatalities="0", country="Kosovo", event_type="Battles", sub_event_type="Armed clash",
                source_scale="National")  # fmt: skip
    base.update(fields)
    return [base[c] for c in ACLED_COLUMNS]


def acled_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ACLED_COLUMNS)
    w.writerows(rows)
    return buf.getvalue()


def gdelt_line(**fields: str) -> str:
    base = {c: "" for c in GDELT_COLUMNS}
    base.update(GLOBALEVENTID="1000001", SQLDATE="20240315", DATEADDED="20240315120000", EventCode="190")
    base.update(fields)
    return "\t".join(base[c] for c in GDELT_COLUMNS) + "\n"


RULES = """format: acled
description: "hostile rules"
rules:
  - id: slow_one
    match:
      event_type: Battles
      notes: {regex: '%s'}
    indicator: armed_incident_north_kosovo
    grade: B2
    rationale: "because"
    citation: "000_44e76504c81b55c5.txt, fn 39"
"""


_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)\n"
    "took = time.perf_counter() - t\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps([p.returncode, p.stdout, p.stderr, took, peak]))\n"
)


def run_measured(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """(the finished `forecast` child, its wall seconds, its peak resident MB), measured by a
    fresh parent of its own (getrusage of the children counts only that one)."""
    wrapper = subprocess.run([sys.executable, "-c", _MEASURE, *FORECAST, *args], cwd=cwd, env={**os.environ, **(env or {})},
                             capture_output=True, text=True, timeout=180)  # fmt: skip
    code, out, err, took, peak = json.loads(wrapper.stdout)
    return subprocess.CompletedProcess(args, code, out, err), took, peak / 1024  # ru_maxrss is KiB on Linux


def one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert len(lines[0]) < 600, len(lines[0])
    return lines[0]


# ------------------------------------------------------------------------------ 1. regular expressions


def test_a_catastrophic_regex_cannot_hang_an_import(ws: Workspace, tmp_path: Path) -> None:
    rules = tmp_path / "slow.yaml"
    rules.write_text(RULES % "(a+)+$", encoding="utf-8")  # exponential in Python's re on 'aaaa…b'
    rows = [acled_row(event_id_cnty=f"XKX{i}", notes="a" * 30_000 + "b") for i in range(25)]
    data = tmp_path / "acled.csv"
    data.write_text(acled_text(rows), encoding="utf-8")
    assert data.stat().st_size < 1_000_000
    done, took, peak = run_measured(["event", "import", str(data), "--rules", str(rules), "--dry-run"], cwd=tmp_path,
                                    env={"FORECAST_WORKSPACE": str(ws.root)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert took < SECONDS and peak < MEGABYTES, (took, peak)


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        (r"(a)\1", "backreferences"),
        (r"(?=.*kfor)", "lookaround"),
        ("((a{1000}){1000}){1000}", "bad regular expression"),
    ],
)
def test_a_pattern_re2_cannot_run_is_refused_naming_rule_and_field(pattern: str, words: str) -> None:
    with pytest.raises(RulesError) as e:
        load_rules_text(RULES % pattern, name="r.yaml", known_indicators={"armed_incident_north_kosovo"})
    message = str(e.value)
    assert message.startswith("r.yaml:7: rules[0].match.notes: ") and "(rule slow_one)" in message, message
    assert words in message


def test_a_rules_file_with_too_many_rules_is_refused_before_it_is_validated() -> None:
    rule = RULES.split("rules:\n", 1)[1] % "x"
    text = RULES.split("rules:\n", 1)[0] + "rules:\n" + "".join(rule.replace("slow_one", f"r{i}") for i in range(301))
    started = time.perf_counter()
    with pytest.raises(RulesError, match=r"r.yaml:4: rules: 301 rules, more than the 300"):
        load_rules_text(text, name="r.yaml", known_indicators={"armed_incident_north_kosovo"})
    assert time.perf_counter() - started < SECONDS


# ------------------------------------------------------------------------------ 2. compressed input


def _zip(path: Path, name: str, data: bytes, *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr(name, data)
    return path


def _patch(path: Path, fn: object) -> Path:
    raw = bytearray(path.read_bytes())
    fn(raw)  # type: ignore[operator]
    path.write_bytes(bytes(raw))
    return path


def test_a_zip_bomb_is_refused_in_bounded_time_and_memory(ws: Workspace, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.export.CSV.zip"
    with (
        zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z,
        z.open("bomb.export.CSV", "w", force_zip64=True) as f,
    ):
        f.write(gdelt_line().encode())
        chunk = b"\n" * (1 << 20)
        for _ in range(600):  # 600 MiB of blank lines, about 600 KB compressed
            f.write(chunk)
    assert bomb.stat().st_size < 1_000_000
    done, took, peak = run_measured(["event", "import", str(bomb), "--rules", "gdelt_balkans.yaml", "--dry-run"],
                                    cwd=tmp_path, env={"FORECAST_WORKSPACE": str(ws.root)})  # fmt: skip
    one_error_line(done, "bomb.export.CSV.zip", "zip bomb")
    assert took < SECONDS and peak < MEGABYTES, (took, peak)


def test_a_huge_line_or_cell_is_refused_by_its_bound(ws: Workspace, tmp_path: Path) -> None:
    long_line = _zip(tmp_path / "line.export.CSV.zip", "line.export.CSV", b"7" * (3 << 20))  # one 3 MiB line
    huge_cell = tmp_path / "cell.csv"
    huge_cell.write_text(acled_text([acled_row(notes="x" * 200_000)]), encoding="utf-8")
    blanks = _zip(tmp_path / "blank.export.CSV.zip", "blank.export.CSV", gdelt_line().encode() + b"\n" * (6 << 20))
    cases = (
        (long_line, "longer than 1,048,576 characters"),
        (huge_cell, "cell.csv:2: field 'notes': 200,000 characters"),
        (blanks, "more than 1,000 blank lines"),  # each line costs a reader as much as a row
    )
    for path, words in cases:
        rules = "gdelt_balkans.yaml" if path.suffix == ".zip" else "acled_balkans.yaml"
        done, took, peak = run_measured(["event", "import", str(path), "--rules", rules], cwd=tmp_path,
                                        env={"FORECAST_WORKSPACE": str(ws.root)})  # fmt: skip
        one_error_line(done, path.name, words)
        assert took < SECONDS and peak < MEGABYTES, (took, peak)


def _encrypted(raw: bytearray) -> None:
    raw[6] |= 1  # the local header's flag bits
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 8] |= 1  # the central directory's


def _method(n: int) -> object:
    def fn(raw: bytearray) -> None:
        struct.pack_into("<H", raw, 8, n)
        cd = raw.rfind(b"PK\x01\x02")
        struct.pack_into("<H", raw, cd + 10, n)

    return fn


def _bad_crc(raw: bytearray) -> None:
    cd = raw.rfind(b"PK\x01\x02")
    for at in (14, cd + 16):
        raw[at] ^= 0xFF


def _corrupt_data(raw: bytearray) -> None:
    start = 30 + len("e.export.CSV")
    for i in range(start + 5, start + 40):
        raw[i] ^= 0x5A


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("encrypted", "encrypted"),
        ("deflate64", "compression method 9"),
        ("bad_crc", "damaged zip member"),
        ("corrupt", "damaged zip member"),
        ("empty", "holds 0"),
        ("nested", "itself a zip archive"),
        ("two", "holds 2"),
        ("not_a_zip", "cannot read"),
    ],
)
def test_a_damaged_encrypted_or_unsupported_zip_is_one_line(runner: CliRunner, ws: Workspace, tmp_path: Path, case: str, words: str) -> None:
    path = tmp_path / f"{case}.zip"
    body = "".join(gdelt_line(GLOBALEVENTID=str(1000000 + i)) for i in range(200)).encode()
    if case in ("encrypted", "deflate64", "bad_crc", "corrupt"):
        _zip(path, "e.export.CSV", body)
        _patch(path, {"encrypted": _encrypted, "deflate64": _method(9), "bad_crc": _bad_crc, "corrupt": _corrupt_data}[case])
    elif case == "empty":
        zipfile.ZipFile(path, "w").close()
    elif case == "nested":
        inner = _zip(tmp_path / "inner.zip", "e.export.CSV", body)
        _zip(path, "e.export.CSV", inner.read_bytes())  # named like an export: the bytes tell
    elif case == "two":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("a.export.CSV", body)
            z.writestr("b.export.CSV", body)
    else:
        path.write_bytes(body)
    result = runner.invoke(app, ["event", "import", str(path), "--rules", "gdelt_balkans.yaml"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "unexpected" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and path.name in lines[0] and words in lines[0], result.output


# ------------------------------------------------------------------------------ 3. messages never expand input


def test_an_alias_bomb_is_refused_at_load_by_its_location(ws: Workspace, tmp_path: Path) -> None:
    laughs = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]  # 90 aliases, 10^10 values
    settings = ws.root / "priors" / "settings.yaml"
    settings.write_text("\n".join(laughs) + "\n" + settings.read_text(encoding="utf-8"), encoding="utf-8")
    rules = tmp_path / "bomb.yaml"
    rules.write_text("\n".join(laughs) + "\n" + RULES % "x", encoding="utf-8")
    for args in (["priors", "validate"], ["event", "import", str(tmp_path / "none.csv"), "--rules", str(rules), "--format", "acled"]):
        if args[0] == "event":
            (tmp_path / "none.csv").write_text(acled_text([acled_row()]), encoding="utf-8")
        done, took, peak = run_measured(args, cwd=tmp_path, env={"FORECAST_WORKSPACE": str(ws.root)})
        line = one_error_line(done, "aliases here expand to more than 100,000 values")
        assert ":5: " in line or ":10: " in line, line  # the node that expands too far
        assert took < SECONDS and peak < MEGABYTES, (took, peak)


def test_huge_values_are_quoted_short_in_every_message(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    huge = "Z" * 500_000
    cases = []
    (tmp_path / "rules_key.yaml").write_text(RULES.replace("event_type: Battles", f"? {huge}\n      : Battles") % "x", encoding="utf-8")
    (tmp_path / "acled.csv").write_text(acled_text([acled_row()]), encoding="utf-8")
    cases.append(["event", "import", str(tmp_path / "acled.csv"), "--rules", str(tmp_path / "rules_key.yaml")])
    (tmp_path / "rules_ind.yaml").write_text(RULES.replace("armed_incident_north_kosovo", huge) % "x", encoding="utf-8")
    cases.append(["event", "import", str(tmp_path / "acled.csv"), "--rules", str(tmp_path / "rules_ind.yaml")])
    (tmp_path / "date.csv").write_text(acled_text([acled_row(event_date=huge[:30_000])]), encoding="utf-8")
    cases.append(["event", "import", str(tmp_path / "date.csv"), "--rules", "acled_balkans.yaml"])
    (tmp_path / "reports.csv").write_text(f"indicator,date,occurred,grade,source\n{huge},{huge},true,{huge},x\n", encoding="utf-8")
    cases.append(["event", "import", str(tmp_path / "reports.csv")])
    cases.append(["event", "add", huge, "--date", "2025-01-01", "--grade", "B2", "--source", "x"])
    cases.append(["event", "add", "armed_incident_north_kosovo", "--date", huge, "--grade", "B2", "--source", "x"])
    cases.append(["event", "add", "armed_incident_north_kosovo", "--date", "2025-01-01", "--grade", huge, "--source", "x"])
    for args in cases:
        started = time.perf_counter()
        result = runner.invoke(app, args)
        assert time.perf_counter() - started < SECONDS
        assert result.exit_code == 2, (args[:3], result.output[:300])
        assert len(result.output) < 1_500, (args[:3], len(result.output), result.output[:300])
        assert "characters)" in result.output or "ZZZZ" not in result.output, result.output[:300]


def test_excerpt_and_quoted_are_bounded() -> None:
    assert quoted("abc") == "'abc'"
    assert len(quoted("x" * 10**6)) < 120 and "(1,000,000 characters)" in quoted("x" * 10**6)
    deep: list[object] = []
    node = deep
    for _ in range(10_000):
        node.append([])
        node = node[0]  # type: ignore[assignment]
    assert len(quoted(deep)) < 200
    assert excerpt("a\nb\x1b") == "a^Jb^["


# ------------------------------------------------------------------------------ 4. dates and timestamps


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"event_date": "٢٠٢٤-٠٣-١٥"}, "event_date", "non-ASCII digits"),
        ({"event_date": "２０２４-０３-１５"}, "event_date", "non-ASCII digits"),
        ({"timestamp": "١٧١٠٦٠٠٠٠٠"}, "timestamp", "non-ASCII digits"),
        ({"event_date": "1850-03-15"}, "event_date", "outside 1900–2100"),
        ({"timestamp": "99999999999999999999"}, "timestamp", "not a unix time"),
        ({"timestamp": "4102444800"}, "timestamp", "later than this import's clock"),
    ],
)
def test_coded_dates_and_timestamps_are_checked(runner: CliRunner, ws: Workspace, tmp_path: Path, fields: dict[str, str], field: str, words: str) -> None:
    path = tmp_path / "acled.csv"
    path.write_text(acled_text([acled_row(**fields)]), encoding="utf-8")
    result = runner.invoke(app, ["event", "import", str(path), "--rules", "acled_balkans.yaml"])
    assert result.exit_code == 2, result.output
    assert f"acled.csv:2: field '{field}':" in result.output and words in result.output, result.output
    assert "unexpected" not in result.output


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"SQLDATE": "٢٠٢٤٠٣١٥"}, "SQLDATE", "non-ASCII digits"),
        ({"GLOBALEVENTID": "١٠٠٠"}, "GLOBALEVENTID", "non-ASCII digits"),
        ({"DATEADDED": "21000101000000"}, "DATEADDED", "later than this import's clock"),
        ({"SQLDATE": "18000101"}, "SQLDATE", "outside 1900–2100"),
    ],
)
def test_gdelt_dates_and_timestamps_are_checked(runner: CliRunner, ws: Workspace, tmp_path: Path, fields: dict[str, str], field: str, words: str) -> None:
    path = tmp_path / "g.export.CSV"
    path.write_text(gdelt_line(**fields), encoding="utf-8")
    result = runner.invoke(app, ["event", "import", str(path), "--rules", "gdelt_balkans.yaml"])
    assert result.exit_code == 2, result.output
    assert f"g.export.CSV:1: field '{field}':" in result.output and words in result.output, result.output


def test_a_future_deletion_is_refused_and_a_resolution_outside_the_years_too(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    deletions = tmp_path / "del.csv"
    deletions.write_text("event_id_cnty,deleted_timestamp\nXKX1,4102444800\n", encoding="utf-8")
    result = runner.invoke(app, ["event", "import", str(deletions)])
    assert result.exit_code == 2 and "del.csv:2: field 'deleted_timestamp'" in result.output, result.output
    res = tmp_path / "res.yaml"
    for start, words in (("0001-01-01", "outside 1900–2100"), ("٢٠٢٥-٠١-٠١", "write the digits 0–9")):
        res.write_text(
            f"resolutions:\n- hypothesis: escalation\n  state: grey_zone\n  from: '{start}'\n  to: 2025-01-02\n"
            "  rationale: r\n  source: s\n",
            encoding="utf-8",
        )
        result = runner.invoke(app, ["resolutions", "import", str(res)])
        assert result.exit_code == 2 and words in result.output and "unexpected" not in result.output, result.output


# ------------------------------------------------------------------------------ 5. interrupted imports


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_during_an_import_writes_nothing(ws: Workspace, tmp_path: Path, signum: int) -> None:
    rows = [
        acled_row(event_id_cnty=f"XKX{i}", admin2="Zvecan", actor2="Police Forces of Kosovo", fatalities="1",
                  timestamp=str(1710600000 + i), notes="KFOR wounded " * 20)
        for i in range(120_000)
    ]  # fmt: skip
    path = tmp_path / "big.csv"
    path.write_text(acled_text(rows), encoding="utf-8")
    env = {**os.environ, "FORECAST_WORKSPACE": str(ws.root)}
    child = subprocess.Popen([*FORECAST, "event", "import", str(path), "--rules", "acled_balkans.yaml"], cwd=tmp_path,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(2.0)
    child.send_signal(signum)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 128 + signum, (child.returncode, err[-1000:])
    assert "interrupted" in err and "nothing written" in err and "Traceback" not in err, err
    db = ws.root / "forecast.db"
    if db.exists():
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 0


# ------------------------------------------------------------------------------ 6. caches


def test_cached_compiler_flags_are_allow_listed() -> None:
    from forecaster.inference.pymc_adapter import march_flags_ok

    good = ["-march=cooperlake", "-mmmx", "-mno-3dnow", "-msse4.2", "--param", "l1-cache-size=48", "-mtune=generic"]
    assert march_flags_ok(good)
    for planted in (["-fplugin=/tmp/x.so"], ["-march=native", "-o", "/tmp/x"], ["-B/tmp"], ["--param", "x=1"],
                    ["-specs=/tmp/s"], ["-march=native;rm"], "-march=native", [1]):  # fmt: skip
        assert not march_flags_ok(planted), planted


def test_the_compile_times_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    from forecaster.inference import compile_times

    old = os.umask(0)
    try:
        compile_times.record(tmp_path / "cache" / "sampler", 12.5)
    finally:
        os.umask(old)
    f = tmp_path / "cache" / "sampler" / compile_times.FILE
    assert f.stat().st_mode & 0o777 == 0o600
    assert f.parent.stat().st_mode & 0o777 == 0o700
    assert compile_times.estimate(f.parent, None) == 12.5
    f.chmod(0o666)  # someone else could have written it: not believed
    assert compile_times.estimate(f.parent, None) == compile_times.COLD_S
