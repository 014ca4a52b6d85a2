"""`forecast brief` (issue 4): golden files, byte-for-byte reproducibility, escaping, atomic
writes, alerts and exit codes, cron behaviour.

The golden workspace is the `mini` test network with five reports whose recording and retraction
times are fixed, so its briefs do not depend on the day the tests run. Regenerate the golden files
after an intended change with `FORECAST_REGEN_GOLDEN=1 pytest tests/test_brief.py` and review the diff."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.errors import UsageError
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.model.loading import load_priors
from forecaster.outputs import brief_render
from forecaster.store.events import EventStore
from forecaster.store.records import Retraction, StoredReport
from forecaster.workflow import brief as brief_module
from forecaster.workflow import period as period_module
from tests.helpers import MINI

GOLDEN = Path(__file__).parent / "data" / "golden_brief"
UNTIL = "2026-11-22"
NAME = "2026-W47"
SCRIPT_NOTE = "Seen by <script>alert('x')</script> & a *friend* | twice"


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def golden_workspace(root: Path) -> Workspace:
    """The mini network and five reports, one retracted, every time fixed."""
    shutil.copytree(MINI, root / "priors")
    ws = Workspace(root)
    entries = [
        StoredReport(
            Report(
                "arms_east",
                dt.date(2026, 9, 3),
                True,
                "B",
                2,
                "Reuters",
                "https://example.org/deal",
                "Deal signed in Beijing.",
                "ana",
                recorded_at=_t("2026-09-04T08:00:00"),
            )
        ),
        StoredReport(
            Report(
                "armed_incident",
                dt.date(2026, 10, 12),
                True,
                "C",
                3,
                "Local TV",
                "",
                "Shots fired near Zubin Potok.",
                "ana",
                recorded_at=_t("2026-10-13T09:00:00"),
            )
        ),
        StoredReport(
            Report(
                "russian_pact",
                dt.date(2026, 10, 1),
                True,
                "D",
                4,
                "Blog",
                "",
                "Rumoured pact.",
                "ana",
                recorded_at=_t("2026-10-02T12:00:00"),
            ),
            Retraction("", "the blog fabricated it", _t("2026-11-17T15:00:00"), "ben"),
        ),
        StoredReport(
            Report(
                "cfsp_alignment",
                dt.date(2026, 11, 17),
                False,
                "B",
                2,
                "EU statement",
                "",
                "Alignment still below 50 %.",
                "ben",
                recorded_at=_t("2026-11-18T10:00:00"),
            )
        ),
        StoredReport(
            Report(
                "armed_incident",
                dt.date(2026, 11, 19),
                True,
                "B",
                2,
                "KFOR <b>press</b> office",
                "javascript:alert(1)",
                SCRIPT_NOTE,
                "ben",
                recorded_at=_t("2026-11-20T07:30:00"),
            )
        ),
    ]
    with EventStore(ws.db_path) as store:
        store.import_reports(entries, analyst="ana", keep_times=True)  # a history: its own times
    return ws


def invoke(runner: CliRunner, ws: Workspace, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["-w", str(ws.root), *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def gws(tmp_path: Path, runner: CliRunner) -> Workspace:
    ws = golden_workspace(tmp_path / "golden")
    code, _, err = invoke(runner, ws, "history", "--backfill", "weekly", "--as-of", UNTIL)
    assert code == 0, err
    return ws


def _brief(runner: CliRunner, ws: Workspace, out: Path, *extra: str) -> tuple[int, str, str]:
    return invoke(runner, ws, "brief", "--exact", "--until", UNTIL, "--output", str(out), *extra)


def _files(folder: Path, name: str = NAME) -> dict[str, bytes]:
    return {s: (folder / f"{name}{s}").read_bytes() for s in (".md", ".html", ".json", ".png")}


def _without_png(html: bytes) -> str:
    """The chart's bytes depend on the matplotlib and FreeType versions; the golden HTML holds a placeholder."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,PNG", html.decode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Golden files and reproducibility
# ---------------------------------------------------------------------------------------------


