"""Files only this user may have written, and files nobody else may change.

Caches are code-adjacent (the sampler's holds compiled functions) or trusted as validated (the
priors cache), so they are read only from folders that are the user's own and not group- or
world-writable, checked at every load whatever the umask was when they were made. The store,
caches and the run's files are created private (0600 / 0700); briefs and exports are readable as
the umask says but never group- or world-writable."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700, whatever the umask; tighten it if it exists
    and is ours. Returns the path."""
    return _folder(Path(path), PRIVATE_DIR, shut=0o077, tightened=lambda _mode: PRIVATE_DIR)


def _folder(path: Path, mode: int, *, shut: int, tightened: Callable[[int], int]) -> Path:
    """Create `path` and its missing parents with `mode` (chmod after mkdir: the umask cannot
    widen or narrow it); if `path` is a folder of ours with any of the `shut` bits, give it
    `tightened(its mode)`."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=mode)
        with contextlib.suppress(OSError):
            os.chmod(d, mode)
    with contextlib.suppress(OSError):
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == _uid() and stat.S_IMODE(st.st_mode) & shut:
            os.chmod(path, tightened(stat.S_IMODE(st.st_mode)))
    return path


def _owned_and_closed(st: os.stat_result) -> bool:
    uid = _uid()
    return (uid is None or st.st_uid == uid) and not stat.S_IMODE(st.st_mode) & 0o022


def trusted_file(path: Path, *, root: Path) -> bool:
    """True if `path` is a regular file (not a link) owned by this user and not group- or
    world-writable, in folders up to and including `root` that are the same, and above `root`
    folders that nobody but this user or root can change (a sticky /tmp is fine: others cannot
    replace our entries in it). Anything else: do not load it."""
    if _uid() is None:  # pragma: no cover - not POSIX: no owners to check
        return Path(path).is_file()
    try:
        st = Path(path).lstat()
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or not _owned_and_closed(st):
        return False
    path = Path(os.path.abspath(path))
    root = Path(os.path.abspath(root))
    if root not in path.parents:
        return False
    d = path.parent
    while True:
        try:
            st = d.lstat()
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode):
            try:
                st = d.stat()
            except OSError:
                return False
            if d == root or root in d.parents:
                return False  # a link inside the cache: someone rearranged it
        if d == root or root in d.parents:
            if not stat.S_ISDIR(st.st_mode) or not _owned_and_closed(st):
                return False
        else:
            mode = stat.S_IMODE(st.st_mode)
            if st.st_uid not in (0, _uid()):
                return False
            if mode & 0o022 and not mode & stat.S_ISVTX:
                return False
        if d.parent == d:
            return True
        d = d.parent


def write_private(path: Path, data: bytes) -> None:
    """Write `path` atomically, 0600, in a 0700 folder."""
    from forecaster.core.atomic import write_bytes_atomic

    private_dir(Path(path).parent)
    write_bytes_atomic(Path(path), data, mode=PRIVATE_FILE)


def current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def public_mode() -> int:
    """The mode for a brief or an export: what the umask allows, never group/world-writable."""
    return 0o666 & ~current_umask() & ~0o022


def public_dir(path: Path) -> Path:
    """Create `path` (and missing parents) readable as the umask says but never group- or
    world-writable, so nobody else can swap a file in it (briefs/); if it exists and is ours, its
    group and world write bits are removed. Returns the path."""
    return _folder(Path(path), 0o777 & ~current_umask() & ~0o022, shut=0o022, tightened=lambda m: m & ~0o022)
