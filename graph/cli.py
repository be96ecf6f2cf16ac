"""``leian repeats``, ``leian neighbors``, ``leian party`` and ``leian graph export|push|sync``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from neo4j.exceptions import DriverError, Neo4jError

from leian.clitools import echo_json, os_error_text, pass_home, progress_default, require_store
from leian.data.record import KIND_NAMES
from leian.data.store import Store
from leian.home import Home

__all__ = ["repeats", "neighbors", "party", "graph", "summarize_neighborhood"]

_CONNECTION_ERRORS = (DriverError, Neo4jError, OSError)
_GRAPH_HELP = "图谱存储：Bolt 地址，如 bolt://host:7687（账号密码取自 LEIAN_NEO4J_USER / LEIAN_NEO4J_PASSWORD）。默认取 <数据目录>/config.toml 中的 [graph] uri，否则用内置的 networkx 图谱。"


@contextmanager
def _synced_store(home: Home) -> Iterator[Store]:
    """The home's store with entity resolution caught up (cheap when nothing changed)."""
    from leian.graph.repeats import resolve_changes

    require_store(home)
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
        raise click.ClickException(f"无法使用图谱服务器 {uri or home.setting('graph', 'uri')}：{exc}") from None
    with graph:
        apply_changes(graph, store, progress=progress_default())
        yield graph


@click.command()
@click.option("--json", "as_json", is_flag=True, help='以一个 JSON 对象输出 {"chains": [{"case_ids", "parties", "reasons"}]}。')
@pass_home
def repeats(home: Home, as_json: bool) -> None:
    """重复纠纷：由同一（经识别的）当事人串起的案件链，按时间排列。"""
    from leian.graph.repeats import all_chains

    with _synced_store(home) as store:
        chains = all_chains(store)
    if as_json:
        echo_json({"chains": [c.to_dict() for c in chains]})
        return
    click.echo(f"{len(chains)} 条重复纠纷链")
    for chain in chains:
        click.echo(f"{' → '.join(chain.case_ids)}  当事人：{'、'.join(chain.parties)}（{'；'.join(chain.reasons)}）")


@click.command()
@click.argument("case_id")
@click.option("--hops", default=2, show_default=True, type=click.IntRange(1, 3), help="经当事人和案件向外走几步。")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@click.option("--json", "as_json", is_flag=True, help="以一个 JSON 对象输出。")
@pass_home
def neighbors(home: Home, case_id: str, hops: int, uri: str | None, as_json: bool) -> None:
    """一件案件的关联：当事人及其其他案件、地点、调解员、相似案件和重复纠纷。"""
    from leian.graph.model import case_node_id

    with _synced_store(home) as store, _synced_graph(home, store, uri) as graph:
        if store.get(case_id) is None:
            raise click.ClickException(f"没有编号为 {case_id!r} 的案件")
        nodes, edges = graph.neighborhood(case_node_id(case_id), hops)
    data = summarize_neighborhood(case_id, nodes, edges)
    if as_json:
        echo_json(data)
        return
    case = data["case"]
    click.echo(f"{case_id}  {case.get('title') or ''}  {case.get('date') or ''}")
    click.echo(f"地点：{' › '.join(data['place']) or '-'}")
    click.echo(f"调解员：{'、'.join(m['name'] for m in data['mediators']) or '-'}")
    for item in data["parties"]:
        others = "、".join(item["other_cases"]) or "无"
        click.echo(f"当事人 {item['name']}（{item['role']}，{item['party_id']}）其他案件：{others}")
    if data["repeat_of"] or data["repeated_by"]:
        click.echo(f"重复纠纷：此前 {'、'.join(data['repeat_of']) or '-'}；此后 {'、'.join(data['repeated_by']) or '-'}")
    if data["similar"]:
        click.echo("相似案件：" + "、".join(f"{s['case_id']}（{s['score']:.2f}）" for s in data["similar"]))


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
    # Each case links to its own nearest neighbours, so two cases near each other are linked both ways: list each once.
    best: dict[str, float] = {}
    for e in edges:
        if e.type == "SIMILAR_TO" and me in (e.src, e.dst):
            other = plain_id(e.dst if e.src == me else e.src)
            best[other] = max(best.get(other, 0.0), e.props.get("score") or 0.0)
    similar = [{"case_id": other, "score": score} for other, score in sorted(best.items(), key=lambda item: (-item[1], item[0]))]
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
@click.option("--json", "as_json", is_flag=True, help="以一个 JSON 对象输出。")
@pass_home
def party(home: Home, name_or_id: str, as_json: bool) -> None:
    """当事人的历史：叫这个名字（或这个编号）的每位当事人、其各种写法、合并依据和所涉案件。"""
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
        raise click.ClickException(f"没有名为或编号为 {name_or_id!r} 的当事人")
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
        click.echo(f"{item['party_id']} {item['name']}（{KIND_NAMES.get(item['kind'], item['kind'])}）写法：{'、'.join(item['names'])}")
        if item["reasons"]:
            click.echo(f"  合并依据：{'；'.join(item['reasons'])}")
        for case in item["cases"]:
            click.echo(f"  {case['date'] or '----------'} {case['case_id']} {case['role'] or ''} {case['title'] or ''}")


