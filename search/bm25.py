"""BM25 over jieba tokens: a main segment saved with bm25s, and a small delta of the cases changed since.

The main segment is a bm25s index: lucene BM25 scores precomputed in a sparse
term × document matrix (column ``t`` lists the documents holding term ``t``, in
row order), built here in one vectorised pass (bm25s' own ``index`` keeps every
token as a Python object: gigabytes at a million cases) and given to a
``bm25s.BM25`` that saves it with bm25s' own ``save`` and loads it with
``mmap``, so opening costs next to nothing and a query reads only the posting
lists of its terms.

bm25s cannot add documents, so cases changed since the main segment was built
(the store's change log after its seq, see :mod:`leian.search.engine`) form a
delta kept in memory: their rows in the main segment are masked, and their
current tokens are scored in a small matrix built the same way, with the
statistics (document count, document frequencies, average length) of the main
segment and the delta together, as a search engine scores a fresh segment
before merging it. The engine rebuilds the main segment once the delta passes
:data:`COMPACT_RATIO` of it, and from then on every score equals a fresh build's.

A query is scored once: :meth:`BM25Index.top` walks the posting lists of its
terms, and :meth:`BM25Index.scores_for` looks up a few candidates' scores in
them by binary search (posting lists are in row order), never the whole corpus.

Examples
--------
>>> index = BM25Index.build(["a", "b", "c"], [["物业费", "拖欠"], ["宅基地"], ["物业费", "漏水"]])
>>> [hit[0] for hit in index.top(["物业费", "拖欠"], 3)]
['a', 'c']
>>> [hit[0] for hit in index.top(["物业费"], 3, allowed={"c"})]
['c']
>>> index.apply(deleted=["a"], upserted={"d": ["拖欠", "物业费", "物业费"]})
>>> [hit[0] for hit in index.top(["拖欠"], 3)], sorted(index.ids)
(['d'], ['b', 'c', 'd'])
>>> [round(float(s), 3) for s in index.scores_for(["物业费"], ["c", "a", "zz"])]
[0.172, 0.0, 0.0]
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leian.faults import checkpoint
from leian.search.base import fsync_dir
from leian.settings import COMPACT_FLOOR

if TYPE_CHECKING:
    import bm25s

__all__ = ["BM25Index", "COMPACT_RATIO", "COMPACT_FLOOR", "K1", "B"]

#: bm25s' defaults (lucene BM25).
K1, B = 1.5, 0.75
#: The main segment is rebuilt once the delta holds this share of its documents, counted as at least
#: ``[search] compact_floor`` (:data:`COMPACT_FLOOR`).
COMPACT_RATIO = 0.1
_IDS_FILE = "leian-ids.json"


def _bm25s():
    """bm25s, imported when a main segment is built or loaded: it imports SciPy's sparse matrices (~0.3 s of
    CPU), which an ingest that only appends to the delta never needs."""
    import bm25s

    # bm25s sets its own logger to DEBUG on import: a server logging at INFO would print its build messages.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _idf(total_docs: int | np.ndarray, doc_freq: np.ndarray | float) -> np.ndarray:
    """Lucene's (and bm25s') idf."""
    return np.log(1 + (total_docs - doc_freq + 0.5) / (doc_freq + 0.5))


class _Matrix:
    """Precomputed BM25 parts of some documents: CSC arrays (column = term id, rows sorted)."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, num_docs: int):
        self.data, self.indices, self.indptr, self.num_docs = data, indices, indptr, num_docs

    @classmethod
    def build(cls, docs: Sequence[np.ndarray], n_vocab: int, *, avgdl: float, idf: np.ndarray | None = None) -> _Matrix:
        """Score ``docs`` (arrays of term ids): the lucene term-frequency part, times ``idf[term]`` when given."""
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        if not lengths.sum():
            return cls(np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(n_vocab + 1, np.int64), len(docs))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        keys = np.concatenate(docs).astype(np.int64) * len(docs) + rows
        keys, tf = np.unique(keys, return_counts=True)  # sorted by term, then row: CSC order
        terms, rows = keys // len(docs), keys % len(docs)
        scores = tf / (tf + K1 * (1 - B + B * lengths[rows] / avgdl))
        if idf is not None:
            scores = idf[terms] * scores
        indptr = np.concatenate([[0], np.cumsum(np.bincount(terms, minlength=n_vocab))])
        return cls(scores.astype(np.float32), rows.astype(np.int32), indptr.astype(np.int64), len(docs))

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[term], self.indptr[term + 1]
        return self.indices[start:end], self.data[start:end]

    def all_scores(self, terms: Sequence[int], factors: Sequence[float]) -> np.ndarray:
        """Every document's score: each term's postings times its factor (one pass over them)."""
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for term, factor in zip(terms, factors):
            rows, values = self.postings(term)
            scores[rows] += values * np.float32(factor)  # a document is in a posting list once: no np.add.at needed
        return scores

    def row_scores(self, terms: Sequence[int], factors: Sequence[float], rows: np.ndarray) -> np.ndarray:
        """The scores of the given rows only (binary search in each posting list)."""
        scores = np.zeros(len(rows), dtype=np.float32)
        for term, factor in zip(terms, factors):
            postings, values = self.postings(term)
            at = np.searchsorted(postings, rows)
            hit = at < len(postings)
            hit[hit] = postings[at[hit]] == rows[hit]
            scores[hit] += values[at[hit]] * np.float32(factor)
        return scores


