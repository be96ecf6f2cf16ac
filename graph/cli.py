"""``leian repeats``, ``leian neighbors``, ``leian party`` and ``leian graph export|push|sync``."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from leian.api import LeiAn
from leian.clitools import echo_json, json_option, opened, os_error_text, pass_home, progress_default
from leian.data.record import KIND_NAMES
from leian.graph.base import GraphStore
from leian.home import Home

__all__ = ["repeats", "neighbors", "party", "graph", "risk", "followups", "followup"]

_GRAPH_HELP = "图谱存储：Bolt 地址，如 bolt://host:7687（账号密码取自 LEIAN_NEO4J_USER / LEIAN_NEO4J_PASSWORD）。默认取 <数据目录>/config.toml 中的 [graph] uri，否则用内置的 networkx 图谱。"


def _connection_errors() -> tuple[type[BaseException], ...]:
    """What a graph server that cannot be used raises; the driver is imported only when something was raised
    (every ``leian`` command imports this module, importing neo4j costs ≈ 0.5 s)."""
    from neo4j.exceptions import DriverError, Neo4jError

    return DriverError, Neo4jError, OSError


@contextmanager
def _synced(home: Home) -> Iterator[LeiAn]:
    """The home's API with entity resolution caught up (cheap when nothing changed)."""
    with opened(home) as api:
        api.resolve(progress=progress_default())
        yield api


@contextmanager
def _graph_errors(api: LeiAn, uri: str | None) -> Iterator[None]:
    """A graph URI that is not Bolt, or a graph server that cannot be used, as one plain error line."""
    try:
        yield
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except _connection_errors() as exc:
        raise click.ClickException(f"无法使用图谱服务器 {uri or api.home.settings.graph.uri}：{exc}") from None


def _synced_graph(api: LeiAn, uri: str | None) -> GraphStore:
    """The configured graph store, caught up with the case store."""
    with _graph_errors(api, uri):
        return api.graph(uri, progress=progress_default())


@click.command()
@click.option("--kind", type=click.Choice(["same_parties", "same_address", "respondent"]),
              help="只看这一种链：same_parties 同一对当事人，same_address 同一当事人同一地址，respondent 同一被申请人。")
@json_option('以一个 JSON 对象输出 {"chains": [{"case_ids", "kind", "parties", "party_ids", "reasons", ...}]}。')
@pass_home
def repeats(home: Home, kind: str | None, as_json: bool) -> None:
    """重复纠纷：同一对当事人、同一当事人同一地址、或同一被申请人对多名申请人（重点关注对象、群体性纠纷）的案件链，按时间排列。

    门槛见 config.toml 的 [repeats]。"""
    from leian.graph.repeats import KINDS

    with _synced(home) as api:
        found = api.repeats(kind)
    chains = found.chains
    if as_json:
        echo_json(found.to_dict())
        return
    by_kind = {k: sum(1 for c in chains if c.kind == k) for k in KINDS if kind in (None, k)}
    click.echo(f"{len(chains)} 条重复纠纷链（" + "，".join(f"{KINDS[k]} {n}" for k, n in by_kind.items()) + "）")
    for chain in chains:
        group = "【群体性纠纷】" if chain.group_dispute else ""
        click.echo(f"[{KINDS[chain.kind]}]{group} {' → '.join(chain.case_ids)}  当事人：{'、'.join(chain.parties)}（{'；'.join(chain.reasons)}）")


def _today(value: str | None):
    import datetime as dt

    from leian.graph.followups import local_today

    if not value:
        return local_today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.ClickException(f"--today：不是日期（YYYY-MM-DD）：{value!r}") from None


