"""Fusion of dense, BM25 and structured signals into one calibrated score.

Each signal is put on a comparable scale per query before a weighted sum:

* dense: the cosine similarity as is (already on a fixed scale, 0..1 in practice);
* BM25: divided by the best BM25 score among the query's candidates (0..1),
  then weighted by the query's length in jieba tokens:
  ``bm25 * max(1, tokens / bm25_knee) ** bm25_power``, capped at ``bm25_cap``
  (defaults 0.01, 48, 8, 100): a soft step. Queries up to ~48 tokens (a
  mediator's description, a complaint) are ranked by meaning with BM25 as a
  tie-breaker; from ~64 tokens (weight 0.1) BM25 counts, and whole cases or
  judgments (80+ tokens, weight 0.6 and up) are led by their many specific
  terms, the dense score breaking ties;
* structure: 1 for the same 大类, 1 more for the same 小类, the depth of the
  deepest shared place level divided by 6, and 1 for a shared party.

The dense score of a long case is its best chunk's (MaxP, see
:mod:`leian.search.faiss`). The curve was chosen by a grid on the three dev
sets (STS-B-zh, LeCaRD 0-4, C3RD_mini; ``python -m leian.search.evaluate
sweep``), where the fused ranking is at least the better single signal on
every metric of every set; docs/quality.md has the table, the grid and the
caveat that the curve is fitted on the same data.

Examples
--------
>>> import numpy as np
>>> w = Weights(dense=1.0, bm25=0.5, category=0.1, subtype=0.1, place=0.1, parties=0.2)
>>> fused = fuse(np.array([0.9, 0.8]), np.array([2.0, 4.0]), {"category": np.array([0.0, 1.0])}, w)
>>> [round(float(x), 3) for x in fused]
[1.15, 1.4]
>>> bm25_weight(w, 4), round(bm25_weight(w, 72), 2), bm25_weight(w, 400)
(0.5, 12.81, 100.0)
>>> [round(float(x), 3) for x in rrf([np.array([0.9, 0.8]), np.array([2.0, 4.0])])]
[0.033, 0.033]
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["Weights", "DEFAULT_WEIGHTS", "STRUCTURE_SIGNALS", "fuse", "contributions", "bm25_scale", "bm25_weight", "rrf"]

STRUCTURE_SIGNALS = ("category", "subtype", "place", "parties")


@dataclass(frozen=True)
class Weights:
    """Weight of each signal in the fused score."""

    dense: float = 1.0
    bm25: float = 0.01
    category: float = 0.05
    subtype: float = 0.05
    place: float = 0.05
    parties: float = 0.1
    #: BM25's weight grows as ``(tokens / bm25_knee) ** bm25_power`` beyond the knee, up to ``bm25_cap``.
    bm25_knee: float = 48.0
    bm25_power: float = 8.0
    bm25_cap: float = 100.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


DEFAULT_WEIGHTS = Weights()


def bm25_scale(bm25: np.ndarray) -> np.ndarray:
    """BM25 scores divided by the best one among the candidates (all zero stays zero)."""
    best = float(bm25.max()) if len(bm25) else 0.0
    return bm25 / best if best > 0 else np.zeros_like(bm25, dtype=np.float64)


def bm25_weight(weights: Weights, query_tokens: int | None) -> float:
    """The BM25 weight for a query of ``query_tokens`` jieba tokens (None: the base weight)."""
    if query_tokens is None:
        return weights.bm25
    curve = weights.bm25 * max(1.0, query_tokens / weights.bm25_knee) ** weights.bm25_power
    return min(weights.bm25_cap, curve)


def contributions(
    dense: np.ndarray,
    bm25: np.ndarray,
    structure: dict[str, np.ndarray],
    weights: Weights = DEFAULT_WEIGHTS,
    query_tokens: int | None = None,
) -> dict[str, np.ndarray]:
    """Each signal's weighted share of the fused score, per candidate."""
    parts = {
        "dense": weights.dense * np.asarray(dense, dtype=np.float64),
        "bm25": bm25_weight(weights, query_tokens) * bm25_scale(np.asarray(bm25, dtype=np.float64)),
    }
    for name in STRUCTURE_SIGNALS:
        if name in structure:
            parts[name] = getattr(weights, name) * np.asarray(structure[name], dtype=np.float64)
    return parts


def fuse(
    dense: np.ndarray,
    bm25: np.ndarray,
    structure: dict[str, np.ndarray],
    weights: Weights = DEFAULT_WEIGHTS,
    query_tokens: int | None = None,
) -> np.ndarray:
    """The fused score of each candidate (higher is more similar)."""
    return sum(contributions(dense, bm25, structure, weights, query_tokens).values())


def rrf(score_lists: list[np.ndarray], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion (for comparison in the evaluation only)."""
    total = np.zeros(len(score_lists[0]))
    for scores in score_lists:
        ranks = np.empty(len(scores))
        ranks[np.argsort(-np.asarray(scores), kind="stable")] = np.arange(1, len(scores) + 1)
        total += 1.0 / (k + ranks)
    return total
