"""The priors folder as typed, validated specs, and pooling (MODEL.md §2).

`load_priors` validates a folder (see `forecaster.model.schema`, which holds the pydantic file
schemas and the cross-file checks) and caches the validated result by the hash of the files, so
that fast commands (info, validate, whatif, collect) skip YAML parsing and pydantic on a hit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from forecaster.core.errors import PriorsError, did_you_mean
from forecaster.core.files import check_regular
from forecaster.model.evidence import FoldedEvidence, GradeTable, Report, fold

CATALOGUE = "catalogue"
BINARY_STATES: tuple[str, str] = ("occurred", "not_occurred")  # indicators and mechanisms
# Bumped whenever the pickled `Priors` changes shape, so that an older cache entry is never loaded
# (2: mechanism nodes, issue 10; 3: half_life_days).
CACHE_FORMAT = 3

# ----------------------------------------------------------------------------- typed result


@dataclass(frozen=True)
class Judgment:
    """One elicited probability vector for one table row, with where it came from."""

    source: str  # expert id, or "catalogue"
    node: str
    config: tuple[str, ...]  # parent states, in the node's `table_parents` order (a mechanism's state last)
    probs: tuple[float, ...]  # over the node's states (indicators: occurred, not_occurred)
    n: float  # equivalent sample size
    confidence: str  # as written: "medium" or "12"
    terms: tuple[str | None, ...]  # the ICD 203 term written for each state, if any
    rationale: str | None
    citation: str | None
    file: str
    field: str


@dataclass(frozen=True)
class HypothesisNode:
    id: str
    question: str
    parents: tuple[str, ...]
    states: tuple[str, ...]
    claimed: str
    definitions: tuple[str, ...]
    citations: tuple[str, ...]
    resolution_criteria: str | None = None  # one paragraph (MODEL.md §6), whitespace folded
    ordered: bool = False  # states on a scale, in the listed order: the RPS applies

    @property
    def table_parents(self) -> tuple[str, ...]:
        return self.parents


@dataclass(frozen=True)
class IndicatorNode:
    id: str
    name: str
    definition: str
    parents: tuple[str, ...]  # hypothesis parents
    citation: str
    states: tuple[str, ...] = BINARY_STATES
    mechanism: str | None = None  # at most one mechanism parent (MODEL.md §1)

    @property
    def table_parents(self) -> tuple[str, ...]:
        """The parents its likelihood table is given over: the hypotheses, then the mechanism."""
        return (*self.parents, self.mechanism) if self.mechanism else self.parents


@dataclass(frozen=True)
class MechanismNode:
    """A binary latent event (MODEL.md §1): hypothesis parents, indicator children, never reported on."""

    id: str
    name: str
    definition: str
    parents: tuple[str, ...]  # hypothesis parents
    citation: str
    children: tuple[str, ...]  # the indicators that name it, in catalogue order
    states: tuple[str, ...] = BINARY_STATES

    @property
    def table_parents(self) -> tuple[str, ...]:
        return self.parents


Node: TypeAlias = HypothesisNode | IndicatorNode | MechanismNode


@dataclass(frozen=True)
class Expert:
    id: str
    role: str
    illustrative: str
    reviewed_by: str | None
    reviewed_on: dt.date | None
    file: str


@dataclass(frozen=True)
class Pooled:
    mean: tuple[float, ...]
    concentration: float


@dataclass(frozen=True)
class Priors:
    """Everything in a priors folder, validated. Pooling happens on demand (`pooled`)."""

    root: Path
    name: str
    description: str
    illustrative: str
    horizon_months: int
    evidence_window_days: int
    hypotheses: tuple[HypothesisNode, ...]
    indicators: tuple[IndicatorNode, ...]
    experts: tuple[Expert, ...]
    judgments: tuple[Judgment, ...]
    method: str
    weights: Mapping[str, float]
    grades: GradeTable
    hash: str
    mechanisms: tuple[MechanismNode, ...] = ()  # defaulted: code written before mechanisms still builds Priors
    half_life_days: float | None = 365.0  # ageing (MODEL.md §3); None: off

    def fold(self, reports: Iterable[Report], *, as_of: dt.date | None, half_life_days: float | None | str = "settings") -> dict[str, FoldedEvidence]:
        """The reports folded (MODEL.md §3) with this folder's grade table and half-life, aged to
        `as_of` (None: not aged); `half_life_days` overrides the settings' (None: ageing off)."""
        hl = self.half_life_days if half_life_days == "settings" else half_life_days
        if isinstance(hl, str):
            raise PriorsError(f"half-life {hl!r}: expected a number of days or None")
        return fold(reports, self.grades, as_of=as_of, half_life_days=hl)

    @property
    def indicator_ids(self) -> set[str]:
        return {i.id for i in self.indicators}

    @property
    def hypothesis_ids(self) -> list[str]:
        return [h.id for h in self.hypotheses]

    @property
    def mechanism_ids(self) -> list[str]:
        return [m.id for m in self.mechanisms]

    def node(self, node_id: str) -> Node:
        nodes: list[Node] = [*self.hypotheses, *self.indicators, *self.mechanisms]
        for n in nodes:
            if n.id == node_id:
                return n
        known = [*self.hypothesis_ids, *self.indicator_ids, *self.mechanism_ids]
        raise PriorsError(f"unknown node {node_id!r}{did_you_mean(node_id, known)}")

    def configs(self, node_id: str) -> list[tuple[str, ...]]:
        """Parent configurations in mixed-radix order (the first parent varies slowest).

        An indicator with a mechanism parent has its hypothesis parents' configurations times the
        mechanism's ("occurred", "not_occurred"), the mechanism last (varying fastest)."""
        node = self.node(node_id)
        states = {h.id: h.states for h in self.hypotheses}
        states.update({m.id: m.states for m in self.mechanisms})
        return list(itertools.product(*(states[p] for p in node.table_parents)))

    def judgments_for(self, node_id: str, config: tuple[str, ...]) -> list[Judgment]:
        return [j for j in self.judgments if j.node == node_id and j.config == config]

    def pooled(
        self, node_id: str, config: tuple[str, ...], *, method: str | None = None, exclude: str | None = None
    ) -> Pooled:
        js = [j for j in self.judgments_for(node_id, config) if j.source != exclude]
        if not js:
            raise PriorsError(f"no judgment left for {node_id} given {config} after leaving out {exclude!r}")
        w = [self.weights.get(j.source, 1.0) for j in js]
        return pool([j.probs for j in js], [j.n for j in js], w, method=method or self.method)

    def with_settings(self, *, method: str | None = None) -> Priors:
        from dataclasses import replace

        return replace(self, method=method or self.method)

    @property
    def expert_ids(self) -> list[str]:
        return [e.id for e in self.experts]

    def with_weights(self, weights: Mapping[str, float]) -> Priors:
        """These priors pooled with other weights (MODEL.md §7's performance weights): sources not
        named keep their stated weight. The hash changes with the weights, so a run pooled with
        them never shares a run id with one pooled without."""
        from dataclasses import replace

        merged = {**self.weights, **{k: float(v) for k, v in weights.items()}}
        stamp = ",".join(f"{k}={merged[k]!r}" for k in sorted(merged))
        digest = hashlib.sha256(f"{self.hash}|weights|{stamp}".encode()).hexdigest()[:16]
        return replace(self, weights=merged, hash=digest)

    def stated_weight(self, source: str) -> float:
        return float(self.weights.get(source, 1.0))


