"""`forecast new`: a new workspace whose priors folder is complete and validates, every judgment a
uniform placeholder marked TODO, from a short plan of the network: its hypotheses (states,
parents), indicators (hypothesis parents, at most one mechanism) and mechanisms (parents), read
from a YAML file or from command-line flags. The folder is written beside the target and checked
(forecaster.model.schema) before it is moved into place: a plan the priors format refuses is one
error naming the plan's field, and nothing is left behind."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forecaster.core.errors import Problem, UsageError
from forecaster.model.priors import BINARY_STATES

EXAMPLE_EXPERT = "example_expert"
TODO = "TODO"
DEFAULT_WINDOW_DAYS = 730
_GRADES = (
    "grades:\n"
    "  reliability: {A: 0.98, B: 0.8, C: 0.6, D: 0.4, E: 0.1, F: 0.5}\n"
    '  credibility: {"1": 0.98, "2": 0.8, "3": 0.6, "4": 0.4, "5": 0.1, "6": 0.5}\n'
)


# ----------------------------------------------------------------------------- the plan


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HypothesisPlan(_Strict):
    states: list[str]
    parents: list[str] = Field(default_factory=list)
    question: str = ""


class IndicatorPlan(_Strict):
    parents: list[str]
    mechanism: str | None = None
    name: str = ""


class MechanismPlan(_Strict):
    parents: list[str]


class NetworkPlan(_Strict):
    """What `forecast new` needs: the shape of the network. A list is short for the states (of a
    hypothesis) or the parents (of an indicator or mechanism)."""

    name: str = ""
    horizon_months: int = 12
    evidence_window_days: int = DEFAULT_WINDOW_DAYS
    hypotheses: dict[str, HypothesisPlan] = Field(min_length=1)
    indicators: dict[str, IndicatorPlan] = Field(min_length=1)
    mechanisms: dict[str, MechanismPlan] = Field(default_factory=dict)

    @field_validator("hypotheses", mode="before")
    @classmethod
    def _states_short(cls, v: Any) -> Any:
        return {k: {"states": x} if isinstance(x, list) else x for k, x in v.items()} if isinstance(v, Mapping) else v

    @field_validator("indicators", "mechanisms", mode="before")
    @classmethod
    def _parents_short(cls, v: Any) -> Any:
        return {k: {"parents": x} if isinstance(x, list) else x for k, x in v.items()} if isinstance(v, Mapping) else v


def plan_from_file(path: Path) -> NetworkPlan:
    """A plan from a YAML file; its problems as one line (file:line: field: problem)."""
    from forecaster.core.yamlio import load_yaml

    data = load_yaml(path)
    if not isinstance(data, Mapping):
        raise UsageError(f"{path}: expected a mapping with hypotheses: and indicators: at the top level")
    return _plan(data, str(path), text=path.read_text(encoding="utf-8-sig"))


def plan_from_flags(*, hypotheses: Sequence[str], indicators: Sequence[str], mechanisms: Sequence[str] = (),
                    name: str = "") -> NetworkPlan:
    """A plan from `--hypothesis ID=STATE,STATE[:PARENT,…]`, `--indicator ID:PARENT[,…][@MECHANISM]`
    and `--mechanism ID:PARENT[,…]`."""
    data: dict[str, Any] = {"name": name, "hypotheses": {}, "indicators": {}, "mechanisms": {}}
    for text in hypotheses:
        ident, eq, rest = text.partition("=")
        states, _, parents = rest.partition(":")
        if not eq or not ident.strip() or not states.strip():
            raise UsageError(f"--hypothesis {text!r}: expected ID=STATE,STATE[:PARENT,…], e.g. escalation=contained,grey_zone,annexation")
        _once(data["hypotheses"], "--hypothesis", ident.strip(), {"states": _items(states), "parents": _items(parents)})
    for flag, table, texts in (("--indicator", "indicators", indicators), ("--mechanism", "mechanisms", mechanisms)):
        for text in texts:
            ident, colon, rest = text.partition(":")
            parents, at, mechanism = rest.partition("@")
            if not colon or not ident.strip() or not parents.strip() or (at and flag == "--mechanism"):
                form = "ID:PARENT[,PARENT…][@MECHANISM], e.g. drills:escalation" if flag == "--indicator" else "ID:PARENT[,…]"
                raise UsageError(f"{flag} {text!r}: expected {form}")
            entry: dict[str, Any] = {"parents": _items(parents)}
            if at:
                entry["mechanism"] = mechanism.strip()
            _once(data[table], flag, ident.strip(), entry)
    return _plan(data, "--hypothesis/--indicator", text=None)


def _items(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _once(table: dict[str, Any], flag: str, ident: str, entry: dict[str, Any]) -> None:
    if ident in table:
        raise UsageError(f"{flag} {ident}: given twice")
    table[ident] = entry


def _plan(data: Mapping[str, Any], source: str, *, text: str | None) -> NetworkPlan:
    from forecaster.model.problems import _validation_problems

    try:
        return NetworkPlan.model_validate(data)
    except ValidationError as e:
        # a misspelt key first: the missing one it leaves is its consequence
        problems = sorted(_validation_problems(NetworkPlan, data, source, e, text), key=lambda p: "unknown key" not in p.problem)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0]}{more}") from None


# ----------------------------------------------------------------------------- the files


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(text, ensure_ascii=False)


def _id(text: str) -> str:
    """An id as YAML reads it back: plain when it stays text, quoted otherwise (`no`, `on`, `1`)."""
    import yaml

    try:
        plain = yaml.safe_load(f"k: {text}")
    except yaml.YAMLError:
        plain = None
    return text if isinstance(plain, dict) and plain.get("k") == text else _q(text)


def _ids(items: Sequence[str]) -> str:
    return "[" + ", ".join(_id(x) for x in items) + "]"


def _flow(mapping: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{_id(k)}: {_id(v)}" for k, v in mapping.items()) + "}"


@dataclass
class _Shape:
    """The states each node's table conditions on (unknown parents left out: validation names them)."""

    states: dict[str, Sequence[str]] = field(default_factory=dict)

    def configs(self, parents: Sequence[str]) -> list[dict[str, str]]:
        known = [p for p in parents if p in self.states]
        return [dict(zip(known, c, strict=True)) for c in itertools.product(*(self.states[p] for p in known))]


