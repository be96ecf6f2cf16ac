"""The embedded graph store: nodes and edges in SQLite tables, networkx for whole-graph work.

The graph lives in ``<directory>/graph.sqlite`` (WAL): a ``nodes`` table (id,
label, properties as JSON), an ``edges`` table keyed by (source, type, target)
— one edge per source, type and target, as a Neo4j ``MERGE`` makes — and a
``meta`` table holding the watermarks. Every primitive a sync uses (upsert,
delete, the edges touching some nodes, which nodes nothing points at) is an
indexed query on those tables, so a sync costs what it changes, whatever the
size of the graph; nothing is ever pickled (loading a pickle runs code).

Writes go into one transaction, begun by the first write and committed (and
fsynced, ``synchronous=FULL``) by :meth:`NetworkxGraphStore.flush` — once per
sync, watermark included. A process killed before the commit leaves the
previous graph, whose watermark says which store changes it holds; the next
sync applies the rest.

networkx stays the library for the graph as a whole: :attr:`NetworkxGraphStore.graph`
reads both tables once into a ``MultiDiGraph`` (edges keyed by type) for
algorithms and exports, on demand only — an ingest or a neighbourhood query
never loads the graph.

A home written before this format has ``graph.pickle``: it is never
unpickled (it may come from anywhere); the graph is rebuilt from the case
store by the next sync (the empty tables have no watermark) and the pickle is
deleted once the rebuilt graph is committed.

Examples
--------
>>> import tempfile
>>> from leian.graph.model import Edge, Node
>>> directory = tempfile.mkdtemp()
>>> graph = NetworkxGraphStore(directory)
>>> graph.upsert_nodes([Node("case:A1", "Case", {"date": "2024-01-02"}), Node("party:P1", "Party", {"name": "王建国"})])
>>> graph.upsert_edges([Edge("case:A1", "INVOLVES", "party:P1", {"role": "申请人"})])
>>> graph.close()
>>> again = NetworkxGraphStore(directory)
>>> again.counts(), [e.props for e in again.edges_touching(["party:P1"])]
((2, 1), [{'role': '申请人'}])
>>> sorted(again.graph.edges(keys=True))
[('case:A1', 'party:P1', 'INVOLVES')]
>>> again.close()
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leian.faults import checkpoint
from leian.graph.base import GraphStore
from leian.graph.model import Edge, Node

if TYPE_CHECKING:
    import networkx

__all__ = ["NetworkxGraphStore", "GRAPH_FILE", "LEGACY_PICKLE"]

GRAPH_FILE = "graph.sqlite"
#: The format before: the whole graph pickled on every sync. Never read; deleted once rebuilt.
LEGACY_PICKLE = "graph.pickle"
#: Ids per ``IN (...)`` list: SQLite limits the variables of one statement.
_CHUNK = 500
_PAGE = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, props TEXT NOT NULL,
    PRIMARY KEY (src, type, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges (dst, type);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def _json(props: dict[str, Any]) -> str:
    return json.dumps(props, ensure_ascii=False, separators=(",", ":"))


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))


class NetworkxGraphStore(GraphStore):
    """The embedded graph in ``<directory>/graph.sqlite``; see the module docstring."""

    name = "networkx"

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / GRAPH_FILE
        # The old pickle writer's temporary file, left by a kill: never completed, never read.
        (self.directory / "graph.tmp").unlink(missing_ok=True)
        # One connection shared by the threads of a web server: the lock keeps a write
        # transaction and the reads that belong to it together.
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        self._in_transaction = False
        self._whole: networkx.MultiDiGraph | None = None

    # -- transactions ------------------------------------------------------------

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            if not self._in_transaction:
                self._conn.execute("BEGIN IMMEDIATE")
                self._in_transaction = True
            self._conn.executemany(sql, rows)
            self._whole = None

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def flush(self) -> None:
        """Commit the open transaction (every change since the last flush, watermark included)."""
        with self._lock:
            if not self._in_transaction:
                return
            checkpoint("graph.before_commit")
            self._conn.execute("COMMIT")
            self._in_transaction = False
            if self._query("SELECT value FROM meta WHERE key = 'source'"):
                # The graph is rebuilt from the store: a pickle of the old format has nothing left to give.
                (self.directory / LEGACY_PICKLE).unlink(missing_ok=True)

    def rollback(self) -> None:
        """Drop every change since the last flush."""
        with self._lock:
            if self._in_transaction:
                self._conn.execute("ROLLBACK")
                self._in_transaction = False
                self._whole = None

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._conn.close()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        # A sync that failed half way commits nothing: the watermark still says what the graph holds.
        if exc_type is not None:
            self.rollback()
        self.close()

    # -- writes ------------------------------------------------------------------

    def upsert_nodes(self, nodes: Iterable[Node]) -> None:
        self._write("INSERT OR REPLACE INTO nodes (id, label, props) VALUES (?, ?, ?)",
                    [(node.id, node.label, _json(node.props)) for node in nodes])

    def upsert_edges(self, edges: Iterable[Edge]) -> None:
        edges = list(edges)
        ends = sorted({end for edge in edges for end in (edge.src, edge.dst)})
        present = self._existing(ends)
        for edge in edges:
            for end in (edge.src, edge.dst):
                if end not in present:
                    raise KeyError(f"edge {edge.src} -{edge.type}-> {edge.dst}: no node {end}")
        self._write("INSERT OR REPLACE INTO edges (src, type, dst, props) VALUES (?, ?, ?, ?)",
                    [(edge.src, edge.type, edge.dst, _json(edge.props)) for edge in edges])

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        for part in _chunks(list(node_ids)):
            self._write(f"DELETE FROM edges WHERE src IN ({_marks(part)})", [part])
            self._write(f"DELETE FROM edges WHERE dst IN ({_marks(part)})", [part])
            self._write(f"DELETE FROM nodes WHERE id IN ({_marks(part)})", [part])

    def delete_edges(self, src_ids: Sequence[str], types: Sequence[str]) -> None:
        types = list(types)
        for part in _chunks(list(src_ids)):
            self._write(f"DELETE FROM edges WHERE src IN ({_marks(part)}) AND type IN ({_marks(types)})", [[*part, *types]])

    def set_watermark(self, source: str, seq: int) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [("source", source), ("seq", str(seq))])

    def set_similar_seq(self, seq: int) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES ('similar_seq', ?)", [(str(seq),)])

    def set_similar_stale(self, case_ids: Iterable[str]) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES ('similar_stale', ?)", [(json.dumps(sorted(case_ids)),)])

    def clear(self) -> None:
        for table in ("edges", "nodes", "meta"):
            self._write(f"DELETE FROM {table}", [()])

    # -- reads -------------------------------------------------------------------

    def _existing(self, node_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _chunks(list(node_ids)):
            found.update(r[0] for r in self._query(f"SELECT id FROM nodes WHERE id IN ({_marks(part)})", part))
        return found

    def edges_touching(self, node_ids: Sequence[str], types: Sequence[str] | None = None) -> list[Edge]:
        found: dict[tuple[str, str, str], Edge] = {}
        of_type = f" AND type IN ({_marks(types)})" if types else ""
        for part in _chunks(list(dict.fromkeys(node_ids))):
            for end in ("src", "dst"):
                rows = self._query(f"SELECT src, type, dst, props FROM edges WHERE {end} IN ({_marks(part)}){of_type}",
                                   [*part, *(types or [])])
                for src, key, dst, props in rows:
                    found[(src, key, dst)] = Edge(src, key, dst, json.loads(props))
        return list(found.values())

    def unreferenced(self, node_ids: Sequence[str]) -> list[str]:
        present = self._existing(node_ids)
        # One indexed existence check per node: never reads a town's 100k incoming edges.
        return [node_id for node_id in node_ids if node_id in present
                and not self._query("SELECT 1 FROM edges WHERE dst = ? LIMIT 1", (node_id,))]

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]:
        found: dict[str, Node] = {}
        for part in _chunks(list(dict.fromkeys(node_ids))):
            for node_id, label, props in self._query(f"SELECT id, label, props FROM nodes WHERE id IN ({_marks(part)})", part):
                found[node_id] = Node(node_id, label, json.loads(props))
        return {node_id: found[node_id] for node_id in node_ids if node_id in found}

    def iter_nodes(self) -> Iterator[Node]:
        # Paged by key, so no cursor (nor the lock) is held between the items handed out.
        last = ""
        while rows := self._query("SELECT id, label, props FROM nodes WHERE id > ? ORDER BY id LIMIT ?", (last, _PAGE)):
            for node_id, label, props in rows:
                yield Node(node_id, label, json.loads(props))
            last = rows[-1][0]

    def iter_edges(self) -> Iterator[Edge]:
        last: tuple[str, str, str] = ("", "", "")
        while rows := self._query(
            "SELECT src, type, dst, props FROM edges WHERE (src, type, dst) > (?, ?, ?) ORDER BY src, type, dst LIMIT ?",
            (*last, _PAGE),
        ):
            for src, key, dst, props in rows:
                yield Edge(src, key, dst, json.loads(props))
            last = rows[-1][:3]

    def counts(self) -> tuple[int, int]:
        return (self._query("SELECT COUNT(*) FROM nodes")[0][0], self._query("SELECT COUNT(*) FROM edges")[0][0])

    def watermark(self) -> tuple[str | None, int]:
        meta = dict(self._query("SELECT key, value FROM meta"))
        return meta.get("source"), int(meta.get("seq", 0))

    def similar_seq(self) -> int:
        found = self._query("SELECT value FROM meta WHERE key = 'similar_seq'")
        return int(found[0][0]) if found else 0

    def similar_stale(self) -> set[str]:
        found = self._query("SELECT value FROM meta WHERE key = 'similar_stale'")
        return set(json.loads(found[0][0])) if found else set()

    @property
    def graph(self) -> networkx.MultiDiGraph:
        """The whole graph as a networkx ``MultiDiGraph`` (edges keyed by type), read from the tables once.

        Kept until the next write; the watermark is in ``graph.graph``.
        """
        import networkx  # only here: importing it costs an ingest, which never loads the whole graph, ≈ 1 s

        with self._lock:
            if self._whole is None:
                source, seq = self.watermark()
                whole = networkx.MultiDiGraph(source=source, seq=seq)
                for node in self.iter_nodes():
                    whole.add_node(node.id, label=node.label, **node.props)
                for edge in self.iter_edges():
                    whole.add_edge(edge.src, edge.dst, key=edge.type, **edge.props)
                self._whole = whole
            return self._whole