@click.command()
@click.option("--level", help="只看这一等级：高/中/低/微，或其颜色 红/橙/黄/蓝。")
@click.option("--where", help="只看在此地有案件的当事人（任一层级：区县、镇街、村社、网格）。")
@click.option("--today", help="按此本地日期评定，格式 YYYY-MM-DD（默认今天，北京时间）。")
@json_option('以一个 JSON 对象输出 {"parties": [{"party_id", "name", "level", "colour", "reasons", "revisit": {"every_days", "due"}, "responsible", "case_ids"}]}。')
@pass_home
def risk(home: Home, level: str | None, where: str | None, today: str | None, as_json: bool) -> None:
    """风险台账：按平安/微/低/中/高（蓝/黄/橙/红）列出当事人、评定理由、回访频次与责任层级。

    规则见 leian/graph/risk_rules.toml；到期回访排在最前。"""
    from leian.graph.risk import LEVEL_NAMES, counts

    day = _today(today)
    with _synced(home) as api:
        try:
            answer = api.risk(today=day, level=level, where=where)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    found = answer.parties
    if as_json:
        echo_json(answer.to_dict())
        return
    by_level = "，".join(f"{LEVEL_NAMES[k]} {n}" for k, n in counts(found).items() if n)
    click.echo(f"风险台账（{day.isoformat()}）：{len(found)} 人/户/单位" + (f"；{by_level}" if by_level else ""))
    for a in found:
        due = f"，下次回访 {a.due}" + ("（已到期）" if a.due and a.due <= day.isoformat() else "") if a.due else ""
        click.echo(f"{a.colour or '-'} {LEVEL_NAMES[a.level]} {a.party_id} {a.name}：{'；'.join(a.reasons)}"
                   f"（{a.cadence}{due}，责任层级 {a.responsible}·{a.body}；案件 {'、'.join(a.case_ids[-5:])}）")


@click.command()
@click.option("--due", is_flag=True, help="只看今天或更早到期的回访。")
@click.option("--today", help="按此本地日期计算，格式 YYYY-MM-DD（默认今天，北京时间）。")
@json_option('以一个 JSON 对象输出 {"followups": [{"party_id", "name", "level", "colour", "due", "every_days", "responsible", "last_visit"}]}。')
@pass_home
def followups(home: Home, due: bool, today: str | None, as_json: bool) -> None:
    """谁该回访、何时到期，最早到期的在前。"""
    from leian.graph.risk import LEVEL_NAMES

    day = _today(today)
    with _synced(home) as api:
        answer = api.followups(today=day, due=due)
    items = answer.followups
    if as_json:
        echo_json(answer.to_dict())
        return
    click.echo(f"待回访 {len(items)} 人/户/单位（{day.isoformat()}）")
    for item in items:
        last = item["last_visit"]
        click.echo(f"{item['due']}{'（已到期）' if item['overdue'] else ''} {item['colour']} {LEVEL_NAMES[item['level']]} "
                   f"{item['party_id']} {item['name']}：{item['cadence']}，{item['responsible']}·{item['responsible_body']}"
                   + (f"；上次回访 {last['local_time']} {last['by']}" if last else "；尚未回访"))


@click.group()
def followup() -> None:
    """记录对风险台账中当事人的回访。"""


@followup.command("record")
@click.argument("party")
@click.option("--note", required=True, help="回访情况。")
@click.option("--by", "by", default="命令行用户", show_default=True, help="回访人。")
@json_option("以一个 JSON 对象输出记录下的回访。")
@pass_home
def followup_record(home: Home, party: str, note: str, by: str, as_json: bool) -> None:
    """记录对 PARTY 的一次回访（当事人编号如 P0000012，或只属于一位当事人的姓名），显示在其时间线上。"""
    from leian.graph.followups import find_party

    with _synced(home) as api:
        party_id = find_party(api.store, party)
        item = api.record_followup(party_id, note, by=by, source="cli")
    if as_json:
        echo_json({"party_id": party_id, "followup": item})
        return
    click.echo(f"已记录对 {party_id} 的回访（{item['local_time']}，{item['by']}）")


