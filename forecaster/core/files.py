"""Input files are regular files: a FIFO, a device or a socket given as a priors, events or
database file is refused at once (reading one would hang, or never end), with one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from forecaster.core.errors import UsageError

MAX_INPUT_BYTES = 1 << 30  # 1 GiB: far beyond any priors or events file


def special_kind(path: Path) -> str | None:
    """"a FIFO", "a device", "a socket"… when `path` (followed) is neither a regular file nor a
    folder; None otherwise, or when it does not exist (the caller explains that)."""
    try:
        return _kind(os.stat(path).st_mode)
    except OSError:
        return None


def _kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is; None for a regular file or a folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def check_regular(path: Path, *, error: type[UsageError] = UsageError, what: str = "file") -> Path:
    """`path` if it is a regular file (following links); else `error`, one line, no read attempted."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path} is a folder, not {_a(what)}")
    kind = _kind(st.st_mode)
    if kind is not None:
        raise error(f"{path} is {kind}, not {_a(what)}: give a regular file")
    if st.st_size > MAX_INPUT_BYTES:
        raise error(f"{path}: {st.st_size:,} bytes is more than the {MAX_INPUT_BYTES:,} a {what} may have")
    return Path(path)


def check_not_special(path: Path, *, error: type[UsageError] = UsageError, what: str = "file", hint: str = "") -> None:
    """Nothing if `path` is missing, a folder or a regular file (the caller explains those); a
    FIFO, device or socket is `error` at once, before anything opens it."""
    try:
        st = os.stat(path)
    except OSError:
        return
    kind = _kind(st.st_mode)
    if kind is not None:
        raise error(f"{path} is {kind}, not {_a(what)}: give a regular file{f' ({hint})' if hint else ''}")


def _a(what: str) -> str:
    """'an event store file', 'a priors file'."""
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what
