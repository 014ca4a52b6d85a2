"""Scenarios and what-ifs (MODEL.md §5): hypothetical reports added on top of the recorded
evidence and compared with the baseline, the recorded evidence alone.

A scenario file in `scenarios/` is YAML with a `name`, `title`, `description`, `citation` and a
`reports:` list whose entries have the fields of an event (`forecast event import`). A YAML file
without `name` is not a scenario (`historical_events.yaml` is recorded history) and is skipped.

Nothing here writes: not the event store, not the run log, not runs/. A scenario's numbers are
never recorded, so a scenario can never become the "previous update".

Sampled mode draws every scenario afresh, exactly like an update (exact i.i.d. draws, checked
against the PyMC model built once for the network; or NUTS with `--sampler nuts`, the model
compiled once): with exact draws that costs a fraction of a second per scenario, so nothing is
approximated by reweighting the baseline's draws.

Hypothetical reports count whatever their date: the date is part of the story a scenario tells
(and may lie in the future), not a filter. The recorded evidence keeps its evidence window.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forecaster.core.errors import EvidenceError, UsageError, did_you_mean
from forecaster.core.yamlio import load_yaml
from forecaster.inference.settings import DEFAULT_SEED, SCENARIO_MCSE_TARGET, SamplerSettings
from forecaster.inference.update import UpdateResult, run_update
from forecaster.model.evidence import Report, check_indicator, load_reports_file, parse_grade
from forecaster.model.network import build_network
from forecaster.model.priors import Priors

SCENARIO_SOURCE = "scenario: hypothetical"
WHATIF_NAME = "whatif"
DEFAULT_GRADE = "B2"
_NAME = r"^[a-z0-9][a-z0-9_-]*$"
_YES = {"yes", "y", "occurred", "true"}
_NO = {"no", "n", "not", "not_occurred", "false"}


# ----------------------------------------------------------------------------- scenario files


class _ScenarioHeader(BaseModel):
    """The fields of a scenario file around its reports (validated; unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    reports: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class Scenario:
    """A named set of hypothetical reports, with the passage it rests on."""

    name: str
    title: str
    description: str
    citation: str
    reports: tuple[Report, ...]
    path: Path | None = None
    without: tuple[str, ...] = ()  # ids of recorded reports left out (`whatif --without`)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "citation": self.citation,
            "file": None if self.path is None else str(self.path),
            "reports": [
                {
                    "indicator": r.indicator,
                    "occurred": r.occurred,
                    "grade": r.grade,
                    "date": r.date.isoformat(),
                    "note": r.note,
                }
                for r in self.reports
            ],
            "without": list(self.without),
        }


def _key_line(path: Path, key: str) -> int:
    """The line a top-level key starts on (YAML mappings keep only their own first line)."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    try:
        for i, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if pattern.match(line):
                return i
    except OSError:
        pass
    return 0


def _header(path: Path, data: Any) -> _ScenarioHeader:
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with name, title, description, citation and reports")
    try:
        return _ScenarioHeader.model_validate(data)
    except ValidationError as e:
        # A misspelt key shows up twice, as unknown and as missing: name the typo, with a suggestion.
        first = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        line = _key_line(path, key) if key else 0
        where = f"{path}:{line}" if line else str(path)
        if first["type"] == "extra_forbidden":
            msg = f"unknown field {key!r}{did_you_mean(key, _ScenarioHeader.model_fields)}"
        elif first["type"] == "missing":
            msg = f"field {key!r}: missing; a scenario needs name, title, description, citation and reports"
        elif key == "name" and first["type"] == "string_pattern_mismatch":
            msg = f"field 'name': {data.get('name')!r} is not a scenario name: lower-case letters, digits, _ and -"
        else:
            msg = f"field {key!r}: {first['msg']}"
        raise UsageError(f"{where}: {msg}") from None


def _yaml_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def scenario_files(folder: Path) -> dict[str, Path]:
    """Every scenario in `folder` by name (files without `name:` are skipped)."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no scenarios folder here; `forecast init` creates one with the bundled scenarios")
    found: dict[str, Path] = {}
    for path in _yaml_files(folder):
        data = load_yaml(path)
        if not isinstance(data, dict) or "name" not in data:
            continue
        name = str(data["name"])
        if name in found:
            raise UsageError(f"{path}: scenario name {name!r} is already used by {found[name]}")
        found[name] = path
    return found


def load_scenario(path: Path, *, known: Iterable[str]) -> Scenario:
    """One scenario file, validated: its header, then every report (file:line errors with a
    did-you-mean for an unknown indicator)."""
    header = _header(path, load_yaml(path))
    # A hypothetical report may be dated in the future: the story a scenario tells.
    reports = load_reports_file(path, known=known, today=dt.date.max)
    return Scenario(
        header.name, header.title, " ".join(header.description.split()), header.citation, tuple(reports), path
    )


