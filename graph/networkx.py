"""The embedded graph store: a networkx ``MultiDiGraph`` persisted under the LeiAn home.

Edges are keyed by their type, so one source/type/target holds one edge (as
a Neo4j ``MERGE`` would). The graph is written atomically (temporary file,
then rename) on :meth:`NetworkxGraphStore.flush`, once per sync, never per record.

Examples
--------
>>> import tempfile
>>> from leian.graph.model import Edge, Node
>>> graph = NetworkxGraphStore(tempfile.mkdtemp())
>>> graph.upsert_nodes([Node("case:A1", "Case", {"date": "2024-01-02"}), Node("party:P1", "Party", {"name": "王建国"})])
>>> graph.upsert_edges([Edge("case:A1", "INVOLVES", "party:P1", {"role": "申请人"})])
>>> graph.counts(), [e.props for e in graph.edges_touching(["party:P1"])]
((2, 1), [{'role': '申请人'}])
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import networkx

from leian.graph.base import GraphStore
from leian.graph.model import Edge, Node

__all__ = ["NetworkxGraphStore", "GRAPH_FILE"]

GRAPH_FILE = "graph.pickle"


class NetworkxGraphStore(GraphStore):
    """A networkx graph kept in memory and saved to ``<directory>/graph.pickle``."""

    name = "networkx"

    def __init__(self, directory: str | os.PathLike[str]):
        self.path = Path(directory) / GRAPH_FILE
        self.dirty = False
        if self.path.is_file():
            with self.path.open("rb") as handle:
                self.graph: networkx.MultiDiGraph = pickle.load(handle)
        else:
            self.graph = networkx.MultiDiGraph(seq=0)

    def upsert_nodes(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            self.graph.add_node(node.id)
            attributes = self.graph.nodes[node.id]
            attributes.clear()
            attributes.update(node.props, label=node.label)
        self.dirty = True

    def upsert_edges(self, edges: Iterable[Edge]) -> None:
        for edge in edges:
            for end in (edge.src, edge.dst):
                if end not in self.graph:
                    raise KeyError(f"edge {edge.src} -{edge.type}-> {edge.dst}: no node {end}")
            if self.graph.has_edge(edge.src, edge.dst, key=edge.type):
                self.graph.edges[edge.src, edge.dst, edge.type].clear()
            self.graph.add_edge(edge.src, edge.dst, key=edge.type, **edge.props)
        self.dirty = True

    def delete_nodes(self, node_ids: Sequence[str]) -> None:
        self.graph.remove_nodes_from(node_ids)
        self.dirty = True

    def delete_edges(self, src_ids: Sequence[str], types: Sequence[str]) -> None:
        wanted = set(types)
        doomed = [
            (src, dst, key)
            for src in src_ids
            if src in self.graph
            for _, dst, key in self.graph.out_edges(src, keys=True)
            if key in wanted
        ]
        self.graph.remove_edges_from(doomed)
        self.dirty = True

    def edges_touching(self, node_ids: Sequence[str], types: Sequence[str] | None = None) -> list[Edge]:
        wanted = set(types) if types else None
        found: dict[tuple[str, str, str], Edge] = {}
        for node_id in node_ids:
            if node_id not in self.graph:
                continue
            for src, dst, key, data in [
                *self.graph.out_edges(node_id, keys=True, data=True),
                *self.graph.in_edges(node_id, keys=True, data=True),
            ]:
                if wanted is None or key in wanted:
                    found[(src, key, dst)] = Edge(src, key, dst, dict(data))
        return list(found.values())

    def unreferenced(self, node_ids: Sequence[str]) -> list[str]:
        # An empty predecessor map, not in_degree: that sums the edges of every predecessor.
        return [node_id for node_id in node_ids if node_id in self.graph and not self.graph.pred[node_id]]

    def get_nodes(self, node_ids: Sequence[str]) -> dict[str, Node]:
        return {node_id: self._node(node_id) for node_id in node_ids if node_id in self.graph}

    def _node(self, node_id: str) -> Node:
        attributes = dict(self.graph.nodes[node_id])
        label = attributes.pop("label")
        return Node(node_id, label, attributes)

    def iter_nodes(self) -> Iterator[Node]:
        for node_id in list(self.graph.nodes):
            yield self._node(node_id)

    def iter_edges(self) -> Iterator[Edge]:
        for src, dst, key, data in self.graph.edges(keys=True, data=True):
            yield Edge(src, key, dst, dict(data))

    def counts(self) -> tuple[int, int]:
        return self.graph.number_of_nodes(), self.graph.number_of_edges()

    def watermark(self) -> tuple[str | None, int]:
        return self.graph.graph.get("source"), self.graph.graph.get("seq", 0)

    def set_watermark(self, source: str, seq: int) -> None:
        self.graph.graph.update(source=source, seq=seq)
        self.dirty = True

    def clear(self) -> None:
        self.graph = networkx.MultiDiGraph(seq=0)
        self.dirty = True

    def flush(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("wb") as handle:
            pickle.dump(self.graph, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, self.path)
        self.dirty = False
