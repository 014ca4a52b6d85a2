"""Every test runs in its own workspace under tmp_path: no test touches real data."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Generator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.core.workspace import Workspace, init_workspace
from tests.backends import Backend

DATA = Path(__file__).parent / "data"

# PyTensor's C modules (a cache of compiled code, not data) are shared across test sessions:
# each test gets its own XDG_CACHE_HOME, so without this the first sampled test of every session
# would compile them all again (minutes on a busy machine). Set before anything imports PyTensor.
if "FORECAST_PYTENSOR_COMPILEDIR" not in os.environ and "pytensor" not in sys.modules:
    import platformdirs

    os.environ["FORECAST_PYTENSOR_COMPILEDIR"] = str(
        Path(platformdirs.user_cache_dir("forecast", appauthor=False)) / "pytensor-tests"
    )


@pytest.fixture(autouse=True)
def env_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_WORKSPACE", str(tmp_path / "no-workspace-chosen"))
    monkeypatch.delenv("FORECAST_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("USER", "test-analyst")


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh workspace from the bundled defaults, selected through $FORECAST_WORKSPACE."""
    w = init_workspace(tmp_path / "ws")
    monkeypatch.setenv("FORECAST_WORKSPACE", str(w.root))
    return w


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def backend_ws(ws: Workspace, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The bundled workspace on each backend (issue 13): its own file, or a PostgreSQL store
    chosen through $FORECAST_DB as a team member would."""
    if not backend.is_pg:
        return ws
    url = backend.new_store()
    monkeypatch.setenv("FORECAST_DB", url)
    return dataclasses.replace(ws, db_override=url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Generator[Backend, None, None]:
    """Each backend in turn (PostgreSQL: see tests/backends.py for when it skips or fails)."""
    b = Backend(request.param, tmp_path)
    try:
        yield b
    finally:
        b.cleanup()
