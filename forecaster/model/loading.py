"""Loading a priors folder: its files, their content hash, and the validated `Priors`, from the
user cache when the files hash the same as one validated before (forecaster.model.schema on a miss)."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from forecaster import __version__
from forecaster.core.errors import PriorsError
from forecaster.model.priors import CACHE_FORMAT, Priors, _content_hash, priors_files


def _cache_path(root: Path, digest: str) -> Path | None:
    if os.environ.get("FORECAST_NO_CACHE"):
        return None
    import platformdirs

    key = hashlib.sha256(f"{__version__}|{CACHE_FORMAT}|{root.resolve()}|{digest}".encode()).hexdigest()[:24]
    return Path(platformdirs.user_cache_dir("forecast", appauthor=False)) / "priors" / f"{key}.pickle"


def load_priors(root: Path) -> Priors:
    """Load and validate a priors folder; raise PriorsError with file:line: field: problem.

    A folder whose files hash the same as one validated before is read from the user cache
    (our own pickle, keyed by version, path and content hash); any problem there falls back
    to full validation."""
    root = Path(root)
    if not root.is_dir():
        raise PriorsError(f"{root}: no priors folder here")
    files = priors_files(root)
    cache = None
    if all(f.is_file() for f in files[:3]):
        digest = _content_hash(root, files)
        cache = _cache_path(root, digest)
        if cache is not None and cache.is_file():
            try:
                with cache.open("rb") as fh:
                    cached = pickle.load(fh)  # noqa: S301 - written by us, in the user's own cache
                if isinstance(cached, Priors) and cached.hash == digest:
                    return cached
            except Exception:  # noqa: BLE001 - a stale or broken cache entry is simply rebuilt
                pass
    from forecaster.model.schema import validate_priors_folder

    priors = validate_priors_folder(root)
    if cache is not None:
        try:
            from forecaster.core.atomic import write_bytes_atomic

            write_bytes_atomic(cache, pickle.dumps(priors, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # a read-only cache folder only costs speed
    return priors