def pool(probs: Sequence[Sequence[float]], sizes: Sequence[float], weights: Sequence[float], *, method: str = "linear") -> Pooled:
    """Pool expert Dirichlets (MODEL.md §2): linear or log pooled mean, concentration by moment matching."""
    total = sum(weights)
    w = [1.0 / len(weights)] * len(weights) if total <= 0 else [x / total for x in weights]
    k = len(probs[0])
    if method == "logarithmic":
        logs = [sum(wi * math.log(max(p[s], 1e-12)) for wi, p in zip(w, probs, strict=True)) for s in range(k)]
        top = max(logs)
        ex = [math.exp(x - top) for x in logs]
        m = [x / sum(ex) for x in ex]
    else:
        m = [sum(wi * p[s] for wi, p in zip(w, probs, strict=True)) for s in range(k)]
    var = sum(
        wi * (p[s] * (1 - p[s]) / (n + 1) + (p[s] - m[s]) ** 2)
        for wi, p, n in zip(w, probs, sizes, strict=True)
        for s in range(k)
    )
    spread = sum(ms * (1 - ms) for ms in m)
    n_pooled = spread / var - 1 if var > 0 else float("inf")
    return Pooled(tuple(m), max(2.0, n_pooled))


def _content_hash(root: Path, files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(root)).encode())
        h.update(b"\0")
        h.update(f.read_bytes().replace(b"\r\n", b"\n"))
        h.update(b"\0")
    return h.hexdigest()[:16]


MAIN_FILES = ("network", "indicators", "settings")
YAML_SUFFIXES = (".yaml", ".yml")  # both are read, everywhere; one name in both is an error


def main_file(root: Path, name: str) -> Path:
    """`root/name.yaml`, or `root/name.yml` when only that exists (the .yaml path when neither
    does, for the message); both present is a PriorsError, never a silent choice."""
    found = [root / f"{name}{suffix}" for suffix in YAML_SUFFIXES if (root / f"{name}{suffix}").exists()]
    if len(found) > 1:
        raise PriorsError(f"{root}: both {name}.yaml and {name}.yml: keep one")
    for f in found:
        check_regular(f, error=PriorsError, what="priors file")
    return found[0] if found else root / f"{name}.yaml"


def expert_files(root: Path) -> list[Path]:
    """Every expert file in `root/experts` (.yaml and .yml); one expert in two files is an error."""
    folder = root / "experts"
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in YAML_SUFFIXES and not p.name.startswith("."))
    seen: dict[str, Path] = {}
    for f in files:
        check_regular(f, error=PriorsError, what="priors file")  # a FIFO would hang the hash
        if f.stem in seen:
            raise PriorsError(f"{folder}: expert {f.stem!r} is in both {seen[f.stem].name} and {f.name}: keep one")
        seen[f.stem] = f
    return files


def priors_files(root: Path) -> list[Path]:
    """The files that define a priors folder (and its hash)."""
    return [*(main_file(root, name) for name in MAIN_FILES), *expert_files(root)]


__all__ = ["Priors", "Judgment", "HypothesisNode", "IndicatorNode", "MechanismNode", "Node", "Expert", "Pooled",
           "pool", "priors_files", "CATALOGUE", "BINARY_STATES", "CACHE_FORMAT"]
