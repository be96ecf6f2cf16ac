"""The graph store interface, shared by the embedded networkx store and the Neo4j store.

A backend implements a handful of primitives (upsert, delete, edges touching
some nodes, which nodes nothing points at, iteration, a watermark);
everything built on them, such as neighbourhood queries and bulk copies,
lives here once.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence

from leian.graph.model import Edge, Node, label_of

__all__ = ["GraphStore", "EXPAND_LABELS"]

#: Labels a neighbourhood walk passes through. Places, types, channels and
#: mediators are shown but not expanded: each is a hub joining thousands of cases.
EXPAND_LABELS = frozenset({"Case", "Party"})


class GraphStore(ABC):
    """A property graph of :class:`~leian.graph.model.Node` and :class:`~leian.graph.model.Edge`."""

    #: Human-readable backend name ("networkx", "bolt://...").
    name: str = ""

    @abstractmethod
    def upsert_nodes(self, nodes: Iterable[Node]) -> None:
        """Create nodes or replace their properties."""

    @abstractmethod
    def upsert_edges(self, edges: Iterable[Edge]) -> None:
        """Create edges (one per source, type and target) or replace their properties."""

    @abstractmethod
    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        """Delete nodes and every edge touching them."""

    @abstractmethod
    def delete_edges(self, src_ids: Sequence[str], types: Sequence[str]) -> None:
        """Delete the outgoing edges of the given types from the given nodes."""

    @abstractmethod
    def edges_touching(self, node_ids: Sequence[str], types: Sequence[str] | None = None) -> list[Edge]:
        """Edges into or out of the given nodes, optionally of some types only."""

    @abstractmethod
    def unreferenced(self, node_ids: Sequence[str]) -> list[str]:
        """The given nodes that exist and have no incoming edge, in the given order.

        Decided without reading a node's incoming edges: a town may have 100k.
        """

    @abstractmethod
    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]:
        """Nodes by id; missing ids are absent."""

    @abstractmethod
    def iter_nodes(self) -> Iterator[Node]: ...

    @abstractmethod
    def iter_edges(self) -> Iterator[Edge]: ...

    @abstractmethod
    def counts(self) -> tuple[int, int]:
        """(nodes, edges)."""

    @abstractmethod
    def watermark(self) -> tuple[str | None, int]:
        """(the case store this graph was built from, the last change of it applied)."""

    @abstractmethod
    def set_watermark(self, source: str, seq: int) -> None: ...

    @abstractmethod
    def similar_seq(self) -> int:
        """The store change up to which every changed case's SIMILAR_TO edges were taken from the search index.

        Behind the watermark when a sync ran without a search index (``ingest --no-index``, a crash
        between the search and graph steps): the next sync with one catches those cases up.
        """

    @abstractmethod
    def set_similar_seq(self, seq: int) -> None: ...

    @abstractmethod
    def similar_stale(self) -> set[str]:
        """Cases whose SIMILAR_TO edges led to a case deleted since they were last taken: taken again next time.

        Kept in the graph, written before the deleted case's node (and the edges to it) go, because
        only those edges said who pointed at it: a sync without a search index, or one killed before
        linking, leaves them here for the next sync with one.
        """

    @abstractmethod
    def set_similar_stale(self, case_ids: Iterable[str]) -> None: ...

    @abstractmethod
    def clear(self) -> None:
        """Remove every node, edge and both watermarks."""

    def flush(self) -> None:
        """Make applied changes durable (a no-op where every write already is)."""

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def neighborhood(self, node_id: str, hops: int = 2, *, per_node: int = 200) -> tuple[dict[str, Node], list[Edge]]:
        """Nodes and edges within ``hops`` of a node, walking only through cases and parties.

        ``per_node`` caps how many edges of one node are followed, so a busy
        party (a property company in a thousand cases) stays readable.
        """
        seen = {node_id}
        edges: dict[tuple[str, str, str], Edge] = {}
        frontier = [node_id]
        for _ in range(hops):
            touching = self.edges_touching(frontier)
            frontier_ids = set(frontier)
            counted: dict[str, int] = {}
            next_frontier: list[str] = []
            for edge in touching:
                near = edge.src if edge.src in frontier_ids else edge.dst
                far = edge.dst if near == edge.src else edge.src
                counted[near] = counted.get(near, 0) + 1
                if counted[near] > per_node:
                    continue
                edges[(edge.src, edge.type, edge.dst)] = edge
                if far not in seen:
                    seen.add(far)
                    if label_of(far) in EXPAND_LABELS:
                        next_frontier.append(far)
            frontier = next_frontier
            if not frontier:
                break
        return self.get_nodes(sorted(seen)), list(edges.values())

    def load(self, nodes: Iterable[Node], edges: Iterable[Edge], batch_size: int = 5000) -> None:
        """Bulk copy nodes, then edges (all nodes first, so every edge finds its ends)."""
        for batch in _batches(nodes, batch_size):
            self.upsert_nodes(batch)
        for batch in _batches(edges, batch_size):
            self.upsert_edges(batch)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
