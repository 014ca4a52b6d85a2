"""Knowledge time is the store's clock, never the file's (issue 12): an import cannot backdate
what a past as-of replay saw, and a retraction never predates its report."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli.main import app
from forecaster.core.workspace import Workspace
from forecaster.model.evidence import Report
from forecaster.store.events import EventStore
from forecaster.store.records import Retraction, StoredReport

UTC = dt.UTC


def _file(tmp_path: Path, fmt: str, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / f"in.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps({"reports": rows}), encoding="utf-8")
    elif fmt == "yaml":
        import yaml

        path.write_text(yaml.safe_dump({"reports": rows}), encoding="utf-8")
    else:
        cols = list(rows[0])
        lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["csv", "yaml", "json"])
def test_an_imported_file_cannot_backdate_recorded_at(runner: CliRunner, ws: Workspace, tmp_path: Path, fmt: str) -> None:
    rows: list[dict[str, object]] = [
        {"indicator": "arms_procurement_east", "date": "2020-01-01", "occurred": "true", "grade": "A1", "source": "Reuters",
         "recorded_at": "2020-01-02T00:00:00Z", "retracted_at": "2019-01-01T00:00:00Z", "retracted_by": "x",
         "retraction_reason": "backdated"},
        {"indicator": "arms_procurement_east", "date": "2020-01-03", "occurred": "true", "grade": "A1", "source": "AP",
         "recorded_at": "2020-01-04T00:00:00Z", "retracted_at": "", "retracted_by": "", "retraction_reason": ""},
    ]
    if fmt != "csv":
        for r in rows:
            for k in [k for k, v in r.items() if v == ""]:
                del r[k]
    # The file's retraction predates its report: refused as a file error, or recorded at now.
    path = _file(tmp_path, fmt, rows)
    before = dt.datetime.now(UTC)
    result = runner.invoke(app, ["event", "import", str(path)])
    if result.exit_code == 0:
        with EventStore(ws.db_path) as store:
            entries = list(store.all())
            assert len(entries) == 2
            for e in entries:
                assert e.report.recorded_at is not None and e.report.recorded_at >= before
                if e.retraction is not None:
                    assert e.retraction.retracted_at >= e.report.recorded_at
            # A replay as of 2020 sees nothing: nobody knew these reports then.
            assert store.reports_for_update(dt.date(2020, 6, 1), 3650) == []
    else:
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert not ws.db_path.exists() or list(EventStore(ws.db_path).all()) == []
    rows[0].update(retracted_at="2020-01-05T00:00:00Z")  # a consistent file imports, at now
    path = _file(tmp_path, fmt, rows)
    result = runner.invoke(app, ["event", "import", str(path)])
    assert result.exit_code == 0, result.output
    with EventStore(ws.db_path) as store:
        for e in store.all():
            assert e.report.recorded_at is not None and e.report.recorded_at >= before
            if e.retraction is not None:
                assert e.retraction.retracted_at >= before
        assert store.reports_for_update(dt.date(2020, 6, 1), 3650) == []
        assert len(store.reports_for_update(dt.date.today(), 365 * 30)) == 1  # today: the live one


def test_the_api_import_uses_the_store_clock(tmp_path: Path) -> None:
    old = dt.datetime(2001, 1, 1, tzinfo=UTC)
    r = Report("arms_procurement_east", dt.date(2000, 6, 1), True, "A", 1, "Reuters", recorded_at=old, analyst="a")
    t = Retraction("", "why", dt.datetime(2000, 12, 1, tzinfo=UTC), "b")
    with EventStore(tmp_path / "f.db") as store:
        store.import_reports([StoredReport(r, t)])
        (got,) = list(store.all())
        assert got.report.recorded_at is not None and got.report.recorded_at > old
        assert got.retraction is not None and got.retraction.retracted_at >= got.report.recorded_at


def test_retract_never_predates_a_report_recorded_slightly_ahead(tmp_path: Path) -> None:
    ahead = dt.datetime.now(UTC) + dt.timedelta(minutes=5)
    with EventStore(tmp_path / "f.db") as store:
        r = store.add(Report("arms_procurement_east", dt.date(2020, 1, 1), True, "A", 1, "R"), analyst="a", recorded_at=ahead)
        t = store.retract(r.id or "", "why", "b")
        assert t.retracted_at >= ahead
