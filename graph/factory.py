"""Choose the graph store: the embedded networkx store, or a Neo4j server when a Bolt URI is configured.

The URI comes from ``--graph`` on the command line, else ``[graph] uri`` in
``<home>/config.toml``, else the embedded store under ``<home>/graph``.

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> home = Home.resolve(tempfile.mkdtemp())
>>> graph_uri(home, None) is None, graph_uri(home, "bolt://db:7687")
(True, 'bolt://db:7687')
>>> open_graph(home).name
'networkx'
"""
from __future__ import annotations

from leian.graph.base import GraphStore
from leian.home import Home
from leian.settings import BOLT_SCHEMES

__all__ = ["open_graph", "graph_uri", "BOLT_SCHEMES"]



def graph_uri(home: Home, uri: str | None) -> str | None:
    """The configured Bolt URI, or None for the embedded store."""
    return uri or home.settings.graph.uri


def open_graph(home: Home, uri: str | None = None) -> GraphStore:
    """Open the configured graph store.

    Raises:
        ValueError: for a URI that is not a Bolt/Neo4j URI.
    """
    uri = graph_uri(home, uri)
    if uri is None:
        from leian.graph.networkx import NetworkxGraphStore

        return NetworkxGraphStore(home.graph_dir)
    if not uri.startswith(BOLT_SCHEMES):
        raise ValueError(f"图谱地址 {uri!r} 无效：应为 bolt://host:7687 或 neo4j://host:7687")
    from leian.graph.neo4j import Neo4jGraphStore

    return Neo4jGraphStore(uri)
