"""Commands for analysts: ``leian hotspots``, ``leian clusters`` and ``leian report``."""
from __future__ import annotations

import click

from leian.analytics.counts import PERIODS, TYPE_LEVELS
from leian.clitools import echo_json, pass_home, progress_default, readonly_store
from leian.home import Home

__all__ = ["hotspots", "clusters", "report"]

_LEVEL_CHOICES = click.Choice(["city", "district", "town", "community", "grid"])
_RISK_HELP = (
    "\b\nRisk levels:\n"
    "  红 significant spike with a group dispute (群体当事人) or a repeat chain (a party with 3+ cases)\n"
    "  橙 significant spike (negative-binomial tail vs. own history shrunk to peers, BH-corrected)\n"
    "  黄 rising trend (last 3 periods vs. earlier, exact Poisson comparison, >= 1.5x)\n"
    "  蓝 latent: a party with 3+ cases in the cell, or 3+ cases still 处理中 more than 60 days on"
)


def _level_options(command):
    """--level, --period and --type-level, shared by hotspots and report."""
    command = click.option(
        "--type-level", type=click.Choice(TYPE_LEVELS), default="category", show_default=True,
        help="Dispute type granularity: category (大类) or subtype (小类).",
    )(command)
    command = click.option(
        "--period", type=click.Choice(PERIODS), default="month", show_default=True, help="Period length: month or ISO week."
    )(command)
    return click.option(
        "--level", type=_LEVEL_CHOICES, default="town", show_default=True,
        help="Place level: city 市, district 区县, town 镇街, community 村社, grid 网格.",
    )(command)


@click.command(epilog=_RISK_HELP)
@_level_options
@click.option("--at", "at", metavar="PERIOD", help="Period to test, e.g. 2025-03 or 2025-W11 (default: latest complete).")
@click.option("--fdr", type=click.FloatRange(0.0001, 0.5), default=0.05, show_default=True, help="False discovery rate (Benjamini-Hochberg).")
@click.option("--min-count", type=click.IntRange(1), default=5, show_default=True, help="Fewest cases in the period for a spike.")
@click.option("--repeats/--no-repeats", default=False, help="Also list parties and addresses with 3+ cases.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def hotspots(home: Home, level: str, period: str, type_level: str, at: str | None, fdr: float, min_count: int,
             repeats: bool, as_json: bool) -> None:
    """Spikes, rising trends and latent risks per place and dispute type, with 红/橙/黄/蓝 levels."""
    from leian.analytics.hotspots import detect_hotspots, repeat_hotspots

    with readonly_store(home) as store:
        try:
            found = detect_hotspots(store, level=level, period=period, type_level=type_level, at=at, fdr=fdr, min_count=min_count)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        repeated = repeat_hotspots(store) if repeats else None
    if as_json:
        data = found.to_dict()
        if repeated is not None:
            data["repeats"] = repeated
        echo_json(data)
        return
    click.echo(f"{found.period}：检验 {found.cells_tested} 个单元（{level} × {type_level}），预警 {len(found.hotspots)} 个")
    for spot in found.hotspots:
        click.echo(f"[{spot.risk}] {spot.cell.place_label} · {spot.cell.type}  {spot.count}件（预期{spot.expected:.1f}）  {spot.why}")
    if repeated is not None:
        for party in repeated["parties"]:
            click.echo(f"重复当事人 {party['name']}：{party['cases']}件（{party['first']} .. {party['last']}）")
        for address in repeated["addresses"]:
            click.echo(f"重复地址 {address['address']}：{address['cases']}件")


@click.command()
@click.option("--model", help="Embedding model (default: [embeddings] model in config.toml, else m3e-small).")
@click.option("--k", "k", type=click.IntRange(2, 100), default=10, show_default=True, help="Neighbours per case in the kNN graph.")
@click.option("--resolution", type=click.FloatRange(0.1, 10.0), default=1.5, show_default=True, help="Louvain resolution: higher gives more, smaller clusters.")
@click.option("--min-size", type=click.IntRange(2), default=3, show_default=True, help="Smallest cluster kept; smaller groups are noise.")
@click.option("--window-days", type=click.IntRange(7), default=90, show_default=True, help="Recent window for 'emerging' clusters.")
@click.option("--limit", type=click.IntRange(1), default=30, show_default=True, help="Clusters to print (JSON lists all).")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar while encoding (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def clusters(home: Home, model: str | None, k: int, resolution: float, min_size: int, window_days: int, limit: int,
             progress: bool | None, as_json: bool) -> None:
    """Topical clusters of all cases (kNN graph of embeddings + Louvain), labelled by keywords.

    Cluster ids come from each cluster's medoid case, so the same data gives the
    same ids. A cluster is 新兴 (emerging) when most of its dated cases fall in
    the last --window-days days.
    """
    from leian.analytics.clusters import cluster_cases
    from leian.embeddings.encoder import model_for_home

    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    show_progress = progress_default() if progress is None else progress
    with home.open_store() as store:
        try:
            found = cluster_cases(store, model=model_for_home(home, model), k=k, resolution=resolution,
                                  min_size=min_size, window_days=window_days, progress=show_progress)
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
        click.echo(f"{cluster.id}{mark} {cluster.size}件  {cluster.label}  | 类型: {types} | 地点: {places}")


@click.command(epilog=_RISK_HELP)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the charts (PNG, SVG) and report.md.")
@_level_options
@click.option("--at", "at", metavar="PERIOD", help="Period to test, e.g. 2025-03 or 2025-W11 (default: latest complete).")
@click.option("--clusters/--no-clusters", "with_clusters", default=True, show_default=True, help="Include topical clusters (embeds cases not cached yet).")
@click.option("--model", help="Embedding model for clusters (default: [embeddings] model in config.toml, else m3e-small).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as one JSON object.")
@pass_home
def report(home: Home, out: str, level: str, period: str, type_level: str, at: str | None, with_clusters: bool,
           model: str | None, as_json: bool) -> None:
    """Write an analyst's report to OUT: charts with Chinese labels and a Markdown summary (report.md)."""
    from leian.analytics.report import write_report
    from leian.embeddings.encoder import model_for_home

    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    with home.open_store() as store:
        try:
            written = write_report(store, out, level=level, period=period, type_level=type_level, at=at,
                                   clusters=with_clusters, model=model_for_home(home, model))
        except (ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(written)
        return
    click.echo(f"报告已写入 {written['out']}：" + "、".join(written["files"]))
