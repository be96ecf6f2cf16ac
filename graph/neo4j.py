"""The Neo4j graph store, through the official ``neo4j`` driver (Neo4j 5, or any Bolt server speaking its Cypher).

Standard Cypher only (no APOC, no full-text indexes). Lookups by id are
written ``UNWIND $ids AS x MATCH (n:Label {id: x})`` rather than
``WHERE n.id IN $ids``: ArcadeDB answers the first from the unique index and
scans every node of the label for the second. Every value travels as
a query parameter; labels and relationship types are never user data, they
come from the fixed model (:data:`~leian.graph.model.LABELS`,
:data:`~leian.graph.model.EDGE_TYPES`) and are checked against it before they
are written into a query. Uniqueness constraints (which bring their indexes)
are created before anything is loaded; writes are batched ``UNWIND … MERGE``
in managed transactions, retried on transient errors and on the
constraint race two concurrent ``MERGE`` of one key can hit.

Credentials come from ``LEIAN_NEO4J_USER`` / ``LEIAN_NEO4J_PASSWORD`` (or the
URI's ``user:password@``); the database from ``LEIAN_NEO4J_DATABASE`` or the
URI path (``bolt://host:7687/leian``).
"""
from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from neo4j import GraphDatabase
from neo4j.exceptions import ConstraintError, ServiceUnavailable, SessionExpired, TransientError

from leian.graph.base import GraphStore
from leian.graph.model import EDGE_TYPES, LABELS, Edge, Node, label_of

__all__ = [
    "Neo4jGraphStore",
    "connection_settings",
    "schema_statements",
    "node_merge_query",
    "edge_merge_query",
    "USER_ENV", "PASSWORD_ENV", "DATABASE_ENV"]

USER_ENV = "LEIAN_NEO4J_USER"
PASSWORD_ENV = "LEIAN_NEO4J_PASSWORD"
DATABASE_ENV = "LEIAN_NEO4J_DATABASE"
META_LABEL = "LeianMeta"
_BATCH = 1000
_ATTEMPTS = 5
_RETRIED = (TransientError, ConstraintError, ServiceUnavailable, SessionExpired)


def connection_settings(uri: str) -> tuple[str, tuple[str, str] | None, str | None]:
    """(URI without credentials or path, auth, database) from a URI and the environment.

    >>> connection_settings("bolt://neo:secret@db.example:7687/leian")
    ('bolt://db.example:7687', ('neo', 'secret'), 'leian')
    """
    parts = urlsplit(uri)
    user = parts.username or os.environ.get(USER_ENV)
    password = parts.password or os.environ.get(PASSWORD_ENV)
    database = parts.path.strip("/") or os.environ.get(DATABASE_ENV) or None
    host = parts.hostname or "localhost"
    netloc = f"{host}:{parts.port}" if parts.port else host
    auth = (user, password or "") if user else None
    return urlunsplit((parts.scheme, netloc, "", "", "")), auth, database


def _label(label: str) -> str:
    if label not in LABELS and label != META_LABEL:
        raise ValueError(f"not a graph label: {label!r}")
    return label


def _edge_type(edge_type: str) -> str:
    if edge_type not in EDGE_TYPES:
        raise ValueError(f"not a graph edge type: {edge_type!r}")
    return edge_type


def schema_statements() -> list[str]:
    """Uniqueness constraints on ``id`` for every label (they bring their indexes), plus lookup indexes."""
    statements = [
        f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{_label(label)}) REQUIRE n.id IS UNIQUE"
        for label in [*LABELS, META_LABEL]
    ]
    statements.append("CREATE INDEX case_date IF NOT EXISTS FOR (n:Case) ON (n.date)")
    statements.append("CREATE INDEX party_name IF NOT EXISTS FOR (n:Party) ON (n.name)")
    return statements


def node_merge_query(label: str, rows: str = "$rows") -> str:
    """``UNWIND rows MERGE`` of nodes of one label; each row is the node's properties with its ``id``."""
    return f"UNWIND {rows} AS row MERGE (n:{_label(label)} {{id: row.id}}) SET n = row"