def _network_yaml(plan: NetworkPlan, name: str) -> str:
    lines = [
        f"# The network's hypotheses (docs/PRIORS_FORMAT.md). Fill in every {TODO}: a question per",
        "# hypothesis, a definition and a citation per state, and how a horizon resolves.",
        f"name: {_q(plan.name or name)}",
        f"description: {_q(TODO + ': one paragraph: what this network forecasts, for whom, over what horizon')}",
        f"illustrative: {_q('')}",
        f"horizon_months: {plan.horizon_months}",
        f"# Reports older than this are ignored. {TODO}: say why this window in a comment.",
        f"evidence_window_days: {plan.evidence_window_days}",
        "hypotheses:",
    ]
    for hid, h in plan.hypotheses.items():
        lines += [
            f"  - id: {_id(hid)}",
            f"    question: {_q(h.question or TODO + ': the question ' + hid + ' answers, in one sentence')}",
            f"    parents: {_ids(h.parents)}",
            f"    resolution_criteria: {_q(TODO + ': how an observer decides, once a horizon has passed, which state held')}",
            "    states:",
        ]
        for k, s in enumerate(h.states):
            lines.append(f"      - id: {_id(s)}")
            if k == 0:
                lines.append("        claimed: true  # the state your sources claim (one per hypothesis); move it if need be")
            lines += [f"        definition: {_q(TODO + ': what counts as ' + s)}",
                      f"        citation: {_q(TODO + ': source.txt, section or fn N')}"]
    return "\n".join(lines) + "\n"


