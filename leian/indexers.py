"""Indexes derived from the store (search index, graph) and how they catch up with it.

Each entry names a ``sync(home, store, progress) -> list[str]`` function that
applies the store's change log since its own watermark and returns lines worth
printing (for example a repeat dispute flagged at ingest). ``leian ingest``
runs them all after the store is written, so new cases are searchable at once.
"""
from __future__ import annotations

import importlib

from leian.data.store import Store
from leian.home import Home

__all__ = ["INDEXERS", "sync_all"]

#: ``"module:function"`` of every index kept in step with the store, in order.
INDEXERS: list[str] = ["leian.disputes.index:sync", "leian.search.engine:sync", "leian.graph.sync:sync"]


def sync_all(home: Home, store: Store, *, progress: bool = False) -> list[str]:
    """Bring every registered index up to date with the store; returns lines to print."""
    lines: list[str] = []
    for entry in INDEXERS:
        module_name, function_name = entry.split(":")
        sync = getattr(importlib.import_module(module_name), function_name)
        lines.extend(sync(home, store, progress=progress))
    return lines
