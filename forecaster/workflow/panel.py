"""The panel's jobs (MODEL.md §7, issue 23): close a round, say what changed since the last one,
the feedback, the convergence history, track records, and the judgments and weights in force
at a date (which `update`, the brief, backfills and scores use).

The judgments in force at `d` are the latest round closed on or before `d`, rebuilt from the
store (its full `experts/` content) over the folder's network, catalogue and settings; the folder
as it is when no round has closed. With `weights: performance` in settings.yaml, pooling uses
§7's weights, earned on the resolutions whose period ended before `d`."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.analysis import panel as ap
from forecaster.core.errors import PriorsError
from forecaster.core.workspace import Workspace
from forecaster.model.priors import Priors, expert_files
from forecaster.store.rounds import PanelRound, RoundError, get_round, in_force

# ---------------------------------------------------------------------------------------------
# Rounds and the judgments in force
# ---------------------------------------------------------------------------------------------


@contextmanager
def _store(ws: Workspace) -> Iterator[Any]:
    from forecaster.store.events import EventStore

    with EventStore(ws.db) as store:
        yield store


def list_rounds(ws: Workspace) -> list[PanelRound]:
    """Every closed round (none without a store)."""
    if not ws.has_store():
        return []
    from forecaster.store import rounds

    with _store(ws) as store:
        return rounds.list_rounds(store)


def folder_experts(ws: Workspace) -> dict[str, str]:
    """The folder's `experts/` as file name -> text (what a round records)."""
    out = {}
    for f in expert_files(ws.priors_dir):
        try:
            out[f.name] = f.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise PriorsError(f"{f}: cannot read: {e}") from None
    return out


def round_priors(ws: Workspace, panel_round: PanelRound | None) -> Priors:
    """The priors with a round's judgments (None: the folder as it is)."""
    from forecaster.model.loading import load_priors_with_experts

    if panel_round is None:
        return load_priors_with_experts(ws.priors_dir, None)
    try:
        return load_priors_with_experts(ws.priors_dir, panel_round.experts)
    except PriorsError as e:
        raise PriorsError(f"panel round {panel_round.number}'s judgments do not fit the folder's network: {e}") from None


@dataclass(frozen=True)
class InForce:
    """The priors a run at `as_of` uses: the round in force, pooled with the weights in force."""

    priors: Priors
    round: PanelRound | None
    basis: ap.WeightBasis
    equal: Priors | None = None  # the same round under stated weights, when performance weights are used

    def to_json(self) -> dict[str, Any]:
        r = self.round
        return {"round": r.number if r else None, "label": r.label if r else None,
                "closed_at": r.summary()["closed_at"] if r else None, "weights": self.basis.to_json()}

    def record(self) -> dict[str, Any]:
        """What a run records of it: nothing when no round was in force and the weights were the
        stated ones (the folder as it is, as before panels); else {"panel": …}."""
        if self.round is None and self.basis.mode != "performance":
            return {}
        return {"panel": self.to_json()}

    def describe(self) -> str:
        r = self.round
        where = f"panel round {r.number} ({r.label or 'no label'})" if r else "the experts' files as they are (no round closed)"
        return f"judgments: {where}; {self.basis.describe()}"


