"""Fusion of the dense, BM25, element, type and structured signals into one ranking score.

A weighted sum of signals on fixed scales, the same weights for every query length (no switch between signals):

* dense: the cosine similarity as is (a long case's best chunk, MaxP);
* BM25: divided by the best BM25 score among the query's candidates (0..1);
* elements: the IDF-weighted cosine of the query's and the case's 纠纷要素 sets (0..1);
* type agreement: P(same 大类) and P(same 小类) of the query and the case
  (predicted when not given, :mod:`leian.disputes.types`), 0..1;
* place (depth of the deepest shared level / 6) and a shared party, when the query names them.

The element and type signals are weighted by their own reliability for the query: their evidence is
the number of distinct 纠纷要素 the query names (:func:`evidence`). A sentence that names one or two
lexicon words ("一个男人被狗追") is not told as a dispute, and an element it shares with a case is
coincidence, not the same dispute: STS-B sentences name 0–1 elements (945 of 1,361 none), the dev
set's disputes 3–15 however they are told. Below ``evidence_none`` + 1 elements the two signals are
left out, from ``evidence_full`` they count in full, linearly between.

Sparse signals are not standardised: a z-score over candidates where one case
shares an element would blow that one case up. The weights were chosen by a
grid on the tuning half of the dev set together with STS-B-zh (``python -m
leian.search.evaluate sweep``) and checked, unchanged, on the held-out half; no
weighting of this form, nor any of six other rule families (z-score, min-max,
query-performance-weighted, a learned ranker, ...), also meets LeCaRD (docs/quality.md).

Examples
--------
>>> import numpy as np
>>> w = Weights(dense=1.0, bm25=0.5, elements=1.0, category=0.1, subtype=0.1)
>>> fused = fuse(np.array([0.9, 0.8]), np.array([2.0, 4.0]), {"elements": np.array([0.0, 0.5]), "category": np.array([0.1, 0.9])}, w)
>>> [round(float(x), 3) for x in fused]
[1.16, 1.89]
>>> [round(float(x), 3) for x in fuse(np.array([0.9, 0.8]), np.array([2.0, 4.0]), {"elements": np.array([0.0, 0.5])}, w, query_elements=1)]
[1.15, 1.3]
>>> [round(evidence(DEFAULT_WEIGHTS, n), 2) for n in (0, 2, 3, 4, 5, 9)]
[0.0, 0.0, 0.33, 0.67, 1.0, 1.0]
>>> [round(float(x), 3) for x in rrf([np.array([0.9, 0.8]), np.array([2.0, 4.0])])]
[0.033, 0.033]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Weights", "DEFAULT_WEIGHTS", "STRUCTURE_SIGNALS", "fuse", "contributions", "bm25_scale", "evidence", "EVIDENCE_SIGNALS", "rrf",
           "relevance_probability", "relevance_level", "relevance_label", "RELEVANCE", "RELEVANCE_FLOOR", "RELEVANCE_HINT"]

#: Logistic model of "this case is the same dispute", fitted on the tuning half of the dev set
#: (every text against every other of its half and the 97 sample cases): intercept, then the weights of
#: the dense cosine, the element overlap, P(same 小类) and P(same 大类). docs/quality.md has its reliability table.
RELEVANCE = (-11.12, 5.88, 9.02, 2.46, 0.48)
#: 相关度: 高 from this probability, 中 from the floor, 低 below the floor.
RELEVANCE_HIGH = 0.5
RELEVANCE_FLOOR = 0.2
#: What the 相关度 of a result means, for a reader who asks (the web page's tooltip).
RELEVANCE_HINT = f"与所述纠纷为同类纠纷的可能性；不足{RELEVANCE_FLOOR:.0%}的只标“低”"
_RELEVANCE_NAMES = {"high": "高", "medium": "中", "low": "低"}

#: Signals on a fixed 0..1 scale, taken as they are.
STRUCTURE_SIGNALS = ("elements", "category", "subtype", "place", "parties")
#: Signals weighted by the query's element evidence (:func:`evidence`).
EVIDENCE_SIGNALS = ("elements", "category", "subtype")


@dataclass(frozen=True)
class Weights:
    """Weight of each signal in the fused score."""

    dense: float = 1.0
    bm25: float = 0.05
    elements: float = 0.3
    category: float = 0.0
    subtype: float = 0.3
    place: float = 0.05
    parties: float = 0.1
    #: The element and type signals are left out for a query naming at most this many distinct elements...
    evidence_none: float = 2.0
    #: ...and count in full from this many (linearly between).
    evidence_full: float = 5.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_WEIGHTS = Weights()


def bm25_scale(bm25: np.ndarray) -> np.ndarray:
    """BM25 scores divided by the best one among the candidates (all zero stays zero)."""
    best = float(bm25.max()) if len(bm25) else 0.0
    return bm25 / best if best > 0 else np.zeros_like(bm25, dtype=np.float64)


def evidence(weights: Weights, query_elements: int | None) -> float:
    """The reliability (0..1) of the element and type signals for a query naming ``query_elements`` distinct
    elements (None: not known, full weight)."""
    if query_elements is None:
        return 1.0
    span = weights.evidence_full - weights.evidence_none
    if span <= 0:
        return float(query_elements > weights.evidence_none)
    return float(min(1.0, max(0.0, (query_elements - weights.evidence_none) / span)))


def contributions(
    dense: np.ndarray,
    bm25: np.ndarray,
    structure: dict[str, np.ndarray],
    weights: Weights = DEFAULT_WEIGHTS,
    query_elements: int | None = None,
) -> dict[str, np.ndarray]:
    """Each signal's weighted share of the fused score, per candidate."""
    parts = {
        "dense": weights.dense * np.asarray(dense, dtype=np.float64),
        "bm25": weights.bm25 * bm25_scale(np.asarray(bm25, dtype=np.float64)),
    }
    reliability = evidence(weights, query_elements)
    for name in STRUCTURE_SIGNALS:
        if name in structure:
            weight = getattr(weights, name) * (reliability if name in EVIDENCE_SIGNALS else 1.0)
            parts[name] = weight * np.asarray(structure[name], dtype=np.float64)
    return parts


