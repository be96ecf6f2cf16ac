"""FAISS vector index: exact flat below ~50k cases, IVF above, with stable int64 ids, saved in segments.

A case may own several vectors (one per chunk of a long text): the first is
its head vector, the others live under derived int64 ids (the case's number
plus the chunk number shifted past ``_CHUNK_SHIFT`` bits), and a case scores
the best cosine of its vectors (MaxP), so a long record is found by what it
says after its first 500 characters too.

**Segments.** What is on disk is a *main* segment (the whole FAISS index and
its id map, written by :meth:`FaissIndex.save`) plus small *delta* segments
(:meth:`FaissIndex.save_changes`): the vectors of the cases added or changed
since the last save and the ids deleted, one file per sync. Loading maps the
main segment's file into memory (``IO_FLAG_MMAP_IFC``: nothing is copied, pages
are read as queries touch them), and its id map too (:mod:`leian.search.ids`: a
table searched in place, memory holding only what changed since), and reads each delta once into a small exact
index beside it; the main segment's vectors of changed or deleted cases are
tombstones that searches skip. Once the delta passes :data:`COMPACT_RATIO` of
the main segment, :meth:`FaissIndex.compact` merges it into a new main segment
(of the kind the size calls for), so a sync writes in proportion to what
changed, and the cost of a full write is spread over many syncs, as in an LSM tree.
An index that was never saved or loaded is changed in place.

Traps avoided: HNSW cannot remove vectors, so the approximate kind is IVF
(which can, and keeps a hashtable direct map so vectors can be read back); a
memory-mapped index must never be changed (FAISS would write into the mapped
file's pages, or crash), so it is read-only and compaction reads an owned copy;
``write_index`` overwrites in place, so files are written aside and renamed;
ids of an ``IndexIDMap`` are inside the saved index, and our string -> int64 map
is saved beside it, both named in the caller's manifest.

Examples
--------
>>> import numpy as np, tempfile, pathlib
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
>>> [[round(float(x), 1) for x in row] for row in index.all_vectors("e")]
[[0.0, 1.0, 0.0, 0.0], [0.6, 0.0, 0.8, 0.0]]

After a save, changes go to a delta segment that is saved on its own:

>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> files = index.save(folder, "v1")
>>> index.upsert(["a"], vectors[:1])
>>> index.delete(["b"])
1
>>> segment = index.save_changes(folder, "v2.delta")
>>> again = FaissIndex.load(folder, files, [segment])
>>> sorted(again.int_of), again.search(vectors[:1], 1)[0][0]
(['a', 'c', 'd', 'e'], ('a', 1.0))
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import faiss
import numpy as np

from leian.errors import InvalidInput
from leian.faults import checkpoint
from leian.search.base import VectorIndex, write_atomic, write_atomic_file
from leian.search.ids import ChunkCounts, IdMap, IdTable
from leian.settings import ANN_THRESHOLD, COMPACT_FLOOR

__all__ = ["FaissIndex", "KINDS", "ANN_THRESHOLD", "COMPACT_RATIO", "COMPACT_FLOOR", "choose_kind"]

KINDS = ("auto", "flat", "ivf")
#: A filtered search over at most this many allowed vectors scores them exactly.
_EXACT_SUBSET = 4096
#: Chunk ``c`` of the case numbered ``n`` has the FAISS id ``n | c << _CHUNK_SHIFT`` (c >= 1).
_CHUNK_SHIFT = 40
#: The delta is merged into the main segment once its vectors and the main segment's dead ones pass
#: this share of the main segment's vectors, counted as at least ``[search] compact_floor`` (:data:`COMPACT_FLOOR`).
COMPACT_RATIO = 0.1
_SEGMENT_MAGIC = b"LEIAN-VECTOR-DELTA-1\n"


def choose_kind(kind: str, count: int, threshold: int = ANN_THRESHOLD) -> str:
    """The concrete kind for ``count`` vectors.

    >>> choose_kind("auto", 1000), choose_kind("auto", 60_000), choose_kind("ivf", 10)
    ('flat', 'ivf', 'flat')
    """
    if kind not in KINDS:
        raise InvalidInput(f"未知的索引类型 {kind!r}（可选：{'、'.join(KINDS)}）")
    if kind == "auto":
        kind = "ivf" if count >= threshold else "flat"
    # IVF needs enough vectors to train its centroids.
    return "flat" if kind == "ivf" and count < 39 * _nlist(count) else kind


def _nlist(count: int) -> int:
    return max(1, min(65536, int(math.sqrt(max(count, 1)))))


def _chunk_ids(number: int, extra: int) -> list[int]:
    """The FAISS ids of a case's vectors: its head vector, then ``extra`` further chunks."""
    return [number, *(number | chunk << _CHUNK_SHIFT for chunk in range(1, extra + 1))]


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
        #: Case id -> case number (:meth:`IdMap.name_of` the reverse): the main segment's table and the changes since.
        self.int_of = IdMap()
        #: Case number -> how many vectors it has beyond its head vector (only cases with some).
        self.extra: ChunkCounts = ChunkCounts()
        self.next_id = 0
        #: The main segment; read-only once saved or loaded (``main_saved``), changed in place before.
        self.main: faiss.Index = self._new_flat()
        self.main_saved = False
        #: Chunk counts of the vectors in the main segment, dead ones included.
        self.main_extra: Mapping[int, int] = {}
        #: Case numbers whose vectors in the main segment no longer count (deleted or changed since).
        self.dead: set[int] = set()
        #: Vectors of cases added or changed since the main segment was saved, and their case numbers.
        self.delta: faiss.Index = self._new_flat()
        self.in_delta: set[int] = set()
        self._mapped_from: Path | None = None
        #: What changed since the last save or load (written by :meth:`save_changes`).
        self._upserted: set[str] = set()
        self._deleted: set[str] = set()
        #: Ids deleted since the main segment (a merged delta segment lists them all).
        self._deleted_since_main: set[str] = set()
        self._dead_selector: faiss.IDSelector | None = None
        #: The saved main segment's id map (set by :meth:`save` and :meth:`load`).
        self._main_table: IdTable | None = None

    # -- structure -------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The main segment's structure (the delta is always exact)."""
        return "ivf" if isinstance(faiss.try_extract_index_ivf(self.main), faiss.IndexIVF) else "flat"

    def _new_flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _new_ivf(self, training: np.ndarray) -> faiss.Index:
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, _nlist(len(training)), faiss.METRIC_INNER_PRODUCT)
        index.train(training)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return index

    def _restructure(self) -> None:
        """Switch an unsaved main segment between flat and IVF when its size calls for it."""
        wanted = choose_kind(self.requested_kind, self.main.ntotal, self.threshold)
        if wanted == self.kind:
            return
        ids = self._vector_ids(sorted(self.int_of.values()))
        vectors = _reconstruct(self.main, ids, self.dim)
        self.main = self._new_ivf(vectors) if wanted == "ivf" else self._new_flat()
        if len(ids):
            self.main.add_with_ids(vectors, ids)

    def __len__(self) -> int:
        return len(self.int_of)

    @property
    def vector_count(self) -> int:
        """Live vectors, chunks included."""
        return self.main.ntotal - self._dead_vectors() + self.delta.ntotal

    def __contains__(self, case_id: object) -> bool:
        return case_id in self.int_of

    def _vector_ids(self, numbers: Collection[int]) -> np.ndarray:
        """The FAISS ids of every vector of the given (live) case numbers: the head vectors, then each case's chunks."""
        heads = np.array(list(numbers), dtype=np.int64)
        counts = self.extra.counts(heads)
        owners = np.repeat(heads, counts)
        chunk = np.arange(1, len(owners) + 1) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.concatenate([heads, owners | (chunk << _CHUNK_SHIFT)])

    def _case_of(self, faiss_id: int) -> str:
        return self.int_of.name_of(faiss_id & ((1 << _CHUNK_SHIFT) - 1))

    def _dead_vectors(self) -> int:
        return sum(1 + self.main_extra.get(number, 0) for number in self.dead)

    def _dead_ids(self) -> faiss.IDSelector | None:
        """A selector skipping the main segment's dead vectors (None when there are none), built once per change."""
        if not self.dead:
            return None
        if self._dead_selector is None:
            dead = np.array([i for n in self.dead for i in _chunk_ids(n, self.main_extra.get(n, 0))], dtype=np.int64)
            inner = faiss.IDSelectorBatch(dead)
            self._dead_selector = faiss.IDSelectorNot(inner)
            self._dead_selector.inner = inner  # keep it alive as long as the selector
        return self._dead_selector

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
        rows = [r for row in last.values() for r in range(starts[row], starts[row + 1])]
        self._put([(case_id, None, counts[row]) for case_id, row in last.items()], vectors[rows])

    def _put(self, items: Sequence[tuple[str, int | None, int]], vectors: np.ndarray) -> None:
        """Place ``(case id, number or None for the next free one, vector count)`` items; rows of ``vectors`` in item order."""
        faiss_ids: list[int] = []
        for case_id, number, count in items:
            known = self.int_of.get(case_id)
            if known is not None:
                self._drop(known)
                if number is not None and number != known:
                    # Deleted and added again since: the saved number is the one that counts.
                    self._forget(case_id)
                    known = None
            if known is None:
                known = self.next_id if number is None else number
                self.int_of[case_id] = known
                self.next_id = max(self.next_id, known + 1)
            if count > 1:
                self.extra[known] = count - 1
            else:
                self.extra.pop(known, None)
            faiss_ids.extend(_chunk_ids(known, count - 1))
            if self.main_saved:
                self.in_delta.add(known)
            self._upserted.add(case_id)
            self._deleted.discard(case_id)
        if faiss_ids:
            target = self.delta if self.main_saved else self.main
            target.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.array(faiss_ids, dtype=np.int64))
        if not self.main_saved:
            self._restructure()

    def _drop(self, number: int) -> None:
        """Take a live case's vectors out of the search (its number stays)."""
        ids = np.array(_chunk_ids(number, self.extra.get(number, 0)), dtype=np.int64)
        if not self.main_saved:
            self.main.remove_ids(ids)
        elif number in self.in_delta:
            self.delta.remove_ids(ids)
            self.in_delta.discard(number)
        else:
            self.dead.add(number)
            self._dead_selector = None

    def _forget(self, case_id: str) -> None:
        number = self.int_of.pop(case_id)
        self.extra.pop(number, None)

    def delete(self, ids: Sequence[str]) -> int:
        present = [i for i in dict.fromkeys(ids) if i in self.int_of]
        for case_id in present:
            self._drop(self.int_of[case_id])
            self._forget(case_id)
            self._upserted.discard(case_id)
            self._deleted.add(case_id)
            if self.main_saved:
                self._deleted_since_main.add(case_id)
        return len(present)

    # -- reading ---------------------------------------------------------------

    def _locate(self, numbers: Sequence[int]) -> tuple[list[int], list[int]]:
        """Positions of ``numbers`` whose vectors are in the main segment, and in the delta."""
        in_main = [p for p, n in enumerate(numbers) if n not in self.in_delta]
        in_delta = [p for p, n in enumerate(numbers) if n in self.in_delta]
        return in_main, in_delta

    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        numbers = [self.int_of[i] for i in ids]
        out = np.zeros((len(numbers), self.dim), dtype=np.float32)
        for index, positions in zip((self.main, self.delta), self._locate(numbers)):
            if positions:
                out[positions] = _reconstruct(index, np.array([numbers[p] for p in positions], dtype=np.int64), self.dim)
        return out

    def all_vectors(self, case_id: str) -> np.ndarray:
        number = self.int_of[case_id]
        return _reconstruct(self.delta if number in self.in_delta else self.main, self._vector_ids([number]), self.dim)

    def scores(self, ids: Sequence[str], query: np.ndarray) -> np.ndarray:
        numbers = self.int_of.numbers_for(ids)
        out = np.full(len(numbers), -np.inf, dtype=np.float32)
        for index, positions in zip((self.main, self.delta), self._locate(numbers)):
            if not positions:
                continue
            faiss_ids = self._vector_ids([numbers[p] for p in positions])
            # _vector_ids lists the head vectors first, then the chunks case by case.
            owners = positions + [p for p in positions for _ in range(self.extra.get(numbers[p], 0))]
            np.maximum.at(out, owners, _reconstruct(index, faiss_ids, self.dim) @ query)
        return out

    def search(
        self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if allowed is None:
            main_ids = delta_ids = None
            available = len(self)
            parts = [(self.main, None, len(self) - len(self.in_delta)), (self.delta, None, len(self.in_delta))]
        else:
            numbers = sorted(self.int_of.numbers_of(allowed))
            in_main, in_delta = self._locate(numbers)
            main_ids = self._vector_ids([numbers[p] for p in in_main])
            delta_ids = self._vector_ids([numbers[p] for p in in_delta])
            available = len(numbers)
            parts = [(self.main, main_ids, len(in_main)), (self.delta, delta_ids, len(in_delta))]
        k = min(k, available)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        if allowed is not None and len(main_ids) + len(delta_ids) <= _EXACT_SUBSET:
            return self._exact_subset(queries, k, main_ids, delta_ids)
        found = [self._search_segment(index, queries, k, include, cases) for index, include, cases in parts if cases]
        if len(found) == 1:
            return found[0]
        # A case lives in one segment only: merge the two rankings.
        return [sorted(a + b, key=lambda hit: -hit[1])[:k] for a, b in zip(*found)]

    def _search_segment(
        self, index: faiss.Index, queries: np.ndarray, k: int, include: np.ndarray | None, cases: int
    ) -> list[list[tuple[str, float]]]:
        """Top ``k`` cases of one segment, only among ``include`` FAISS ids when given (else its live vectors)."""
        k = min(k, cases)
        if include is not None:
            selector, vector_count = faiss.IDSelectorBatch(include), len(include)
        elif index is self.main:
            selector, vector_count = self._dead_ids(), index.ntotal - self._dead_vectors()
        else:
            selector, vector_count = None, index.ntotal
        # Chunks of one case may fill several places: ask for more until k cases come back.
        wanted = k
        while True:
            scores, labels = _faiss_search(index, queries, wanted, selector, self.nprobe, exhaustive=False)
            if faiss.try_extract_index_ivf(index) is not None and (labels < 0).any():
                # Too few selectable vectors in the probed lists: probe them all (still exact for the subset).
                scores, labels = _faiss_search(index, queries, wanted, selector, self.nprobe, exhaustive=True)
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

    def _exact_subset(self, queries: np.ndarray, k: int, main_ids: np.ndarray, delta_ids: np.ndarray) -> list[list[tuple[str, float]]]:
        vectors = np.vstack([_reconstruct(self.main, main_ids, self.dim), _reconstruct(self.delta, delta_ids, self.dim)])
        labels = np.concatenate([main_ids, delta_ids])
        scores = queries @ vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")
        return [self._best_per_case(row[ranks], labels[ranks], k) for row, ranks in zip(scores, order)]

    # -- segments --------------------------------------------------------------

    @property
    def changed(self) -> bool:
        """Whether anything changed since the last save or load."""
        return bool(self._upserted or self._deleted) or not self.main_saved

    def needs_compaction(self, floor: int = COMPACT_FLOOR) -> bool:
        """Whether the delta has grown past :data:`COMPACT_RATIO` of the main segment (counted as at least ``floor``
        vectors), or the size calls for another kind."""
        if not self.main_saved:
            return True
        outside = self.delta.ntotal + self._dead_vectors()
        if not outside:
            return False
        return outside > COMPACT_RATIO * max(self.main.ntotal, floor) or self._wanted_structure(self.vector_count) != self._structure()

    def _structure(self) -> tuple[str, int]:
        ivf = faiss.try_extract_index_ivf(self.main)
        return ("ivf", ivf.nlist) if ivf is not None else ("flat", 0)

    def _wanted_structure(self, count: int) -> tuple[str, int]:
        """The kind for ``count`` vectors, and the IVF list count unless the current one still fits (within 2×)."""
        kind = choose_kind(self.requested_kind, count, self.threshold)
        if kind == "flat":
            return "flat", 0
        current_kind, nlist = self._structure()
        return ("ivf", nlist) if current_kind == "ivf" and nlist <= _nlist(count) < 2 * nlist else ("ivf", _nlist(count))

    def compact(self) -> None:
        """Merge the delta into a new main segment holding live vectors only (kept in memory until saved).

        A main segment never saved (built in memory case after case, as a rebuild does) is only given the IVF
        lists its size calls for when it has outgrown those it got on turning IVF: saved as it was, the next
        delta would find it the wrong shape and rewrite all of it (at 1M: 223 lists, 2 GB, in the first ingest).
        """
        wanted = self._wanted_structure(self.vector_count)
        if not self.main_saved:
            if wanted != self._structure():
                self.main = self._rebuilt(wanted, np.zeros(0, dtype=np.int64), None)
            return
        delta_ids = faiss.vector_to_array(self.delta.id_map).astype(np.int64)
        delta_vectors = self.delta.index.reconstruct_n(0, self.delta.ntotal) if self.delta.ntotal else None
        if wanted == self._structure():
            # Same structure: an owned copy of the main segment, minus the dead, plus the delta.
            main = faiss.read_index(str(self._mapped_from)) if self._mapped_from else self.main
            if self.dead:
                main.remove_ids(np.array([i for n in self.dead for i in _chunk_ids(n, self.main_extra.get(n, 0))], dtype=np.int64))
            if delta_vectors is not None:
                main.add_with_ids(delta_vectors, delta_ids)
        else:
            main = self._rebuilt(wanted, delta_ids, delta_vectors)
        self.main, self._mapped_from, self.main_saved = main, None, False
        self.main_extra = dict(self.extra)
        self.delta, self.in_delta, self.dead, self._dead_selector = self._new_flat(), set(), set(), None
        self._deleted_since_main = set()

    def _rebuilt(self, wanted: tuple[str, int], delta_ids: np.ndarray, delta_vectors: np.ndarray | None) -> faiss.Index:
        """A new main segment of the ``wanted`` structure: the live vectors of the main segment, then the delta's."""
        main_ids = self._vector_ids([n for n in self.int_of.values() if n not in self.in_delta])
        ids = np.concatenate([main_ids, delta_ids])
        vectors = np.vstack([_reconstruct(self.main, main_ids, self.dim), *([delta_vectors] if delta_vectors is not None else [])])
        main = self._new_ivf(vectors) if wanted[0] == "ivf" else self._new_flat()
        if len(ids):
            main.add_with_ids(vectors, ids)
        return main

    # -- persistence -----------------------------------------------------------

    def save(self, directory: Path, stem: str) -> list[str]:
        """Write the whole index as a main segment (merging the delta first); returns its file names."""
        self.compact()
        directory = Path(directory)
        index_name, ids_name = f"{stem}.faiss", f"{stem}.ids"
        write_atomic_file(directory / index_name, lambda path: faiss.write_index(self.main, str(path)))
        table = IdTable.build(self.int_of, self.extra, next_id=self.next_id)
        table.write(directory / ids_name, self._settings())
        checkpoint("vectors.main_written")
        self.main_saved = True
        self._use_table(table)
        self._upserted, self._deleted = set(), set()
        return [index_name, ids_name]

    def _settings(self) -> dict[str, object]:
        return {"dim": self.dim, "kind": self.requested_kind, "nprobe": self.nprobe, "threshold": self.threshold}

    def _use_table(self, table: IdTable) -> None:
        """Take ``table`` as the main segment's id map: from now on memory holds only what changes."""
        self._main_table = table
        self.int_of, self.extra, self.main_extra = IdMap(table), ChunkCounts(table), ChunkCounts(table)
        self.next_id = max(self.next_id, table.next_id)

    def upgrade_main(self, directory: Path, files: list[str], stem: str) -> list[str]:
        """The main segment's files, its id map first rewritten as a table if an earlier version saved it as JSON."""
        index_name, ids_name = files
        if not ids_name.endswith(".json"):
            return files
        self._main_table.write(Path(directory) / f"{stem}.ids", self._settings())
        return [index_name, f"{stem}.ids"]

    def save_changes(self, directory: Path, name: str, *, merged: bool = False) -> str:
        """Write what changed since the last save or load as one delta segment file called ``name``.

        With ``merged``, the segment holds the whole delta instead (it replaces every
        delta segment written since the main segment).
        """
        if not self.main_saved:
            raise ValueError("the main segment has changed: save() it instead")
        if merged:
            upserted = [self.int_of.name_of(n) for n in sorted(self.in_delta)]
            deleted = sorted(i for i in self._deleted_since_main if i not in self.int_of)
        else:
            upserted, deleted = sorted(self._upserted), sorted(self._deleted)
        items = [(case_id, self.int_of[case_id], 1 + self.extra.get(self.int_of[case_id], 0)) for case_id in upserted]
        vectors = _reconstruct(self.delta, self._vector_ids([n for _, n, _ in items]), self.dim)
        # _vector_ids lists head vectors first, then chunks: reorder rows case by case.
        order = _case_major_order([count for _, _, count in items])
        header = json.dumps({"next_id": self.next_id, "upserts": items, "deleted": deleted}, ensure_ascii=False).encode("utf-8")
        body = vectors[order].astype(np.float32).tobytes()
        write_atomic(Path(directory) / name, _SEGMENT_MAGIC + struct.pack("<Q", len(header)) + header + body)
        checkpoint("vectors.segment_written")
        self._upserted, self._deleted = set(), set()
        return name

    def _apply_segment(self, path: Path) -> None:
        data = path.read_bytes()
        if not data.startswith(_SEGMENT_MAGIC):
            raise ValueError(f"{path}: not a LeiAn vector delta segment")
        start = len(_SEGMENT_MAGIC) + 8
        (length,) = struct.unpack("<Q", data[len(_SEGMENT_MAGIC) : start])
        header = json.loads(data[start : start + length])
        vectors = np.frombuffer(data, dtype=np.float32, offset=start + length).reshape(-1, self.dim)
        self.delete(header["deleted"])
        self._put([(case_id, int(number), int(count)) for case_id, number, count in header["upserts"]], vectors)
        self.next_id = max(self.next_id, header["next_id"])

    @classmethod
    def load(cls, directory: Path, files: list[str], segments: Sequence[str] = ()) -> FaissIndex:
        index_name, ids_name = files
        directory = Path(directory)
        table, meta = _read_ids(directory / ids_name)
        loaded = cls(meta["dim"], kind=meta["kind"], nprobe=meta["nprobe"], threshold=meta["threshold"])
        loaded._mapped_from = directory / index_name
        loaded.main = faiss.read_index(str(loaded._mapped_from), faiss.IO_FLAG_MMAP_IFC)
        if loaded.kind == "ivf":
            faiss.extract_index_ivf(loaded.main).set_direct_map_type(faiss.DirectMap.Hashtable)
        loaded._use_table(table)
        loaded.main_saved = True
        expected = table.vector_count
        if loaded.main.ntotal != expected:
            raise ValueError(f"{directory / index_name}: {loaded.main.ntotal} vectors but {expected} ids")
        for segment in segments:
            loaded._apply_segment(directory / segment)
        loaded._upserted, loaded._deleted = set(), set()
        return loaded


def _read_ids(path: Path) -> tuple[IdTable, dict[str, object]]:
    """A main segment's id map and settings: a table (mapped), or the JSON an earlier version wrote (read whole)."""
    if path.suffix != ".json":
        return IdTable.read(path)
    meta = json.loads(path.read_text(encoding="utf-8"))
    pairs = zip(meta["ids"], meta["numbers"]) if "numbers" in meta else meta["ids"]  # format 2 kept pairs
    numbers = {case_id: int(number) for case_id, number in pairs}
    extra = {int(number): int(count) for number, count in meta.get("extra", [])}
    return IdTable.build(numbers, extra, next_id=meta["next_id"]), meta


def _case_major_order(counts: Sequence[int]) -> np.ndarray:
    """Row order taking ``_vector_ids``' layout (all head vectors, then each case's chunks) to case by case."""
    heads = len(counts)
    order: list[int] = []
    chunk_row = heads
    for position, count in enumerate(counts):
        order.append(position)
        order.extend(range(chunk_row, chunk_row + count - 1))
        chunk_row += count - 1
    return np.array(order, dtype=np.int64)


def _reconstruct(index: faiss.Index, ids: np.ndarray, dim: int) -> np.ndarray:
    if not len(ids):
        return np.zeros((0, dim), dtype=np.float32)
    return np.asarray(index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64)), dtype=np.float32)


def _faiss_search(
    index: faiss.Index, queries: np.ndarray, k: int, selector: faiss.IDSelector | None, nprobe: int | None, *, exhaustive: bool
) -> tuple[np.ndarray, np.ndarray]:
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        probes = ivf.nlist if exhaustive else min(ivf.nlist, nprobe or max(16, ivf.nlist // 16))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=probes) if selector else faiss.SearchParametersIVF(nprobe=probes)
    else:
        params = faiss.SearchParameters(sel=selector) if selector else None
    return index.search(queries, k, params=params)

