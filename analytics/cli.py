"""Commands for analysts: ``leian hotspots``, ``leian clusters`` and ``leian report``."""
from __future__ import annotations

import click

from leian.analytics.counts import COUNT_LEVELS, PERIODS, TYPE_LEVEL_NAMES, TYPE_LEVELS
from leian.clitools import echo_json, json_option, opened, pass_home, progress_default
from leian.data.places import LEVEL_NAMES
from leian.home import Home

__all__ = ["hotspots", "clusters", "report"]

_RISK_HELP = (
    "\b\n预警等级：\n"
    "  红 显著激增，且涉及群体性纠纷（群体当事人）或重复纠纷链（当事人累计≥3件）\n"
    "  橙 显著激增（负二项分布检验：本单元历史向同类单元收缩，BH 多重校正）\n"
    "  黄 上升趋势（近3期与此前相比，精确泊松检验，≥1.5倍）\n"
    "  蓝 潜在风险：同一当事人在本单元≥3件，或≥3件超过60天仍处理中"
)


def _level_options(command):
    """--level, --period and --type-level, shared by hotspots and report."""
    command = click.option(
        "--type-level", type=click.Choice(TYPE_LEVELS), default="category", show_default=True,
        help="类型粒度：category 大类，subtype 小类。",
    )(command)
    command = click.option(
        "--period", type=click.Choice(PERIODS), default="month", show_default=True, help="统计周期：month 按月，week 按周（ISO 周）。"
    )(command)
    return click.option(
        "--level", type=click.Choice(COUNT_LEVELS), default="town", show_default=True,
        help="地点层级：city 市，district 区县，town 镇街，community 村社，grid 网格。",
    )(command)


@click.command(epilog=_RISK_HELP)
@_level_options
@click.option("--at", "at", metavar="PERIOD", help="检验的周期，如 2025-03 或 2025-W11（默认：最近一个完整周期）。")
@click.option("--fdr", type=click.FloatRange(0.0001, 0.5), default=0.05, show_default=True, help="错误发现率（Benjamini-Hochberg 校正）。")
@click.option("--min-count", type=click.IntRange(1), default=5, show_default=True, help="本期至少多少件才可能算激增。")
@click.option("--repeats/--no-repeats", default=False, help="同时列出累计3件及以上的当事人和地址。")
@json_option()
@pass_home
def hotspots(home: Home, level: str, period: str, type_level: str, at: str | None, fdr: float, min_count: int,
             repeats: bool, as_json: bool) -> None:
    """按地点和纠纷类型检验激增、上升趋势和潜在风险，给出红/橙/黄/蓝预警。"""
    with opened(home, readonly=True) as api:
        try:
            answer = api.hotspots(level=level, period=period, type_level=type_level, at=at, fdr=fdr, min_count=min_count,
                                  repeats=repeats)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    found, repeated = answer.report, answer.repeats
    if as_json:
        echo_json(answer.to_dict())
        return
    click.echo(f"{found.period}：检验 {found.cells_tested} 个单元（{LEVEL_NAMES[level]} × {TYPE_LEVEL_NAMES[type_level]}），预警 {len(found.hotspots)} 个")
    for spot in found.hotspots:
        click.echo(f"[{spot.risk}] {spot.cell.place_label} · {spot.cell.type}  {spot.count}件（预期{spot.expected:.1f}）  {spot.why}")
    if repeated is not None:
        for party in repeated["parties"]:
            click.echo(f"重复当事人 {party['name']}：{party['cases']}件（{party['first']} 至 {party['last']}）")
        for address in repeated["addresses"]:
            click.echo(f"重复地址 {address['address']}：{address['cases']}件")


@click.command()
@click.option("--model", help="向量模型（默认：config.toml 中 [embeddings] model，否则 m3e-small）。")
@click.option("--k", "k", type=click.IntRange(2, 100), default=10, show_default=True, help="近邻图中每件案件的近邻数。")
@click.option("--resolution", type=click.FloatRange(0.1, 10.0), default=1.5, show_default=True, help="Louvain 分辨率：越大，类越多越小。")
@click.option("--min-size", type=click.IntRange(2), default=3, show_default=True, help="保留的最小类；更小的算作未归类。")
@click.option("--window-days", type=click.IntRange(7), default=90, show_default=True, help="判断“新兴”主题的近期天数。")
@click.option("--limit", type=click.IntRange(1), default=30, show_default=True, help="列出的类数（JSON 列出全部）。")
@click.option("--fresh", is_flag=True, help="全部重新聚类（默认：新案件归入已有主题，主题编号保持不变）。")
@click.option("--progress/--no-progress", default=None, help="编码时显示进度条（默认：在终端中运行时显示）。")
@json_option()
@pass_home
def clusters(home: Home, model: str | None, k: int, resolution: float, min_size: int, window_days: int, limit: int,
             fresh: bool, progress: bool | None, as_json: bool) -> None:
    """全部案件的主题聚类（向量近邻图 + Louvain），以关键词命名。

    类的编号来自其代表案件，同样的数据得到同样的编号；新来的案件归入其近邻所在的主题，
    已有主题的编号不变（变化超过两成或加 --fresh 时全部重新聚类，相同的主题沿用原编号）。
    类中多数带日期的案件落在最近 --window-days 天内时，标为“新兴”。
    """
    show_progress = progress_default() if progress is None else progress
    with opened(home, model=model) as api:
        try:
            found = api.clusters(k=k, resolution=resolution, min_size=min_size, window_days=window_days,
                                 progress=show_progress, fresh=fresh)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(found.to_dict())
        return
    click.echo(f"{len(found.clusters)} 个主题聚类，未归类 {len(found.noise)} 件（模型 {found.model_id}）")
    for cluster in found.clusters[:limit]:
        mark = " [新兴]" if cluster.emerging else ""
        places = "、".join(p for p, _ in cluster.places) or "-"
        types = "、".join(t for t, _ in cluster.types) or "-"
        click.echo(f"{cluster.id}{mark} {cluster.size}件  {cluster.label}  | 类型：{types} | 地点：{places}")


@click.command(epilog=_RISK_HELP)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="存放图表（PNG、SVG）和 report.md 的文件夹。")
@_level_options
@click.option("--at", "at", metavar="PERIOD", help="检验的周期，如 2025-03 或 2025-W11（默认：最近一个完整周期）。")
@click.option("--clusters/--no-clusters", "with_clusters", default=True, show_default=True, help="包含主题聚类（会为尚未缓存的案件编码）。")
@click.option("--model", help="聚类所用的向量模型（默认：config.toml 中 [embeddings] model，否则 m3e-small）。")
@click.option("--unmasked", is_flag=True, help="保留当事人姓名和门牌号原样（默认像案例库导出一样脱敏）。")
@json_option("以一个 JSON 对象输出写入了什么。")
@pass_home
def report(home: Home, out: str, level: str, period: str, type_level: str, at: str | None, with_clusters: bool,
           model: str | None, unmasked: bool, as_json: bool) -> None:
    """把分析报告写入 OUT：中文图表和 Markdown 摘要（report.md）。"""
    with opened(home, model=model) as api:
        try:
            written = api.report(out, level=level, period=period, type_level=type_level, at=at, clusters=with_clusters,
                                 masked=not unmasked)
        except (ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
    written.pop("chart_texts")  # for tests of what the charts show, not for the reader
    if as_json:
        echo_json(written)
        return
    click.echo(f"报告已写入 {written['out']}：" + "、".join(written["files"]) + ("（未脱敏）" if unmasked else "（已脱敏）"))
