"""The seed papers a priors folder cites, and whether a citation names a real passage in them."""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from forecaster.core.errors import PriorsError, UsageError, did_you_mean

MAX_FOOTNOTE = 300
SEEDS_ENV = "FORECAST_SEEDS"


def _normal(text: str) -> str:
    """Casefolded, quotes and dashes unified, markdown markers and surrounding quotes dropped."""
    t = unicodedata.normalize("NFKC", text).casefold()
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-"), ("‑", "-")):
        t = t.replace(a, b)
    t = re.sub(r"[#*_>`]", " ", t)
    t = " ".join(t.split())
    return t.strip(" \"'.:;")


# ----------------------------------------------------------------------------- seed papers


@dataclass(frozen=True)
class SeedPaper:
    name: str
    lines: frozenset[str]  # every line, normalised (headings are among them)
    text: str  # the whole paper, normalised
    footnotes: frozenset[int]


_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def read_seed(path: Path) -> SeedPaper:
    """A seed paper's lines and footnote numbers (`<sup>N</sup>`, superscript digits, or the
    numbered entries under an Endnotes/Notes/Footnotes heading)."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    notes = {int(n) for n in re.findall(r"<sup>\s*(\d{1,3})\s*</sup>", raw)}
    notes |= {int(s.translate(_SUPERSCRIPT)) for s in re.findall(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,3}", raw)}
    heading = re.search(r"(?mi)^\W*(endnotes|notes|footnotes)\W*$", raw)
    if heading:
        notes |= {int(n) for n in re.findall(r"(?m)^\s*[-*]?\s*(\d{1,3})[\s.)]", raw[heading.end() :])}
    lines = frozenset(_normal(x) for x in raw.splitlines() if x.strip())
    return SeedPaper(path.name, lines, _normal(raw), frozenset(n for n in notes if n > 0))


def load_seeds(directory: Path) -> dict[str, SeedPaper]:
    return {p.name: read_seed(p) for p in sorted(directory.glob("*.txt")) if p.is_file()}  # no FIFO: it would hang


def find_seeds(priors_root: Path, explicit: Path | None = None) -> Path | None:
    """The folder holding the seed papers: `explicit`, else $FORECAST_SEEDS, else `seeds/` or
    `shared/seeds/` beside the priors folder or any folder above it, else the same search from
    the bundled defaults (a workspace made by `forecast init` cites the papers shipped beside
    them). None when no folder with a .txt paper is found."""
    named = [(f"--seeds {explicit}", explicit)] if explicit is not None else []
    if not named and os.environ.get(SEEDS_ENV):
        named = [(f"${SEEDS_ENV}={os.environ[SEEDS_ENV]}", Path(os.environ[SEEDS_ENV]))]
    for label, folder in named:
        if not folder.is_dir():
            raise PriorsError(f"{label}: no such folder")
        if not any(folder.glob("*.txt")):
            raise PriorsError(f"{label}: no seed papers (*.txt) in this folder")
        return folder
    from forecaster.core.workspace import defaults_dir

    starts = [priors_root.resolve()]
    with contextlib.suppress(UsageError):  # no bundled defaults: search beside the priors only
        starts.append(defaults_dir().resolve())
    for start in starts:
        for folder in (start, *start.parents):
            for cand in (folder / "seeds", folder / "shared" / "seeds"):
                if cand.is_dir() and any(cand.glob("*.txt")):
                    return cand
    return None


_CITATION = re.compile(r"^\s*(?P<paper>[^,]+?\.txt)\s*,\s*(?P<passage>\S.*?)\s*$")
_FOOTNOTE = re.compile(r"^(?:fn|footnote|endnote|note)\.?\s*(?P<n>\d+)$", re.IGNORECASE)


def citation_problem(citation: str, seeds: Mapping[str, SeedPaper] | None) -> tuple[str, str] | None:
    """(kind, message) when a citation names no passage of the seed papers, else None."""
    m = _CITATION.match(citation)
    if not m:
        return "citation_form", f"citation {citation!r} is not of the form '<paper>.txt, <section heading or fn N>'"
    paper_name, passage = m.group("paper"), m.group("passage")
    fn = _FOOTNOTE.match(passage)
    if seeds is None:
        if fn and not 1 <= int(fn.group("n")) <= MAX_FOOTNOTE:
            return (
                "citation_passage",
                f"citation {citation!r}: fn {fn.group('n')} is not a plausible footnote number (1–{MAX_FOOTNOTE})",
            )
        if not fn and len(_normal(passage)) < 3:
            return "citation_passage", f"citation {citation!r}: the passage is too short to find"
        return None
    paper = seeds.get(paper_name)
    if paper is None:
        return (
            "citation_paper",
            f"citation {citation!r} names no seed paper{did_you_mean(paper_name, seeds)}; seeds are {', '.join(seeds)}",
        )
    if fn:
        n = int(fn.group("n"))
        if n not in paper.footnotes:
            top = max(paper.footnotes, default=0)
            return (
                "citation_passage",
                f"citation {citation!r}: {paper.name} has no footnote {n} (its notes run 1–{top})",
            )
        return None
    want = _normal(passage)
    if want in paper.lines or (len(want.split()) >= 3 and want in paper.text):
        return None
    return "citation_passage", f"citation {citation!r}: no section or passage {passage!r} in {paper.name}"


