"""Look-alike text is one report (issue 12): NFC, Unicode spaces, zero-width characters, trailing
spaces and CRLF are canonicalised in every stored text field before the content id is computed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.text import canonical_text
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore
from forecaster.store.records import DuplicateReportError, StoredReport, content_key

BASE = {"source": "Café Reuters, Belgrade", "note": "two lines\nsecond line", "url": "https://example.org/a"}
LOOKALIKES = [
    {"source": "Cafe\u0301 Reuters, Belgrade"},  # NFD
    {"source": "Café\u00a0Reuters, Belgrade"},  # no-break space
    {"source": "Café\u202fReuters,\u2009Belgrade"},  # narrow no-break and thin spaces
    {"source": "Café Re\u200buters, Belgrade"},  # zero-width space
    {"source": "\ufeffCafé Reuters, Belgrade\u2060"},  # BOM, word joiner
    {"source": "Café Reuters, Belgrade   "},  # trailing spaces
    {"source": "Café  Reuters,\tBelgrade"},  # runs of white space in a one-line field
    {"note": "two lines\r\nsecond line"},  # CRLF
    {"note": "two lines\rsecond line"},  # CR
    {"note": "two lines   \nsecond line \u00a0"},  # trailing spaces on lines
    {"note": "two lines\u2028second line"},  # line separator
    {"note": "two lines\nsecond\u00adline".replace("\u00ad", " ")},
    {"url": "https://example.org/a "},
    {"url": "\u200bhttps://example.org/a"},
]


def _report(**kw: str) -> Report:
    return Report("north_kosovo_unrest", dt.date(2025, 3, 18), True, "B", 2, **{**BASE, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("change", LOOKALIKES)
def test_a_lookalike_is_the_same_report(tmp_path: Path, change: dict[str, str]) -> None:
    with EventStore(tmp_path / "f.db") as store:
        first = store.add(_report(), analyst="ana")
        with pytest.raises(DuplicateReportError) as e:
            store.add(_report(**change), analyst="ana\u00a0")
        assert e.value.existing.report.id == first.id
        assert store.import_reports([StoredReport(_report(**change))], analyst="bo") == (0, 1, 0)
        assert store.counts()["total"] == 1


def test_stored_text_is_canonical_and_the_id_follows_it(tmp_path: Path) -> None:
    with EventStore(tmp_path / "f.db") as store:
        r = store.add(_report(source="Cafe\u0301\u00a0Reuters,  Belgrade ", note=" a \r\nb\u200b "), analyst=" ana\u00a0b ")
        got = store.get(r.id or "").report
        assert (got.source, got.note, got.analyst) == ("Café Reuters, Belgrade", "a\nb", "ana b")
        assert r.id == "r-" + content_key(got)[:12]
        t = store.retract(r.id or "", "misread\r\nsource \u200b", "re\u00a0viewer")
        assert (t.reason, t.retracted_by) == ("misread\nsource", "re viewer")


def test_text_that_is_only_invisible_is_empty(tmp_path: Path) -> None:
    from forecaster.core.errors import EvidenceError

    with EventStore(tmp_path / "f.db") as store, pytest.raises(EvidenceError, match="source"):
        store.add(_report(source="\u200b\u00a0"), analyst="ana")


def test_canonical_text_is_idempotent() -> None:
    for change in LOOKALIKES:
        for v in change.values():
            once = canonical_text(v)
            assert canonical_text(once) == once
            one = canonical_text(v, single_line=True)
            assert canonical_text(one, single_line=True) == one


def test_lookalikes_through_the_cli_are_one_report(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    args = ["event", "add", "north_kosovo_unrest", "--date", "2025-03-18", "--grade", "B2"]
    first = runner.invoke(app, [*args, "--source", "Café Reuters"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, [*args, "--source", "Cafe\u0301\u00a0Reuters\u200b "])
    assert "already recorded" in again.output
    path = tmp_path / "in.csv"
    path.write_bytes("indicator,date,grade,source,note\r\nnorth_kosovo_unrest,2025-03-18,B2,Café\u00a0Reuters,\r\n".encode())
    imported = runner.invoke(app, ["event", "import", str(path)])
    assert imported.exit_code == 0 and imported.stdout.startswith("added 0 reports; 1 already"), imported.output
