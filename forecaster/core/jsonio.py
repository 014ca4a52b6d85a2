"""Reading JSON strictly: a key written twice, NaN/Infinity, nesting too deep for the parser and
integers beyond Python's 4,300-digit limit are one-line UsageErrors naming the file (and the line
where the parser knows it), never a silent last-wins or a traceback."""

from __future__ import annotations

import json
from typing import Any

from forecaster.core.errors import UsageError
from forecaster.core.text import quoted


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(f"duplicate key {quoted(key)} (each key may appear once in an object)")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load_json_text(text: str, *, name: str, error: type[UsageError] = UsageError) -> Any:
    """Parsed JSON, or None for a file that holds nothing but white space."""
    if not text.strip():
        return None
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise error(f"{name}:{e.lineno}: malformed JSON: {e.msg}") from None
    except RecursionError:
        raise error(f"{name}: malformed JSON: nested too deeply") from None
    except ValueError as e:
        what = "a number with more than 4,300 digits" if "digits" in str(e) else " ".join(str(e).split())[:200]
        raise error(f"{name}: malformed JSON: {what}") from None