def _rows(configs: Sequence[Mapping[str, str]], indent: str, value: str) -> list[str]:
    return [f"{indent}- {{given: {_flow(cfg)}, {value}, rationale: {_q(TODO + ': why this number')}}}" for cfg in configs]


def _indicators_yaml(plan: NetworkPlan, shape: _Shape) -> str:
    lines = [
        f"# The indicator catalogue: one judgment source for every indicator table. Every p: 0.5 is a {TODO}",
        "# placeholder: P(the indicator occurred within the evidence window | its parents' states).",
        "confidence: low",
    ]
    if plan.mechanisms:
        lines.append("mechanisms:")
        for mid, m in plan.mechanisms.items():
            lines += [f"  - id: {_id(mid)}", f"    name: {_q(TODO)}",
                      f"    definition: {_q(TODO + ': what counts as the episode having occurred')}",
                      f"    parents: {_ids(m.parents)}", f"    citation: {_q(TODO + ': source.txt, section or fn N')}",
                      "    likelihoods:", *_rows(shape.configs(m.parents), "      ", "p: 0.5")]
    lines.append("indicators:")
    for iid, ind in plan.indicators.items():
        lines += [f"  - id: {_id(iid)}", f"    name: {_q(ind.name or TODO)}",
                  f"    definition: {_q(TODO + ': what an analyst must see to say it occurred')}",
                  f"    parents: {_ids(ind.parents)}"]
        if ind.mechanism:
            lines.append(f"    mechanism: {_id(ind.mechanism)}")
        table = [*ind.parents, *([ind.mechanism] if ind.mechanism else [])]
        lines += [f"    citation: {_q(TODO + ': source.txt, section or fn N')}", "    likelihoods:",
                  *_rows(shape.configs(table), "      ", "p: 0.5")]
    return "\n".join(lines) + "\n"


def _uniform(states: Sequence[str]) -> dict[str, float]:
    """1/k each, to four places, the last taking the rest (the row sums to 1)."""
    each = round(1.0 / len(states), 4)
    return {s: each if k < len(states) - 1 else round(1.0 - each * (len(states) - 1), 4) for k, s in enumerate(states)}


def _expert_yaml(plan: NetworkPlan, shape: _Shape, today: dt.date) -> str:
    lines = [
        "# One panelist's judgments: every hypothesis table, every parent configuration. Copy this file",
        "# for each panelist (the id equals the file name), replace every uniform placeholder, and sign off.",
        f"id: {EXAMPLE_EXPERT}",
        f"role: {_q(TODO + ': the panelist role, never a real name')}",
        f"illustrative: {_q('')}",
        f"reviewed_by: {_q(TODO + ': who reviewed these judgments')}",
        f"reviewed_on: {today.isoformat()}",
        "hypotheses:",
    ]
    for hid, h in plan.hypotheses.items():
        lines.append(f"  {_id(hid)}:")
        for cfg in shape.configs(h.parents):
            probs = ", ".join(f"{_id(s)}: {p:g}" for s, p in _uniform(h.states).items())
            lines += [f"    - given: {_flow(cfg)}", f"      probabilities: {{{probs}}}", "      confidence: low",
                      f"      rationale: {_q(TODO + ': why these numbers')}",
                      f"      citation: {_q(TODO + ': source.txt, section or fn N')}"]
    return "\n".join(lines) + "\n"


def _settings_yaml() -> str:
    return (
        "# Pooling and report grading (MODEL.md §2-3; docs/PRIORS_FORMAT.md). Defaults: review them.\n"
        "pooling:\n  method: linear\n  confidence_sizes: {low: 5, medium: 20, high: 60}\n"
        + _GRADES + "half_life_days: 365\n"
    )