def _term_ids(tokens: Sequence[list[str]], vocab: dict[str, int]) -> list[np.ndarray]:
    """Documents as arrays of term ids, growing ``vocab`` with new terms."""
    docs = []
    for doc in tokens:
        docs.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in doc), dtype=np.int32, count=len(doc)))
    return docs


class BM25Index:
    """BM25 over pre-tokenised documents addressed by string ids: a main segment and a delta.

    Build one with :meth:`build`, or :meth:`load` one saved with :meth:`save`;
    :meth:`apply` records the documents changed since.
    """

    def __init__(self, model: bm25s.BM25, ids: list[str], lengths: np.ndarray):
        self.model = model
        self.main_ids = ids
        self.main_row = {case_id: row for row, case_id in enumerate(ids)}
        #: Each main document's length in tokens (for the current average length).
        self.lengths = np.asarray(lengths, dtype=np.int64)
        # Plain views of bm25s' memory maps (still mapped, nothing read): slicing an np.memmap makes a memmap each
        # time, and a query slices two arrays per term.
        self._main = _Matrix(*(np.asarray(model.scores[key]) for key in ("data", "indices", "indptr")), model.scores["num_docs"])
        self._dead = np.zeros(len(ids), dtype=bool)
        #: Documents changed since the main segment: id -> tokens (their main rows are dead).
        self.delta: dict[str, list[str]] = {}
        self._delta_ids: list[str] = []
        self._delta_row: dict[str, int] = {}
        self._delta_vocab: dict[str, int] = {}
        self._delta: _Matrix | None = None
        #: The last query's tokens and every document's score per segment (what :meth:`scores_for` reads back).
        self._last: tuple[tuple[str, ...], list[np.ndarray | None]] | None = None

    @classmethod
    def build(cls, ids: Sequence[str], tokens: Iterable[list[str]]) -> BM25Index:
        """Index documents (``tokens[i]`` are the tokens of ``ids[i]``) as a main segment."""
        ids = list(ids)
        vocab: dict[str, int] = {}
        docs = _term_ids(list(tokens), vocab)
        return cls._from_docs(ids, docs, vocab)

    @classmethod
    def build_from_batches(cls, batches: Iterable[tuple[Sequence[str], Sequence[list[str]]]]) -> BM25Index:
        """Like :meth:`build`, from ``(ids, tokens)`` batches: only term ids are kept, never the token strings."""
        ids: list[str] = []
        vocab: dict[str, int] = {}
        docs: list[np.ndarray] = []
        for batch_ids, batch_tokens in batches:
            ids.extend(batch_ids)
            docs.extend(_term_ids(batch_tokens, vocab))
        return cls._from_docs(ids, docs, vocab)

    @classmethod
    def _from_docs(cls, ids: list[str], docs: list[np.ndarray], vocab: dict[str, int]) -> BM25Index:
        lengths = np.array([len(d) for d in docs], dtype=np.int32)
        avgdl = float(lengths.mean()) if len(lengths) and lengths.sum() else 1.0
        doc_freq = np.zeros(len(vocab), dtype=np.int64)
        for doc in docs:
            doc_freq[np.unique(doc)] += 1
        matrix = _Matrix.build(docs, len(vocab), avgdl=avgdl, idf=_idf(len(docs), doc_freq))
        model = _bm25s().BM25(k1=K1, b=B, method="lucene", idf_method="lucene")
        model.scores = {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr, "num_docs": len(docs)}
        model.vocab_dict = vocab
        model.nonoccurrence_array = None  # lucene BM25 has none (bm25s' index() would set it)
        return cls(model, ids, lengths)

    # -- the delta -----------------------------------------------------------

    def apply(self, *, deleted: Iterable[str] = (), upserted: Mapping[str, list[str]] | None = None) -> None:
        """Record documents deleted or changed since the main segment (applied on the next query)."""
        for case_id in deleted:
            self.delta.pop(case_id, None)
            self._kill(case_id)
        for case_id, tokens in (upserted or {}).items():
            self.delta[case_id] = list(tokens)
            self._kill(case_id)
        self._delta, self._last = None, None

    def _kill(self, case_id: str) -> None:
        row = self.main_row.get(case_id)
        if row is not None:
            self._dead[row] = True

    def _delta_matrix(self) -> _Matrix:
        """The delta's term-frequency parts under the current average length (idf comes per query)."""
        if self._delta is None:
            self._delta_ids = list(self.delta)
            self._delta_row = {case_id: row for row, case_id in enumerate(self._delta_ids)}
            self._delta_vocab = {}
            docs = _term_ids([self.delta[i] for i in self._delta_ids], self._delta_vocab)
            live = self.lengths[~self._dead]
            total_docs = len(live) + len(docs)
            avgdl = (live.sum() + sum(len(d) for d in docs)) / max(total_docs, 1) or 1.0
            self._delta = _Matrix.build(docs, len(self._delta_vocab), avgdl=avgdl)
        return self._delta

    def _weights(self, query_tokens: Sequence[str]) -> tuple[list[int], list[float], list[int], list[float]]:
        """Per query term in each segment: its column and the factor on its postings.

        Scores use the document frequencies of the live documents of both segments:
        the main segment's precomputed scores are rescaled from the idf they were
        built with (a factor of exactly 1 while there is no delta).
        """
        delta = self._delta_matrix()
        main_docs = self._main.num_docs
        dead_any = bool(self._dead.any())
        rescale = dead_any or bool(self.delta)
        total_docs = main_docs - int(self._dead.sum()) + delta.num_docs
        main_terms, main_factors, delta_terms, delta_factors = [], [], [], []
        for token in query_tokens:
            main_column = self.model.vocab_dict.get(token)
            delta_column = self._delta_vocab.get(token)
            main_freq = live_freq = delta_freq = 0
            if main_column is not None:
                rows, _ = self._main.postings(main_column)
                main_freq = len(rows)
                live_freq = main_freq - int(self._dead[rows].sum()) if dead_any else main_freq
            if delta_column is not None:
                delta_freq = int(delta.indptr[delta_column + 1] - delta.indptr[delta_column])
            if not (live_freq or delta_freq):
                continue
            idf = float(_idf(total_docs, live_freq + delta_freq))
            if live_freq:
                main_terms.append(main_column)
                main_factors.append(idf / float(_idf(main_docs, main_freq)) if rescale else 1.0)
            if delta_freq:
                delta_terms.append(delta_column)
                delta_factors.append(idf)
        return main_terms, main_factors, delta_terms, delta_factors

    @property
    def has_delta(self) -> bool:
        return bool(self.delta) or bool(self._dead.any())

    @staticmethod
    def needs_compaction_at(documents: int, changed: int, floor: int = COMPACT_FLOOR) -> bool:
        """Whether ``changed`` documents since a main segment of about ``documents`` (at least ``floor``) call for rebuilding it."""
        return changed > COMPACT_RATIO * max(documents, floor)

    # -- reading -------------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        """Every live document id: the main segment's still current ones, then the delta's."""
        self._delta_matrix()
        return [i for i, dead in zip(self.main_ids, self._dead) if not dead] + self._delta_ids

    def __len__(self) -> int:
        return int(len(self.main_ids) - self._dead.sum()) + len(self.delta)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every live document, in :attr:`ids` order."""
        main_terms, main_factors, delta_terms, delta_factors = self._weights(query_tokens)
        main = self._main.all_scores(main_terms, main_factors)[~self._dead]
        return np.concatenate([main, self._delta_matrix().all_scores(delta_terms, delta_factors)])

    def top(self, query_tokens: list[str], k: int, allowed: Collection[str] | None = None) -> list[tuple[str, float]]:
        """Top-``k`` (id, score) with a positive score, only among ``allowed`` when given."""
        main_terms, main_factors, delta_terms, delta_factors = self._weights(query_tokens)
        hits: list[tuple[str, float]] = []
        computed: list[np.ndarray | None] = []
        for ids, rows_of, matrix, terms, factors, dead in (
            (self.main_ids, self.main_row, self._main, main_terms, main_factors, self._dead),
            (self._delta_ids, self._delta_row, self._delta_matrix(), delta_terms, delta_factors, None),
        ):
            computed.append(matrix.all_scores(terms, factors) if terms else None)
            if not terms:
                continue
            scores = computed[-1]
            masks_dead = dead is not None and bool(dead.any())
            if masks_dead or allowed is not None:
                scores = scores.copy()  # what scores_for reads back stays unmasked
            if masks_dead:
                scores[dead] = 0.0
            if allowed is not None:
                keep = np.zeros(matrix.num_docs, dtype=bool)
                keep[[row for row in map(rows_of.get, allowed) if row is not None]] = True
                scores[~keep] = 0.0
            candidates = np.flatnonzero(scores > 0)
            if len(candidates) > k:
                candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
            hits.extend((ids[row], float(scores[row])) for row in candidates)
        self._last = (tuple(query_tokens), computed)
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        return hits[:k]

    def scores_for(self, query_tokens: list[str], ids: Sequence[str]) -> np.ndarray:
        """The scores of ``ids`` only (0 for an id not indexed), in their order.

        After :meth:`top` with the same tokens (a search's candidates), they are read from the scores it
        computed (the same float32 sums, term by term), not computed a second time.
        """
        last = self._last
        known = last[1] if last is not None and last[0] == tuple(query_tokens) else None
        main_terms, main_factors, delta_terms, delta_factors = ([], [], [], []) if known is not None else self._weights(query_tokens)
        out = np.zeros(len(ids), dtype=np.float32)
        for segment, (rows_of, matrix, terms, factors, dead) in enumerate((
            (self.main_row, self._main, main_terms, main_factors, self._dead),
            (self._delta_row, self._delta_matrix(), delta_terms, delta_factors, None),
        )):
            positions = [p for p, i in enumerate(ids) if i in rows_of and (dead is None or not dead[rows_of[i]])]
            if not positions:
                continue
            rows = np.array([rows_of[ids[p]] for p in positions], dtype=np.int64)
            if known is not None:
                if known[segment] is not None:
                    out[positions] = known[segment][rows]
            elif terms:
                out[positions] = matrix.row_scores(terms, factors, rows)
        return out

    # -- persistence -----------------------------------------------------------

    def save(self, directory: Path, name: str) -> str:
        """Save the main segment with bm25s into the folder ``directory/name`` (written aside, then renamed)."""
        if self.has_delta:
            raise ValueError("a BM25 index with a delta is saved by building a new one from every document")
        directory = Path(directory)
        folder = directory / name
        tmp = directory / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        self.model.save(tmp, show_progress=False)
        (tmp / _IDS_FILE).write_text(json.dumps({"ids": self.main_ids, "lengths": self.lengths.tolist()}, ensure_ascii=False), encoding="utf-8")
        for path in tmp.iterdir():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(tmp)
        checkpoint("bm25.saved")
        os.replace(tmp, folder)
        fsync_dir(directory)
        return name

    @classmethod
    def load(cls, directory: Path, name: str) -> BM25Index:
        """Load a main segment saved by :meth:`save` (its arrays memory-mapped)."""
        folder = Path(directory) / name
        meta = json.loads((folder / _IDS_FILE).read_text(encoding="utf-8"))
        model = _bm25s().BM25.load(folder, mmap=True, show_progress=False)
        if model.scores["num_docs"] != len(meta["ids"]):
            raise ValueError(f"{folder}: {model.scores['num_docs']} documents but {len(meta['ids'])} ids")
        return cls(model, meta["ids"], np.array(meta["lengths"], dtype=np.int64))
