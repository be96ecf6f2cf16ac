"""The search engine: loads the model and indexes once, answers similar-case queries.

Indexes live in ``<home>/index``: the vectors' main segment (a FAISS file and
its id map) and the delta segments written since (what each sync changed, see
:mod:`leian.search.faiss`), and ``manifest.json`` naming them, the model and
the store change seq they reflect. Every file is written aside, fsynced and
renamed; the manifest is replaced last, so a reader (or a kill at any moment)
always sees one whole generation, and files no manifest names (a killed save's)
are removed on the next open or save. BM25's main segment is saved with bm25s
(``bm25.<generation>/``, memory-mapped on first search); the cases changed
since it was built are its delta, read from the change log and the token cache
(see :mod:`leian.search.bm25`), and it is rebuilt once that delta passes 10%.

:func:`sync` (registered in :mod:`leian.indexers`) applies the store's change
log after every ingest, so new cases are searchable at once; a long-running
engine (the web server) follows another process's ingests with
:meth:`SearchEngine.catch_up` in memory, without reloading its indexes;
:func:`reindex` rebuilds everything from the store (unchanged texts are never
re-encoded: the vectors come from the embedding cache).
"""
from __future__ import annotations

import fcntl
import json
import shutil
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leian.data.normalize import normalize_name, normalize_text
from leian.data.places import LEVELS, parse_address, place_label
from leian.data.record import RESOLVED_OUTCOMES, Case
from leian.data.queries import CANDIDATE_INDEX, IDS_PER_STATEMENT, case_columns, case_ids_with_party_names, party_names_in, search_texts
from leian.data.store import Change, Store
from leian.data.taxonomy import Taxonomy
from leian.embeddings.cache import cached_keywords, cached_tokens, cached_vectors, ensure_tables, prune
from leian.embeddings.encoder import Encoder, load_encoder, model_for_home, model_id_for
from leian.embeddings.text import keywords, pieces, prepare, prepare_query, text_hash, tokenize
from leian.disputes import index as disputes
from leian.disputes.lexicon import Lexicon
from leian.errors import InvalidInput, NotFound
from leian.faults import checkpoint
from leian.home import Home
from leian.progress import progress_bar
from leian.search.base import (
    VectorIndex,
    create_vector_index,
    fsync_dir,
    load_vector_index,
    remove_stale_temporaries,
    write_atomic,
)
from leian.search.bm25 import BM25Index
from leian.search.filters import FACET_COLUMNS, Filters, allowed_ids, facets
from leian.search.fusion import DEFAULT_WEIGHTS, RELEVANCE_FLOOR, Weights, contributions, relevance_level, relevance_probability

__all__ = ["SearchEngine", "Query", "NotIndexed", "sync", "reindex", "type_label", "MANIFEST", "FORMAT", "CASE_TERMS"]

MANIFEST = "manifest.json"
#: 3: a main segment and delta segments. 2 (a main segment alone) was read as one; format 1 indexes
#: (one vector per case) were rebuilt from the cache on open.
#: 4: what is embedded is the dispute text (:func:`leian.embeddings.text.pieces`): older indexes hold
#: vectors of the raw text and are rebuilt from the cache on open.
#: 5: the dispute text of a 笔录 keeps the dispute alone (headers, names, setting and the mediation's
#: account removed, :func:`leian.disputes.clean.dispute_text`): format 4 vectors are re-embedded on open.
#: 6: the main segment's id map is a memory-mapped table (:mod:`leian.search.ids`); format 5 kept it as JSON,
#: read whole on every open, and is read as it is until the next save rewrites the map as a table.
FORMAT = 6
_READABLE = (5, 6)
#: Delta segments kept before they are merged into one (each is one more file read when an engine opens).
MAX_SEGMENTS = 16
#: Cases read, encoded and added at a time.
_BATCH = 2000
#: Cases indexed at a time from which their BM25 tokens are cached at once even with no BM25 loaded.
_TOKENISE_NOW = 200
#: The least P(大类) for which a query's predicted type is shown.
GUESS_FLOOR = 0.3
#: Said instead of a summary when the query names nothing a dispute is made of.
NO_MEANING = "描述中没有可识别的纠纷内容，请用平常话说明谁和谁、因为什么事发生了纠纷。"
#: The summary when every result found is of low relevance.
LOW_ONLY = "没有相关度较高的相似案例，以下结果相关度较低，仅供参考"
#: Keywords of a result's case that the query's own are looked for in (its 共同关键词), kept when it is indexed.
CASE_TERMS = 30
#: What a search reads of its candidates' rows: the type and place signals' columns and the facets'.
CANDIDATE_COLUMNS = list(dict.fromkeys(["id", "category", "subtype", *LEVELS, *FACET_COLUMNS]))
#: Query vectors an engine remembers: the next page, another filter or a re-run of the same text is not encoded again.
QUERY_VECTORS = 256
#: How long a search waits for an encoding thread to take its query up (seconds; see :meth:`SearchEngine._vector_soon`).
HANDOVER_WAIT = 0.002


class NotIndexed(NotFound):
    """A stored case the search index does not hold (yet): stored with ``--no-index``."""


