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


def db_file(value: str | Path) -> Path | None:
    """The file of a file store (a path or sqlite:///PATH); None for a server URL (issue 13)."""
    if isinstance(value, Path):
        return value
    if "://" not in value:
        return Path(value).expanduser()
    scheme, _, rest = value.partition("://")
    if scheme.lower() == "sqlite" and rest.startswith("/"):
        from urllib.parse import unquote

        return Path(unquote(rest[1:])).expanduser()
    return None


@dataclass(frozen=True)
class Workspace:
    root: Path
    db_override: Path | str | None = None  # --db / $FORECAST_DB: a file, sqlite:///PATH or postgresql://…

    @property
    def priors_dir(self) -> Path:
        return self.root / "priors"

    @property
    def scenarios_dir(self) -> Path:
        return self.root / "scenarios"

    @property
    def db(self) -> Path | str:
        """Where the event store is, as EventStore takes it: a file path or a server URL."""
        if self.db_override is None:
            return self.root / DB_NAME
        return db_file(self.db_override) or self.db_override

    @property
    def db_on_server(self) -> bool:
        return not isinstance(self.db, Path)

    @property
    def db_path(self) -> Path:
        """The store's file; a server store has none (UsageError)."""
        db = self.db
        if not isinstance(db, Path):
            raise UsageError("this needs an event store file, not a server store (--db is a URL)")
        return db

    def has_store(self) -> bool:
        """Whether there is a store to read: its file exists, or it is on a server (opening says)."""
        db = self.db
        return db.exists() if isinstance(db, Path) else True

    @property
    def db_shown(self) -> str:
        """The store for messages: the file, or the URL without its password."""
        from forecaster.core.text import hide_secrets

        return str(self.db) if isinstance(self.db, Path) else hide_secrets(self.db)

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


def find_workspace(explicit: Path | None = None, *, db: Path | str | None = None, create_default: bool = True) -> Workspace:
    """--workspace, else $FORECAST_WORKSPACE, else the current folder if it holds priors/,
    else the user-data default (created from the bundled defaults on first use, unless not
    `create_default`: then a UsageError, so a cron job never works on a workspace it just made).
    `db` (else $FORECAST_DB) is a file, sqlite:///PATH or postgresql://user@host:port/dbname."""
    db = db or os.environ.get("FORECAST_DB") or None
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
