"""Named crash points for the kill -9 tests: :func:`checkpoint` kills the process where a test asks it to.

A test starts a process (``leian ingest``, ``leian serve``) with ``LEIAN_KILL_AT`` set
to one of :data:`POINTS`; the process sends itself SIGKILL the first time it reaches
that point, so the kill lands exactly there without timing or sleeps
(``tests/test_crash.py``). Unset, as in production, a checkpoint is one
environment look-up and does nothing.

>>> checkpoint("store.batch_committed")  # LEIAN_KILL_AT is not set: nothing happens
"""
from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "checkpoint"]

#: Every crash point, and where it sits.
POINTS = {
    "store.batch_committed": "an ingest batch is committed to the store, the following batches are not",
    "vectors.main_written": "a new main vector segment is on disk (a first save or a compaction), the manifest still names the old one",
    "vectors.segment_written": "a delta vector segment is on disk, the manifest does not name it yet",
    "bm25.saved": "a BM25 main segment is written in its temporary folder, not yet renamed into place",
    "index.manifest_written": "the search index's new manifest is in place, the files it replaced not yet removed",
    "graph.before_commit": "a graph sync has written everything inside its one transaction, not yet committed",
}


def checkpoint(name: str) -> None:
    """Kill this process with SIGKILL when ``LEIAN_KILL_AT`` names ``name`` (a test's crash point)."""
    if os.environ.get("LEIAN_KILL_AT") == name:
        assert name in POINTS, f"unknown crash point {name!r}"
        os.kill(os.getpid(), signal.SIGKILL)
