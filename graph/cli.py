"""``leian repeats``, ``leian neighbors``, ``leian party`` and ``leian graph export|push|sync``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from neo4j.exceptions import DriverError, Neo4jError

from leian.clitools import echo_json, pass_home, progress_default
from leian.data.store import Store
from leian.home import Home

__all__ = ["repeats", "neighbors", "party", "graph", "summarize_neighborhood"]

_CONNECTION_ERRORS = (DriverError, Neo4jError, OSError)
_GRAPH_HELP = "Graph store: a Bolt URI such as bolt://host:7687 (credentials from LEIAN_NEO4J_USER / LEIAN_NEO4J_PASSWORD). Default: [graph] uri in <home>/config.toml, else the embedded networkx graph."


@contextmanager
def _synced_store(home: Home) -> Iterator[Store]:
    """The home's store with entity resolution caught up (cheap when nothing changed)."""
    from leian.graph.repeats import resolve_changes

    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    with home.open_store() as store:
        resolve_changes(store, progress=progress_default())
        yield store


@contextmanager
def _synced_graph(home: Home, store: Store, uri: str | None):
    """The configured graph store, caught up with the case store."""
    from leian.graph.factory import open_graph
    from leian.graph.sync import apply_changes

    try:
        graph = open_graph(home, uri)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except _CONNECTION_ERRORS as exc:
        raise click.ClickException(f"cannot use graph server {uri or home.setting('graph', 'uri')}: {exc}") from None
    with graph:
        apply_changes(graph, store, progress=progress_default())
        yield graph


@click.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"chains": [{"case_ids", "parties", "reasons"}]} as one JSON object.')
@pass_home
def repeats(home: Home, as_json: bool) -> None:
    """Repeat disputes: chains of cases linked by the same resolved parties, ids in time order."""
    from leian.graph.repeats import all_chains

    with _synced_store(home) as store:
        chains = all_chains(store)
    if as_json:
        echo_json({"chains": [c.to_dict() for c in chains]})
        return
    click.echo(f"{len(chains)} 条重复纠纷链")
    for chain in chains:
        click.echo(f"{' → '.join(chain.case_ids)}  当事人: {'/'.join(chain.parties)}  ({'；'.join(chain.reasons)})")


@click.command()
@click.argument("case_id")
@click.option("--hops", default=2, show_default=True, type=click.IntRange(1, 3), help="How far to walk through parties and cases.")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def neighbors(home: Home, case_id: str, hops: int, uri: str | None, as_json: bool) -> None:
    """A case's neighbourhood: parties and their other cases, place, mediators, similar and repeat cases."""
    from leian.graph.model import case_node_id

    with _synced_store(home) as store, _synced_graph(home, store, uri) as graph:
        if store.get(case_id) is None:
            raise click.ClickException(f"no case with id {case_id!r}")
        nodes, edges = graph.neighborhood(case_node_id(case_id), hops)
    data = summarize_neighborhood(case_id, nodes, edges)
    if as_json:
        echo_json(data)
        return
    case = data["case"]
    click.echo(f"{case_id}  {case.get('title') or ''}  {case.get('date') or ''}")
    click.echo(f"地点: {' › '.join(data['place']) or '-'}")
    click.echo(f"调解员: {'、'.join(m['name'] for m in data['mediators']) or '-'}")
    for item in data["parties"]:
        others = ", ".join(item["other_cases"]) or "无"
        click.echo(f"当事人 {item['name']}（{item['role']}，{item['party_id']}）其他案件: {others}")
    if data["repeat_of"] or data["repeated_by"]:
        click.echo(f"重复纠纷: 此前 {', '.join(data['repeat_of']) or '-'}；此后 {', '.join(data['repeated_by']) or '-'}")
    if data["similar"]:
        click.echo("相似案例: " + ", ".join(f"{s['case_id']} ({s['score']:.2f})" for s in data["similar"]))


def summarize_neighborhood(case_id: str, nodes: dict, edges: list) -> dict[str, Any]:
    """The parts of a case's neighbourhood a mediator reads, from nodes and edges."""
    from leian.graph.model import case_node_id, plain_id

    me = case_node_id(case_id)
    case_node = nodes.get(me)
    parties = []
    for edge in sorted(edges, key=lambda e: e.dst):
        if edge.src == me and edge.type == "INVOLVES":
            node = nodes[edge.dst]
            other_cases = sorted(
                plain_id(e.src) for e in edges if e.type == "INVOLVES" and e.dst == edge.dst and e.src != me
            )
            parties.append({
                "party_id": plain_id(edge.dst),
                "name": node.props.get("name"),
                "role": edge.props.get("role"),
                "kind": node.props.get("kind"),
                "names": node.props.get("names", []),
                "reasons": node.props.get("reasons", []),
                "other_cases": other_cases,
            })
    location = next((e.dst for e in edges if e.src == me and e.type == "OCCURRED_IN"), None)
    # A place's id is its full path, top down.
    place = plain_id(location).split("›") if location else []
    mediators = [
        {"name": nodes[e.dst].props.get("name"), "org": nodes[e.dst].props.get("org")}
        for e in edges
        if e.src == me and e.type == "MEDIATED_BY" and e.dst in nodes
    ]
    similar = sorted(
        (
            {"case_id": plain_id(e.dst if e.src == me else e.src), "score": e.props.get("score")}
            for e in edges
            if e.type == "SIMILAR_TO" and me in (e.src, e.dst)
        ),
        key=lambda s: -(s["score"] or 0),
    )
    return {
        "case": {"case_id": case_id, **(case_node.props if case_node else {})},
        "parties": parties,
        "place": place,
        "mediators": mediators,
        "repeat_of": sorted(plain_id(e.dst) for e in edges if e.type == "REPEAT_OF" and e.src == me),
        "repeated_by": sorted(plain_id(e.src) for e in edges if e.type == "REPEAT_OF" and e.dst == me),
        "similar": similar,
        "nodes": len(nodes),
        "edges": len(edges),
    }


