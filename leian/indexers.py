"""Indexes derived from the store (search index, graph) and how they catch up with it.

Each entry names a ``sync(home, store, progress) -> list[str]`` function that
applies the store's change log since its own watermark and returns lines worth
printing (for example a repeat dispute flagged at ingest). ``leian ingest``
runs them all after the store is written, so new cases are searchable at once.

:func:`sync_all` hands every indexer the same :class:`IngestPass` in place of the
store: the change log is read once and each changed case decoded once for all
of them, and what one step opens for the next (the search engine whose index
the graph asks for SIMILAR_TO neighbours) is kept in :attr:`IngestPass.shared`.
"""
from __future__ import annotations

import bisect
import importlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from leian.data.record import Case
from leian.data.store import Change, Store
from leian.home import Home

__all__ = ["INDEXERS", "sync_all", "IngestPass"]

#: ``"module:function"`` of every index kept in step with the store, in order.
INDEXERS: list[str] = ["leian.disputes.index:sync", "leian.search.engine:sync", "leian.graph.sync:sync"]


class IngestPass:
    """The store as the indexers of one ingest see it: one snapshot of the change log, each case decoded once.

    Every other attribute is the store's own. The log is fixed at its last
    change when the pass begins (an ingest running meanwhile in another process
    is applied by the next pass), so every indexer ends at the same watermark.
    Decoded cases are kept up to ``keep`` (a bulk load of a million cases is
    decoded again per indexer rather than held in memory).

    >>> import tempfile, pathlib
    >>> from leian.data.record import validate
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite")
    >>> _ = store.upsert_batch([validate({"id": "A1", "text": "楼上漏水"})])
    >>> one = IngestPass(store)
    >>> _ = store.upsert_batch([validate({"id": "A2", "text": "欠薪"})])
    >>> [c.case_id for c in one.changes_since(0)], one.last_change(), one.get_many(["A1"])["A1"] is one.get("A1")
    (['A1'], 1, True)
    >>> store.close()
    """

    def __init__(self, store: Store, *, keep: int = 20_000):
        self._store = store
        self._last = store.last_change()
        #: The cached log covers the changes after ``_from`` up to ``_last``.
        self._from = self._last
        self._log: list[Change] = []
        self._cases: OrderedDict[str, Case | None] = OrderedDict()
        self._keep = keep
        #: What one indexer opened for a later one (``"search_engine"``).
        self.shared: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def last_change(self) -> int:
        return self._last

    def changes_since(self, seq: int, limit: int | None = None) -> list[Change]:
        if seq < self._from:
            older = [c for c in self._store.changes_since(seq) if c.seq <= self._from]
            self._log, self._from = older + self._log, seq
        start = bisect.bisect_right(self._log, seq, key=lambda c: c.seq)
        return self._log[start : None if limit is None else start + limit]

    def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]:
        missing = [c for c in dict.fromkeys(case_ids) if c not in self._cases]
        if missing:
            found = self._store.get_many(missing)
            self._cases.update((c, found.get(c)) for c in missing)
        cases = {c: case for c in case_ids if (case := self._cases[c]) is not None}
        while len(self._cases) > self._keep:
            self._cases.popitem(last=False)
        return cases

    def get(self, case_id: str) -> Case | None:
        return self.get_many([case_id]).get(case_id)

    def close_shared(self) -> None:
        """Close what the indexers opened for each other."""
        for opened in self.shared.values():
            opened.close()
        self.shared.clear()


def sync_all(home: Home, store: Store, *, progress: bool = False, one_pass: IngestPass | None = None) -> list[str]:
    """Bring every registered index up to date with the store, in one pass; returns lines to print.

    ``one_pass``: a pass a step before already used (``leian reindex`` rebuilt the search index in it);
    closed here like a new one.
    """
    lines: list[str] = []
    one_pass = one_pass or IngestPass(store)
    try:
        for entry in INDEXERS:
            module_name, function_name = entry.split(":")
            sync = getattr(importlib.import_module(module_name), function_name)
            lines.extend(sync(home, one_pass, progress=progress))
    finally:
        one_pass.close_shared()
    return lines