@click.command()
@click.argument("case_id")
@click.option("--hops", default=2, show_default=True, type=click.IntRange(1, 3), help="经当事人和案件向外走几步。")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@json_option("以一个 JSON 对象输出。")
@pass_home
def neighbors(home: Home, case_id: str, hops: int, uri: str | None, as_json: bool) -> None:
    """一件案件的关联：当事人及其其他案件、地点、调解员、相似案件和重复纠纷。"""
    with _synced(home) as api, _graph_errors(api, uri):
        data = api.neighbors(case_id, hops=hops, uri=uri, progress=progress_default()).to_dict()
    if as_json:
        echo_json(data)
        return
    case = data["case"]
    click.echo(f"{case_id}  {case.get('title') or ''}  {case.get('date') or ''}")
    click.echo(f"地点：{' › '.join(data['place']) or '-'}")
    click.echo(f"调解员：{'、'.join(m['name'] for m in data['mediators']) or '-'}")
    # A party's other cases lie two steps out (case → party → case): --hops 1 does not reach them.
    unreached = "未展开（加 --hops 2 列出）"
    for item in data["parties"]:
        others = "、".join(item["other_cases"]) or ("无" if hops > 1 else unreached)
        click.echo(f"当事人 {item['name']}（{item['role']}，{item['party_id']}）其他案件：{others}")
    if data["repeat_of"] or data["repeated_by"]:
        click.echo(f"重复纠纷：此前 {'、'.join(data['repeat_of']) or '-'}；此后 {'、'.join(data['repeated_by']) or '-'}")
    if data["similar"]:
        click.echo("相似案件：" + "、".join(f"{s['case_id']}（{s['score']:.2f}）" for s in data["similar"]))


@click.command()
@click.argument("name_or_id")
@json_option("以一个 JSON 对象输出。")
@pass_home
def party(home: Home, name_or_id: str, as_json: bool) -> None:
    """当事人的历史：叫这个名字（或这个编号）的每位当事人、其各种写法、合并依据和所涉案件。"""
    with _synced(home) as api:
        data = api.party(name_or_id).to_dict()
    if as_json:
        echo_json(data)
        return
    for item in data["parties"]:
        click.echo(f"{item['party_id']} {item['name']}（{KIND_NAMES.get(item['kind'], item['kind'])}）写法：{'、'.join(item['names'])}")
        if item["reasons"]:
            click.echo(f"  合并依据：{'；'.join(item['reasons'])}")
        timeline = [(c["date"] or "----------", f"{c['case_id']} {c['role'] or ''} {c['title'] or ''}") for c in item["cases"]]
        timeline += [(v["local_date"], f"回访（{v['by']}）：{v['note']}") for v in item["followups"]]
        for date, line in sorted(timeline, key=lambda t: t[0]):
            click.echo(f"  {date} {line}")


@click.group()
def graph() -> None:
    """知识图谱：同步、导出、推送到 Neo4j 服务器。"""


@graph.command("sync")
@click.option("--graph", "uri", help=_GRAPH_HELP)
@pass_home
def sync_command(home: Home, uri: str | None) -> None:
    """让当事人识别和图谱赶上案件库的变化，并列出重复纠纷提示。"""
    from leian.graph.sync import sync

    with opened(home) as api:
        try:
            notices = sync(home, api.store, progress=progress_default(), uri=uri)
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

    with _synced(home) as api, _synced_graph(api, uri) as graph:
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
    with _synced(home) as api, _synced_graph(api, None) as local:
        try:
            target = Neo4jGraphStore(uri)
        except _connection_errors() as exc:
            raise click.ClickException(f"无法使用图谱服务器 {uri}：{exc}") from None
        with target:
            if replace:
                target.clear()
            target.load(local.iter_nodes(), local.iter_edges())
            target.set_watermark(*local.watermark())
            target.set_similar_seq(local.similar_seq())
            target.set_similar_stale(local.similar_stale())
            nodes, edges = target.counts()
    click.echo(f"已推送到 {target.name}：现有 {nodes} 个节点、{edges} 条关系")
