"""Where a workspace is: priors/, scenarios/, the database and generated files."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from forecaster.core.errors import UsageError

DB_NAME = "forecast.db"


def defaults_dir() -> Path:
    """The bundled defaults: inside the installed package, or the repository's top level."""
    packaged = Path(str(resources.files("forecaster"))) / "_defaults"
    if (packaged / "priors").is_dir():
        return packaged
    repo = Path(__file__).resolve().parents[2]
    if (repo / "priors").is_dir():
        return repo
    raise UsageError("bundled defaults are missing from this installation (no priors/ found)")


@dataclass(frozen=True)
class Workspace:
    root: Path
    db_override: Path | None = None

    @property
    def priors_dir(self) -> Path:
        return self.root / "priors"

    @property
    def scenarios_dir(self) -> Path:
        return self.root / "scenarios"

    @property
    def db_path(self) -> Path:
        return self.db_override or self.root / DB_NAME

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def briefs_dir(self) -> Path:
        return self.root / "briefs"


def init_workspace(target: Path, *, force: bool = False) -> Workspace:
    """Create a workspace at `target` from the bundled defaults."""
    src = defaults_dir()
    if (target / "priors").exists() and not force:
        raise UsageError(f"{target} already holds priors/; use --force to overwrite the bundled files")
    target.mkdir(parents=True, exist_ok=True)
    for sub in ("priors", "scenarios", "rules"):  # rules/: the bundled ACLED/GDELT mapping rules
        if (src / sub).is_dir():
            shutil.copytree(src / sub, target / sub, dirs_exist_ok=True)
    gitignore = target / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("forecast.db*\nruns/\nbriefs/\n", encoding="utf-8")
    return Workspace(target.resolve())


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("forecast", appauthor=False))


def find_workspace(explicit: Path | None = None, *, db: Path | None = None, create_default: bool = True) -> Workspace:
    """--workspace, else $FORECAST_WORKSPACE, else the current folder if it holds priors/,
    else the user-data default (created from the bundled defaults on first use, unless not
    `create_default`: then a UsageError, so a cron job never works on a workspace it just made)."""
    db = db or (Path(os.environ["FORECAST_DB"]) if os.environ.get("FORECAST_DB") else None)
    if explicit is None and os.environ.get("FORECAST_WORKSPACE"):
        explicit = Path(os.environ["FORECAST_WORKSPACE"])
    if explicit is not None:
        if not (explicit / "priors").is_dir():
            raise UsageError(f"{explicit} is not a workspace (no priors/ folder); create one with `forecast init {explicit}`")
        return Workspace(explicit.resolve(), db)
    cwd = Path.cwd()
    if (cwd / "priors").is_dir():
        return Workspace(cwd, db)
    default = user_data_dir()
    if not (default / "priors").is_dir():
        if not create_default:
            raise UsageError(
                "no workspace found (no -w, no $FORECAST_WORKSPACE, no priors/ in the current folder) and no "
                f"terminal to confirm creating the default one at {default}: pass -w DIR or set $FORECAST_WORKSPACE"
            )
        init_workspace(default, force=True)
    return Workspace(default, db)
