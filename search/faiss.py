"""FAISS vector index: exact flat below ~50k cases, IVF above, with stable int64 ids.

A case may own several vectors (one per chunk of a long text): the first is
its head vector, the others live under derived int64 ids (the case's number
plus the chunk number shifted past ``_CHUNK_SHIFT`` bits), and a case scores
the best cosine of its vectors (MaxP), so a long record is found by what it
says after its first 500 characters too.

Traps avoided: HNSW cannot remove vectors, so the approximate kind is IVF
(which can, and keeps a hashtable direct map so vectors can be read back);
``write_index`` overwrites in place, so bytes are serialised and written
atomically; ids of an ``IndexIDMap`` are inside the saved index, and our string
-> int64 map is saved beside it, both named in the caller's manifest.

Examples
--------
>>> import numpy as np
>>> index = FaissIndex(4, kind="flat")
>>> vectors = np.eye(4, dtype=np.float32)
>>> index.upsert(["a", "b", "c", "d"], vectors)
>>> index.search(vectors[:1], 2)[0][0]
('a', 1.0)
>>> [hit[0] for hit in index.search(vectors[:1], 2, allowed={"c", "d"})[0]]
['c', 'd']
>>> index.delete(["a"]), len(index), "a" in index
(1, 3, False)

A case with two vectors is found by either and scored by the better one:

>>> index.upsert(["e"], np.array([[0, 1, 0, 0], [0.6, 0, 0.8, 0]], dtype=np.float32), counts=[2])
>>> [(i, round(score, 2)) for i, score in index.search(np.array([[0, 0, 1, 0]], dtype=np.float32), 2)[0]]
[('c', 1.0), ('e', 0.8)]
>>> [round(float(x), 2) for x in index.scores(["b", "e"], np.array([0, 0, 1, 0], dtype=np.float32))]
[0.0, 0.8]
"""
from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from pathlib import Path

import faiss
import numpy as np

from leian.search.base import VectorIndex, write_atomic

__all__ = ["FaissIndex", "KINDS", "ANN_THRESHOLD", "choose_kind"]

KINDS = ("auto", "flat", "ivf")
#: Below this many vectors ``auto`` uses the exact flat index.
ANN_THRESHOLD = 50_000
#: A filtered search over at most this many allowed vectors scores them exactly.
_EXACT_SUBSET = 4096
#: Chunk ``c`` of the case numbered ``n`` has the FAISS id ``n | c << _CHUNK_SHIFT`` (c >= 1).
_CHUNK_SHIFT = 40


def choose_kind(kind: str, count: int, threshold: int = ANN_THRESHOLD) -> str:
    """The concrete kind for ``count`` vectors.

    >>> choose_kind("auto", 1000), choose_kind("auto", 60_000), choose_kind("ivf", 10)
    ('flat', 'ivf', 'flat')
    """
    if kind not in KINDS:
        raise ValueError(f"未知的索引类型 {kind!r}（可选：{'、'.join(KINDS)}）")
    if kind == "auto":
        kind = "ivf" if count >= threshold else "flat"
    # IVF needs enough vectors to train its centroids.
    return "flat" if kind == "ivf" and count < 39 * _nlist(count) else kind


def _nlist(count: int) -> int:
    return max(1, min(65536, int(math.sqrt(max(count, 1)))))


