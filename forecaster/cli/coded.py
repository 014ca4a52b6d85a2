"""`forecast event import FILE --rules RULES.yaml`: coded event data (ACLED, GDELT; issue 15).

`event import` hands a file here when --rules or --format acled|gdelt is given, or when its first
line is ACLED's header, ACLED's deletions header or a GDELT 2.0 event. The job is
`workflow.coded_import.import_coded`; the text is `outputs.coded_import`'s."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from forecaster.cli.common import err, out, print_json, say, workspace
from forecaster.core.errors import EvidenceError, UsageError
from forecaster.core.workspace import Workspace
from forecaster.ingest import CodedFileError, FileKind, detect_format

CODED_FORMATS = ("acled", "gdelt")
_TEXT_SUFFIXES = {".yaml", ".yml", ".json"}  # our own report files: never coded data


def _first_line(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.readline(65536).decode("utf-8", errors="replace").lower()
    except OSError:
        return ""


def coded_kind(path: Path, fmt: str | None, rules: Path | None) -> FileKind | None:
    """What coded file `path` is, or None for a file of reports (the CSV/YAML/JSON import).
    A file that looks coded but is not readable as such is a CodedFileError here, naming file,
    line and field; so is a file of reports given --rules."""
    chosen = fmt.strip().lower() if fmt is not None else None
    if chosen in CODED_FORMATS:
        detected = detect_format(path)
        if chosen == "acled" and detected == "acled-deletions":
            return detected
        if detected != chosen:
            names = {"acled": "an ACLED export", "gdelt": "a GDELT 2.0 events file", "acled-deletions": "an ACLED deletions file"}
            raise CodedFileError(path, 1, None, f"--format {chosen}, but the file is {names[detected]}")
        return detected
    if chosen is not None and rules is None:
        return None  # --format csv|yaml|json: reports
    if rules is not None:
        if chosen is not None:
            raise UsageError(f"--format {fmt!r} with --rules: give --format acled or gdelt, or leave it out (the file's first line tells)")
        return detect_format(path)  # a file of reports is refused here ("import it without --rules")
    if path.suffix.lower() in _TEXT_SUFFIXES or not path.is_file():
        return None
    line = _first_line(path)
    if path.suffix.lower() == ".zip" or "\t" in line or "event_id_cnty" in line or "deleted_timestamp" in line:
        return detect_format(path)
    return None


@contextlib.contextmanager
def nothing_written() -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP during an import: the store's transaction rolls back (its
    writers undo on any exception), and the user reads "interrupted …; nothing written", exit
    128 + the signal (130 for Ctrl-C)."""
    from forecaster.inference.interrupt import interruptible

    try:
        with interruptible():
            yield
    except KeyboardInterrupt as e:
        err.print(f"interrupted{f' ({e})' if str(e) else ''}; nothing written", markup=False, highlight=False)
        raise typer.Exit(code=getattr(e, "exit_code", 130)) from None


def _rules_path(ctx: typer.Context, given: Path) -> Path:
    """--rules as given, else the file of that name in the workspace's rules/ folder."""
    if given.exists() or given.is_absolute() or len(given.parts) > 1:
        return given
    bundled = workspace(ctx).root / "rules" / given.name
    return bundled if bundled.is_file() else given


def import_coded_file(
    ctx: typer.Context,
    file: Path,
    *,
    kind: FileKind,
    rules: Path | None,
    analyst: str,
    dry_run: bool,
    as_json: bool,
    indicator_ids: Callable[[Workspace], set[str]],
    warn_ignored: Callable[[Workspace, list[dt.date]], None],
) -> None:
    """Run the coded import and print what it did (or, with dry_run, would do). `indicator_ids`
    and `warn_ignored` are `event import`'s own (the catalogue's ids, the evidence-window warning)."""
    from forecaster.ingest import load_rules
    from forecaster.outputs.coded_import import print_dry_run, summary_lines
    from forecaster.store.events import EventStore
    from forecaster.workflow.coded_import import import_coded

    ws = workspace(ctx)
    loaded = None
    if kind == "acled-deletions":
        if rules is not None and not as_json:
            say(f"note: {file} is an ACLED deletions file: it needs no rules (--rules ignored)")
    elif rules is None:
        example = "acled_balkans.yaml" if kind == "acled" else "gdelt_balkans.yaml"
        raise EvidenceError(
            f"{file} is {'an ACLED export' if kind == 'acled' else 'a GDELT 2.0 events file'}: give the mapping rules, "
            f"e.g. --rules {example} (the workspace's rules/ folder holds the bundled ones)"
        )
    else:
        loaded = load_rules(_rules_path(ctx, rules), indicator_ids(ws))
    # A large export makes many long-lived objects and no reference cycles: the cyclic collector
    # would only rescan them (about a tenth of the import's time), so it rests meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with nothing_written():
            if dry_run and not ws.has_store():
                result = import_coded(None, file, kind=kind, rules=loaded, analyst=analyst, dry_run=True)
            else:
                with EventStore(ws.db) as store:
                    result = import_coded(store, file, kind=kind, rules=loaded, analyst=analyst, dry_run=dry_run)
    finally:
        if collecting:
            gc.enable()
    if as_json:
        print_json(result.to_dict())
        return
    for line in summary_lines(result):
        sys.stdout.write(line + "\n")
    if dry_run:
        out.print()
        print_dry_run(out, result)
    elif result.dates:
        warn_ignored(ws, [d for d, k in result.dates for _ in range(k)])