def _readme(plan: NetworkPlan, name: str, where: str) -> str:
    return f"""# {plan.name or name}: a new forecast network

Made by `forecast new`. The priors folder `priors/` validates as it is, but every judgment in it
is a uniform placeholder marked `TODO`. `forecast -w {where} priors validate` lists each item still
holding one (warnings; `--strict` makes them errors).

What to fill in (docs/PRIORS_FORMAT.md has every key):

1. `priors/network.yaml`: a one-paragraph description; for each hypothesis its question, how a
   horizon resolves (`resolution_criteria`), and for each state a definition and a citation;
   which state is `claimed`; the evidence window and the horizon.
2. `priors/indicators.yaml`: for each indicator a name, a definition an analyst can apply and a
   citation; then its likelihoods, P(occurred within the window | each parent configuration),
   each with a one-line rationale. An indicator whose p is the same in every row moves nothing.
3. `priors/experts/{EXAMPLE_EXPERT}.yaml`: one panelist's hypothesis tables. Copy it once per
   panelist (`experts/<id>.yaml`, the id equal to the file name), give each a role (never a real
   name), their own probabilities, rationales and citations, and a sign-off (`reviewed_by`,
   `reviewed_on`). Remove the example when the real panel is in.
4. `priors/settings.yaml`: pooling and the Admiralty grade table; the defaults are a start.

Then: `forecast -w {where} priors audit` for the reviewers' checks, `forecast -w {where} event add …`
for reports, and `forecast -w {where} update`.
"""


# ----------------------------------------------------------------------------- writing


def _files(plan: NetworkPlan, name: str, where: str, today: dt.date) -> dict[str, str]:
    shape = _Shape({hid: h.states for hid, h in plan.hypotheses.items()})
    shape.states.update({m: BINARY_STATES for m in plan.mechanisms})
    return {
        "README.md": _readme(plan, name, where),
        ".gitignore": "forecast.db*\nruns/\nbriefs/\n",
        "priors/network.yaml": _network_yaml(plan, name),
        "priors/indicators.yaml": _indicators_yaml(plan, shape),
        "priors/settings.yaml": _settings_yaml(),
        f"priors/experts/{EXAMPLE_EXPERT}.yaml": _expert_yaml(plan, shape, today),
    }


@dataclass(frozen=True)
class Scaffold:
    root: Path
    files: tuple[str, ...]
    todos: int  # items holding a TODO placeholder (priors validate's warnings)


def new_network(target: Path, plan: NetworkPlan, *, source: str, today: dt.date | None = None) -> Scaffold:
    """Write a new workspace at `target` (absent or empty): priors/ complete and valid, a README.
    The folder is written and validated beside `target`, then moved into place; a plan the priors
    format refuses raises UsageError naming the plan's field, and nothing is left behind."""
    from forecaster.analysis.validation import validate_folder

    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target}: not an empty folder; forecast new writes only into a new or empty folder")
    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=parent))
    try:
        files = _files(plan, target.name, str(target), today or dt.date.today())
        for rel, text in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text, encoding="utf-8")
        checked = validate_folder(staging / "priors")
        if checked.errors:
            raise UsageError(_plan_problem(source, checked.errors, plan))
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Scaffold(target, tuple(files), len(checked.warnings))


def _plan_problem(source: str, problems: Sequence[Problem], plan: NetworkPlan) -> str:
    """The first problem of the written folder, said of the plan: its field path in the plan's own
    names (`indicators[1]` of the folder is the plan's second indicator)."""
    import re

    first = problems[0]
    ids = {"hypotheses": list(plan.hypotheses), "indicators": list(plan.indicators), "mechanisms": list(plan.mechanisms)}

    def named(m: re.Match[str]) -> str:
        key, i = m.group(1), int(m.group(2))
        return f"{key}.{ids[key][i]}" if i < len(ids[key]) else m.group(0)

    field_text = re.sub(r"^(hypotheses|indicators|mechanisms)\[(\d+)\]", named, first.field) if "experts/" not in first.file else ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{source}: {field_text + ': ' if field_text else ''}{first.problem}{more}"
