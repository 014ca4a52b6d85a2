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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from forecaster import __version__
from forecaster.core.errors import PriorsError
from forecaster.model.priors import CACHE_FORMAT, MAIN_FILES, Priors, _content_hash, main_file, priors_files

_FORMAT = f"priors-json-{CACHE_FORMAT}"


def _cache_base() -> Path | None:
    if os.environ.get("FORECAST_NO_CACHE"):
        return None
    import platformdirs

    return Path(platformdirs.user_cache_dir("forecast", appauthor=False))


def user_cache() -> Path | None:
    """The user cache folder (None with FORECAST_NO_CACHE): entries keyed by content, private."""
    return _cache_base()


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


# ----------------------------------------------------------------------------- judgments in force


_ROUND_MEMO: dict[tuple[str, str], Priors] = {}


def load_priors_with_experts(root: Path, experts: Mapping[str, str] | None) -> Priors:
    """The priors folder with `experts/` replaced by a panel round's files (name -> text; MODEL.md
    §7: the judgments in force), validated like any folder; None: the folder as it is.

    The round is written, with the folder's main files, into a folder of the user cache keyed by
    their content (a temporary folder when the cache is off), so `load_priors`' own cache
    answers it next time. The result's `root` is the real folder; its hash is the hash the real
    folder would have with those experts' files."""
    if experts is None:
        return load_priors(root)
    root = Path(root)
    if not root.is_dir():
        raise PriorsError(f"{root}: no priors folder here")
    mains = [main_file(root, name) for name in MAIN_FILES]
    texts = {f.name: f.read_bytes() for f in mains if f.is_file()}
    key = hashlib.sha256(repr((str(root.resolve()), sorted(texts.items()), sorted(experts.items()))).encode()).hexdigest()[:24]
    memo = _ROUND_MEMO.get((str(root.resolve()), key))
    if memo is not None:
        return memo
    base = _cache_base()
    if base is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            priors = _load_materialised(Path(tmp), texts, experts)
    else:
        priors = _load_materialised(base / "rounds" / key, texts, experts)
    priors = replace(priors, root=root)
    _ROUND_MEMO[(str(root.resolve()), key)] = priors
    return priors


def _load_materialised(folder: Path, mains: Mapping[str, bytes], experts: Mapping[str, str]) -> Priors:
    from forecaster.core.atomic import write_bytes_atomic
    from forecaster.core.safe_cache import private_dir

    private_dir(folder / "experts")
    for old in (folder / "experts").iterdir():
        if old.name not in experts:
            old.unlink()
    for name, _text in experts.items():
        if Path(name).name != name or name.startswith("."):
            raise PriorsError(f"expert file name {name!r} is not a plain file name")
    wanted = {folder / name: _settings_for(data, experts) if name.startswith("settings.") else data for name, data in mains.items()}
    wanted.update({folder / "experts" / name: text.encode("utf-8") for name, text in experts.items()})
    for path, data in wanted.items():
        if not (path.is_file() and not path.is_symlink() and path.read_bytes() == data):
            write_bytes_atomic(path, data)  # unchanged files are left alone: no fsync on a warm cache
    return load_priors(folder)


def _settings_for(data: bytes, experts: Mapping[str, str]) -> bytes:
    """settings.yaml for a past round: stated weights of experts the round does not have are
    dropped (they joined later), so that the round validates; unchanged bytes otherwise."""
    import yaml

    from forecaster.core.yamlio import load_yaml_text

    try:
        raw = load_yaml_text(data.decode("utf-8-sig"), name="settings.yaml", error=PriorsError)
    except (PriorsError, UnicodeDecodeError):
        return data
    weights = raw.get("pooling", {}).get("weights") if isinstance(raw, dict) and isinstance(raw.get("pooling"), dict) else None
    ids = {Path(name).stem for name in experts} | {"catalogue"}
    if not isinstance(weights, dict) or set(weights) <= ids:
        return data
    plain = yaml.safe_load(data.decode("utf-8-sig"))
    plain["pooling"]["weights"] = {k: v for k, v in plain["pooling"]["weights"].items() if k in ids}
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True).encode("utf-8")


@dataclass(frozen=True)
class WeightSettings:
    """settings.yaml's pooling-weight choice (MODEL.md §7): `stated` or `performance`."""

    mode: str = "stated"
    tau: float = 1.0
    floor: float = 0.02

    @property
    def performance(self) -> bool:
        return self.mode == "performance"


def weight_settings(root: Path) -> WeightSettings:
    """`weights`, `tau` and `floor` from settings.yaml (the schema checks them with the folder;
    checked again here, so a caller that skipped validation still gets one clear line)."""
    from forecaster.core.yamlio import load_yaml

    data = load_yaml(main_file(Path(root), "settings"), error=PriorsError)
    data = data if isinstance(data, dict) else {}
    mode, tau, floor = data.get("weights", "stated"), data.get("tau", 1.0), data.get("floor", 0.02)
    if mode not in ("stated", "performance"):
        raise PriorsError(f"settings.yaml: weights: {mode!r}: expected 'stated' or 'performance'")
    checks = (("tau", tau, lambda x: 0.0 < x <= 100.0, "in (0, 100]"), ("floor", floor, lambda x: 0.0 <= x < 0.5, "in [0, 0.5)"))
    for name, value, ok, span in checks:
        if isinstance(value, bool) or not isinstance(value, int | float) or not ok(float(value)):
            raise PriorsError(f"settings.yaml: {name}: {value!r}: expected a number {span}")
    return WeightSettings(str(mode), float(tau), float(floor))
