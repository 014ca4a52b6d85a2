"""Reading YAML safely: `yaml.safe_load` semantics, line numbers kept for error messages,
no object construction from tags, and alias bombs refused before they are expanded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from forecaster.core.errors import UsageError
from forecaster.core.text import excerpt, quoted

MAX_ALIASES = 100  # real priors and events need few or none; "billion laughs" needs many
# What aliases may add to a document, counted in values as a reader walking it would see them:
# 90 aliases nest to a billion ("billion laughs"), which anything walking the data (validation, a
# copy, an error message) would expand. Refused at load, before anything walks it.
MAX_ALIAS_EXPANSION = 100_000


class LineDict(dict[str, Any]):
    """A mapping that remembers the line it started on (1-based)."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases: refused (possible alias bomb)")
        return super().compose_node(parent, index)

    def compose_document(self) -> Any:
        node = super().compose_document()
        if self._aliases and node is not None:
            _check_expansion(node)
        return node

    def construct_line_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:
        # A key written twice is an error (PyYAML would keep the last one silently). Merge keys
        # (`<<: *base`) may still be overridden: that is what they are for.
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                fresh = key not in seen
            except TypeError:
                continue  # an unhashable key: construct_mapping explains
            if not fresh:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quoted(key)} (each key may appear once in a mapping)", key_node.start_mark
                )
            seen.add(key)
        data = LineDict(self.construct_mapping(node, deep=True))  # type: ignore[arg-type]
        data.line = node.start_mark.line + 1
        return data


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_ALIAS_EXPANSION values beyond the
    ones written; the error's mark is the smallest node that expands too far. Linear in the nodes."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node reached again through itself (a recursive alias) counts once
        if isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            n = 1
        sizes[id(node)] = n
        if n - len(sizes) > MAX_ALIAS_EXPANSION:
            raise yaml.constructor.ConstructorError(
                None, None, f"aliases here expand to more than {MAX_ALIAS_EXPANSION:,} values: refused (an alias bomb?)",
                node.start_mark,
            )  # fmt: skip
        return n

    size(root)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_line_mapping)
# Dates stay text: the schema parses them, so '2025-13-01' gets a clear message, not a ValueError.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)  # type: ignore[type-var]


def load_yaml_text(text: str, *, name: str, error: type[UsageError] = UsageError) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except RecursionError:
        raise error(f"{name}: malformed YAML: nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        what = "a number with more than 4,300 digits" if "digits" in str(e) else " ".join(str(e).split())[:200]
        raise error(f"{name}: malformed YAML: {what}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(e, "problem", None) or str(e)
        raise error(f"{where}: malformed YAML: {excerpt(' '.join(str(problem).split()), 200)}") from None


def load_yaml(path: Path, *, error: type[UsageError] = UsageError) -> Any:
    from forecaster.core.files import check_regular

    check_regular(path, error=error)
    return load_yaml_text(read_text(path, error=error), name=str(path), error=error)


def read_text(path: Path, *, error: type[UsageError] = UsageError) -> str:
    """A UTF-8 file's text (a BOM dropped); a missing or unreadable file is one `error` naming it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read: {e}") from None


def line_of(obj: Any) -> int:
    return getattr(obj, "line", 0)