class Panel:
    """The workspace's rounds, loaded once, with each round's priors and experts' forecasts
    memoised: one object answers every date of a back-test."""

    def __init__(self, ws: Workspace, *, store: Any = None, folder: Priors | None = None) -> None:
        """`store`: an open EventStore to read (default: the workspace's, opened when needed);
        `folder`: the folder's priors, already loaded."""
        from forecaster.model.loading import weight_settings
        from forecaster.store import rounds

        self.ws = ws
        self.store = store
        self.rounds = rounds.list_rounds(store) if store is not None else list_rounds(ws)
        self.settings = weight_settings(ws.priors_dir)
        self._priors: dict[int, Priors] = {} if folder is None else {0: folder}
        self._forecasts: dict[int, dict[str, dict[str, np.ndarray]]] = {}
        self._pools: dict[int, dict[str, np.ndarray]] = {}
        self._cases: list[tuple[Any, ap.Case]] | None = None
        self._folder_files: dict[str, str] | None = None

    def round_at(self, when: dt.date) -> PanelRound | None:
        return in_force(self.rounds, when)

    def priors(self, r: PanelRound | None) -> Priors:
        key = r.number if r else 0
        if key not in self._priors:
            if r is not None and 0 in self._priors and r.experts == self.folder_files():
                self._priors[key] = self._priors[0]  # the round is the folder as it is: no rebuild
            else:
                self._priors[key] = round_priors(self.ws, r)
        return self._priors[key]

    def folder_files(self) -> dict[str, str]:
        if self._folder_files is None:
            self._folder_files = folder_experts(self.ws)
        return self._folder_files

    def forecasts(self, r: PanelRound | None) -> dict[str, dict[str, np.ndarray]]:
        key = r.number if r else 0
        if key not in self._forecasts:
            priors = self.priors(r)
            self._forecasts[key] = cached_marginals("forecasts", priors, lambda: ap.expert_forecasts(priors))
        return self._forecasts[key]

    def equal_pool(self, r: PanelRound | None) -> dict[str, np.ndarray]:
        key = r.number if r else 0
        if key not in self._pools:
            priors = self.priors(r)
            pool = cached_marginals("pool", priors, lambda: {"": ap.prior_marginals(ap.equal_weights(priors))})
            self._pools[key] = pool[""]
        return self._pools[key]

    def in_force(self, as_of: dt.date) -> InForce:
        """The round in force at `as_of`, pooled with the weights in force then."""
        r = self.round_at(as_of)
        priors = self.priors(r)
        if not self.settings.performance:
            return InForce(priors, r, ap.WeightBasis("stated"))
        basis = self.weights(as_of, priors)
        return InForce(ap.apply_weights(priors, basis), r, basis, equal=priors)

    # -- track records --------------------------------------------------------------------------

    def cases(self) -> list[tuple[Any, ap.Case]]:
        """Every resolution in force, as (its round-in-force key, Case), oldest period first."""
        if self._cases is None:
            self._cases = _cases(self.ws, self.priors(self.round_at(dt.date.today())), self.store)
        return self._cases

    def identity(self) -> dict[str, str]:
        """Every expert id ever used -> the id it carries now (`previously:` links followed)."""
        return identities([*(r.experts for r in self.rounds), self.folder_files()])

    def log_scores(self, before: dt.date) -> tuple[dict[str, float], list[str]]:
        """Σ ln P_k(o_r) per expert (by current identity) over resolutions ended before `before`;
        an expert absent from a resolution's round counts as that round's equal-weight pool."""
        ident = self.identity()
        used = [c for c in self.cases() if dt.date.fromisoformat(c[1].end) < before]
        experts = {ident.get(k, k) for r in self.rounds for k in _ids(r.experts)} | set(
            ident.get(k, k) for k in _ids(self.folder_files())
        )
        total = dict.fromkeys(experts, 0.0)
        for _, case in used:
            r = self.round_at(dt.date.fromisoformat(case.start))
            own = {ident.get(k, k): p for k, p in self.forecasts(r).items()}
            pool = self.equal_pool(r)[case.hypothesis]
            for k in experts:
                p = own[k][case.hypothesis] if k in own else pool
                total[k] += math.log(max(float(p[case.state]), 1e-12))
        return total, [c.resolution for _, c in used]

    def weights(self, as_of: dt.date, priors: Priors) -> ap.WeightBasis:
        """§7's performance weights of the experts of `priors`, as of `as_of`."""
        ident = self.identity()
        scores, used = self.log_scores(as_of)
        stated = {k: priors.stated_weight(k) for k in priors.expert_ids}
        by_now = {k: scores.get(ident.get(k, k), 0.0) for k in stated}
        w = ap.performance_weights(by_now, stated, tau=self.settings.tau, floor=self.settings.floor)
        return ap.WeightBasis("performance", w, tuple(used), self.settings.tau, self.settings.floor)


def _ids(files: Mapping[str, str]) -> list[str]:
    return [name.rsplit(".", 1)[0] for name in files]


_PREVIOUSLY = re.compile(r"""^previously:[ \t]*(['"]?)([a-z][a-z0-9_]*)\1[ \t]*(?:#.*)?$""", re.MULTILINE)


