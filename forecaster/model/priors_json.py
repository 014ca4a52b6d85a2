"""The validated `Priors` as plain JSON and back, for the priors cache: no pickle, so a planted
cache file can at worst be refused, never run. Only the model's own record types are rebuilt,
by name, from a fixed list; anything else in the file is an error."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from forecaster.model.evidence import GradeTable
from forecaster.model.priors import Expert, HypothesisNode, IndicatorNode, Judgment, MechanismNode, Priors

_TYPES: dict[str, type] = {
    t.__name__: t for t in (Priors, HypothesisNode, IndicatorNode, MechanismNode, Expert, Judgment, GradeTable)
}


class CacheFormatError(ValueError):
    pass


def encode(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        if _TYPES.get(name) is not type(obj):
            raise CacheFormatError(f"cannot cache a {name}")
        return {"$": name, "f": {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}
    if isinstance(obj, tuple):
        return {"$t": [encode(x) for x in obj]}
    if isinstance(obj, list):
        return [encode(x) for x in obj]
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {"$d": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, Path):
        return {"$p": str(obj)}
    if isinstance(obj, dt.date):
        return {"$date": obj.isoformat()}
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise CacheFormatError(f"cannot cache a {type(obj).__name__}")


def decode(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(x) for x in data]
    if not isinstance(data, dict):
        if data is None or isinstance(data, (str, int, float, bool)):
            return data
        raise CacheFormatError("unexpected value")
    if set(data) == {"$", "f"}:
        cls = _TYPES.get(data["$"]) if isinstance(data["$"], str) else None
        if cls is None or not isinstance(data["f"], dict):
            raise CacheFormatError(f"unknown record type {data['$']!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        if set(data["f"]) != names:
            raise CacheFormatError(f"fields of {data['$']} differ")
        return cls(**{k: decode(v) for k, v in data["f"].items()})
    if set(data) == {"$t"} and isinstance(data["$t"], list):
        return tuple(decode(x) for x in data["$t"])
    if set(data) == {"$d"} and isinstance(data["$d"], list):
        out = {}
        for pair in data["$d"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CacheFormatError("bad mapping")
            out[decode(pair[0])] = decode(pair[1])
        return out
    if set(data) == {"$p"} and isinstance(data["$p"], str):
        return Path(data["$p"])
    if set(data) == {"$date"} and isinstance(data["$date"], str):
        return dt.date.fromisoformat(data["$date"])
    raise CacheFormatError("unexpected object")


def priors_to_json(priors: Priors) -> Any:
    return encode(priors)


def priors_from_json(data: Any) -> Priors:
    priors = decode(data)
    if not isinstance(priors, Priors):
        raise CacheFormatError("not a priors record")
    return priors
