"""Random priors folders in the project's YAML format (docs/PRIORS_FORMAT.md), and random reports.

    net = random_net(seed=7)                # the files as parsed YAML, plus what was generated
    root = net.write(tmp_path / "p")        # network.yaml, indicators.yaml, settings.yaml, experts/*.yaml
    priors = load_priors(root)
    reports = random_reports(priors, seed=7, n=30)

Networks are unlike the bundled one: pseudo-word ids and state names, 2–4 hypotheses with 2–4
states and 0–2 earlier hypotheses as parents (written in shuffled order), 8–40 indicators with
1–2 hypothesis parents, linear or logarithmic pooling, unequal weights, 1–3 experts some of whom
judge indicator tables, some judgments as ICD 203 terms (only where the terms' midpoints,
normalised, stay inside each term's range, so `priors audit` has nothing to say), every
probability in [0.03, 0.97], every judgment with a rationale and a citation.

`mechanisms=k` adds k mechanism nodes in the format being added to the schema (issue 10):
a top-level `mechanisms:` list in indicators.yaml, `{id, name, definition, parents, citation,
likelihoods}`, and `mechanism: <id>` on at least one indicator each, whose likelihoods are then
given over its hypothesis parents × `{<mechanism id>: occurred | not_occurred}`. Such folders do
not load with today's `load_priors`; read them with `tests.oracle.oracle_net_from_files`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from forecaster.model.terms import TERMS, term_for, term_probability

PAPERS = ("000_44e76504c81b55c5.txt", "001_8a64ac4567ba3041.txt")
_FOOTNOTES = {PAPERS[0]: 49, PAPERS[1]: 84}
P_LO, P_HI = 0.03, 0.97
AS_OF = dt.date(2026, 11, 22)
GRADES = [f"{r}{c}" for r in "ABCDEF" for c in range(1, 7)]

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
# Ids and state names of the bundled network and the test mini network: never generated.
_BUNDLED = {
    "encirclement", "heightened", "contained", "alignment", "hedging", "west", "east", "escalation",
    "grey_zone", "annexation", "de_escalation", "occurred", "not_occurred", "catalogue",
}

IntRange = int | tuple[int, int]


def _pick(rng: random.Random, r: IntRange) -> int:
    return r if isinstance(r, int) else rng.randint(r[0], r[1])


class _Names:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set(_BUNDLED)

    def word(self, syllables: int) -> str:
        return "".join(self.rng.choice(_CONSONANTS) + self.rng.choice(_VOWELS) for _ in range(syllables))

    def fresh(self, syllables: int, *, sep_parts: int = 1, scope: set[str] | None = None) -> str:
        used = self.used if scope is None else scope
        while True:
            name = "_".join(self.word(syllables) for _ in range(sep_parts))
            if name not in used and name not in _BUNDLED:
                used.add(name)
                return name


@dataclass(frozen=True)
class RandomNet:
    """A generated priors folder: `files` maps a relative path to its parsed YAML content."""

    seed: int
    files: dict[str, Any]

    @property
    def network(self) -> dict[str, Any]:
        return self.files["network.yaml"]

    @property
    def catalogue(self) -> dict[str, Any]:
        return self.files["indicators.yaml"]

    @property
    def hypothesis_ids(self) -> list[str]:
        return [h["id"] for h in self.network["hypotheses"]]

    @property
    def indicator_ids(self) -> list[str]:
        return [i["id"] for i in self.catalogue["indicators"]]

    @property
    def mechanism_ids(self) -> list[str]:
        return [m["id"] for m in self.catalogue.get("mechanisms", [])]

    @property
    def n_joint(self) -> int:
        n = 1
        for h in self.network["hypotheses"]:
            n *= len(h["states"])
        return n

    def write(self, dest: Path) -> Path:
        dest = Path(dest)
        (dest / "experts").mkdir(parents=True, exist_ok=True)
        for rel, data in self.files.items():
            (dest / rel).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return dest


def _citation(rng: random.Random) -> str:
    """A citation `priors audit` accepts: a footnote the paper has, or its Conclusion."""
    paper = rng.choice(PAPERS)
    if rng.random() < 0.9:
        return f"{paper}, fn {rng.randint(1, _FOOTNOTES[paper])}"
    return f"{paper}, Conclusion"


def _clip(p: float) -> float:
    return min(P_HI, max(P_LO, p))


def _vector(rng: random.Random, k: int, base: Sequence[float] | None = None, spread: float = 0.35) -> list[float]:
    """A probability vector with every entry in [0.03, 0.97], rounded to 3 decimals, summing to 1."""
    raw = [rng.gammavariate(1.5, 1.0) for _ in range(k)]
    total = sum(raw)
    v = [x / total for x in raw]
    if base is not None:
        v = [(1 - spread) * b + spread * x for b, x in zip(base, v, strict=True)]
    v = [P_LO + (1 - k * P_LO) * x for x in v]
    v = [round(x, 3) for x in v]
    top = max(range(k), key=lambda i: v[i])
    v[top] = round(1.0 - sum(x for i, x in enumerate(v) if i != top), 3)
    return v


def _terms_for_vector(v: Sequence[float]) -> list[str] | None:
    """ICD 203 terms for a vector when their normalised midpoints stay inside every term's range
    and inside [0.03, 0.97]; None otherwise."""
    terms = [term_for(p) for p in v]
    mids = [term_probability(t) for t in terms]
    total = sum(mids)
    for t, m in zip(terms, mids, strict=True):
        x = m / total
        lo, hi = TERMS[t]
        if not (lo <= x <= hi and P_LO <= x <= P_HI):
            return None
    return terms


def _binary(rng: random.Random, p: float, *, term_rate: float, confidence: Any, why: str) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if rng.random() < term_rate:
        row["term"] = term_for(p)
    else:
        row["p"] = round(_clip(p), 3)
    if confidence is not None:
        row["confidence"] = confidence
    row["rationale"] = why
    row["citation"] = _citation(rng)
    return row


def _value(row: Mapping[str, Any]) -> float:
    return float(row["p"]) if "p" in row else term_probability(row["term"])


def _discriminate(rows: list[dict[str, Any]]) -> None:
    """Make the table's P(occurred) differ by at least 0.1 across its rows (as `priors audit` asks)."""
    values = [_value(r) for r in rows]
    if max(values) - min(values) >= 0.1:
        return
    first = rows[0]
    p = values[0]
    first.pop("term", None)
    first["p"] = round(_clip(p + 0.3 if p < 0.5 else p - 0.3), 3)
    rows[0] = {k: first[k] for k in ("given", "p", "confidence", "rationale", "citation") if k in first}