def edge_merge_query(src_label: str, edge_type: str, dst_label: str, rows: str = "$rows") -> str:
    """``UNWIND rows MERGE`` of edges of one type; each row is ``{src, dst, props}``."""
    return (
        f"UNWIND {rows} AS row MATCH (a:{_label(src_label)} {{id: row.src}}) MATCH (b:{_label(dst_label)} {{id: row.dst}}) "
        f"MERGE (a)-[r:{_edge_type(edge_type)}]->(b) SET r = row.props"
    )


class Neo4jGraphStore(GraphStore):
    """A graph kept in a Neo4j-compatible server over Bolt."""

    def __init__(self, uri: str):
        address, auth, database = connection_settings(uri)
        self.name = address + (f"/{database}" if database else "")
        self.database = database
        self.driver = GraphDatabase.driver(address, auth=auth)
        try:
            self.driver.verify_connectivity()
        except Exception:
            self.driver.close()
            raise
        self.ensure_schema()

    # -- plumbing ------------------------------------------------------------

    def write(self, query: str, **params: Any) -> None:
        """Run one write query (parameters for every value) in a retried transaction."""
        self._retry(lambda tx: tx.run(query, **params).consume(), write=True)

    def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        return self._retry(lambda tx: tx.run(query, **params).data(), write=False)

    def _retry(self, work, *, write: bool):
        """Run ``work`` in a managed transaction, retrying transient and constraint-race errors."""
        for attempt in range(_ATTEMPTS):
            try:
                with self.driver.session(database=self.database) as session:
                    run = session.execute_write if write else session.execute_read
                    return run(work)
            except _RETRIED:
                if attempt == _ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * 2**attempt)
        raise AssertionError("unreachable")

    def ensure_schema(self) -> None:
        """Constraints and indexes first: MERGE on an unindexed key scans every node."""
        for statement in schema_statements():
            self.write(statement)

    # -- GraphStore ----------------------------------------------------------

    def upsert_nodes(self, nodes: Iterable[Node]) -> None:
        by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for node in nodes:
            by_label[node.label].append({**node.props, "id": node.id})
        for label, rows in by_label.items():
            for start in range(0, len(rows), _BATCH):
                self.write(node_merge_query(label), rows=rows[start : start + _BATCH])

    def upsert_edges(self, edges: Iterable[Edge]) -> None:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for edge in edges:
            key = (label_of(edge.src), edge.type, label_of(edge.dst))
            groups[key].append({"src": edge.src, "dst": edge.dst, "props": edge.props})
        for (src_label, edge_type, dst_label), rows in groups.items():
            query = edge_merge_query(src_label, edge_type, dst_label)
            for start in range(0, len(rows), _BATCH):
                self.write(query, rows=rows[start : start + _BATCH])

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        for label, ids in _by_label(node_ids).items():
            self.write(f"UNWIND $ids AS x MATCH (n:{label} {{id: x}}) DETACH DELETE n", ids=ids)

    def delete_edges(self, src_ids: Sequence[str], types: Sequence[str]) -> None:
        for label, ids in _by_label(src_ids).items():
            for edge_type in types:
                self.write(
                    f"UNWIND $ids AS x MATCH (a:{label} {{id: x}})-[r:{_edge_type(edge_type)}]->() DELETE r", ids=ids
                )

    def edges_touching(self, node_ids: Sequence[str], types: Sequence[str] | None = None) -> list[Edge]:
        found: dict[tuple[str, str, str], Edge] = {}
        for label, ids in _by_label(node_ids).items():
            rows = self._read(
                f"UNWIND $ids AS x MATCH (a:{label} {{id: x}})-[r]-(b) "
                "RETURN startNode(r).id AS src, type(r) AS type, endNode(r).id AS dst, properties(r) AS props",
                ids=ids,
            )
            for row in rows:
                if types is None or row["type"] in types:
                    found[(row["src"], row["type"], row["dst"])] = Edge(row["src"], row["type"], row["dst"], row["props"])
        return list(found.values())

    def unreferenced(self, node_ids: Sequence[str]) -> list[str]:
        found: set[str] = set()
        for label, ids in _by_label(node_ids).items():
            # EXISTS stops at the first incoming edge (ArcadeDB too), where a count would read them all.
            rows = self._read(
                f"UNWIND $ids AS x MATCH (n:{label} {{id: x}}) WHERE NOT EXISTS {{ MATCH (n)<--() }} RETURN n.id AS id",
                ids=ids,
            )
            found.update(row["id"] for row in rows)
        return [node_id for node_id in node_ids if node_id in found]

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]:
        found: dict[str, Node] = {}
        for label, ids in _by_label(node_ids).items():
            for row in self._read(f"UNWIND $ids AS x MATCH (n:{label} {{id: x}}) RETURN properties(n) AS props", ids=ids):
                props = dict(row["props"])
                node_id = props.pop("id")
                found[node_id] = Node(node_id, label, props)
        return found

    def iter_nodes(self) -> Iterator[Node]:
        for label in LABELS:
            last = ""
            while True:
                rows = self._read(
                    f"MATCH (n:{label}) WHERE n.id > $last RETURN properties(n) AS props ORDER BY n.id LIMIT $limit",
                    last=last,
                    limit=_BATCH * 10,
                )
                for row in rows:
                    props = dict(row["props"])
                    node_id = props.pop("id")
                    yield Node(node_id, label, props)
                if len(rows) < _BATCH * 10:
                    break
                last = rows[-1]["props"]["id"]

    def iter_edges(self) -> Iterator[Edge]:
        for edge_type, (src_label, _) in EDGE_TYPES.items():
            last = ""
            while True:
                rows = self._read(
                    f"MATCH (a:{src_label})-[r:{edge_type}]->(b) WHERE a.id > $last WITH DISTINCT a ORDER BY a.id LIMIT $limit "
                    f"MATCH (a)-[r:{edge_type}]->(b) RETURN a.id AS src, b.id AS dst, properties(r) AS props",
                    last=last,
                    limit=_BATCH,
                )
                for row in rows:
                    yield Edge(row["src"], edge_type, row["dst"], row["props"])
                if not rows:
                    break
                last = max(row["src"] for row in rows)

    def counts(self) -> tuple[int, int]:
        nodes = sum(self._read(f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"] for label in LABELS)
        edges = sum(self._read(f"MATCH ()-[r:{edge_type}]->() RETURN count(r) AS n")[0]["n"] for edge_type in EDGE_TYPES)
        return nodes, edges

    def watermark(self) -> tuple[str | None, int]:
        rows = self._read(f"MATCH (m:{META_LABEL} {{id: 'leian'}}) RETURN m.source AS source, m.seq AS seq")
        return (rows[0]["source"], int(rows[0]["seq"])) if rows else (None, 0)

    def set_watermark(self, source: str, seq: int) -> None:
        self.write(f"MERGE (m:{META_LABEL} {{id: 'leian'}}) SET m.source = $source, m.seq = $seq", source=source, seq=seq)

    def similar_seq(self) -> int:
        rows = self._read(f"MATCH (m:{META_LABEL} {{id: 'leian'}}) RETURN m.similar_seq AS seq")
        return int(rows[0]["seq"] or 0) if rows else 0

    def set_similar_seq(self, seq: int) -> None:
        self.write(f"MERGE (m:{META_LABEL} {{id: 'leian'}}) SET m.similar_seq = $seq", seq=seq)

    def similar_stale(self) -> set[str]:
        rows = self._read(f"MATCH (m:{META_LABEL} {{id: 'leian'}}) RETURN m.similar_stale AS ids")
        return set(rows[0]["ids"] or []) if rows else set()

    def set_similar_stale(self, case_ids: Iterable[str]) -> None:
        self.write(f"MERGE (m:{META_LABEL} {{id: 'leian'}}) SET m.similar_stale = $ids", ids=sorted(case_ids))

    def clear(self) -> None:
        for label in [*LABELS, META_LABEL]:
            self.write(f"MATCH (n:{label}) DETACH DELETE n")

    def close(self) -> None:
        self.driver.close()


def _by_label(node_ids: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for node_id in node_ids:
        groups[_label(label_of(node_id))].append(node_id)
    return groups