class Query:
    """A query: its text and what is known about the new case (soft signals, not filters).

    Args:
        text: the dispute in the user's words (any script; normalised here).
        type: the new case's type, if known (boosts cases of the same 大类/小类); when absent
            the engine predicts it from the text (:mod:`leian.disputes.types`).
        where: its place, if known (boosts cases at the same place, deepest level first).
        parties: names of its parties (boosts cases sharing a party).
    """

    def __init__(self, text: str, *, type: str | None = None, where: str | None = None, parties: Sequence[str] | None = None):
        self.text = prepare_query(text or "")
        match = Taxonomy.default().classify(type) if type else None
        self.category = match.category if match else None
        self.subtype = match.subtype if match else None
        #: What is embedded: the dispute without 笔录 headers, dates and amounts (first piece).
        self.embedded = pieces(self.text)[0]
        #: The 纠纷要素 the text names, in order.
        self.elements = [(f.name, f.role) for f in Lexicon.elements().find(self.text)]
        #: How many distinct elements it names: the evidence its element and type signals rest on (:func:`fusion.evidence`).
        self.evidence = len({name for name, _ in self.elements})
        #: Calibrated P(大类) and P(小类) by name, set by the engine when no type is given.
        self.category_probabilities: dict[str, float] = {}
        self.subtype_probabilities: dict[str, float] = {}
        self.guess: dict[str, Any] | None = None
        self.place: dict[str, str] = {}
        self.place_name = normalize_name(where) if where else None
        if where:
            self.place = {k: v for k, v in parse_address(normalize_text(where)).items() if k in LEVELS}
        self.parties = [normalize_name(p) for p in parties or [] if p and p.strip()]


@dataclass(frozen=True)
class CandidateRead:
    """What a search reads from the store about its candidates, once: the signals, the results and the facets use it.

    Attributes:
        rows: the stored candidates' :data:`CANDIDATE_COLUMNS`, as :func:`~leian.data.queries.case_columns` returns them.
        by_id: the same rows by case id.
        elements: each candidate's 纠纷要素 in text order (:func:`leian.disputes.index.case_elements`).
        guesses: the type predicted for each candidate that has one (:func:`leian.disputes.index.type_guesses`).
    """

    rows: list[Any]
    by_id: dict[str, Any]
    elements: dict[str, list[str]]
    guesses: dict[str, tuple[str, str, float, float]]

    @classmethod
    def of(cls, store: Store, candidates: list[str]) -> CandidateRead:
        rows = list(case_columns(store, candidates, CANDIDATE_COLUMNS, index=CANDIDATE_INDEX))
        return cls(rows, {row["id"]: row for row in rows}, disputes.case_elements(store, candidates),
                   disputes.type_guesses(store, candidates))

    def adding(self, store: Store, more: list[str]) -> CandidateRead:
        """This read and that of ``more`` (ids not read yet), its rows in the order one statement reading both would
        give: by id, as SQLite walks an ``IN`` list on the primary key (the facets' ties keep that order)."""
        if not more:
            return self
        extra = CandidateRead.of(store, more)
        return CandidateRead(sorted(self.rows + extra.rows, key=lambda row: row["id"]), self.by_id | extra.by_id,
                             self.elements | extra.elements, self.guesses | extra.guesses)

    @classmethod
    def nothing(cls) -> CandidateRead:
        return cls([], {}, {}, {})