def _confidence(rng: random.Random, *, allow_none: bool) -> Any:
    choices: list[Any] = ["low", "medium", "high", 8, 35]
    if allow_none:
        choices.append(None)
    return rng.choice(choices)


def random_net(
    seed: int,
    *,
    hypotheses: IntRange = (2, 4),
    states: IntRange = (2, 4),
    indicators: IntRange = (8, 40),
    experts: IntRange = (1, 3),
    mechanisms: int = 0,
    method: str | None = None,
    term_rate: float = 0.2,
    expert_table_rate: float = 0.25,
    max_joint: int | None = None,
    dag: str = "random",
) -> RandomNet:
    """A random priors folder (see the module docstring). `method` None picks linear or
    logarithmic at random; `max_joint` caps the number of joint hypothesis states. `dag`: the
    hypotheses' parents: "random" (0–2 earlier hypotheses each), "chain" (each the one before)
    or "tree" (each one earlier hypothesis, the first none)."""
    rng = random.Random(seed)
    names = _Names(rng)
    n_h = _pick(rng, hypotheses)
    sizes = [_pick(rng, states) for _ in range(n_h)]
    while max_joint is not None and _prod(sizes) > max_joint:
        i = max(range(n_h), key=lambda x: sizes[x])
        if sizes[i] == 2:
            n_h -= 1
            sizes = sizes[:n_h]
        else:
            sizes[i] -= 1
    hyp_ids = [names.fresh(rng.choice((2, 3)), sep_parts=rng.choice((1, 1, 2))) for _ in range(n_h)]
    hyp_states: dict[str, list[str]] = {}
    hyp_parents: dict[str, list[str]] = {}
    for i, hid in enumerate(hyp_ids):
        scope: set[str] = set()
        hyp_states[hid] = [names.fresh(2, scope=scope, sep_parts=rng.choice((1, 1, 2))) for _ in range(sizes[i])]
        if dag == "chain":
            hyp_parents[hid] = hyp_ids[i - 1 : i]
        elif dag == "tree":
            hyp_parents[hid] = [rng.choice(hyp_ids[:i])] if i else []
        else:
            k = rng.randint(0, min(i, 2))
            hyp_parents[hid] = rng.sample(hyp_ids[:i], k)

    def configs(parents: Sequence[str]) -> list[dict[str, str]]:
        return [dict(zip(parents, c, strict=True)) for c in itertools.product(*(hyp_states[p] for p in parents))]

    written = list(hyp_ids)
    rng.shuffle(written)  # not necessarily parents first: the loader sorts
    network = {
        "name": f"random-{seed}",
        "description": f"A random network for tests (seed {seed}).",
        "illustrative": "Generated test data; not an assessment by anyone.",
        "horizon_months": rng.choice((6, 12, 18)),
        "evidence_window_days": 3650,
        "hypotheses": [
            {
                "id": hid,
                "question": f"Which state of {hid} holds over the horizon?",
                "parents": hyp_parents[hid],
                "states": [
                    {"id": s, **({"claimed": True} if k == 0 else {}), "definition": f"{hid} is {s}.", "citation": _citation(rng)}
                    for k, s in enumerate(hyp_states[hid])
                ],
            }
            for hid in written
        ],
    }

    # mechanisms, then indicators (every mechanism gets at least one indicator)
    n_i = _pick(rng, indicators)
    mech_specs: list[dict[str, Any]] = []
    for k in range(mechanisms):
        mid = names.fresh(3)
        parents = rng.sample(hyp_ids, rng.randint(1, min(2, n_h)))
        mech_specs.append({
            "id": mid,
            "name": f"Episode {k + 1}",
            "definition": f"The latent episode {mid} occurred within the evidence window.",
            "parents": parents,
            "citation": _citation(rng),
            "likelihoods": [
                {"given": cfg, "p": round(rng.uniform(0.05, 0.95), 3), "rationale": f"Seed {seed}: episode {mid} given {cfg}.",
                 "citation": _citation(rng)}
                for cfg in configs(parents)
            ],
        })
    mech_of: list[str | None] = [None] * n_i
    if mech_specs:
        slots = rng.sample(range(n_i), min(n_i, max(len(mech_specs), n_i // 3)))
        for pos, j in enumerate(slots):
            mech_of[j] = mech_specs[pos % len(mech_specs)]["id"] if pos < len(mech_specs) else rng.choice(mech_specs)["id"]

    cat_conf = rng.choice(("low", "medium", "high"))
    ind_specs: list[dict[str, Any]] = []
    for j in range(n_i):
        iid = names.fresh(2, sep_parts=2)
        parents = rng.sample(hyp_ids, rng.randint(1, min(2, n_h)))
        mech = mech_of[j]
        rows = []
        for cfg in configs(parents):
            base = rng.uniform(P_LO, P_HI)
            if mech is None:
                rows.append({"given": cfg, "p": base})
            else:  # a manifestation: far likelier when the episode occurred
                rows.append({"given": {**cfg, mech: "occurred"}, "p": rng.uniform(0.45, P_HI)})
                rows.append({"given": {**cfg, mech: "not_occurred"}, "p": rng.uniform(P_LO, 0.4)})
        likelihoods = [
            {"given": r["given"], **_binary(rng, r["p"], term_rate=term_rate, confidence=_confidence(rng, allow_none=True) if rng.random() < 0.3 else None,
                                             why=f"Seed {seed}: reading of {iid} given {r['given']}.")}
            for r in rows
        ]
        _discriminate(likelihoods)
        spec: dict[str, Any] = {
            "id": iid,
            "name": f"Indicator {j + 1}",
            "definition": f"The event {iid} is reported within the evidence window.",
            "parents": parents,
        }
        if mech is not None:
            spec["mechanism"] = mech
        spec["citation"] = _citation(rng)
        spec["likelihoods"] = likelihoods
        ind_specs.append(spec)
    catalogue: dict[str, Any] = {"confidence": cat_conf}
    if mech_specs:
        catalogue["mechanisms"] = mech_specs
    catalogue["indicators"] = ind_specs

    # experts: every hypothesis table; some indicator tables
    n_e = _pick(rng, experts)
    base_vectors = {(hid, tuple(c.values())): _vector(rng, len(hyp_states[hid])) for hid in hyp_ids for c in configs(hyp_parents[hid])}
    expert_files: dict[str, Any] = {}
    expert_ids = [names.fresh(2, sep_parts=2) for _ in range(n_e)]
    judged_any = False
    for e, eid in enumerate(expert_ids):
        tables: dict[str, list[dict[str, Any]]] = {}
        for hid in hyp_ids:
            rows = []
            for cfg in configs(hyp_parents[hid]):
                v = _vector(rng, len(hyp_states[hid]), base_vectors[(hid, tuple(cfg.values()))], spread=rng.uniform(0.1, 0.6))
                terms = _terms_for_vector(v) if rng.random() < term_rate else None
                probs: dict[str, Any] = dict(zip(hyp_states[hid], terms if terms else v, strict=True))
                row: dict[str, Any] = {"given": cfg, "probabilities": probs}
                conf = _confidence(rng, allow_none=True)
                if conf is not None:
                    row["confidence"] = conf
                row["rationale"] = f"Seed {seed}: expert {e + 1} on {hid} given {cfg or 'no parents'}."
                row["citation"] = _citation(rng)
                rows.append(row)
            tables[hid] = rows
        ind_tables: dict[str, list[dict[str, Any]]] = {}
        for spec in ind_specs:
            force = not judged_any and e == n_e - 1 and spec is ind_specs[-1]
            if not (force or rng.random() < expert_table_rate):
                continue
            judged_any = True
            rows = []
            for cat_row in spec["likelihoods"]:
                p = cat_row["p"] if "p" in cat_row else term_probability(cat_row["term"])
                mine = _clip(p + rng.gauss(0.0, 0.12))
                rows.append({"given": cat_row["given"], **_binary(rng, mine, term_rate=term_rate, confidence=_confidence(rng, allow_none=True),
                                                                  why=f"Seed {seed}: expert {e + 1} departs on {spec['id']}.")})
            _discriminate(rows)
            ind_tables[spec["id"]] = rows
        doc: dict[str, Any] = {
            "id": eid,
            "role": f"Test panelist {e + 1}",
            "illustrative": "Generated test data; not the view of any real person.",
            "reviewed_by": "tests",
            "reviewed_on": dt.date(2026, 11, 1),
            "hypotheses": tables,
        }
        if ind_tables:
            doc["indicators"] = ind_tables
        expert_files[f"experts/{eid}.yaml"] = doc

    sources = ["catalogue", *expert_ids]
    weights = {s: round(rng.uniform(0.3, 3.0), 2) for s in sources if rng.random() < 0.85}
    rel = sorted((round(rng.uniform(0.05, 0.98), 2) for _ in "ABCDE"), reverse=True)
    cred = sorted((round(rng.uniform(0.05, 0.98), 2) for _ in "12345"), reverse=True)
    settings = {
        "pooling": {
            "method": method or rng.choice(("linear", "logarithmic")),
            "weights": weights,
            "confidence_sizes": rng.choice(({"low": 5, "medium": 20, "high": 60}, {"low": 3, "medium": 12, "high": 40})),
        },
        "grades": {
            "reliability": {**dict(zip("ABCDE", rel, strict=True)), "F": 0.5},
            "credibility": {**{str(i + 1): c for i, c in enumerate(cred)}, "6": 0.5},
        },
    }
    files = {"network.yaml": network, "indicators.yaml": catalogue, "settings.yaml": settings, **expert_files}
    return RandomNet(seed, files)


def _prod(xs: Sequence[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def random_priors(dest: Path, seed: int, **options: Any) -> Path:
    """`random_net(seed, **options).write(dest)`."""
    return random_net(seed, **options).write(dest)


def _indicator_ids(priors_or_ids: Any) -> list[str]:
    if isinstance(priors_or_ids, RandomNet):
        return priors_or_ids.indicator_ids
    inds = getattr(priors_or_ids, "indicators", None)
    if inds is not None:
        return [i.id for i in inds]
    ids = getattr(priors_or_ids, "indicator_ids", None)
    if ids is not None:
        return list(ids)
    return [str(x) for x in priors_or_ids]


def random_reports(
    priors_or_ids: Any,
    seed: int,
    n: int,
    *,
    as_of: dt.date = AS_OF,
    span_days: int = 900,
    indicators: int | None = None,
    origin_rate: float = 0.4,
    shared_origin_rate: float = 0.35,
    grades: Sequence[str] = GRADES,
) -> list[dict[str, Any]]:
    """n report dicts `{indicator, date, occurred, grade, source[, origin]}` dated in the
    `span_days` before `as_of`, on `indicators` distinct indicators (default: about n/2, so that
    several reports share an indicator). A fraction carry an `origin`, and some of those reuse
    an origin already given on the same indicator (re-publications of one story)."""
    rng = random.Random(seed)
    ids = _indicator_ids(priors_or_ids)
    k = min(len(ids), indicators if indicators is not None else max(1, (n + 1) // 2))
    chosen = rng.sample(ids, k)
    origins: dict[str, list[str]] = {}
    out: list[dict[str, Any]] = []
    for i in range(n):
        ind = chosen[i] if i < k else rng.choice(chosen)
        row: dict[str, Any] = {
            "indicator": ind,
            "date": (as_of - dt.timedelta(days=rng.randint(0, span_days))).isoformat(),
            "occurred": rng.random() < 0.65,
            "grade": rng.choice(list(grades)),
            "source": f"outlet-{rng.randint(1, 40)}",
        }
        if rng.random() < origin_rate:
            seen = origins.setdefault(ind, [])
            if seen and rng.random() < shared_origin_rate * 2:
                row["origin"] = rng.choice(seen)
            else:
                name = f"wire-{seed}-{i}"
                seen.append(name)
                row["origin"] = name
        out.append(row)
    return out


def to_reports(rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The dicts as `forecaster.model.evidence.Report` (today's Report has no origin: it is dropped)."""
    from forecaster.model.evidence import Report

    return [
        Report(
            indicator=r["indicator"],
            date=dt.date.fromisoformat(str(r["date"])),
            occurred=bool(r["occurred"]),
            reliability=str(r["grade"])[0],
            credibility=int(str(r["grade"])[1]),
            source=str(r["source"]),
        )
        for r in rows
    ]
