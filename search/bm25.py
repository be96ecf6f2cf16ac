"""BM25 over jieba tokens (bm25s), rebuilt from the store's token cache.

Tokens are cached per text hash in the store, so a rebuild only re-tokenises
changed texts; building the bm25s matrix itself is quick (see bench/search.py).
Scores for every document come back at once, so filters and fusion work on the
whole collection, not on a cut top-k.

Examples
--------
>>> index = BM25Index.build(["a", "b", "c"], [["物业费", "拖欠"], ["宅基地"], ["物业费", "漏水"]])
>>> [hit[0] for hit in index.top(["物业费", "拖欠"], 3)]
['a', 'c']
>>> [hit[0] for hit in index.top(["物业费"], 3, allowed={"c"})]
['c']
"""
from __future__ import annotations

from collections.abc import Collection, Sequence

import bm25s
import numpy as np

__all__ = ["BM25Index"]


class BM25Index:
    """A BM25 index over pre-tokenised documents, addressed by string ids."""

    def __init__(self, ids: list[str], model: bm25s.BM25 | None):
        self.ids = ids
        self.position = {case_id: row for row, case_id in enumerate(ids)}
        self.model = model

    @classmethod
    def build(cls, ids: Sequence[str], tokens: Sequence[list[str]]) -> BM25Index:
        """Index documents (``tokens[i]`` are the tokens of ``ids[i]``)."""
        ids = list(ids)
        if not ids:
            return cls([], None)
        model = bm25s.BM25()
        # bm25s wants at least one token per document; an empty one matches nothing.
        model.index([t or ["\x00"] for t in tokens], show_progress=False)
        return cls(ids, model)

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every document, in ``ids`` order (zeros when no token is known)."""
        if self.model is None:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in query_tokens if t in self.model.vocab_dict]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)

    def mask(self, allowed: Collection[str] | None) -> np.ndarray | None:
        """Boolean mask over documents for an allowed id set (None: all)."""
        if allowed is None:
            return None
        mask = np.zeros(len(self.ids), dtype=bool)
        rows = [self.position[i] for i in allowed if i in self.position]
        mask[rows] = True
        return mask

    def top(self, query_tokens: list[str], k: int, allowed: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top-``k`` (id, score) with a positive score, only among ``allowed`` when given."""
        scores = self.scores(query_tokens)
        mask = self.mask(allowed)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(self.ids[row], float(scores[row])) for row in order]