def test_brief_matches_the_golden_files_and_reproduces_byte_for_byte(
    runner: CliRunner, gws: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "briefs"
    code, stdout, err = _brief(runner, gws, out)
    assert code == 0, err
    first = _files(out)
    assert first[".png"].startswith(b"\x89PNG") and b"Software" not in first[".png"]
    got = {
        ".md": first[".md"].decode("utf-8"),
        ".json": first[".json"].decode("utf-8"),
        ".html": _without_png(first[".html"]),
    }
    if os.environ.get("FORECAST_REGEN_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for suffix, text in got.items():
            (GOLDEN / f"{NAME}{suffix}").write_text(text, encoding="utf-8")
    for suffix, text in got.items():
        assert text == (GOLDEN / f"{NAME}{suffix}").read_text(encoding="utf-8"), (
            f"{NAME}{suffix} differs from the golden file"
        )
    # A second run on the same store (the run is cached now) and a fresh store give the same bytes.
    code, _, _ = _brief(runner, gws, out)
    assert code == 0 and _files(out) == first
    other = golden_workspace(tmp_path / "again")
    invoke(runner, other, "history", "--backfill", "weekly", "--as-of", UNTIL)
    code, _, _ = _brief(runner, other, tmp_path / "briefs2")
    assert code == 0 and _files(tmp_path / "briefs2") == first
    assert stdout == ""


def test_brief_content(runner: CliRunner, gws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "b"
    _brief(runner, gws, out)
    data = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    assert data["schema"] == "forecast-brief/1" and data["period"] == {"since": "2026-11-16", "until": UNTIL}
    assert [h["hypothesis"] for h in data["headline"]] == ["encirclement", "alignment", "escalation"]
    for h in data["headline"]:
        assert h["sentence"].startswith(("It is ", "There is ")) and f"{round(100 * h['posterior'])} %" in h["sentence"]
    # The backfill points select by event date (the retracted russian_pact report is gone from them):
    # a knowledge-time brief compares like with like, a replay of what the store knew on 15 November.
    assert data["clock"] == "knowledge"
    assert data["baseline"]["kind"] == "replay" and "2026-11-15" in data["baseline"]["label"]
    assert [r["indicator"] for r in data["reports"]["new"]] == ["cfsp_alignment", "armed_incident"]
    assert [r["indicator"] for r in data["reports"]["retracted"]] == ["russian_pact"]
    assert data["reports"]["left_window"] == []
    assert {d["indicator"] for d in data["drivers"]} == {"cfsp_alignment", "armed_incident", "russian_pact"}
    changes = {(c["hypothesis"], c["state"]): c["change"] for c in data["changes"]}
    by_driver = {d["indicator"]: d["shift"] for d in data["drivers"]}
    # Drivers on different indicators add up to the change when the baseline is the same priors.
    for (h, s), change in changes.items():
        assert sum(d[h][s] for d in by_driver.values()) == pytest.approx(change, abs=0.02)
    assert data["watch"]["unreported"] == 1 and [w["indicator"] for w in data["watch"]["indicators"]] == [
        "russian_pact"
    ]
    assert data["watch"]["indicators"][0]["bits"] > 0
    assert data["trend"][-1]["run_id"] == data["provenance"]["run_id"] and len(data["trend"]) == 12
    prov = data["provenance"]
    for key in ("run_id", "priors_hash", "reports", "sampler", "version", "seed"):
        assert prov[key] not in (None, "")
    text = json.dumps(data)
    assert "seconds" not in text and "recorded_at" not in text  # nothing from the clock


def test_icd_sentences() -> None:
    assert brief_module.icd_sentence("likely", 0.72, (0.61, 0.80), "escalation", "grey_zone") == (
        "It is likely (72 %, 61–80 %) that escalation is grey zone."
    )
    assert brief_module.icd_sentence("roughly even chance", 0.5, None, "a", "b").startswith(
        "There is a roughly even chance (50 %)"
    )
    assert brief_module.icd_sentence("almost no chance", 0.001, None, "a", "b").startswith(
        "There is almost no chance (<1 %)"
    )


# ---------------------------------------------------------------------------------------------
# Escaping, self-containment
# ---------------------------------------------------------------------------------------------


def test_analyst_text_is_escaped_and_nothing_loads(runner: CliRunner, gws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "b"
    _brief(runner, gws, out)
    html = (out / f"{NAME}.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>press</b>" not in html and "&lt;b&gt;press&lt;/b&gt;" in html
    assert 'href="javascript' not in html and "javascript:alert(1)" in html  # shown as text, not a link
    for pattern in (r"<link", r"<iframe", r"@import", r"url\(", r"src=\"(?!data:image/png;base64,)"):
        assert not re.search(pattern, html), pattern
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    md = (out / f"{NAME}.md").read_text(encoding="utf-8")
    # Markdown escapes, not HTML entities: a mail body shows the text as written (issue 12).
    assert not re.search(r"(?<!\\)<(script|b)", md) and "\\<script>" in md and "\\*friend\\*" in md and "\\|" in md
    assert "&lt;" not in md and "&gt;" not in md and "&amp;" not in md and "&#" not in md
    data = json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))
    assert data["reports"]["new"][-1]["note"] == SCRIPT_NOTE  # JSON keeps the text as written


def test_md_escape() -> None:
    esc = brief_render.md_escape
    assert esc("grey_zone") == "grey_zone" and esc("_x_") == "\\_x\\_"
    assert esc("a\nb  c") == "a b c" and esc("[x](y)") == "\\[x\\](y)" and esc("<i>") == "\\<i>"
    assert esc("a > b & c") == "a > b & c" and esc("&amp;") == "\\&amp;"


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def _add_report(ws: Workspace) -> None:
    with EventStore(ws.db_path) as store:
        store.add(
            Report("arms_east", dt.date(2026, 11, 21), True, "A", 1, "Ministry", "", "Second deal.", "ana"),
            recorded_at=_t("2026-11-21T09:00:00"),
        )


def test_a_failed_write_leaves_the_old_brief_and_no_temp_file(
    runner: CliRunner, gws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "b"
    _brief(runner, gws, out)
    old = _files(out)
    _add_report(gws)  # the next brief differs
    import forecaster.core.atomic

    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the PNG is written; the Markdown fails half-way
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(forecaster.core.atomic.os, "fsync", failing_fsync)
    code, _, err = _brief(runner, gws, out)
    assert code == 1 and "cannot write the brief" in err and "No space left" in err
    now = _files(out)
    for suffix in (".md", ".html", ".json"):
        assert now[suffix] == old[suffix], suffix
    assert sorted(p.name for p in out.iterdir()) == [f"{NAME}{s}" for s in (".html", ".json", ".md", ".png")]


def test_a_killed_brief_leaves_each_file_whole(runner: CliRunner, gws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "b"
    _brief(runner, gws, out)
    old = _files(out)
    _add_report(gws)
    code = (
        "import os, signal, sys\n"
        "import forecaster.core.atomic\n"
        "from forecaster.cli.main import app\n"
        "count = [0]\n"
        "def fsync(fd):\n"
        "    count[0] += 1\n"
        "    if count[0] == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)  # mid-write: the Markdown's temp file is full, not renamed\n"
        "    os.fsync(fd)\n"
        "class _Os:\n"
        "    def __getattr__(self, name): return getattr(os, name)\n"
        "    fsync = staticmethod(fsync)\n"
        "forecaster.core.atomic.os = _Os()\n"
        f"app(['-w', {str(gws.root)!r}, 'brief', '--exact', '--until', {UNTIL!r}, '--output', {str(out)!r}])\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    now = _files(out)
    for suffix in (".md", ".html", ".json"):
        assert now[suffix] == old[suffix], suffix  # old, whole
    temps = [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].name.startswith(f".{NAME}.md.")
    # The next brief writes everything and clears the killed job's temp file once it is stale.
    os.utime(temps[0], (time.time() - 3600, time.time() - 3600))
    code2, _, err = _brief(runner, gws, out)
    assert code2 == 0, err
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert _files(out)[".md"] != old[".md"]


# ---------------------------------------------------------------------------------------------
# Alerts, exit codes, cron
# ---------------------------------------------------------------------------------------------


def _posterior(out: Path, hyp: str, state: str) -> float:
    return float(json.loads((out / f"{NAME}.json").read_text(encoding="utf-8"))["posteriors"][hyp][state]["posterior"])


def test_alert_exit_3_exactly_when_crossed(runner: CliRunner, gws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "b"
    _brief(runner, gws, out)
    p = _posterior(out, "escalation", "annexation")
    below, above = f"{p - 0.001:.6f}", f"{p + 0.001:.6f}"
    code, _, err = _brief(runner, gws, out, "--alert", f"escalation.annexation>{below}")
    assert code == 3 and "ALERT escalation.annexation" in err
    assert json.loads((out / f"{NAME}.json").read_text())["alerts"][0]["fired"] is True
    assert "Alerts" in (out / f"{NAME}.md").read_text()
    code, _, err = _brief(runner, gws, out, "--alert", f"escalation.annexation>{above}")
    assert code == 0 and "none fired" in err
    assert _brief(runner, gws, out, "--alert", f"escalation.annexation<{above}")[0] == 3
    assert _brief(runner, gws, out, "--alert", f"escalation.annexation<{below}")[0] == 0
    # In percent, and several rules: one firing is enough.
    pct_above = f"{100 * p + 0.1:.4f}%"
    assert _brief(runner, gws, out, "--alert", f"escalation.annexation>{pct_above}")[0] == 0
    assert (
        _brief(runner, gws, out, "--alert", f"escalation.annexation>{pct_above}", "--alert", "alignment.hedging>0")[0]
        == 3
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("escalation.annexation=0.2", "expected HYPOTHESIS.STATE>P"),
        ("escalation.annexaton>0.2", "did you mean 'annexation'"),
        ("escalaton.annexation>0.2", "did you mean 'escalation'"),
        ("escalation.annexation>1.5", "not a probability"),
    ],
)
def test_bad_alerts_are_usage_errors(
    runner: CliRunner, gws: Workspace, tmp_path: Path, rule: str, message: str
) -> None:
    code, _, err = _brief(runner, gws, tmp_path / "b", "--alert", rule)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "b").exists()


def test_no_update_uses_the_last_run_marked_stale(runner: CliRunner, tmp_path: Path) -> None:
    ws = golden_workspace(tmp_path / "g")
    code, _, err = _brief(runner, ws, tmp_path / "b", "--no-update")
    assert code == 1 and "--no-update" in err
    code, _, err = invoke(runner, ws, "update", "--exact", "--as-of", "2026-11-19")
    assert code == 0, err
    code, _, err = _brief(runner, ws, tmp_path / "b", "--no-update")
    assert code == 0 and "STALE" in err
    data = json.loads((tmp_path / "b" / f"{NAME}.json").read_text())
    assert data["stale"] is True and data["as_of"] == "2026-11-19"
    code, _, err = _brief(runner, ws, tmp_path / "b")
    assert (
        code == 0
        and "from new run" in err
        and json.loads((tmp_path / "b" / f"{NAME}.json").read_text())["stale"] is False
    )


def test_previous_brief_is_the_baseline(runner: CliRunner, gws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert invoke(runner, gws, "brief", "--exact", "--until", "2026-11-15", "--output", str(out))[0] == 0
    assert (out / "2026-W46.json").is_file()
    _brief(runner, gws, out)
    data = json.loads((out / f"{NAME}.json").read_text())
    assert data["baseline"]["kind"] == "brief" and "2026-W46" in data["baseline"]["label"]


def test_cron_run_without_a_terminal(gws: Workspace, tmp_path: Path) -> None:
    """As cron runs it: no tty, no colour, nothing on stdout, one line on stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    argv = [
        sys.executable,
        "-m",
        "forecaster",
        "-w",
        str(gws.root),
        "brief",
        "--exact",
        "--until",
        UNTIL,
        "--output",
        str(tmp_path / "b"),
        "--alert",
        "alignment.hedging>0",
    ]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 3
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and "\x1b[" not in r.stderr
    assert r.stderr.startswith(f"brief {NAME}: wrote ") and "ALERT alignment.hedging" in r.stderr


# ---------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------


def test_periods() -> None:
    today = dt.date(2026, 11, 18)  # a Wednesday of ISO week 47
    p = period_module.period_for(today=today)
    assert (p.since, p.until, p.name) == (dt.date(2026, 11, 16), today, "2026-W47")
    p = period_module.period_for(period="last-week", today=today)
    assert (p.since, p.until, p.name) == (dt.date(2026, 11, 9), dt.date(2026, 11, 15), "2026-W46")
    p = period_module.period_for(until=dt.date(2026, 1, 3), today=today)  # ISO years: 2026-W01 begins in 2025
    assert p.name == "2026-W01" and p.since == dt.date(2025, 12, 29)
    p = period_module.period_for(until=dt.date(2027, 1, 2), today=dt.date(2027, 1, 5))
    assert p.name == "2026-W53" and p.since == dt.date(2026, 12, 28)
    p = period_module.period_for(since=dt.date(2026, 11, 1), until=dt.date(2026, 11, 15), today=today)
    assert p.name == "2026-11-01_2026-11-15"
    for kwargs in (
        {"until": dt.date(2026, 11, 19)},
        {"since": dt.date(2026, 11, 18), "until": dt.date(2026, 11, 17)},
        {"period": "month"},
        {"period": "last-week", "until": dt.date(2026, 11, 1)},
    ):
        with pytest.raises(UsageError):
            period_module.period_for(today=today, **kwargs)  # type: ignore[arg-type]


def test_alert_parsing() -> None:
    priors = load_priors(MINI)
    a = period_module.parse_alert("escalation.annexation >= 20%", priors)
    assert (a.hypothesis, a.state, a.op, a.threshold) == ("escalation", "annexation", ">=", 0.2)
    assert a.fires(0.2) and not a.fires(0.19)
    b = period_module.parse_alert("escalation.annexation<0.2", priors)
    assert b.fires(0.19) and not b.fires(0.2)


# ---------------------------------------------------------------------------------------------
# Real sampling (slow): two briefs from two stores, byte for byte; the cached path skips pymc
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sampled_brief_is_reproducible_and_its_cache_skips_pymc(runner: CliRunner, tmp_path: Path) -> None:
    sampled = ["--draws", "500", "--chains", "2"]
    outputs = []
    for name in ("one", "two"):
        ws = golden_workspace(tmp_path / name)
        code, _, err = invoke(runner, ws, "brief", "--until", UNTIL, "--output", str(tmp_path / f"b-{name}"), *sampled)
        assert code == 0, err
        assert "from new run" in err
        outputs.append((ws, _files(tmp_path / f"b-{name}")))
    (ws, first), (_, second) = outputs
    assert first == second
    data = json.loads(first[".json"])
    assert data["provenance"]["sampler"] == "pymc-iid" and data["headline"][0]["interval"] is not None
    # The draws are in the store (issue 13), readable from any machine; `runs export` writes the file.
    from forecaster.store import runs as run_log
    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        idata = run_log.load_idata(store, data["provenance"]["run_id"])
    assert data["provenance"]["netcdf"] == f"{data['provenance']['run_id']}.nc"
    assert "p_escalation" in idata.posterior
    code, out, err = invoke(runner, ws, "runs", "export", data["provenance"]["run_id"])
    assert code == 0 and Path(out.strip()) == ws.runs_dir / data["provenance"]["netcdf"], err
    import arviz as az

    assert "p_escalation" in az.from_netcdf(ws.runs_dir / data["provenance"]["netcdf"]).posterior
    # The same brief again, in a fresh process: the run is recorded, so pymc is never imported.
    script = (
        "import sys\n"
        "from forecaster.cli.main import app\n"
        "try:\n"
        f"    app(['-w', {str(ws.root)!r}, 'brief', '--until', {UNTIL!r}, '--output', {str(tmp_path / 'b-again')!r}, "
        f"{', '.join(repr(a) for a in sampled)}])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print('MODULES=' + ','.join(m for m in ('pymc', 'arviz', 'pytensor') if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("MODULES=") and "from recorded run" in r.stderr
    assert _files(tmp_path / "b-again") == first
