"""What every request of a web process shares: the Python API over the home, the accounts and the ingest jobs.

:class:`Services` is a :class:`leian.api.LeiAn` (so a page, the JSON API and
the ``leian`` command ask the same methods for the same answer) that the
request threads share: each engine is loaded once per process under its own
lock, and the search engine follows another process's ingest in memory.
Requests only read: the change log is applied to party resolution by the
ingest job of the upload page and by ``leian ingest``, never by a request.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from leian.api import LeiAn
from leian.errorlog import record_bug
from leian.home import Home
from leian.web.accounts import Accounts
from leian.web.jobs import IngestJobs

if TYPE_CHECKING:
    from leian.graph.alert import PartyIndex
    from leian.graph.base import GraphStore
    from leian.library.store import Libraries
    from leian.search.engine import SearchEngine

__all__ = ["Services"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)


class Services(LeiAn):
    """The facade over ``home`` shared by a web process's request threads, with its accounts and ingest jobs."""

    def __init__(self, home: Home):
        super().__init__(home, home.open_store())
        self.accounts = Accounts(self.store)
        self.jobs = IngestJobs(home)
        self._lock = threading.Lock()
        self._shared: dict[str, Any] = {}
        self._loading: dict[str, threading.Lock] = {}
        #: Set while :meth:`start_catch_up` brings the indexes and the graph up to date with the store.
        self.updating = threading.Event()

    def start_catch_up(self) -> threading.Thread:
        """Bring every index and the graph up to date with the store in a background thread; the server answers meanwhile.

        What a server killed during an upload left behind (cases stored, the search index, the graph and
        its SIMILAR_TO edges behind them) is caught up as the next ingest would, without holding the port
        closed; an upload started meanwhile waits for it (the store has one writer). Then the search
        engine is loaded, so the first search does not wait for the model.
        """
        self.updating.set()
        thread = threading.Thread(target=self._catch_up, name="catch-up", daemon=True)
        thread.start()
        return thread

    def _catch_up(self) -> None:
        try:
            with self.jobs.run_lock:
                self.index()
                self.reset_engines()
            if self.store.count():
                self.engine
        except Exception as exc:  # noqa: BLE001 - the server keeps answering; the next ingest catches up again
            bug = record_bug(exc, self.home.root, where="start-up catch-up")
            _log.error("catching the indexes up at start-up failed: %s (traceback in %s)", bug.id, bug.path)
        finally:
            self.updating.clear()

    def shared(self, name: str, load: Callable[[], _T]) -> _T:
        """The engine or answer called ``name``, built by ``load()`` once per process.

        Each name has its own loading lock, so a slow load (the model) never holds up another engine.
        """
        with self._lock:
            if name in self._shared:
                return self._shared[name]
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:
            with self._lock:
                if name in self._shared:
                    return self._shared[name]
            built = load()
            with self._lock:
                self._shared[name] = built
            return built

    def forget(self, *names: str) -> None:
        """Drop these engines; each is loaded again on next use."""
        with self._lock:
            for name in names:
                self._shared.pop(name, None)

    def reset_engines(self) -> None:
        """Forget every engine built from the data after it changed.

        The libraries only wrap the store, and the search engine follows the change log by itself.
        """
        self.forget(*(name for name in list(self._shared) if name not in ("libraries", "search")))

    @property
    def engine(self) -> SearchEngine:
        """The search engine, loaded once (model and indexes) and shared by every request.

        Cases another process (``leian ingest``) has stored since are applied from the
        change log in memory (their vectors come from the embedding cache that ingest
        filled), never by loading the indexes again.
        """
        from leian.search.engine import SearchEngine

        engine = self.shared("search", lambda: SearchEngine(self.home, store=self.store))
        self._engine = engine  # the encoder of the facade is this engine's
        if self.store.last_change() > engine.seq and engine.catch_up(persist=False, wait=False):
            self.forget("clusters", "clusters_masked")
        return engine

    @contextmanager
    def _graph_to_read(self) -> Iterator[GraphStore]:
        """The graph, opened once and left open (a request reads it, never catches it up); opened again when an
        ingest elsewhere (the CLI) has moved past it."""
        from leian.graph.factory import open_graph

        graph = self.shared("graph", lambda: open_graph(self.home))
        latest = self.store.last_change()
        # Reopened at most once per change of the store (a home ingested with --no-index stays behind).
        if graph.watermark()[1] < latest and self.shared("graph_checked_at", lambda: latest) < latest:
            self.forget("graph", "graph_checked_at")
            graph = self.shared("graph", lambda: open_graph(self.home))
            self.shared("graph_checked_at", lambda: latest)
        yield graph

    def resolve(self, *, progress: bool = False) -> list[str]:
        """Nothing: a request only reads; the ingest job (:meth:`index`) and ``leian ingest`` resolve parties."""
        return []

    def party_index(self) -> PartyIndex:
        """The repeat alert's automaton of party names and addresses, built once per process (until an ingest)."""
        from leian.graph.alert import PartyIndex

        return self.shared("party_index", lambda: PartyIndex(self.store))

    def libraries(self) -> Libraries:
        """The case libraries, one object for every request."""
        return self.shared("libraries", super().libraries)
