"""ICD 203 estimative language: the terms, their ranges, and the midpoint reading of MODEL.md §2."""

from __future__ import annotations

# (term, low, high): ICD 203's seven ranges, in order.
ICD203: tuple[tuple[str, float, float], ...] = (
    ("almost no chance", 0.01, 0.05),
    ("very unlikely", 0.05, 0.20),
    ("unlikely", 0.20, 0.45),
    ("roughly even chance", 0.45, 0.55),
    ("likely", 0.55, 0.80),
    ("very likely", 0.80, 0.95),
    ("almost certain", 0.95, 0.99),
)
TERMS = {name: (lo, hi) for name, lo, hi in ICD203}


def term_probability(term: str) -> float:
    """The midpoint of a term's range: 'likely' -> 0.675."""
    lo, hi = TERMS[term]
    return (lo + hi) / 2


def term_range(term: str) -> tuple[float, float]:
    return TERMS[term]


def term_for(p: float) -> str:
    """The ICD 203 term whose range holds p; a boundary goes to the term nearer even chance."""
    if p < 0.5:
        for name, lo, _hi in reversed(ICD203[:4]):
            if p >= lo:
                return name
        return ICD203[0][0]
    for name, _lo, hi in ICD203[3:]:
        if p <= hi:
            return name
    return ICD203[-1][0]