def fuse(
    dense: np.ndarray,
    bm25: np.ndarray,
    structure: dict[str, np.ndarray],
    weights: Weights = DEFAULT_WEIGHTS,
    query_elements: int | None = None,
) -> np.ndarray:
    """The fused score of each candidate (higher is more similar)."""
    return sum(contributions(dense, bm25, structure, weights, query_elements).values())


def relevance_probability(dense: np.ndarray, elements: np.ndarray, subtype: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Calibrated probability that a case is the same kind of dispute as the query (absolute signals, not z-scores).

    >>> [round(float(p), 2) for p in relevance_probability(np.array([0.9, 0.6]), np.array([0.6, 0.0]), np.array([0.9, 0.01]), np.array([1.0, 0.05]))]
    [0.91, 0.0]
    """
    intercept, w_dense, w_elements, w_subtype, w_category = RELEVANCE
    logit = intercept + w_dense * np.asarray(dense) + w_elements * np.asarray(elements) + w_subtype * np.asarray(subtype) + w_category * np.asarray(category)
    return 1.0 / (1.0 + np.exp(-logit))


def relevance_level(probability: float) -> str:
    """``high`` / ``medium`` / ``low`` (高 / 中 / 低); ``low`` is below the floor."""
    return "high" if probability >= RELEVANCE_HIGH else "medium" if probability >= RELEVANCE_FLOOR else "low"


def relevance_label(probability: float) -> str:
    """相关度 as a mediator reads it: 高 / 中 with the probability in steps of 5% (within the level's own range,
    at most 95%), 低 alone.

    The model's reliability table (docs/quality.md) has no finer resolution than 5%, and its top bin is right 87%
    of the time, so 100% would claim a certainty it has not; a 中 never rounds up to the 50% where 高 begins.
    Below the floor the figure rounds to a few percent or 0% for a case that is nonetheless listed; the level
    alone says what matters (the list's 相关度较低 part).

    >>> [relevance_label(p) for p in (0.996, 0.62, 0.5, 0.49, 0.34, 0.2, 0.19, 0.003)]
    ['高（约95%）', '高（约60%）', '高（约50%）', '中（约45%）', '中（约35%）', '中（约20%）', '低', '低']
    """
    level = relevance_level(probability)
    if level == "low":
        return _RELEVANCE_NAMES[level]
    low, high = (round(100 * RELEVANCE_HIGH), 95) if level == "high" else (round(100 * RELEVANCE_FLOOR), round(100 * RELEVANCE_HIGH) - 5)
    return f"{_RELEVANCE_NAMES[level]}（约{min(high, max(low, 5 * round(probability * 20)))}%）"


def rrf(score_lists: list[np.ndarray], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion (for comparison in the evaluation only)."""
    total = np.zeros(len(score_lists[0]))
    for scores in score_lists:
        ranks = np.empty(len(scores))
        ranks[np.argsort(-np.asarray(scores), kind="stable")] = np.arange(1, len(scores) + 1)
        total += 1.0 / (k + ranks)
    return total