class SearchEngine:
    """Similar-case search over one LeiAn home.

    Args:
        home: the LeiAn home (``Home`` or a path).
        store: an open store to use (else the home's store is opened and owned).
        model: embedding model name or path (else config, else m3e-small).
        weights: fusion weights (else the calibrated defaults).
        rebuild: rebuild the indexes from the store instead of loading them.
        progress: show a progress bar while encoding.
    """

    def __init__(
        self,
        home: Home | str | Path,
        store: Store | None = None,
        model: str | None = None,
        weights: Weights | None = None,
        *,
        rebuild: bool = False,
        progress: bool = False,
    ):
        self.home = home if isinstance(home, Home) else Home.resolve(home)
        self._owns_store = store is None
        self.store = store if store is not None else self.home.open_store()
        self.model_name = model_for_home(self.home, model)
        self.weights = weights or DEFAULT_WEIGHTS
        self.encoder: Encoder = load_encoder(self.model_name)
        ensure_tables(self.store)
        self.vectors: VectorIndex
        self._bm25: BM25Index | None = None
        self._element_weights: tuple[int, dict[str, float]] | None = None
        self.seq = self._saved_seq = 0
        self.generation = self._read_manifest_any().get("generation", 0)
        self._vector_files: list[str] = []
        self._segments: list[str] = []
        #: The saved BM25 main segment's folder and the change seq it was built at.
        self._bm25_name: str | None = None
        self._bm25_seq = 0
        #: Held while the in-memory indexes change or are read (searches, neighbours, saves).
        self._lock = threading.RLock()
        self._catching_up = threading.Lock()
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_vectors_lock = threading.Lock()
        #: Encodes searches' queries while their threads do what needs no vector (made on the first search; a few
        #: workers, so that one long record does not hold up the web server's other searches).
        self._encoding: ThreadPoolExecutor | None = None
        if rebuild:
            self.rebuild(progress=progress, keep_keywords=True)
        else:
            self._load_or_build(progress=progress)

    @classmethod
    def open(cls, home: Home | str | Path, model: str | None = None) -> SearchEngine:
        """An engine over ``home``'s store, indexes brought up to date."""
        return cls(home, model=model)

    def close(self) -> None:
        if self._encoding is not None:
            self._encoding.shutdown()
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> SearchEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- index life cycle ------------------------------------------------------

    @property
    def index_dir(self) -> Path:
        return self.home.index_dir

    def _read_manifest_any(self) -> dict[str, Any]:
        path = self.index_dir / MANIFEST
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def _read_manifest(self) -> dict[str, Any] | None:
        """The manifest if it describes an index this engine can use (a known format, the same model)."""
        manifest = self._read_manifest_any()
        if manifest.get("format") not in _READABLE or manifest.get("model") != self.encoder.model_id:
            return None
        return manifest

    def _load_or_build(self, *, progress: bool) -> None:
        for attempt in range(3):
            manifest = self._read_manifest()
            if manifest is None:
                self.rebuild(progress=progress)
                return
            try:
                self._load(manifest)
                break
            except FileNotFoundError:
                # A concurrent save replaced this generation between reading the manifest and its files.
                if attempt == 2:
                    raise
        self._remove_leftovers()
        self.catch_up(progress=progress)

    def _load(self, manifest: dict[str, Any]) -> None:
        """Take the index files a manifest names (the main segment is mapped, each delta read once)."""
        segments = manifest.get("segments", [])
        self.vectors = load_vector_index(self.index_dir, manifest["vector_files"], segments, backend=manifest["backend"])
        self.seq = self._saved_seq = manifest["seq"]
        self.generation = manifest["generation"]
        self._vector_files, self._segments = list(manifest["vector_files"]), list(segments)
        self._bm25 = None
        self._bm25_name, self._bm25_seq = manifest.get("bm25"), manifest.get("bm25_seq", 0)

    def _index_options(self) -> dict[str, Any]:
        search = self.home.settings.search
        return {"kind": search.index_kind, "nprobe": search.nprobe, "threshold": search.threshold}

    def rebuild(self, *, progress: bool = False, keep_keywords: bool = False) -> None:
        """Rebuild every index from the store (vectors come from the cache where they can); with ``keep_keywords``
        (``leian reindex``) also keep each case's keywords for the results' 共同关键词."""
        with self._lock:
            self.seq = self.store.last_change()
            self.vectors = create_vector_index(self.encoder.dim, **self._index_options())
            bar = progress_bar(self.store.count(), "建立检索索引", enabled=progress)
            batch: list[Case] = []
            for case in self.store.iter_cases():
                batch.append(case)
                if len(batch) == _BATCH:
                    self._add_cases(batch, progress=progress, keep_keywords=keep_keywords)
                    bar.update(len(batch))
                    batch = []
            self._add_cases(batch, progress=progress, keep_keywords=keep_keywords)
            bar.update(len(batch))
            bar.close()
            self._bm25, self._bm25_name = None, None
            self.save(full=True)

    def _add_cases(self, cases: list[Case], *, progress: bool, keep_keywords: bool = False) -> None:
        """Index ``cases``; with ``keep_keywords`` also keep their keywords for the results' 共同关键词.

        An ingest does not: jieba's TF-IDF tables cost ≈ 1 s of CPU to load, most of a small ingest, and a
        search computes the keywords it does not find (the search process has those tables loaded anyway).
        """
        if cases:
            embedded = [pieces(prepare(case)) for case in cases]
            # Encoding (the slow part) runs outside the lock: searches go on meanwhile.
            vectors = cached_vectors(self.store, self.encoder, [p for case_pieces in embedded for p in case_pieces], progress=progress)
            texts = [case.search_text for case in cases]
            # Tokens cached now for a loaded BM25 (it takes them at once) and for a batch big enough that the next
            # BM25 load should not tokenise it; a few cases with no BM25 loaded are left to that load (it tokenises
            # the changed cases it finds uncached), so a small ingest never loads jieba's dictionary (0.65 s of CPU).
            tokens = cached_tokens(self.store, texts) if self._bm25 is not None or len(cases) >= _TOKENISE_NOW else None
            if keep_keywords:
                cached_keywords(self.store, texts, CASE_TERMS)
            with self._lock:
                self.vectors.upsert([c.id for c in cases], vectors, counts=[len(p) for p in embedded])
                if self._bm25 is not None:  # loaded already, or by a search since the check above
                    tokens = tokens if tokens is not None else cached_tokens(self.store, texts)
                    self._bm25.apply(upserted={case.id: t for case, t in zip(cases, tokens)})

    @property
    def bm25(self) -> BM25Index:
        """BM25: the saved main segment (memory-mapped) and the cases changed since, loaded on first use.

        Only searches need it: syncing after an ingest and the graph's
        neighbour look-ups never pay for it. Without a saved one it is built
        from the token cache (and saved by the next :meth:`save`).
        """
        with self._lock:
            if self._bm25 is None:
                if self._bm25_name is None:
                    self._bm25 = self._build_bm25()
                else:
                    self._bm25 = BM25Index.load(self.index_dir, self._bm25_name)
                    changed = list(dict.fromkeys(c.case_id for c in self.store.changes_since(self._bm25_seq) if c.seq <= self.seq))
                    texts = self.store.search_texts(changed)
                    present = [case_id for case_id in changed if case_id in texts]
                    tokens = cached_tokens(self.store, [texts[case_id] for case_id in present])
                    self._bm25.apply(deleted=[c for c in changed if c not in texts], upserted=dict(zip(present, tokens)))
            return self._bm25

    def _build_bm25(self) -> BM25Index:
        """A BM25 main segment over every stored case, from the token cache, a page at a time."""
        def pages():
            for page in self.store.iter_search_texts():
                yield [case_id for case_id, _ in page], cached_tokens(self.store, [text for _, text in page])

        return BM25Index.build_from_batches(pages())

    def catch_up(self, *, progress: bool = False, persist: bool = True, wait: bool = True) -> int:
        """Apply the store's changes since this index's seq; returns cases changed.

        With ``persist`` the changes are saved (as a delta segment) unless the
        files already hold them; without, they are applied in memory only (a
        web server following another process's ingest). Without ``wait``, a
        catch-up already running in another thread is not waited for (0 is returned).
        """
        if not self._catching_up.acquire(blocking=wait):
            return 0
        try:
            changes = self.store.changes_since(self.seq)
            if changes:
                self._apply(changes, progress=progress)
            if persist and self.seq > self._saved_seq:
                self.save()
            return len({change.case_id for change in changes})
        finally:
            self._catching_up.release()

    def _apply(self, changes: Sequence[Change], *, progress: bool = False) -> None:
        """Apply changes to the in-memory indexes (searches see each batch as soon as it is in)."""
        touched = list(dict.fromkeys(change.case_id for change in changes))
        bar = progress_bar(len(touched), "更新检索索引", enabled=progress)
        for start in range(0, len(touched), _BATCH):
            part = touched[start : start + _BATCH]
            present = self.store.get_many(part)
            with self._lock:
                gone = [case_id for case_id in part if case_id not in present]
                self.vectors.delete(gone)
                if self._bm25 is not None:
                    self._bm25.apply(deleted=gone)
            self._add_cases(list(present.values()), progress=progress)
            bar.update(len(part))
        bar.close()
        with self._lock:
            self.seq = changes[-1].seq

    def save(self, *, full: bool = False) -> None:
        """Persist: a delta segment of what changed, or (``full``, or the delta has grown) a new main segment.

        The manifest naming the files is replaced last, so a reader (or a kill at
        any point) sees one whole generation. Another process (the web server,
        an ingest) may save at the same time: saving holds the index folder's lock.
        """
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.index_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            remove_stale_temporaries(self.index_dir)
            current = self._read_manifest()
            if not full and current is not None and current["generation"] != self.generation:
                if current["seq"] >= self.seq:
                    return  # another process has already saved at least what this engine holds
                # Continue from the other process's files, so segment numbering and ids agree with them.
                self._load(current)
                changes = self.store.changes_since(self.seq)
                if changes:
                    self._apply(changes)
            self._save_locked(current, full=full or current is None)

    def _save_locked(self, current: dict[str, Any] | None, *, full: bool) -> None:
        self.generation = max(self.generation, self._read_manifest_any().get("generation", 0)) + 1
        stem = f"vectors.{self.generation}"
        floor = self.home.settings.search.compact_floor
        if full or self.vectors.needs_compaction(floor):
            files, segments = self.vectors.save(self.index_dir, stem), []
        else:
            files = self.vectors.upgrade_main(self.index_dir, self._vector_files, stem)
            if len(self._segments) >= MAX_SEGMENTS:
                segments = [self.vectors.save_changes(self.index_dir, f"{stem}.delta", merged=True)]
            elif self.vectors.changed:
                segments = [*self._segments, self.vectors.save_changes(self.index_dir, f"{stem}.delta")]
            else:
                segments = self._segments
        bm25_name, bm25_seq = self._bm25_name, self._bm25_seq
        if full or bm25_name is None or BM25Index.needs_compaction_at(len(self.vectors), self.store.changed_count(bm25_seq), floor):
            # The main segment is rebuilt from every stored case: at least as new as this engine's seq.
            built = self._build_bm25()
            bm25_name, bm25_seq = built.save(self.index_dir, f"bm25.{self.generation}"), self.seq
            self._bm25 = built
        manifest = {
            "format": FORMAT,
            "generation": self.generation,
            "model": self.encoder.model_id,
            "dim": self.encoder.dim,
            "seq": self.seq,
            "count": len(self.vectors),
            "backend": self.vectors.backend,
            "kind": self.vectors.kind,
            "vector_files": files,
            "segments": segments,
            "bm25": bm25_name,
            "bm25_seq": bm25_seq,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_atomic(self.index_dir / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        checkpoint("index.manifest_written")
        self._vector_files, self._segments, self._saved_seq = files, segments, self.seq
        self._bm25_name, self._bm25_seq = bm25_name, bm25_seq
        self._remove_unnamed(manifest)

    def _remove_unnamed(self, manifest: dict[str, Any]) -> None:
        """Delete index files the manifest does not name (earlier generations, a killed save's)."""
        named = {MANIFEST, *manifest.get("vector_files", []), *manifest.get("segments", []), manifest.get("bm25")}
        for path in [*self.index_dir.glob("vectors.*"), *self.index_dir.glob("bm25.*")]:
            if path.name not in named:
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        fsync_dir(self.index_dir)

    def _remove_leftovers(self) -> None:
        """On open: what a killed save left behind, unless a save is running right now."""
        with open(self.index_dir / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            remove_stale_temporaries(self.index_dir)
            self._remove_unnamed(self._read_manifest_any())

    # -- searching -------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        top_k: int = 10,
        filters: Filters | dict[str, Any] | None = None,
        parties: Sequence[str] | None = None,
        type: str | None = None,
        where: str | None = None,
        page: int = 1,
        within: set[str] | None = None,
    ) -> dict[str, Any]:
        """Cases similar to ``text``: the CLI JSON contract object.

        ``filters`` restrict which cases may be returned (applied inside
        retrieval), and so does ``within`` (the ids of the cases the asker may
        see, e.g. those of their area); ``type``, ``where`` and ``parties``
        describe the new case and only raise the score of cases that share them
        (``type`` replaces the predicted type). ``page`` (from 1) returns
        results ``(page-1)*top_k`` on.
        """
        query = Query(text, type=type, where=where, parties=parties)
        return self.search_vector(query, self._vector_soon(query.embedded), top_k=top_k, filters=filters, page=page,
                                  within=within)

    def _vector_soon(self, text: str) -> np.ndarray | Future:
        """The query's vector if remembered, else its encoding under way in another thread: ONNX Runtime lets go
        of the GIL, so the type prediction, the jieba cut and BM25 run meanwhile (:meth:`_signals` waits for the
        vector only where the dense search needs it)."""
        with self._query_vectors_lock:
            if text in self._query_vectors:
                self._query_vectors.move_to_end(text)
                return self._query_vectors[text]
            if self._encoding is None:
                self._encoding = ThreadPoolExecutor(max_workers=4, thread_name_prefix="leian-encode")
        started = threading.Event()

        def encode() -> np.ndarray:
            started.set()
            return self.query_vector(text)

        future = self._encoding.submit(encode)
        # Let go of the GIL until the worker has it: else the worker waits for this thread's next release of it
        # (≈ 0.8 ms of Python), while this thread's part is short of the encoding's anyway. Bounded, for when every
        # worker is busy with other searches' queries.
        started.wait(HANDOVER_WAIT)
        return future

    def query_vector(self, text: str) -> np.ndarray:
        """The vector of a query's embedded text, remembered for the last :data:`QUERY_VECTORS` texts (each text is
        encoded alone, so it is the vector encoding it again would give)."""
        with self._query_vectors_lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        vector = self.encoder.encode([text])[0]
        with self._query_vectors_lock:
            self._query_vectors[text] = vector
            while len(self._query_vectors) > QUERY_VECTORS:
                self._query_vectors.popitem(last=False)
        return vector

    def search_many(self, queries: Sequence[Query], *, top_k: int = 10, filters: Filters | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Answer many queries, encoding them in one batch; results in input order."""
        vectors = self.encoder.encode([q.embedded for q in queries])
        return [self.search_vector(q, v, top_k=top_k, filters=filters) for q, v in zip(queries, vectors)]

    def understand(self, queries: Sequence[Query]) -> None:
        """Predict the type of each query that has none (calibrated distributions over 大类 and 小类)."""
        pending = [q for q in queries if q.category is None and q.guess is None and q.text.strip()]
        if not pending:
            return
        model = disputes.type_model(self.home)
        categories, subtypes = model.distributions([q.text for q in pending])
        for query, guess, category_row, subtype_row in zip(pending, model.guesses(categories, subtypes), categories, subtypes):
            query.category_probabilities = dict(zip(model.categories, map(float, category_row)))
            query.subtype_probabilities = dict(zip(model.subtypes, map(float, subtype_row)))
            # Too unsure to say (大类 below 30%: a text that names no dispute): no 推测类型 shown.
            query.guess = guess.to_dict() if guess.category_probability >= GUESS_FLOOR else None

    def element_weights(self) -> dict[str, float]:
        """IDF of each element over the stored cases (rare elements say more), cached per store change."""
        seq = self.store.last_change()
        if self._element_weights is None or self._element_weights[0] != seq:
            disputes.sync(self.home, self.store)
            counts, total = disputes.element_counts(self.store)
            self._element_weights = (seq, {name: float(np.log((total + 1) / (n + 0.5))) for name, n in counts.items()})
        return self._element_weights[1]

    def search_vector(
        self, query: Query, vector: np.ndarray | Future, *, top_k: int = 10, filters: Filters | dict[str, Any] | None = None,
        page: int = 1, within: set[str] | None = None,
    ) -> dict[str, Any]:
        """Search with an encoded query vector, or one being encoded (``within``: as in :meth:`search`)."""
        if not isinstance(filters, Filters):
            filters = Filters.from_dict(filters)
        if page < 1:
            raise InvalidInput("页码须为 1 或更大")
        self.understand([query])
        allowed = allowed_ids(self.store, filters)
        if within is not None:
            allowed = set(within) if allowed is None else allowed & within
        with self._lock:  # a catch-up in another thread changes the indexes between its batches
            ranked, parts, pool, read = self._rank(query, vector, top_k=top_k * page, allowed=allowed)
        probability = parts.get("relevance", {})
        ranked = ranked[top_k * (page - 1):]
        ids = [case_id for case_id, _ in ranked]
        cases = self.store.get_many(ids)
        case_terms = cached_keywords(self.store, [cases[case_id].search_text for case_id in ids], CASE_TERMS, write=False)
        query_terms = keywords(query.text, 20)
        results = [
            self._result(cases[case_id], score, {name: float(values[case_id]) for name, values in parts.items()}, query, query_terms,
                         set(terms), read.elements.get(case_id), read.guesses.get(case_id))
            for (case_id, score), terms in zip(ranked, case_terms)
        ]
        relevant = [r for r in results if r["relevance"] != "low"]
        summary = summarise(relevant)
        if results and not relevant:  # the list is not empty: say why nothing is summed up
            summary["text"] = LOW_ONLY
        if not relevant and not query.elements:
            summary = {**summarise([]), "text": NO_MEANING, "no_meaning": True}
        return {
            "query": query.text,
            "filters": filters.to_dict(),
            "results": results,
            "summary": summary,
            # The candidates' rows are the pool's, in the order a read of the pool gives when one statement read them.
            "facets": facets(self.store, pool, read.rows if len(pool) <= IDS_PER_STATEMENT else None),
            "elements": [{"name": name, "role": role} for name, role in query.elements],
            "predicted_type": query.guess,
            "total": sum(1 for case_id in pool if probability.get(case_id, 0.0) >= RELEVANCE_FLOOR),
            "page": page,
            "top_k": top_k,
        }

    def _rank(
        self, query: Query, vector: np.ndarray | Future, *, top_k: int, allowed: set[str] | None
    ) -> tuple[list[tuple[str, float]], dict[str, dict[str, float]], list[str], CandidateRead]:
        """Fused top-k ``(id, score)``, each signal's share per candidate, the candidate pool (best first), and what
        was read from the store about the candidates (the results and facets use it)."""
        if top_k <= 0:
            return [], {}, [], CandidateRead.nothing()
        candidates, signals, read = self._signals(query, vector, pool_size=pool_size(top_k), allowed=allowed)
        if not candidates:
            return [], {}, [], read
        parts = contributions(signals["dense"], signals["bm25"], signals, self.weights, query.evidence)
        fused = sum(parts.values())
        order = np.argsort(-fused, kind="stable")
        pool = [candidates[i] for i in order]
        ranked = [(candidates[i], round(float(fused[i]), 4)) for i in order[:top_k]]
        shares = {name: dict(zip(candidates, values)) for name, values in parts.items()}
        shares["cosine"] = dict(zip(candidates, signals["dense"]))
        shares["bm25_raw"] = dict(zip(candidates, signals["bm25"]))
        zeros = np.zeros(len(candidates))
        shares["relevance"] = dict(zip(candidates, relevance_probability(
            signals["dense"], signals.get("elements", zeros), signals.get("subtype", zeros), signals.get("category", zeros))))
        return ranked, shares, pool, read

    def signals(
        self, query: Query, vector: np.ndarray, *, pool_size: int, allowed: set[str] | None = None
    ) -> tuple[list[str], dict[str, np.ndarray]]:
        """The candidate pool and every raw signal per candidate (dense cosine, BM25, elements, type, place, parties):
        what fusion combines (and what the evaluation sweeps)."""
        return self._signals(query, vector, pool_size=pool_size, allowed=allowed)[:2]

    def _signals(
        self, query: Query, vector: np.ndarray | Future, *, pool_size: int, allowed: set[str] | None
    ) -> tuple[list[str], dict[str, np.ndarray], CandidateRead]:
        """:meth:`signals`, and what was read from the store about the candidates."""
        tokens = tokenize(query.text)
        lexical = list(dict.fromkeys([i for i, _ in self.bm25.top(tokens, pool_size, allowed)] + self._party_cases(query, allowed)))
        weights = self.element_weights()  # first: it brings the elements and type guesses read next up to date
        # What needs no vector is read while it is encoded; after it, only the dense hits BM25 did not find.
        read = CandidateRead.of(self.store, lexical)
        if isinstance(vector, Future):
            vector = vector.result()
        dense = [i for i, _ in self.vectors.search(vector[None, :], pool_size, allowed)[0]]
        candidates = list(dict.fromkeys(dense + lexical))
        if not candidates:
            return [], {}, CandidateRead.nothing()
        found_lexically = set(lexical)
        read = read.adding(self.store, [i for i in dense if i not in found_lexically])
        signals = {
            "dense": self.vectors.scores(candidates, vector),
            "bm25": self.bm25.scores_for(tokens, candidates),
            **self._structure(query, candidates, read, weights),
        }
        return candidates, signals, read

    def _party_cases(self, query: Query, allowed: set[str] | None) -> list[str]:
        if not query.parties:
            return []
        return [c for c in case_ids_with_party_names(self.store, query.parties) if allowed is None or c in allowed]

    def _structure(
        self, query: Query, candidates: list[str], read: CandidateRead, weights: dict[str, float]
    ) -> dict[str, np.ndarray]:
        """Per candidate: shared elements, type agreement, shared place and parties (0..1 each)."""
        rows = read.by_id
        signals = {"elements": element_overlap(query, read.elements, candidates, weights)}
        signals.update(self._type_agreement(query, candidates, rows, read.guesses))
        if query.place or query.place_name or query.parties:
            shared = self._shared_parties(query, candidates)
            signals["place"] = np.zeros(len(candidates))
            signals["parties"] = np.zeros(len(candidates))
            for i, case_id in enumerate(candidates):
                row = rows.get(case_id)
                if row is None:
                    continue
                level = _shared_level(query, {level: row[level] for level in LEVELS})
                signals["place"][i] = (LEVELS.index(level) + 1) / len(LEVELS) if level else 0.0
                signals["parties"][i] = float(bool(shared.get(case_id)))
        return signals

    def _type_agreement(self, query: Query, candidates: list[str], rows: dict[str, Any],
                        guesses: dict[str, tuple[str, str, float, float]]) -> dict[str, np.ndarray]:
        """P(same 大类) and P(same 小类) of the query and each candidate.

        A known type counts as certain; a case without one uses its predicted type
        (:mod:`leian.disputes.index`) with its probability; the query's own type, when
        not given, is the predicted distribution.
        """
        if not (query.category or query.category_probabilities):
            return {}
        same_category = np.zeros(len(candidates))
        same_subtype = np.zeros(len(candidates))
        for i, case_id in enumerate(candidates):
            row = rows.get(case_id)
            if row is None:
                continue
            category, subtype, p_category, p_subtype = row["category"], row["subtype"], 1.0, 1.0
            if not subtype and case_id in guesses:
                g_category, g_subtype, g_p, g_p_category = guesses[case_id]
                if category in (None, g_category):
                    category, subtype, p_subtype = g_category, g_subtype, g_p
                    p_category = 1.0 if row["category"] else g_p_category
            if query.category:
                same_category[i] = float(category == query.category)
                same_subtype[i] = float(bool(query.subtype) and subtype == query.subtype)
            else:
                same_category[i] = query.category_probabilities.get(category, 0.0) * p_category if category else 0.0
                same_subtype[i] = query.subtype_probabilities.get(subtype, 0.0) * p_subtype if subtype else 0.0
        return {"category": same_category, "subtype": same_subtype}

    def _shared_parties(self, query: Query, candidates: Sequence[str]) -> dict[str, list[str]]:
        if not query.parties:
            return {}
        found: dict[str, list[str]] = {}
        for case_id, name in party_names_in(self.store, query.parties, candidates):
            found.setdefault(case_id, []).append(name)
        return found

    def _result(self, case: Case, score: float, parts: dict[str, float], query: Query, query_terms: list[str], case_terms: set[str],
                elements: list[str] | None = None, guess: tuple[str, str, float, float] | None = None) -> dict[str, Any]:
        level = _shared_level(query, case.location)
        elements = elements or []
        category, subtype = (case.category, case.subtype) if case.subtype or not guess else (guess[0], guess[1])
        why: dict[str, Any] = {
            "shared_terms": [t for t in query_terms if t in case_terms][:8],
            "shared_elements": [name for name, _ in query.elements if name in elements],
            "same_type": _same_type(query, category, subtype),
            "same_place": {"level": level, "name": case.location[level]} if level else None,
            "shared_parties": self._shared_parties(query, [case.id]).get(case.id, []),
            "dense": round(parts["cosine"], 4),
            "bm25": round(parts["bm25_raw"], 4),
            "contributions": {name: round(value, 4) for name, value in parts.items() if name not in ("cosine", "bm25_raw", "relevance") and value},
        }
        return {
            "id": case.id,
            "score": score,
            "title": case.title,
            "type": "/".join(p for p in (case.category, case.subtype) if p) or case.type,
            "category": case.category,
            "subtype": case.subtype,
            "place": place_label(case.location) or None,
            "date": case.date,
            "outcome": case.outcome,
            "handling": case.handling,
            "agreement": case.agreement,
            "mediators": [{"name": m.name, "org": m.org} for m in case.mediators],
            "snippet": case.text[:160],
            "elements": elements,
            "relevance": relevance_level(parts.get("relevance", 0.0)),
            "relevance_probability": round(parts.get("relevance", 0.0), 3),
            "predicted_type": {"category": guess[0], "subtype": guess[1], "probability": round(guess[2], 3)} if guess and not case.subtype else None,
            "why": why,
        }

    def neighbors(self, case_id: str, k: int = 10, *, within: set[str] | None = None) -> list[tuple[str, float]]:
        """Dense neighbours ``(id, cosine)`` of a stored case, itself excluded, best first (among ``within`` if given).

        Raises:
            NotIndexed: the case is not in the index (stored with ``--no-index``).
        """
        with self._lock:
            if case_id not in self.vectors:
                raise NotIndexed(f"案件 {case_id} 尚未建立检索索引（导入时用了 --no-index？请运行 `leian reindex`）")
            vector = self.vectors.vectors([case_id])
            hits = self.vectors.search(vector, k + 1, within)[0]
        return [(other, score) for other, score in hits if other != case_id][:k]

    def linked_by(self, case_id: str, threshold: float) -> list[tuple[str, float]]:
        """The other cases whose :meth:`neighbors` score ``case_id`` at ``threshold`` or more, with that score, best first.

        What a new or changed case changes in the other cases' nearest lists (their SIMILAR_TO edges):
        every case close to one of its vectors is a candidate (searched until the scores fall below
        ``threshold``), scored exactly as :meth:`neighbors` scores it, from the candidate's head vector.
        """
        with self._lock:
            if case_id not in self.vectors:
                return []
            queries = self.vectors.all_vectors(case_id)
            wanted = 16
            while True:
                rows = self.vectors.search(queries, wanted)
                if wanted >= len(self.vectors) or all(len(row) < wanted or row[-1][1] < threshold for row in rows):
                    break
                wanted *= 4
            candidates = sorted({other for row in rows for other, score in row if score >= threshold} - {case_id})
            heads = self.vectors.vectors(candidates)
            scored = [(other, float(self.vectors.scores([case_id], head)[0])) for other, head in zip(candidates, heads)]
        return sorted(((other, score) for other, score in scored if score >= threshold), key=lambda hit: (-hit[1], hit[0]))


def pool_size(top_k: int) -> int:
    """How many candidates each retriever (dense, BM25) brings to fusion for a top-``top_k`` search."""
    return max(50, 5 * top_k)


def element_overlap(query: Query, elements: dict[str, list[str]], candidates: Sequence[str], weights: dict[str, float]) -> np.ndarray:
    """IDF-weighted cosine between the query's element set and each candidate's (0..1).

    >>> q = Query("楼上漏水，天花板发霉")
    >>> [round(float(x), 2) for x in element_overlap(q, {"a": ["漏水", "天花板", "发霉"], "b": ["漏水", "欠薪"]}, ["a", "b", "c"],
    ...                                             {"漏水": 1.0, "天花板": 2.0, "发霉": 2.0, "欠薪": 3.0, "邻居": 0.5})]
    [0.99, 0.1, 0.0]
    """
    mine = {name: weights.get(name, 1.0) for name, _ in query.elements}
    norm = float(np.sqrt(sum(w * w for w in mine.values())))
    overlap = np.zeros(len(candidates))
    if not norm:
        return overlap
    for i, case_id in enumerate(candidates):
        theirs = elements.get(case_id)
        if theirs:
            shared = sum(mine[name] * weights.get(name, 1.0) for name in set(theirs) if name in mine)
            overlap[i] = shared / (norm * float(np.sqrt(sum(weights.get(name, 1.0) ** 2 for name in set(theirs)))))
    return overlap


def _same_type(query: Query, category: str | None, subtype: str | None) -> str | None:
    """"小类" / "大类" when the case shares the query's type (given, else the query's likeliest predicted one)."""
    if query.category:
        wanted_category, wanted_subtype = query.category, query.subtype
    elif query.guess:
        wanted_category = query.guess["category"]
        wanted_subtype = query.guess["subtype"] if query.guess["probability"] >= 0.5 else None
    else:
        return None
    if wanted_subtype and subtype == wanted_subtype:
        return "小类"
    return "大类" if category and category == wanted_category else None


def _shared_level(query: Query, location: dict[str, str | None]) -> str | None:
    """The deepest place level the query and a case share (a bare place name matches any level)."""
    for level in reversed(LEVELS):
        name = location.get(level)
        if name and (query.place.get(level) == name or query.place_name == name):
            return level
    return None


def type_label(result: dict[str, Any]) -> str:
    """A result's type as a person reads it: 大类 › 小类, a 小类 guessed for a case recorded without one marked 推测.

    Ranking and the 同小类 reason count the guessed 小类, so the header names it too rather than
    contradict the reason; a type outside the taxonomy reads as written.

    >>> type_label({"type": "邻里/漏水", "category": "邻里", "subtype": "漏水"})
    '邻里 › 漏水'
    >>> type_label({"type": "邻里", "category": "邻里", "subtype": None,
    ...             "predicted_type": {"category": "邻里", "subtype": "漏水", "probability": 0.9}})
    '邻里 › 漏水（推测）'
    >>> type_label({"type": "宅基地纠纷", "category": None, "subtype": None})
    '宅基地纠纷'
    """
    category, subtype, guess = result.get("category"), result.get("subtype"), result.get("predicted_type")
    if not subtype and guess and guess.get("subtype") and category in (None, guess["category"]):
        return f"{guess['category']} › {guess['subtype']}（推测）"
    return " › ".join(p for p in (category, subtype) if p) or result.get("type") or ""


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """How the cases ended and the handling methods (``methods.json``) that recur in their handling texts.

    >>> summary = summarise([{"outcome": "调解成功", "handling": "到现场查看后委托鉴定", "agreement": "分三期支付"},
    ...                      {"outcome": "调解失败", "handling": "调解员实地勘查，双方分歧大", "agreement": None}])
    >>> summary["text"], summary["practice_counts"]
    ('1/2 调解成功；常见做法：现场查看（2）', {'现场查看': 2, '分期付款': 1, '委托鉴定': 1})
    """
    outcomes = Counter(r["outcome"] for r in results if r["outcome"])
    resolved = sum(n for outcome, n in outcomes.items() if outcome in RESOLVED_OUTCOMES)
    practices: Counter[str] = Counter()
    methods = Lexicon.methods()
    for result in results:
        practices.update(set(methods.names(" ".join(filter(None, (result.get("handling"), result.get("agreement")))))))
    counts = dict(sorted(practices.items(), key=lambda item: (-item[1], item[0])))
    common = [name for name, n in list(counts.items())[:4] if n >= 2]
    text = f"{resolved}/{len(results)} 调解成功" if results else "没有找到相似案例"
    if common:
        text += "；常见做法：" + "、".join(f"{name}（{counts[name]}）" for name in common)
    return {"count": len(results), "resolved": resolved, "outcomes": dict(outcomes.most_common()), "common_practices": common,
            "practice_counts": counts, "text": text}


def sync(home: Home, store: Store, *, progress: bool = False) -> list[str]:
    """Bring the search index up to date with the store's change log (run after every ingest).

    Loads the model only when there is something to apply.
    """
    manifest_path = home.index_dir / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("model") == model_id_for(model_for_home(home)) and manifest.get("seq") == store.last_change():
            return []
    engine = SearchEngine(home, store=store, progress=progress)  # opening applies the changes and saves
    shared = getattr(store, "shared", None)  # one ingest's pass (leian.indexers.IngestPass)
    if shared is not None:
        shared["search_engine"] = engine  # the graph's SIMILAR_TO look-ups use it: the index is not loaded twice
    else:
        engine.close()
    return []


def reindex(home: Home, store: Store, *, model: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Rebuild the search index from the store; prune cached texts no case has any more."""
    started = time.perf_counter()
    encoder = load_encoder(model_for_home(home, model))
    before = encoder.texts_encoded
    engine = SearchEngine(home, store=store, model=model, rebuild=True, progress=progress)
    shared = getattr(store, "shared", None)  # a pass of leian.indexers: the graph step asks this engine next
    if shared is not None:
        shared["search_engine"] = engine
    keep: set[str] = set()
    for text in search_texts(store):
        keep.add(text_hash(text))  # tokens are cached per whole text
        keep.update(text_hash(piece) for piece in pieces(text))
    pruned = prune(store, keep)
    return {
        "cases": len(engine.vectors),
        "encoded": encoder.texts_encoded - before,
        "pruned_cache_rows": pruned,
        "kind": engine.vectors.kind,
        "model": encoder.model_id,
        "seconds": round(time.perf_counter() - started, 2),
    }