@click.group()
def graph() -> None:
    """知识图谱：同步、导出、推送到 Neo4j 服务器。"""


@graph.command("sync")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@pass_home
def sync_command(home: Home, uri: str | None) -> None:
    """让当事人识别和图谱赶上案件库的变化，并列出重复纠纷提示。"""
    from leian.graph.sync import sync

    require_store(home)
    with home.open_store() as store:
        try:
            notices = sync(home, store, progress=progress_default(), uri=uri)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    for line in notices:
        click.echo(line)


@graph.command("export")
@click.argument("out", type=click.Path())
@click.option("--format", "fmt", required=True, type=click.Choice(["graphml", "neo4j-csv", "cypher"]), help="graphml（一个文件）、neo4j-csv（供 neo4j-admin database import 使用的文件夹）或 cypher（UNWIND … MERGE 语句脚本）。")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@pass_home
def export_command(home: Home, out: str, fmt: str, uri: str | None) -> None:
    """把整个图谱写入 OUT。"""
    from leian.graph.export import export_graph

    with _synced_store(home) as store, _synced_graph(home, store, uri) as graph:
        try:
            nodes, edges = export_graph(graph, fmt, Path(out))
        except OSError as exc:
            raise click.ClickException(f"无法写入 {out}：{os_error_text(exc)}") from None
    click.echo(f"已把 {nodes} 个节点、{edges} 条关系写入 {out}（{fmt}）")


@graph.command("push")
@click.option("--uri", required=True, help="目标 Bolt 地址，如 bolt://host:7687 或 bolt://host:7687/dbname（账号密码取自 LEIAN_NEO4J_USER / LEIAN_NEO4J_PASSWORD）。")
@click.option("--replace", is_flag=True, help="先删除目标中已有的 LeiAn 图谱（否则合并写入节点和关系）。")
@pass_home
def push(home: Home, uri: str, replace: bool) -> None:
    """把本地整个图谱载入 Neo4j 服务器（先建约束，再分批 UNWIND … MERGE）。"""
    from leian.graph.factory import BOLT_SCHEMES
    from leian.graph.neo4j import Neo4jGraphStore

    if not uri.startswith(BOLT_SCHEMES):
        raise click.ClickException(f"--uri {uri!r} 无效：应为 bolt://host:7687 或 neo4j://host:7687")
    with _synced_store(home) as store, _synced_graph(home, store, None) as local:
        try:
            target = Neo4jGraphStore(uri)
        except _CONNECTION_ERRORS as exc:
            raise click.ClickException(f"无法使用图谱服务器 {uri}：{exc}") from None
        with target:
            if replace:
                target.clear()
            target.load(local.iter_nodes(), local.iter_edges())
            target.set_watermark(*local.watermark())
            nodes, edges = target.counts()
    click.echo(f"已推送到 {target.name}：现有 {nodes} 个节点、{edges} 条关系")