@click.command()
@click.argument("name_or_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def party(home: Home, name_or_id: str, as_json: bool) -> None:
    """A party's history: every resolved party with this name (or this party id), its spellings, why merged, its cases."""
    from leian.graph.resolve import Resolver
    from leian.graph.signals import entities_named

    with _synced_store(home) as store:
        resolver = Resolver(store)
        entity_ids = [name_or_id] if resolver.entities([name_or_id]) else entities_named(store, name_or_id, anonymous=True)
        entities = resolver.entities(entity_ids)
        titles = {
            case_id: case.title
            for e in entities.values()
            for case_id, case in store.get_many(e.case_ids).items()
        }
    if not entities:
        raise click.ClickException(f"no party named or with id {name_or_id!r}")
    data = {"parties": [
        {
            "party_id": e.entity_id,
            "name": e.name,
            "kind": e.kind,
            "names": e.names,
            "reasons": e.reasons,
            "cases": [
                {"case_id": m.case_id, "date": m.case_date, "role": m.role, "name_as_written": m.name, "title": titles.get(m.case_id)}
                for m in sorted(e.mentions, key=lambda m: (m.case_date or "", m.case_id))
            ],
        }
        for e in sorted(entities.values(), key=lambda e: (-len(e.mentions), e.entity_id))
    ]}
    if as_json:
        echo_json(data)
        return
    for item in data["parties"]:
        click.echo(f"{item['party_id']} {item['name']}（{item['kind']}）写法: {'、'.join(item['names'])}")
        if item["reasons"]:
            click.echo(f"  合并依据: {'；'.join(item['reasons'])}")
        for case in item["cases"]:
            click.echo(f"  {case['date'] or '----------'} {case['case_id']} {case['role'] or ''} {case['title'] or ''}")


@click.group()
def graph() -> None:
    """The knowledge graph: sync, export, push to a Neo4j server."""


@graph.command("sync")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@pass_home
def sync_command(home: Home, uri: str | None) -> None:
    """Bring entity resolution and the graph up to date with the case store; print repeat notices."""
    from leian.graph.sync import sync

    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    with home.open_store() as store:
        try:
            notices = sync(home, store, progress=progress_default(), uri=uri)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    for line in notices:
        click.echo(line)


@graph.command("export")
@click.argument("out", type=click.Path())
@click.option("--format", "fmt", required=True, type=click.Choice(["graphml", "neo4j-csv", "cypher"]), help="graphml (one file), neo4j-csv (a directory for neo4j-admin database import) or cypher (a script of UNWIND … MERGE statements).")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@pass_home
def export_command(home: Home, out: str, fmt: str, uri: str | None) -> None:
    """Write the whole graph to OUT."""
    from leian.graph.export import export_graph

    with _synced_store(home) as store, _synced_graph(home, store, uri) as graph:
        try:
            nodes, edges = export_graph(graph, fmt, Path(out))
        except OSError as exc:
            raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {nodes} nodes and {edges} edges to {out} ({fmt})")


@graph.command("push")
@click.option("--uri", required=True, help="Target Bolt URI, e.g. bolt://host:7687 or bolt://host:7687/dbname (credentials from LEIAN_NEO4J_USER / LEIAN_NEO4J_PASSWORD).")
@click.option("--replace", is_flag=True, help="Delete the LeiAn graph already in the target first (otherwise nodes and edges are merged in).")
@pass_home
def push(home: Home, uri: str, replace: bool) -> None:
    """Load the whole local graph into a Neo4j server (constraints first, batched UNWIND … MERGE)."""
    from leian.graph.factory import BOLT_SCHEMES
    from leian.graph.neo4j import Neo4jGraphStore

    if not uri.startswith(BOLT_SCHEMES):
        raise click.ClickException(f"--uri {uri!r}: expected bolt://host:7687 or neo4j://host:7687")
    with _synced_store(home) as store, _synced_graph(home, store, None) as local:
        try:
            target = Neo4jGraphStore(uri)
        except _CONNECTION_ERRORS as exc:
            raise click.ClickException(f"cannot use graph server {uri}: {exc}") from None
        with target:
            if replace:
                target.clear()
            target.load(local.iter_nodes(), local.iter_edges())
            target.set_watermark(*local.watermark())
            nodes, edges = target.counts()
    click.echo(f"pushed to {target.name}: it now holds {nodes} nodes and {edges} edges")