def list_scenarios(folder: Path, *, known: Iterable[str]) -> list[Scenario]:
    """Every scenario in `folder`, each validated, by name."""
    known = set(known)
    return [load_scenario(path, known=known) for _name, path in sorted(scenario_files(folder).items())]


def find_scenarios(folder: Path, names: Sequence[str], *, known: Iterable[str]) -> list[Scenario]:
    """The scenarios named (or given as paths to scenario files), in the order given."""
    known = set(known)
    available: dict[str, Path] | None = None
    chosen = []
    for name in names:
        as_path = Path(name)
        if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
            chosen.append(load_scenario(as_path, known=known))
            continue
        if available is None:
            available = scenario_files(folder)
        if name not in available:
            listed = ", ".join(sorted(available)) or "none"
            raise UsageError(
                f"no scenario named {name!r} in {folder}{did_you_mean(name, available)}; available: {listed}"
            )
        chosen.append(load_scenario(available[name], known=known))
    seen: set[str] = set()
    for s in chosen:
        if s.name in seen:
            raise UsageError(f"scenario {s.name!r} is named twice")
        seen.add(s.name)
    return chosen


# ----------------------------------------------------------------------------- typed what-ifs


def parse_hypothetical(
    token: str,
    *,
    known: Iterable[str],
    occurred: bool = True,
    grade: str = DEFAULT_GRADE,
    today: dt.date | None = None,
) -> Report:
    """A report typed on the command line: `INDICATOR[:yes|:no][@GRADE]`.

    `armed_incident_north_kosovo` says it occurred (or, with `occurred=False`, that it did not);
    `csto_move:no` that it did not; `csto_move@C3` graded C3 instead of `grade`."""
    text = token.strip()
    body, at, grade_text = text.partition("@")
    if at:
        try:
            reliability, credibility = parse_grade(grade_text)
        except EvidenceError as e:
            raise UsageError(f"{token!r}: {e}") from None
    else:
        reliability, credibility = parse_grade(grade)
    indicator, colon, answer = body.partition(":")
    if colon:
        word = answer.strip().lower()
        if word in _YES:
            occurred = True
        elif word in _NO:
            occurred = False
        else:
            raise UsageError(f"{token!r}: after ':' write yes or no (occurred or not), got {answer!r}")
    indicator = indicator.strip()
    if not indicator:
        raise UsageError(f"{token!r}: no indicator; write INDICATOR[:yes|:no][@GRADE], e.g. csto_move:no@C3")
    check_indicator(indicator, known)
    return Report(
        indicator=indicator,
        date=today or dt.date.today(),
        occurred=occurred,
        reliability=reliability,
        credibility=credibility,
        source=SCENARIO_SOURCE,
        note=f"typed: {token}",
    )


def whatif_scenario(reports: Sequence[Report], without: Sequence[str] = ()) -> Scenario:
    """Reports typed on the command line (and recorded reports left out), as a scenario named `whatif`."""
    said = ", ".join(
        [f"{r.indicator} {'occurred' if r.occurred else 'did not occur'} ({r.grade})" for r in reports]
        + ([f"without {', '.join(without)}"] if without else [])
    )
    return Scenario(WHATIF_NAME, "what if " + said, said, "typed on the command line", tuple(reports), None,
                    tuple(dict.fromkeys(without)))


def check_without(scenarios: Sequence[Scenario], recorded: Sequence[Report], as_of: dt.date) -> None:
    """Every report a scenario leaves out is one of the recorded reports in force (else a UsageError)."""
    known = {r.id for r in recorded if r.id}
    for sc in scenarios:
        for rid in sc.without:
            if rid not in known:
                raise UsageError(
                    f"--without {rid!r}: no report with this id is in force as of {as_of.isoformat()} "
                    f"({len(known)} in the evidence window){did_you_mean(rid, known)}"
                )


# ----------------------------------------------------------------------------- results


Shift = Mapping[str, Mapping[str, float]]