class FaissIndex(VectorIndex):
    """Cosine index over unit vectors (inner product), addressed by string ids.

    Args:
        dim: vector dimension.
        kind: ``auto`` (flat below ``threshold`` vectors, IVF above), ``flat`` or ``ivf``.
        nprobe: IVF lists visited per query (None: about 1/16 of the lists, at least 16).
        threshold: the size at which ``auto`` switches to IVF.
    """

    backend = "faiss"

    def __init__(self, dim: int, *, kind: str = "auto", nprobe: int | None = None, threshold: int = ANN_THRESHOLD):
        choose_kind(kind, 0)  # validates the name
        self.dim = dim
        self.requested_kind = kind
        self.nprobe = nprobe
        self.threshold = threshold
        self.int_of: dict[str, int] = {}
        self.str_of: dict[int, str] = {}
        #: Case number -> how many vectors it has beyond its head vector (only cases with some).
        self.extra: dict[int, int] = {}
        self.next_id = 0
        self.index: faiss.Index = self._new_flat()

    # -- structure -------------------------------------------------------------

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(faiss.try_extract_index_ivf(self.index), faiss.IndexIVF) else "flat"

    def _new_flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _new_ivf(self, training: np.ndarray) -> faiss.Index:
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, _nlist(len(training)), faiss.METRIC_INNER_PRODUCT)
        index.train(training)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return index

    def _restructure(self) -> None:
        """Switch between flat and IVF when the size calls for it (rebuilds from the stored vectors)."""
        wanted = choose_kind(self.requested_kind, self.index.ntotal, self.threshold)
        if wanted == self.kind:
            return
        ids = self._faiss_ids(sorted(self.str_of))
        vectors = self._reconstruct(ids)
        self.index = self._new_ivf(vectors) if wanted == "ivf" else self._new_flat()
        if len(ids):
            self.index.add_with_ids(vectors, ids)

    def __len__(self) -> int:
        return len(self.int_of)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self.int_of

    def _faiss_ids(self, numbers: Collection[int]) -> np.ndarray:
        """The FAISS ids of every vector of the given case numbers."""
        ids = list(numbers)
        for number in numbers:
            ids.extend(number | chunk << _CHUNK_SHIFT for chunk in range(1, self.extra.get(number, 0) + 1))
        return np.array(ids, dtype=np.int64)

    def _case_of(self, faiss_id: int) -> str:
        return self.str_of[faiss_id & ((1 << _CHUNK_SHIFT) - 1)]

    # -- writing ---------------------------------------------------------------

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, counts: Sequence[int] | None = None) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        counts = [1] * len(ids) if counts is None else list(counts)
        if len(counts) != len(ids) or min(counts, default=1) < 1:
            raise ValueError(f"{len(ids)} ids need as many counts of at least 1, got {counts}")
        if sum(counts) != len(vectors):
            raise ValueError(f"{len(ids)} ids with {sum(counts)} vectors in all, but {len(vectors)} vectors")
        starts = np.cumsum([0, *counts])
        # The last vectors win when an id repeats within the batch.
        last = {case_id: row for row, case_id in enumerate(ids)}
        self.delete([i for i in last if i in self.int_of], _forget=False)
        faiss_ids, rows = [], []
        for case_id, row in last.items():
            if case_id not in self.int_of:
                self.int_of[case_id] = self.next_id
                self.str_of[self.next_id] = case_id
                self.next_id += 1
            number = self.int_of[case_id]
            if counts[row] > 1:
                self.extra[number] = counts[row] - 1
            faiss_ids.extend(self._faiss_ids([number]))
            rows.extend(range(starts[row], starts[row + 1]))
        if faiss_ids:
            self.index.add_with_ids(vectors[rows], np.array(faiss_ids, dtype=np.int64))
        self._restructure()

    def delete(self, ids: Sequence[str], _forget: bool = True) -> int:
        present = [i for i in dict.fromkeys(ids) if i in self.int_of]
        if present:
            numbers = [self.int_of[i] for i in present]
            self.index.remove_ids(self._faiss_ids(numbers))
            for number in numbers:
                self.extra.pop(number, None)
            if _forget:
                for case_id in present:
                    del self.str_of[self.int_of.pop(case_id)]
        return len(present)

    # -- reading ---------------------------------------------------------------

    def _reconstruct(self, int_ids: np.ndarray) -> np.ndarray:
        if not len(int_ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self.index.reconstruct(int(i)) for i in int_ids]).astype(np.float32)

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        return self._reconstruct(np.array([self.int_of[i] for i in ids], dtype=np.int64))

    def scores(self, ids: Sequence[str], query: np.ndarray) -> np.ndarray:
        scores = self.vectors(ids) @ query
        for position, case_id in enumerate(ids):
            number = self.int_of[case_id]
            if number in self.extra:
                scores[position] = float(np.max(self._reconstruct(self._faiss_ids([number])) @ query))
        return scores

    def search(
        self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if allowed is None:
            allowed_ids = None
            available, vector_count = len(self), self.index.ntotal
        else:
            numbers = sorted(self.int_of[i] for i in allowed if i in self.int_of)
            allowed_ids = self._faiss_ids(numbers)
            available, vector_count = len(numbers), len(allowed_ids)
        k = min(k, available)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        if allowed_ids is not None and vector_count <= _EXACT_SUBSET:
            return self._exact_subset(queries, k, allowed_ids)
        # Chunks of one case may fill several places: ask for more until k cases come back.
        wanted = k
        while True:
            scores, labels = self._faiss_search(queries, wanted, allowed_ids, exhaustive=False)
            if self.kind == "ivf" and (labels < 0).any():
                # Too few allowed vectors in the probed lists: probe them all (still exact for the subset).
                scores, labels = self._faiss_search(queries, wanted, allowed_ids, exhaustive=True)
            rows = [self._best_per_case(row_scores, row_labels, k) for row_scores, row_labels in zip(scores, labels)]
            if wanted >= vector_count or all(len(row) == k for row in rows):
                return rows
            wanted = min(vector_count, wanted * 2)

    def _best_per_case(self, scores: np.ndarray, labels: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The first (best) hit of each case, in score order, at most ``k``."""
        best: dict[str, float] = {}
        for score, label in zip(scores, labels):
            if label >= 0:
                best.setdefault(self._case_of(int(label)), float(score))
                if len(best) == k:
                    break
        return list(best.items())

    def _faiss_search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None, *, exhaustive: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        selector = faiss.IDSelectorBatch(allowed_ids) if allowed_ids is not None else None
        if self.kind == "ivf":
            ivf = faiss.extract_index_ivf(self.index)
            nprobe = ivf.nlist if exhaustive else min(ivf.nlist, self.nprobe or max(16, ivf.nlist // 16))
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe) if selector else faiss.SearchParametersIVF(nprobe=nprobe)
        else:
            params = faiss.SearchParameters(sel=selector) if selector else None
        return self.index.search(queries, k, params=params)

    def _exact_subset(self, queries: np.ndarray, k: int, allowed_ids: np.ndarray) -> list[list[tuple[str, float]]]:
        scores = queries @ self._reconstruct(allowed_ids).T
        order = np.argsort(-scores, axis=1, kind="stable")
        return [self._best_per_case(row[ranks], allowed_ids[ranks], k) for row, ranks in zip(scores, order)]

    # -- persistence -----------------------------------------------------------

    def save(self, directory: Path, stem: str) -> list[str]:
        index_name, ids_name = f"{stem}.faiss", f"{stem}.ids.json"
        write_atomic(Path(directory) / index_name, faiss.serialize_index(self.index).tobytes())
        meta = {
            "dim": self.dim,
            "kind": self.requested_kind,
            "nprobe": self.nprobe,
            "threshold": self.threshold,
            "next_id": self.next_id,
            "ids": list(self.int_of.items()),
            "extra": list(self.extra.items()),
        }
        write_atomic(Path(directory) / ids_name, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        return [index_name, ids_name]

    @classmethod
    def load(cls, directory: Path, files: list[str]) -> FaissIndex:
        index_name, ids_name = files
        meta = json.loads((Path(directory) / ids_name).read_text(encoding="utf-8"))
        loaded = cls(meta["dim"], kind=meta["kind"], nprobe=meta["nprobe"], threshold=meta["threshold"])
        raw = np.fromfile(Path(directory) / index_name, dtype=np.uint8)
        loaded.index = faiss.deserialize_index(raw)
        if loaded.kind == "ivf":
            faiss.extract_index_ivf(loaded.index).set_direct_map_type(faiss.DirectMap.Hashtable)
        loaded.int_of = {case_id: int(number) for case_id, number in meta["ids"]}
        loaded.str_of = {number: case_id for case_id, number in loaded.int_of.items()}
        loaded.extra = {int(number): int(count) for number, count in meta.get("extra", [])}
        loaded.next_id = meta["next_id"]
        expected = len(loaded.int_of) + sum(loaded.extra.values())
        if loaded.index.ntotal != expected:
            raise ValueError(f"{directory / index_name}: {loaded.index.ntotal} vectors but {expected} ids")
        return loaded
