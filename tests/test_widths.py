"""No table splits an id or a number, at 60, 80, 120 and 200 columns (issue 21).

Every Rich table the CLI prints is rendered at each width on one workspace holding the bundled
history, runs, resolutions and scores. Each id and number of the output at 1,000 columns (where
nothing wraps) must appear whole, as often, at the narrower width: prose may wrap between words,
and below the width a table needs it is printed one block per row, but a token is never cut."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli import common
from forecaster.cli.main import app
from forecaster.core.workspace import Workspace, init_workspace

INGEST = Path(__file__).parent / "data" / "ingest"
WIDTHS = (60, 80, 120, 200)

COMMANDS: list[list[str]] = [
    ["update", "--exact"],
    ["indicators"],
    ["indicators", "--hypothesis", "alignment"],
    ["indicators", "show", "kfor_reinforcement"],
    ["priors", "show"],
    ["priors", "show", "alignment"],
    ["priors", "show", "kfor_reinforcement"],
    ["priors", "audit"],
    ["history"],
    ["runs", "list"],
    ["score"],
    ["collect", "--limit", "12"],
    ["whatif", "armed_incident_north_kosovo", "serbia_nato_exercise:no"],
    ["scenario", "list"],
    ["scenario", "run", "kfor_drawdown", "serbia_turns_east", "--exact"],
    ["event", "list"],
    ["resolutions", "list"],
    ["db", "check"],
    ["info"],
    ["event", "import", str(INGEST / "acled_week1.csv"), "--rules", "acled_balkans.yaml", "--dry-run"],
]

_EDGES = "()[]{},;:\"'`|│·*"
_TIMING = re.compile(r"^\d+(\.\d+)?s$")  # a run's wall time differs between two runs


def tokens(text: str) -> Counter[str]:
    """The output's ids and numbers: words with a digit, an underscore or a dotted id."""
    found: Counter[str] = Counter()
    for word in text.split():
        word = word.strip(_EDGES).rstrip(".")
        if not word or _TIMING.match(word):
            continue
        if re.search(r"\d", word) or "_" in word or re.fullmatch(r"[a-z]+\.[a-z_]+", word):
            found[word] += 1
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return init_workspace(tmp_path_factory.mktemp("widths") / "ws")


def _run(runner: CliRunner, ws: Workspace, args: list[str], width: int, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(common.out, "width", width)
    r = runner.invoke(app, ["-w", str(ws.root), *args])
    assert r.exit_code == 0, (args, r.output)
    return r.stdout


@pytest.fixture(scope="module")
def filled(workspace: Workspace) -> Workspace:
    """The bundled workspace with its history imported, two recorded updates and the resolutions
    (set up once, under the same kind of private environment conftest gives each test)."""
    runner = CliRunner()
    ws = str(workspace.root)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME"):
            mp.setenv(name, str(workspace.root.parent / name.lower()))
        mp.setenv("NO_COLOR", "1")
        mp.delenv("FORECAST_DB", raising=False)
        for args in (
            ["event", "import", str(workspace.root / "scenarios" / "historical_events.yaml")],
            ["update", "--exact", "--as-of", "2024-01-15", "--event-time"],  # scored: the resolutions cover it
            ["update", "--exact", "--as-of", "2024-01-15"],
            ["update", "--exact", "--as-of", "2025-06-30"],
            ["update", "--exact"],
            ["resolutions", "import", str(workspace.root / "scenarios" / "resolutions.yaml")],
        ):
            r = runner.invoke(app, ["-w", ws, *args])
            assert r.exit_code == 0, (args, r.output)
    return workspace


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:3]).replace("/", "_"))
def test_no_id_or_number_is_split_at_any_width(
    filled: Workspace, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    whole = tokens(_run(runner, filled, args, 1000, monkeypatch))
    assert whole, args
    for width in WIDTHS:
        shown = _run(runner, filled, args, width, monkeypatch)
        narrow = tokens(shown)
        missing = {t: n for t, n in whole.items() if narrow[t] < n}
        assert not missing, (width, args, missing, shown[:3000])


def test_the_update_is_a_table_when_it_fits_and_one_block_per_row_when_not(
    filled: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    wide = _run(runner, filled, ["update", "--exact"], 200, monkeypatch)
    head = next(line for line in wide.splitlines() if "indicator / mechanism" in line)
    assert "λ" in head and "raised" in head and "by (pp)" in head
    narrow = _run(runner, filled, ["update", "--exact"], 60, monkeypatch)
    assert "indicator / mechanism" not in narrow  # no table header at 60: one block per row
    assert re.search(r"^  reports: \d", narrow, re.M) and "raised: " in narrow
    for line in narrow.splitlines():
        if line.startswith("  ") and "raised:" in line:
            assert len(line.rstrip()) <= 60, line


def test_a_narrow_table_stays_within_the_width(filled: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    for args in (["indicators"], ["priors", "show"], ["runs", "list"]):
        for width in WIDTHS:
            shown = _run(runner, filled, args, width, monkeypatch)
            assert max(len(line.rstrip()) for line in shown.splitlines()) <= width, (args, width)