def previously_of(files: Mapping[str, str]) -> dict[str, str]:
    """new id -> the old id its file names under `previously:` (MODEL.md §7). A top-level key
    found by a pattern, not a YAML parse: this runs on every round's files, and the schema has
    already checked the key when the round closed."""
    out = {}
    for name, text in files.items():
        m = _PREVIOUSLY.search(text)
        if m:
            out[name.rsplit(".", 1)[0]] = m.group(2)
    return out


def identities(snapshots: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Every id in the snapshots (oldest first) -> the latest id its `previously:` chain reaches."""
    newer: dict[str, str] = {}
    for files in snapshots:
        for new, old in previously_of(files).items():
            if old != new:
                newer[old] = new
    out = {}
    for files in snapshots:
        for k in _ids(files):
            seen, cur = {k}, k
            while cur in newer and newer[cur] not in seen:
                cur = newer[cur]
                seen.add(cur)
            out[k] = cur
    return out


def _cases(ws: Workspace, priors: Priors, store: Any = None) -> list[tuple[Any, ap.Case]]:
    from forecaster.store.resolutions import list_resolutions

    if store is not None:
        found = list_resolutions(store)
    elif not ws.has_store():
        return []
    else:
        with _store(ws) as opened:
            found = list_resolutions(opened)
    states = {h.id: h.states for h in priors.hypotheses}
    out = []
    for e in sorted(found, key=lambda e: (e.resolution.start, e.resolution.end, e.id)):
        r = e.resolution
        if r.hypothesis in states and r.state in states[r.hypothesis]:
            out.append((None, ap.Case(e.id, r.hypothesis, states[r.hypothesis].index(r.state), r.start.isoformat(), r.end.isoformat())))
    return out


def in_force_at(ws: Workspace, as_of: dt.date, *, folder: Priors | None = None, store: Any = None) -> InForce:
    """The priors a run as of `as_of` uses (see the module docstring); `folder`: the folder's
    priors when already loaded (they are used as they are when no round is in force)."""
    return Panel(ws, folder=folder, store=store).in_force(as_of)


@dataclass(frozen=True)
class BriefPanel:
    """What the brief needs of the panel: the priors in force, the record of them, and the
    priors hashes its back-test points may carry (one per round, and the folder's)."""

    priors: Priors
    record: dict[str, Any]
    hashes: tuple[str, ...]


def for_brief(store: Any, priors: Priors, as_of: dt.date) -> BriefPanel:
    """The judgments and weights in force at a brief's as-of date, read from its open store."""
    root = Path(priors.root)
    if root.name != "priors":
        return BriefPanel(priors, {}, (priors.hash,))
    panel = Panel(Workspace(root.parent), store=store, folder=priors)
    info = panel.in_force(as_of)
    hashes = (info.priors.hash, *dict.fromkeys(panel.priors(r).hash for r in [None, *panel.rounds]))
    said = info.record()
    return BriefPanel(info.priors, said["panel"] | {"describe": info.describe()} if said else {}, hashes)


def folder_weights(ws: Workspace, priors: Priors, as_of: dt.date) -> ap.WeightBasis | None:
    """The performance weights of the folder's experts as of `as_of`; None with stated weights."""
    from forecaster.model.loading import weight_settings

    if not weight_settings(ws.priors_dir).performance:
        return None
    return Panel(ws, folder=priors).weights(as_of, priors)


def is_workspace_priors(ws: Workspace, priors: Priors) -> bool:
    """Whether `priors` are the workspace's own folder (a round applies only to those)."""
    try:
        return Path(priors.root).resolve() == ws.priors_dir.resolve()
    except OSError:
        return False


def fingerprint_in_force(ws: Workspace, as_of: dt.date, folder_fingerprint: str | None) -> str | None:
    """The hash of the priors in force at `as_of` from the files alone (no parsing), for the fast
    path of an unchanged update: the folder's when no round is in force, the round's experts over
    the folder's main files when one is; None with performance weights (they need the resolutions)."""
    if folder_fingerprint is None:
        return None
    from forecaster.model.priors import MAIN_FILES, main_file

    try:
        settings = main_file(ws.priors_dir, "settings").read_bytes()
    except (OSError, PriorsError):
        return None
    if b"performance" in settings:
        return None
    r = in_force(list_rounds(ws), as_of)
    if r is None:
        return folder_fingerprint
    files = {Path(main_file(ws.priors_dir, n).name): main_file(ws.priors_dir, n).read_bytes() for n in MAIN_FILES}
    files.update({Path("experts") / name: text.encode("utf-8") for name, text in r.experts.items()})
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(str(rel).encode())
        h.update(b"\0")
        h.update(files[rel].replace(b"\r\n", b"\n"))
        h.update(b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Closing a round, and what changed since the last
# ---------------------------------------------------------------------------------------------


def check_renames(last: PanelRound | None, files: Mapping[str, str], new: Sequence[str] = ()) -> None:
    """A file renamed between rounds is a new expert unless it says `previously: OLD_ID`: an
    expert of the last round gone while a new one appeared, neither linked nor declared new
    (`new`), is refused in one line."""
    unknown = [k for k in new if k not in _ids(files)]
    if unknown:
        raise RoundError(f"--new {unknown[0]}: no experts/{unknown[0]}.yaml in the folder")
    if last is None:
        return
    old, now = set(_ids(last.experts)), set(_ids(files))
    links = previously_of(files)
    for k, prev in sorted(links.items()):
        if prev not in old and prev != k:
            raise RoundError(f"experts/{k}: previously: {prev!r} is not an expert of round {last.number} "
                             f"({', '.join(sorted(old))})")
    gone = sorted(old - now - set(links.values()))
    came = sorted(k for k in now - old if k not in links and k not in new)
    if gone and came:
        raise RoundError(
            f"expert {gone[0]!r} of round {last.number} is gone and {came[0]!r} is new: a renamed file is a new "
            f"expert unless it says `previously: {gone[0]}`; add that line to experts/{came[0]}.yaml, or close "
            f"with --new {came[0]} if it is a new expert"
        )


def close_round(ws: Workspace, *, label: str, who: str, new: Sequence[str] = (), now: dt.datetime | None = None) -> PanelRound:
    """Validate the folder (PriorsError: nothing written), check renames, record the round."""
    from forecaster.model.loading import load_priors
    from forecaster.store import rounds

    load_priors(ws.priors_dir)
    files = folder_experts(ws)
    with _store(ws) as store:
        previous = rounds.list_rounds(store)
        check_renames(previous[-1] if previous else None, files, new)
        return rounds.close_round(store, files, label=label, who=who, now=now)


BUNDLED_LABEL = "the bundled panel"


def close_bundled_round(ws: Workspace) -> PanelRound | None:
    """`forecast init`: the bundled panel becomes round 1 of the new workspace's store (nothing
    when the store already holds a round)."""
    if list_rounds(ws):
        return None
    return close_round(ws, label=BUNDLED_LABEL, who="forecast init")


@dataclass(frozen=True)
class Status:
    last: PanelRound | None
    moves: tuple[ap.Move, ...]
    joined: tuple[str, ...]
    left: tuple[str, ...]


def status(ws: Workspace) -> Status:
    """The open round: which experts changed which judgments since the last closed round."""
    panel = Panel(ws)
    last = panel.rounds[-1] if panel.rounds else None
    current = round_priors(ws, None)
    before = panel.priors(last) if last else None
    alias = {old: new for new, old in previously_of(folder_experts(ws)).items()}
    mv = ap.moves(before, current, round_number=0, alias=alias)
    old_ids = {alias.get(k, k) for k in (before.expert_ids if before else [])}
    joined = tuple(sorted(set(current.expert_ids) - old_ids))
    left = tuple(sorted(old_ids - set(current.expert_ids)))
    return Status(last, tuple(m for m in mv if m.expert not in joined), joined, left)


# ---------------------------------------------------------------------------------------------
# Feedback, history, scores
# ---------------------------------------------------------------------------------------------


def round_letters(rounds: Sequence[PanelRound], upto: int) -> dict[str, str]:
    """The letters of round `upto` (each round's shuffle avoids the previous round's letters)."""
    previous: dict[str, str] | None = None
    for r in rounds:
        ids = identities([r.experts])
        letters = ap.letters(r.number, r.experts_hash, list(ids), previous)
        if r.number == upto:
            return letters
        alias = {old: new for new, old in previously_of(r.experts).items()}
        previous = {alias.get(k, k): v for k, v in letters.items()}
    raise RoundError(f"no panel round {upto}")


def feedback(ws: Workspace, round_number: int | None = None) -> ap.Feedback:
    """§7's anonymised feedback on a closed round (default: the last)."""
    rounds = list_rounds(ws)
    if not rounds:
        raise RoundError("no panel round is closed yet: close one first (forecast panel close)")
    r = get_round(rounds, round_number if round_number is not None else rounds[-1].number)
    priors = round_priors(ws, r)
    return ap.feedback(priors, round_number=r.number, label=r.label, closed_on=r.closed_on.isoformat(),
                       letter_of=round_letters(rounds, r.number), quantile=ap.beta_quantile)


def history(ws: Workspace, table: str | None = None) -> list[ap.TableHistory]:
    """Convergence per table over the closed rounds, with who moved and why."""
    panel = Panel(ws)
    if not panel.rounds:
        raise RoundError("no panel round is closed yet: close one first (forecast panel close)")
    per_round = [(r.number, panel.priors(r)) for r in panel.rounds]
    if table is not None:
        per_round[-1][1].node(table)  # an unknown table: one line with "did you mean"
    aliases = [{old: new for new, old in previously_of(r.experts).items()} for r in panel.rounds[1:]]
    return ap.convergence(per_round, aliases=aliases, table=table)


@dataclass(frozen=True)
class PanelScores:
    experts: tuple[ap.Scored, ...]
    equal_pool: ap.Scored
    prior_pool: ap.Scored
    cases: tuple[ap.Case, ...]
    basis: ap.WeightBasis


def scores(ws: Workspace, *, today: dt.date | None = None) -> PanelScores:
    """Each expert's track record (§7) beside the equal-weight pool's and the prior-mean pool's
    (the pool as the settings weigh it, as of each resolution's start)."""
    panel = Panel(ws)
    ident = panel.identity()
    per: dict[str, list[tuple[float, float]]] = {}
    equal: list[tuple[float, float]] = []
    prior: list[tuple[float, float]] = []
    for _, case in panel.cases():
        start = dt.date.fromisoformat(case.start)
        r = panel.round_at(start)
        for k, f in panel.forecasts(r).items():
            per.setdefault(ident.get(k, k), []).append(ap.score_case(f[case.hypothesis], case.state))
        equal.append(ap.score_case(panel.equal_pool(r)[case.hypothesis], case.state))
        pooled = ap.prior_marginals(panel.in_force(start).priors)
        prior.append(ap.score_case(pooled[case.hypothesis], case.state))
    now = panel.in_force(today or dt.date.today())
    experts = tuple(ap.mean_scores(k, per.get(k, [])) for k in sorted(set(per) | set(now.priors.expert_ids)))
    return PanelScores(experts, ap.mean_scores("equal-weight pool", equal), ap.mean_scores("prior-mean pool", prior),
                       tuple(c for _, c in panel.cases()), now.basis)



_MARGINALS_FORMAT = 1


def cached_marginals(
    kind: str, priors: Priors, compute: Callable[[], dict[str, dict[str, np.ndarray]]]
) -> dict[str, dict[str, np.ndarray]]:
    """Prior marginals that depend on `priors`' content alone (each expert's forecast, the
    equal-weight pool), kept in the user cache under its content hash: performance weights then cost
    a file read per round, not a network build and an exact pass per expert (issue 23's speed).
    A missing, foreign or damaged entry is recomputed; a cache that cannot be written costs speed."""
    import json

    from forecaster import __version__
    from forecaster.core.safe_cache import trusted_file, write_private
    from forecaster.model.loading import user_cache

    base = user_cache()
    key = hashlib.sha256(f"{__version__}|{_MARGINALS_FORMAT}|{kind}|{priors.hash}".encode()).hexdigest()[:24]
    path = base / "panel" / f"{key}.json" if base is not None else None
    if path is not None and trusted_file(path, root=base):  # type: ignore[arg-type]
        try:
            data = json.loads(path.read_bytes())
            if data.get("hash") == priors.hash and data.get("kind") == kind:
                return {a: {b: np.asarray(v, dtype=float) for b, v in m.items()} for a, m in data["values"].items()}
        except (OSError, ValueError, TypeError, AttributeError, KeyError):
            pass
    values = compute()
    if path is not None:
        body = {"hash": priors.hash, "kind": kind,
                "values": {a: {b: [float(x) for x in v] for b, v in m.items()} for a, m in values.items()}}
        with suppress(OSError):
            write_private(path, json.dumps(body).encode())
    return values
