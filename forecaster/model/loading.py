"""Loading a priors folder: its files, their content hash, and the validated `Priors`, from the
user cache when the files hash the same as one validated before (forecaster.model.schema on a miss).

The cache is JSON (model/priors_json.py), never a pickle: a planted entry can at worst be refused.
An entry is used only if it is a file of this user's in folders of this user's that nobody else
can write (core/safe_cache.py, checked at every load), if it names the content hash of the files
as they are now, and if the priors it holds carry that same hash; any doubt means validation."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from forecaster import __version__
from forecaster.core.errors import PriorsError
from forecaster.model.priors import CACHE_FORMAT, Priors, _content_hash, priors_files

_FORMAT = f"priors-json-{CACHE_FORMAT}"


def _cache_base() -> Path | None:
    if os.environ.get("FORECAST_NO_CACHE"):
        return None
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast", appauthor=False))


def _cache_path(root: Path, digest: str) -> Path | None:
    base = _cache_base()
    if base is None:
        return None
    key = hashlib.sha256(f"{__version__}|{CACHE_FORMAT}|{root.resolve()}|{digest}".encode()).hexdigest()[:24]
    return base / "priors" / f"{key}.json"


def _from_cache(cache: Path, root: Path, digest: str) -> Priors | None:
    from forecaster.core.safe_cache import trusted_file
    from forecaster.model.priors_json import priors_from_json

    base = _cache_base()
    if base is None or not trusted_file(cache, root=base):
        return None
    try:
        data = json.loads(cache.read_bytes())
        if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("files_hash") != digest:
            return None
        if data.get("root") != str(root.resolve()):
            return None
        body = data.get("priors")
        # The body's own digest: a truncated or hand-edited entry is refused, not trusted.
        if data.get("body_sha256") != hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest():
            return None
        priors = priors_from_json(body)
    except Exception:  # noqa: BLE001 - a stale or broken cache entry is simply rebuilt
        return None
    if priors.hash != digest or Path(priors.root).resolve() != root.resolve():
        return None
    return priors


def _to_cache(cache: Path, root: Path, digest: str, priors: Priors) -> None:
    from forecaster.core.safe_cache import write_private
    from forecaster.model.priors_json import CacheFormatError, priors_to_json

    try:
        body = priors_to_json(priors)
        data = {
            "format": _FORMAT, "files_hash": digest, "root": str(root.resolve()),
            "body_sha256": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(), "priors": body,
        }
        write_private(cache, json.dumps(data).encode())
    except (OSError, CacheFormatError, ValueError):
        pass  # a read-only cache folder only costs speed


def load_priors(root: Path) -> Priors:
    """Load and validate a priors folder; raise PriorsError with file:line: field: problem.

    A folder whose files hash the same as one validated before is read from the user cache
    (see the module docstring); any problem there falls back to full validation."""
    root = Path(root)
    if not root.is_dir():
        raise PriorsError(f"{root}: no priors folder here")
    files = priors_files(root)
    cache = None
    if all(f.is_file() for f in files[:3]):
        digest = _content_hash(root, files)
        cache = _cache_path(root, digest)
        if cache is not None:
            cached = _from_cache(cache, root, digest)
            if cached is not None:
                return cached
    from forecaster.model.schema import validate_priors_folder

    priors = validate_priors_folder(root)
    if cache is not None:
        _to_cache(cache, root, priors.hash, priors)
    return priors
