"""How long compiling the sampler's model takes on this machine, to tell a first run what to expect.

The sampler compiles its log-density, gradient and trace functions once per network and keeps them
in a disk cache; a cache miss (a new network, a new version, a fresh machine) compiles for many
seconds. The last compile's duration is kept beside the cache; before any was timed, the guess
depends on whether PyTensor's own compile folder already holds C modules. No pymc here.
"""

from __future__ import annotations

import json
from pathlib import Path

from forecaster.core.safe_cache import trusted_file, write_private

#: Compile-time guesses (s): PyTensor's C-module folder empty (a fresh machine), or already filled.
COLD_S = 45.0
WARM_S = 8.0
FILE = "compile-times.json"


def estimate(cache_root: Path | None, compiledir: Path | None) -> float:
    """Seconds the next compile should take: the last one timed here, else a guess."""
    try:
        if cache_root is not None and (cache_root / FILE).is_file() and trusted_file(cache_root / FILE, root=cache_root):
            seconds = float(json.loads((cache_root / FILE).read_text(encoding="utf-8"))["seconds"])
            if seconds > 0:
                return seconds
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        warm = compiledir is not None and compiledir.is_dir() and sum(1 for _ in compiledir.glob("tmp*")) >= 20
    except OSError:
        warm = False
    return WARM_S if warm else COLD_S


def record(cache_root: Path | None, seconds: float) -> None:
    """Keep a compile's duration for the next estimate (never fails a run)."""
    if cache_root is None:
        return
    try:
        write_private(cache_root / FILE, json.dumps({"seconds": round(seconds, 2)}).encode())  # 0600, 0700 folders
    except OSError:
        return