@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario's forecast and its change from the baseline (posterior minus baseline).

    `method`: "exact" (the exact engine alone) or the sampler that drew it afresh ("iid", "nuts");
    `weights_ess` is kept for the JSON shape of earlier versions (always None: no reweighting)."""

    scenario: Scenario
    result: UpdateResult
    change: Shift
    method: str = "exact"
    weights_ess: float | None = None


@dataclass(frozen=True)
class Comparison:
    """The baseline (recorded evidence only) and every scenario."""

    as_of: dt.date
    sampler: str  # "exact", "pymc-iid" or "pymc-nuts"
    seed: int
    baseline: UpdateResult
    recorded_reports: int
    outcomes: tuple[ScenarioOutcome, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        b = self.baseline
        return {
            "as_of": self.as_of.isoformat(),
            "window": [b.window[0].isoformat(), b.window[1].isoformat()],
            "sampler": self.sampler,
            "seed": self.seed,
            "priors_hash": b.priors_hash,
            "recorded": False,  # scenario runs are never written to the store or runs/
            "baseline": {
                "reports": self.recorded_reports,
                "events_hash": b.events_hash,
                "hypotheses": _states_json(b, None),
                "diagnostics": _diagnostics_json(b),
            },
            "scenarios": [
                {
                    **o.scenario.to_json(),
                    "method": o.method,
                    "weights_ess": None if o.weights_ess is None else round(o.weights_ess, 4),
                    "hypotheses": _states_json(o.result, o.change),
                    "diagnostics": _diagnostics_json(o.result),
                }
                for o in self.outcomes
            ],
            "seconds": round(self.seconds, 3),
        }


def _r(x: float) -> float | None:
    return None if x != x else round(float(x), 6)


def _states_json(result: UpdateResult, change: Shift | None) -> dict[str, dict[str, dict[str, Any]]]:
    """Hypothesis id -> state id -> the state in the shared shape (forecaster.inference.states); the
    baseline's change is null, a scenario's is its change from the baseline."""
    from forecaster.inference.states import from_result

    shaped = from_result(result, change) if change is not None else from_result(result, _no_change(result))
    return {h["id"]: {st["id"]: st for st in h["states"]} for h in shaped}


def _no_change(result: UpdateResult) -> dict[str, dict[str, Any]]:
    return {h.id: {s.id: None for s in h.states} for h in result.hypotheses}


def _diagnostics_json(result: UpdateResult) -> dict[str, Any]:
    return result.diagnostics.to_json(run=False)


def _change(result: UpdateResult, baseline: UpdateResult) -> dict[str, dict[str, float]]:
    base = baseline.posteriors()
    return {h.id: {s.id: s.posterior - base[h.id][s.id] for s in h.states} for h in result.hypotheses}


# ----------------------------------------------------------------------------- comparison


def compare(
    priors: Priors,
    recorded: Sequence[Report],
    scenarios: Sequence[Scenario],
    *,
    as_of: dt.date,
    seed: int = DEFAULT_SEED,
    exact: bool = False,
    sampler_settings: SamplerSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """The recorded evidence alone (the baseline), then with each scenario's reports added.

    `exact`: the exact engine. Otherwise each is sampled afresh with the sampler the settings name
    (the PyMC model built once)."""
    start = time.perf_counter()
    check_without(scenarios, recorded, as_of)
    say = progress or (lambda _msg: None)
    net = build_network(priors)
    settings = sampler_settings or SamplerSettings(mcse_target=SCENARIO_MCSE_TARGET)

    def fresh(sc: Scenario) -> list[Report]:
        """A hypothetical report counts whatever its date (the module docstring): it is folded as
        of `as_of`, fresh, never aged nor left out as future (MODEL.md §3 ageing is for the record)."""
        return [replace(r, date=as_of) for r in sc.reports]

    model = None
    if not exact and settings.sampler == "nuts":
        say("building the model")
        from forecaster.inference import sampler  # imports pymc: only on the NUTS path

        model = sampler.build_model(net)

    def forecast(reports: Sequence[Report], pending: Any = None) -> UpdateResult:
        return run_update(priors, reports, as_of=as_of, seed=seed, exact_only=exact, sampler_settings=settings,
                          net=net, model=model, notify=progress, pending=pending)

    method = "exact" if exact else settings.sampler
    runs = [list(recorded), *([*(r for r in recorded if r.id not in sc.without), *fresh(sc)] for sc in scenarios)]
    batch = None
    if not exact and settings.sampler == "iid":
        from forecaster.inference import iid

        # every run's exact draws begin at once, in forked children (one per core at a time)
        batch = iid.start([(net, net.log_lambda(priors.fold(r, as_of=as_of)), seed) for r in runs], settings)
    say("the baseline (recorded evidence)")
    baseline = forecast(runs[0], None if batch is None else (batch, 0))
    outcomes = []
    for i, sc in enumerate(scenarios, 1):
        say(f"scenario {i}/{len(scenarios)}: {sc.name}")
        result = forecast(runs[i], None if batch is None else (batch, i))
        outcomes.append(ScenarioOutcome(sc, result, _change(result, baseline), method))
    name = "exact" if exact else settings.name
    return Comparison(as_of, name, seed, baseline, len(recorded), tuple(outcomes), time.perf_counter() - start)
