"""Opening a coded event file with bounds: a zip member decompressed as it is read, up to a
ceiling; lines and rows read with a bound; cells checked against theirs. What the readers of
`ingest.formats` stand on: whatever a file holds, memory stays flat and a bad file is one line
(`CodedFileError`) naming the file, the line and the field."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import zipfile
import zlib
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import IO, Any

from forecaster.core.errors import EvidenceError
from forecaster.core.files import MAX_INPUT_BYTES, special_kind
from forecaster.core.text import excerpt, quoted
from forecaster.model.evidence import MAX_YEAR

# What one coded file may hold (docs/LIMITS.md). A row or a cell past its bound is refused with
# file, line and field, before it is held whole: memory stays flat whatever the file holds.
MAX_ROW_CHARS = 1 << 20  # one row: a GDELT line; an ACLED record with its quoted line breaks
MAX_CELL_CHARS = 32_768  # any cell (ACLED notes run to a few thousand)
MAX_ID_CHARS = 64  # an event id: kept in every report's origin
MAX_URL_CHARS = 4_096  # GDELT's SOURCEURL: kept as the report's url
# Blank lines cost a reader as much as rows and say nothing: an export has none (but at its end).
MAX_BLANK_LINES = 1_000
# A zip member is read decompressing as it goes, up to MAX_ZIP_RATIO times its compressed size (at
# least MIN_ZIP_ALLOWANCE, at most the 1 GiB any input may have): real exports compress 5 to 15
# times; a "zip bomb" of a few hundred kilobytes would unpack to gigabytes.
MAX_ZIP_RATIO = 20
MIN_ZIP_ALLOWANCE = 8 << 20
# Timestamps: from 1970 to the end of MAX_YEAR, and no later than the import's clock allows
# (FUTURE_SLACK_S for a source whose clock runs ahead of ours).
MAX_STAMP = int(dt.datetime(MAX_YEAR, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp())
FUTURE_SLACK_S = 86_400

class CodedFileError(EvidenceError):
    """A coded event file that cannot be read: names the file, the line (0: the file as a whole)
    and the field (None: the row or the file)."""

    def __init__(self, path: Path | str, line: int, field: str | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{path}:{line}" if line else f"{path}"
        what = f" field {quoted(field, 40)}:" if field else ""
        super().__init__(f"{where}:{what} {problem}")





_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
# What a damaged member raises while it is decompressed (zlib, bz2, lzma, a bad CRC, a cut file).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError, NotImplementedError)


class _Member(io.RawIOBase):
    """A zip member's bytes, decompressed as they are read and counted: past `ceiling` bytes, a
    nested zip, or damage found on the way (a bad CRC, a corrupt stream) is one CodedFileError
    naming the archive and the member."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, ceiling: int) -> None:
        super().__init__()
        self.path, self.name, self.ceiling, self.total = path, info.filename, ceiling, 0
        self.archive = archive
        try:
            self.inner = archive.open(info)
        except _ZIP_ERRORS as e:
            archive.close()
            raise self._damaged(e) from None

    def _damaged(self, e: BaseException) -> CodedFileError:
        return CodedFileError(
            self.path, 0, None, f"damaged zip member {quoted(self.name)}: {excerpt(str(e) or type(e).__name__)}; nothing was imported"
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self.inner.read(len(buffer))
        except _ZIP_ERRORS as e:
            raise self._damaged(e) from None
        if self.total == 0 and data[:4] == b"PK\x03\x04":
            raise CodedFileError(self.path, 0, None, f"{quoted(self.name)} in it is itself a zip archive: unzip it first")
        self.total += len(data)
        if self.total > self.ceiling:
            raise CodedFileError(
                self.path, 0, None,
                f"{quoted(self.name)} unpacks to more than {self.ceiling:,} bytes ({MAX_ZIP_RATIO} times its compressed size, "
                "at least 8 MiB): refused as a possible zip bomb; unzip it and import the file itself",
            )  # fmt: skip
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
            self.archive.close()
        super().close()


def _open_zip(path: Path) -> _Member:
    """The one export inside a zip archive, as a bounded stream; anything else is one line."""
    archive = zipfile.ZipFile(path)
    members = [i for i in archive.infolist() if not i.is_dir()]
    names = ", ".join(quoted(i.filename, 40) for i in members[:3]) + (", …" if len(members) > 3 else "")
    problem = None
    if len(members) != 1:
        problem = f"a zip archive must hold exactly one export file; this one holds {len(members)}{f' ({names})' if members else ''}"
    elif members[0].filename.lower().endswith(".zip"):
        problem = f"{names} in it is itself a zip archive: unzip it first"
    elif members[0].flag_bits & 0x1:
        problem = f"{names} is encrypted: forecast reads no password-protected zip; unzip it first"
    elif members[0].compress_type not in _ZIP_METHODS:
        problem = (f"{names} uses compression method {members[0].compress_type}, which is not supported "
                   f"({', '.join(sorted(_ZIP_METHODS.values()))} are)")  # fmt: skip
    if problem is not None:
        archive.close()
        raise CodedFileError(path, 0, None, problem)
    ceiling = min(MAX_INPUT_BYTES, max(MIN_ZIP_ALLOWANCE, MAX_ZIP_RATIO * members[0].compress_size))
    if members[0].file_size > ceiling:
        archive.close()
        raise CodedFileError(
            path, 0, None,
            f"{names} says it unpacks to {members[0].file_size:,} bytes, more than {ceiling:,} ({MAX_ZIP_RATIO} times its compressed "
            "size, at least 8 MiB): refused as a possible zip bomb; unzip it and import the file itself",
        )  # fmt: skip
    return _Member(path, archive, members[0], ceiling)


@contextlib.contextmanager
def open_text(path: Path, *, newline: str) -> Generator[IO[str], None, None]:
    """The file as text (UTF-8, a BOM skipped); a .zip holding one file is read in place, bounded."""
    f: IO[str]
    kind = special_kind(path)
    if kind is not None:  # a FIFO or device would hang the read, or never end
        raise CodedFileError(path, 0, None, f"{kind}, not a regular file: give a regular file")
    try:
        if path.suffix.lower() == ".zip":
            f = io.TextIOWrapper(io.BufferedReader(_open_zip(path)), encoding="utf-8-sig", newline=newline)
        else:
            f = path.open(encoding="utf-8-sig", newline=newline)
    except FileNotFoundError:
        raise CodedFileError(path, 0, None, "no such file") from None
    except IsADirectoryError:
        raise CodedFileError(path, 0, None, "is a folder, not an export file") from None
    except _ZIP_ERRORS as e:
        raise CodedFileError(path, 0, None, f"cannot read: {excerpt(str(e) or type(e).__name__)}") from None
    with f:
        yield f


def next_line(path: Path, f: IO[str], lineno: int) -> str:
    """The next line of `f` (line `lineno`), read with a bound."""
    line = f.readline(MAX_ROW_CHARS + 1)
    if len(line) > MAX_ROW_CHARS:
        raise CodedFileError(path, lineno, None, f"a line longer than {MAX_ROW_CHARS:,} characters")
    return line


def first_line(path: Path, f: IO[str]) -> str:
    """The file's first line, read with a bound."""
    try:
        return next_line(path, f, 1)
    except UnicodeDecodeError:
        raise not_utf8(path, 1) from None


class Lines:
    """The lines of a CSV file for csv.reader (iterate `lines`), each read with a bound; a row (a
    record, with the line breaks quoted inside it) longer than MAX_ROW_CHARS stops the reading,
    naming its line. `row_done()` after each record; `used`: the characters of the row so far."""

    def __init__(self, path: Path, f: IO[str]) -> None:
        self.path, self.f = path, f
        self.used = self.line = 0
        self.start = 1
        self.lines = self._lines()

    def _lines(self) -> Generator[str, None, None]:
        readline, limit = self.f.readline, MAX_ROW_CHARS + 1
        while line := readline(limit):
            self.line += 1
            self.used += len(line)
            if self.used > MAX_ROW_CHARS:
                raise CodedFileError(self.path, self.start, None, f"a row longer than {MAX_ROW_CHARS:,} characters (a quote left open?)")
            yield line

    def row_done(self) -> None:
        self.used = 0
        self.start = self.line + 1


def check_cells(path: Path, line: int, cells: list[str], names: Sequence[str]) -> None:
    """Every cell within MAX_CELL_CHARS (called only for a row long enough to hold one that is not)."""
    for i, cell in enumerate(cells):
        if len(cell) > MAX_CELL_CHARS:
            name = names[i] if i < len(names) else None
            raise CodedFileError(path, line, name, f"{len(cell):,} characters, more than the {MAX_CELL_CHARS:,} a cell may have")


def not_utf8(path: Path, line: int) -> CodedFileError:
    return CodedFileError(path, line, None, "not UTF-8 text; save the export as UTF-8")


def blank_lines(path: Path, line: int) -> CodedFileError:
    return CodedFileError(path, line, None, f"more than {MAX_BLANK_LINES:,} blank lines: not an export (a damaged file?)")
