"""Keep the graph in step with the case store (the indexer ``leian.graph.sync:sync``).

After every ingest: entity resolution and repeat links catch up with the
store's change log (:func:`~leian.graph.repeats.resolve_changes`), then the
graph store applies the same changes since its own watermark — per changed
case its case-owned edges are rewritten, the parties it touches (before and
after) refreshed, the places, mediators, types, channels and elements it stopped
pointing at deleted once no case uses them, the repeat chains it is part of
re-linked, and its SIMILAR_TO edges taken from the search index when there
is one — together with those of every other case whose nearest cases it
enters or leaves, so each case's SIMILAR_TO edges are always its nearest
cases in the index as it is now, whatever the order the cases came in (an
incremental graph equals a fresh build, SIMILAR_TO edges included).

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> from leian.data.record import validate
>>> home = Home.resolve(tempfile.mkdtemp())
>>> store = home.open_store()
>>> _ = store.upsert_batch([
...     validate({"id": "A1", "text": "漏水", "occurred_on": "2024-01-05", "location": {"town": "三灶镇"},
...               "parties": [{"name": "王建国", "phone": "138-0000-1111"}, {"name": "李娜"}]}),
...     validate({"id": "A2", "text": "又漏水", "occurred_on": "2024-06-01", "location": {"town": "三灶镇"},
...               "parties": [{"name": "王 建國", "phone": "+8613800001111"}, {"name": "李娜"}]})])
>>> sync(home, store)
['重复纠纷链（同一对当事人，2件）：A1 → A2；当事人 王建国/李娜；本次新增 A1、A2']
>>> store.close()
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

from leian.data.store import Store
from leian.graph.base import GraphStore
from leian.graph.factory import open_graph
from leian.graph.model import CASE_OWNED_EDGES, Edge, Node, case_node_id, case_subgraph, label_of, party_node_id, plain_id
from leian.graph.repeats import chain_of, resolve_changes
from leian.graph.resolve import Entity, Resolver
from leian.graph.risk import refresh_facts
from leian.home import Home
from leian.progress import progress_bar

__all__ = ["sync", "catch_up", "apply_changes", "party_node", "Similar", "SimilarFn", "similar_source"]

#: ``neighbors(case_id) -> [(case_id, score), ...]`` above the calibrated threshold.
SimilarFn = Callable[[str], list[tuple[str, float]]]


class Similar(NamedTuple):
    """Where SIMILAR_TO edges come from (the search index, :func:`similar_source`)."""

    #: A case's own nearest cases, at most ``top``.
    neighbors: SimilarFn
    #: The other cases whose nearest cases may include this one, with the score they give it; None: only
    #: the changed cases are linked again (a fixed stand-in for the index).
    linked_by: SimilarFn | None = None
    top: int = 0

_BATCH = 1000
#: Nodes that exist only because cases point at them (directly or up a PART_OF / MEMBER_OF /
#: SUBTYPE_OF chain): deleted once nothing does, as a fresh build would never have made them.
_PRUNED_LABELS = frozenset({"Location", "Mediator", "Organization", "DisputeType", "Channel", "Element"})


def sync(home: Home, store: Store, *, progress: bool = False, uri: str | None = None) -> list[str]:
    """Bring resolution, repeat flags, the 风险台账 facts and the graph up to date; returns repeat notices to print."""
    notices = resolve_changes(store, progress=progress, settings=home.settings.repeats)
    refresh_facts(store, progress=progress)
    with open_graph(home, uri) as graph:
        catch_up(graph, home, store, progress=progress)
    return notices


def catch_up(graph: GraphStore, home: Home, store: Store, *, progress: bool = False) -> int:
    """Apply the store's changes to an open graph, SIMILAR_TO edges included when there is a search index.

    What every command that reads the graph calls first (entity resolution already caught up).
    """
    return apply_changes(graph, store, progress=progress, similar=similar_source(home, store))


def similar_source(home: Home, store: Store) -> Similar | None:
    """Dense neighbours from the search index (both ways), or None while no search index is built.

    Runs after the search indexer (see ``leian.indexers``), so the index already
    holds the changed cases; a case the index lacks simply gets no SIMILAR_TO edges.
    Within :func:`leian.indexers.sync_all` the search step's engine is reused.
    """
    try:
        from leian.search.engine import MANIFEST, NotIndexed, SearchEngine
    except ImportError:
        return None
    if not (home.index_dir / MANIFEST).is_file():
        return None
    # How many similar cases each case links to and the cosine they must reach: [graph] in leian.settings.
    threshold, top = home.settings.graph.similar_threshold, home.settings.graph.similar_top

    @functools.cache
    def engine() -> SearchEngine:
        """The engine this ingest's search step opened, else one opened on the first look-up
        (a sync with no new case needs none)."""
        shared = getattr(store, "shared", None)  # one ingest's pass (leian.indexers.IngestPass)
        if shared is None:
            return SearchEngine(home, store=store)
        if "search_engine" not in shared:
            shared["search_engine"] = SearchEngine(home, store=store)
        return shared["search_engine"]

    def neighbors(case_id: str) -> list[tuple[str, float]]:
        try:
            found = engine().neighbors(case_id, top)
        except NotIndexed:
            return []
        return [(other, score) for other, score in found if score >= threshold]

    def linked_by(case_id: str) -> list[tuple[str, float]]:
        return engine().linked_by(case_id, threshold)

    return Similar(neighbors, linked_by, top)


def party_node(entity: Entity) -> Node:
    """The Party node of a resolved entity: its usual name, every source spelling, why it was merged."""
    return Node(
        party_node_id(entity.entity_id),
        "Party",
        {
            "name": entity.name,
            "kind": entity.kind,
            "names": entity.names,
            "reasons": entity.reasons,
            "case_count": len(entity.case_ids),
        },
    )


def apply_changes(
    graph: GraphStore, store: Store, *, progress: bool = False, similar: Similar | SimilarFn | None = None, batch_size: int = _BATCH
) -> int:
    """Apply store changes after the graph's watermark, ``batch_size`` at a time; returns how many were applied.

    ``similar``: where SIMILAR_TO edges come from (a bare function: a case's neighbours, the changed cases alone linked).
    """
    if similar is not None and not isinstance(similar, Similar):
        similar = Similar(similar)
    resolver = Resolver(store)
    source = resolver.store_id()
    built_from, seq = graph.watermark()
    if built_from != source:
        # A graph built from another case store (or none): rebuild it from this one.
        graph.clear()
        seq = 0
    changes = store.changes_since(seq)
    # Cases no one changed whose parties resolution moved to another entity (it reconciles whole components).
    changed = {c.case_id for c in changes}
    moved = [r[0] for r in store.conn.execute("SELECT case_id FROM graph_moved WHERE seq > ? ORDER BY case_id", (seq,))
             if r[0] not in changed]
    bar = progress_bar(len(changes), f"写入图谱（{graph.name}）", enabled=progress)
    for start in range(0, len(moved), batch_size):
        _apply_batch(graph, store, resolver, moved[start : start + batch_size])
    for start in range(0, len(changes), batch_size):
        batch = changes[start : start + batch_size]
        _apply_batch(graph, store, resolver, list(dict.fromkeys(c.case_id for c in batch)))
        graph.set_watermark(source, batch[-1].seq)
        bar.update(len(batch))
    bar.close()
    if similar is not None:
        # Last, when every changed case is in the graph (neighbours may come later in the log), and for
        # every case changed since SIMILAR_TO edges were last taken: this sync's, and those of syncs
        # that had no search index to ask (a graph synced while there was none, a crash between the two steps),
        # with the cases whose edges led to a case deleted meanwhile (kept in the graph, `similar_stale`).
        applied = changes[-1].seq if changes else seq
        since, stale = graph.similar_seq(), graph.similar_stale()
        if since < applied or stale:
            pending = list(dict.fromkeys(c.case_id for c in store.changes_since(since) if c.seq <= applied))
            pending = _similar_affected(graph, store, pending, stale, similar)
            linking = progress_bar(len(pending), "图谱相似案件", enabled=progress)
            for start in range(0, len(pending), batch_size):
                _link_similar(graph, pending[start : start + batch_size], similar)
                linking.update(len(pending[start : start + batch_size]))
            linking.close()
            graph.set_similar_seq(applied)
            if stale:
                graph.set_similar_stale(())
    graph.flush()
    return len(changes)


def _apply_batch(graph: GraphStore, store: Store, resolver: Resolver, case_ids: Sequence[str]) -> None:
    """Rewrite the given cases' part of the graph."""
    cases = store.get_many(case_ids)
    case_nodes = [case_node_id(c) for c in case_ids]
    before = graph.edges_touching(case_nodes, [*CASE_OWNED_EDGES, "REPEAT_OF"])
    graph.delete_edges(case_nodes, CASE_OWNED_EDGES)
    deleted = [case_node_id(c) for c in case_ids if c not in cases]
    gone = set(deleted)
    # The cases whose SIMILAR_TO edges led to a deleted case are linked again: noted before the edges go with its node.
    bereft = {plain_id(e.src) for e in graph.edges_touching(deleted, ["SIMILAR_TO"]) if e.dst in gone} - set(case_ids) if deleted else set()
    if bereft:
        graph.set_similar_stale(graph.similar_stale() | bereft)
    graph.delete_nodes(deleted)

    mentions = {case_id: resolver.case_mentions(case_id) for case_id in cases}
    entity_ids = {plain_id(e.dst) for e in before if e.type == "INVOLVES"}
    entity_ids |= {m.entity_id for ms in mentions.values() for m in ms}
    entities = resolver.entities(entity_ids)
    graph.delete_nodes([party_node_id(e) for e in entity_ids if e not in entities])

    nodes: dict[str, Node] = {party_node_id(e): party_node(entity) for e, entity in entities.items()}
    edges: list[Edge] = []
    for case_id, case in cases.items():
        part = case_subgraph(case, [party_node_id(m.entity_id) for m in mentions[case_id]])
        nodes.update((n.id, n) for n in part.nodes)
        edges.extend(part.edges)
    graph.upsert_nodes(nodes.values())
    graph.upsert_edges(edges)
    pointed_at = {e.dst for e in before if e.type in CASE_OWNED_EDGES} - {e.dst for e in edges}
    _prune(graph, pointed_at)

    linked = {plain_id(e.src) for e in before if e.type == "REPEAT_OF"} | {plain_id(e.dst) for e in before if e.type == "REPEAT_OF"}
    _relink_repeats(graph, store, (set(cases) | linked) - (set(case_ids) - set(cases)))


def _similar_affected(graph: GraphStore, store: Store, pending: list[str], stale: set[str], similar: Similar) -> list[str]:
    """The changed cases, and every other case whose nearest cases they enter or leave: all whose SIMILAR_TO edges are taken again.

    A case leaves another's nearest when it changes (that one has an edge to it) or goes (that one is
    ``stale``); it enters them when that one scores it at the threshold and at least as high as its weakest
    edge (or has fewer than ``top``). When every stored case is pending (a fresh build) there is nobody else.
    """
    if similar.linked_by is None:
        return list(dict.fromkeys([*pending, *sorted(stale)]))
    nodes = [case_node_id(c) for c in pending]
    in_graph = graph.get_nodes(nodes)
    present = [c for c in pending if case_node_id(c) in in_graph]
    if len(present) >= store.count():
        return pending
    affected = dict.fromkeys(pending)
    into = set(nodes)
    affected.update(dict.fromkeys(sorted(stale | {plain_id(e.src) for e in graph.edges_touching(nodes, ["SIMILAR_TO"]) if e.dst in into})))
    #: Per other case: how many SIMILAR_TO edges it has and the weakest one's score (read once).
    weakest: dict[str, tuple[int, float]] = {}
    for case_id in present:
        for other, score in similar.linked_by(case_id):
            if other in affected:
                continue
            if other not in weakest:
                own = [e.props["score"] for e in graph.edges_touching([case_node_id(other)], ["SIMILAR_TO"]) if e.src == case_node_id(other)]
                weakest[other] = (len(own), min(own, default=0.0))
            count, floor = weakest[other]
            # Edge scores are kept to 4 decimals: a tie on them is linked again (linking is exact).
            if count < similar.top or score >= floor - 1e-4:
                affected[other] = None
    return list(affected)


def _prune(graph: GraphStore, node_ids: set[str]) -> None:
    """Delete the given shared nodes nothing points at any more, then what only they pointed at, up the chains.

    Only nodes a changed case stopped pointing at are looked at, one existence check each,
    so a case that stays in a town of 100k cases costs nothing here.
    """
    doomed = graph.unreferenced(sorted(n for n in node_ids if label_of(n) in _PRUNED_LABELS))
    while doomed:
        # Nothing points at the doomed nodes, so their edges are their few outgoing ones.
        parents = {e.dst for e in graph.edges_touching(doomed)} - set(doomed)
        graph.delete_nodes(doomed)
        doomed = graph.unreferenced(sorted(n for n in parents if label_of(n) in _PRUNED_LABELS))


def _link_similar(graph: GraphStore, case_ids: Sequence[str], similar: Similar) -> None:
    """Replace the SIMILAR_TO edges of cases still in the graph."""
    present = graph.get_nodes([case_node_id(c) for c in case_ids])
    sources = [c for c in case_ids if case_node_id(c) in present]
    graph.delete_edges([case_node_id(c) for c in sources], ["SIMILAR_TO"])
    found = {c: similar.neighbors(c) for c in sources}
    targets = graph.get_nodes([case_node_id(o) for pairs in found.values() for o, _ in pairs])
    graph.upsert_edges(
        Edge(case_node_id(c), "SIMILAR_TO", case_node_id(other), {"score": round(score, 4)})
        for c, pairs in found.items()
        for other, score in pairs
        if case_node_id(other) in targets
    )


def _relink_repeats(graph: GraphStore, store: Store, case_ids: set[str]) -> None:
    """REPEAT_OF from each case of the touched chains to the case before it in time."""
    done: set[str] = set()
    edges: list[Edge] = []
    for case_id in sorted(case_ids):
        if case_id in done:
            continue
        chain = chain_of(store, case_id)
        members = chain.case_ids if chain else [case_id]
        done.update(members)
        # Members in a later batch of the change log get linked when their batch comes.
        present = graph.get_nodes([case_node_id(c) for c in members])
        members = [c for c in members if case_node_id(c) in present]
        edges.extend(Edge(case_node_id(b), "REPEAT_OF", case_node_id(a)) for a, b in zip(members, members[1:]))
    graph.delete_edges([case_node_id(c) for c in done], ["REPEAT_OF"])
    graph.upsert_edges(edges)
