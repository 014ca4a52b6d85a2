"""What a command that fails for a reason other than a ForecastError prints: one line on stderr
and an exit code, never a traceback (issue 12). A full disk, an unwritable HOME, workspace or
runs/ folder, a file that vanished: the OS error with its path. Input nested too deeply, a number
or date out of range, memory exhausted: what happened. Anything else: its type and message, and
how to see the traceback (FORECAST_DEBUG=1), which then propagates as is."""

from __future__ import annotations

import errno
import os


def os_message(e: OSError) -> str:
    """One line for an OS error: the path, and what to do about it."""
    what = e.strerror or " ".join(str(e).split())
    if e.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)):
        what = f"{e.strerror}: no room to write (disk full, over quota or a file-size limit); nothing was half-written"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f"{e.strerror}: check the permissions (or set $FORECAST_WORKSPACE, $XDG_DATA_HOME, $XDG_CACHE_HOME)"
    elif e.errno in (errno.ENOTDIR, errno.ENOENT) and e.filename is not None:
        what = f"{e.strerror} (a folder on the way is missing or is a file)"
    where = e.filename if e.filename is not None else ""
    if getattr(e, "filename2", None):
        where = f"{where} -> {e.filename2}"
    return f"{where}: {what}" if where else what


def failure(e: Exception) -> tuple[str, int]:
    """(the one line, the exit code) for an exception a command did not turn into a ForecastError."""
    if isinstance(e, OSError):
        return os_message(e), 1
    if isinstance(e, RecursionError):
        return "input nested too deeply to process", 2
    if isinstance(e, MemoryError):
        return "out of memory: the input or the network is too large", 1
    if isinstance(e, OverflowError):
        return f"a number or date out of range ({' '.join(str(e).split())[:200]})", 2
    return f"unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]} (FORECAST_DEBUG=1 shows the traceback)", 1


def debugging() -> bool:
    return bool(os.environ.get("FORECAST_DEBUG"))



