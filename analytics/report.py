"""The analyst's report: charts (PNG and SVG) and a Markdown summary in Chinese.

Party names are masked as in the library exports (梁某甲 / 梁某乙, one label per
person through the whole report) and addresses lose their house numbers, unless
asked for unmasked. Charts show complete periods only (the month still running
is left out, not drawn as a fall), no bar of zero cases, whole numbers on every
count axis, and clusters by their keywords.

Charts are drawn with a real CJK font: Noto Sans SC from the PyPI package
``pylopdf-fonts-zh-cn`` when installed, else Debian's ``fonts-noto-cjk`` or
``fonts-wqy-microhei``. Before a chart is saved, every character on it is
checked against the font's character map, so a chart never ships with tofu
boxes: a missing glyph is an error.

Examples
--------
>>> missing_glyphs(["邻里纠纷 2025-03"], cjk_font_path())
set()
>>> missing_glyphs(["\\U0001F600"], cjk_font_path())
{'\\U0001f600'}
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from leian.clock import today
from leian.analytics.counts import TYPE_LEVEL_NAMES, count_cells, period_end
from leian.analytics.hotspots import RISK_RULES, HotspotReport, detect_hotspots, repeat_hotspots
from leian.data.normalize import mask_address
from leian.data.places import LEVEL_NAMES
from leian.data.queries import date_range, monthly_category_counts
from leian.data.store import Store
from leian.library.masking import Masker

__all__ = ["cjk_font_path", "missing_glyphs", "figure_texts", "write_report", "RISK_COLOURS", "FONT_CANDIDATES"]

#: Debian font files tried when the PyPI font package is absent.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
CHART_FORMATS = ("png", "svg")
RISK_COLOURS = {"红": "#d62728", "橙": "#ff7f0e", "黄": "#e6b800", "蓝": "#1f77b4"}


def cjk_font_path() -> Path:
    """A font file that covers simplified Chinese; RuntimeError if none is installed."""
    try:
        import pylopdf_fonts_zh_cn

        return Path(pylopdf_fonts_zh_cn.sans_path())
    except ImportError:
        pass
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RuntimeError("没有可用的中文字体：请 `pip install pylopdf-fonts-zh-cn` 或 `apt-get install fonts-noto-cjk`")


@lru_cache(maxsize=4)
def _charmap(path: Path) -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(str(path)).get_charmap())


def missing_glyphs(texts: Iterable[str], font_path: Path) -> set[str]:
    """Characters in ``texts`` that the font cannot draw (whitespace aside)."""
    charmap = _charmap(Path(font_path))
    return {ch for text in texts for ch in text if not ch.isspace() and ord(ch) not in charmap}


def figure_texts(figure) -> list[str]:
    """Every string drawn on a matplotlib figure (titles, labels, ticks, legends, annotations)."""
    from matplotlib.text import Text

    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


@lru_cache(maxsize=1)
def _use_font() -> str:
    """Register the CJK font with matplotlib and make it the default; returns its family name."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager, pyplot

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    pyplot.rcParams.update({"font.family": [name], "axes.unicode_minus": False, "svg.fonttype": "path"})
    return name


def _save(figure, out: Path, name: str) -> dict[str, list[str]]:
    """Check every glyph, then write ``name``.png and ``name``.svg; returns {name: every text drawn}."""
    from matplotlib import pyplot

    figure.canvas.draw()  # tick labels exist only once drawn: check them too
    texts = figure_texts(figure)
    missing = missing_glyphs(texts, cjk_font_path())
    if missing:
        pyplot.close(figure)
        raise RuntimeError(f"图表 {name}：字体缺少这些字 {''.join(sorted(missing))}")
    for suffix in CHART_FORMATS:
        figure.savefig(out / f"{name}.{suffix}", dpi=150, bbox_inches="tight")
    pyplot.close(figure)
    return {name: texts}


def _whole_counts(axis) -> None:
    """Ticks of a count axis at whole numbers only (no 2.5 cases)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _trend_chart(store: Store, out: Path, months: int = 24) -> dict[str, list[str]]:
    from matplotlib import pyplot

    rows = monthly_category_counts(store)
    if not rows:
        return {}
    periods = sorted({r[0] for r in rows})
    last_day = date_range(store, typed_only=True)[1][:10]
    if len(periods) > 1 and last_day < period_end(periods[-1], "month"):
        periods = periods[:-1]  # the month still running would read as a fall
    periods = periods[-months:]
    totals: dict[str, int] = {}
    for _, category, n in rows:
        totals[category] = totals.get(category, 0) + n
    top = sorted(totals, key=lambda c: (-totals[c], c))[:6]
    series = {c: [0] * len(periods) for c in top}
    for month, category, n in rows:
        if category in series and month in periods:
            series[category][periods.index(month)] = n
    figure, axes = pyplot.subplots(figsize=(10, 4.5))
    for category in top:
        axes.plot(periods, series[category], marker="o", markersize=3, label=category)
    axes.set_title("各类纠纷月度趋势（前6大类）")
    axes.set_xlabel("月份")
    axes.set_ylabel("案件数")
    axes.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes.set_xticks(periods[:: max(1, len(periods) // 12)])
    axes.tick_params(axis="x", rotation=45)
    axes.set_ylim(bottom=0)
    _whole_counts(axes.yaxis)
    axes.grid(alpha=0.3)
    return _save(figure, out, "trend")


def _hotspot_chart(found: HotspotReport, out: Path, limit: int = 15) -> dict[str, list[str]]:
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    spots = [s for s in found.hotspots if s.count > 0][:limit]  # a latent (蓝) cell of 0 this period is no bar
    if not spots:
        return {}
    labels = [f"{s.cell.place_label}·{s.cell.type}" for s in spots][::-1]
    counts = [s.count for s in spots][::-1]
    expected = [s.expected for s in spots][::-1]
    colours = [RISK_COLOURS[s.risk] for s in spots][::-1]
    figure, axes = pyplot.subplots(figsize=(10, 0.45 * len(spots) + 1.5))
    y = np.arange(len(spots))
    axes.barh(y, counts, color=colours)
    marks = axes.scatter(expected, y, color="black", marker="|", s=200, zorder=3, label="预期件数")
    axes.set_yticks(y, labels)
    axes.set_xlabel("案件数")
    _whole_counts(axes.xaxis)
    axes.set_title(f"{found.period} 风险预警（{LEVEL_NAMES[found.level]} × {TYPE_LEVEL_NAMES[found.type_level]}）")
    legend = [Patch(color=c, label=f"{risk}色预警") for risk, c in RISK_COLOURS.items()]
    axes.legend(handles=legend + [marks], fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(figure, out, "hotspots")


def _place_heatmap(store: Store, out: Path, level: str, period: str, recent: int = 12) -> dict[str, list[str]]:
    from matplotlib import pyplot

    table = count_cells(store, level, period, "category")
    if not table.series:
        return {}
    last = table.index(table.latest_complete())  # a period still running is no period to compare
    span = slice(max(0, last + 1 - recent), last + 1)
    places: dict[str, int] = {}
    types: dict[str, int] = {}
    for cell, counts in table.series.items():
        n = int(counts[span].sum())
        places[cell.place_label] = places.get(cell.place_label, 0) + n
        types[cell.category] = types.get(cell.category, 0) + n
    top_places = [p for p in sorted(places, key=lambda p: (-places[p], p)) if places[p]][:12]
    top_types = [t for t in sorted(types, key=lambda t: (-types[t], t)) if types[t]][:8]
    if not top_places:
        return {}
    grid = np.zeros((len(top_places), len(top_types)), dtype=int)
    for cell, counts in table.series.items():
        if cell.place_label in top_places and cell.category in top_types:
            grid[top_places.index(cell.place_label), top_types.index(cell.category)] += int(counts[span].sum())
    figure, axes = pyplot.subplots(figsize=(10, 0.45 * len(top_places) + 2))
    image = axes.imshow(grid, cmap="OrRd", aspect="auto")
    axes.set_xticks(range(len(top_types)), top_types)
    axes.set_yticks(range(len(top_places)), top_places)
    for (i, j), n in np.ndenumerate(grid):
        axes.text(j, i, str(n), ha="center", va="center", fontsize=8, color="white" if n > grid.max() * 0.6 else "black")
    first, last = table.periods[span][0], table.periods[span][-1]
    axes.set_title(f"高发{LEVEL_NAMES[level]}与纠纷类型（{first} 至 {last}）")
    _whole_counts(figure.colorbar(image, ax=axes, label="案件数").ax.yaxis)
    return _save(figure, out, "places")


def _cluster_chart(clustering, out: Path, show: Callable[[str], str], limit: int = 12) -> dict[str, list[str]]:
    from matplotlib import pyplot

    shown = [c for c in clustering.clusters if c.size][:limit]
    if not shown:
        return {}
    labels = [show(c.label) + ("（新兴）" if c.emerging else "") for c in shown][::-1]
    figure, axes = pyplot.subplots(figsize=(10, 0.45 * len(shown) + 1.5))
    axes.barh(range(len(shown)), [c.size for c in shown][::-1],
              color=["#d62728" if c.emerging else "#7f7f7f" for c in shown][::-1])
    axes.set_yticks(range(len(shown)), labels)
    axes.set_xlabel("案件数")
    _whole_counts(axes.xaxis)
    axes.set_title("主题聚类（关键词为各类的区分性词语，红色为新兴主题）")
    return _save(figure, out, "clusters")


def write_report(
    store: Store,
    out: str | Path,
    *,
    level: str = "town",
    period: str = "month",
    type_level: str = "category",
    at: str | None = None,
    clusters: bool = True,
    model: str | None = None,
    masked: bool = True,
) -> dict[str, object]:
    """Write charts and ``report.md`` into ``out``; returns what was written and found.

    ``clusters`` needs a writable store (vectors are cached in it). With ``masked`` (the default)
    party names and house numbers are masked as in the library exports.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _use_font()
    # Undated samples (like the bundled ProMediConv cases) still get clusters and repeats.
    dated = bool(count_cells(store, level, period, type_level).periods)
    found = detect_hotspots(store, level=level, period=period, type_level=type_level, at=at) if dated or at else None
    repeats = repeat_hotspots(store, limit=20)
    charts = _trend_chart(store, out)
    if found is not None:
        charts |= _hotspot_chart(found, out) | _place_heatmap(store, out, level, period)
    clustering = None
    if clusters:
        from leian.analytics.clusters import cluster_cases

        clustering = cluster_cases(store, model=model)
    show = _report_masker(store, found, repeats, clustering) if masked else _Unmasked()
    if clustering is not None:
        charts |= _cluster_chart(clustering, out, show)
    files = [f"{name}.{suffix}" for name in charts for suffix in CHART_FORMATS]
    markdown = _markdown(store, found, repeats, clustering, files, show)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return {
        "out": str(out),
        "files": files + ["report.md"],
        "chart_texts": charts,
        "period": found.period if found else None,
        "hotspots": len(found.hotspots) if found else None,
        "clusters": len(clustering.clusters) if clustering else None,
        "font": str(cjk_font_path()),
    }


class _Unmasked:
    """What ``--unmasked`` shows: every text as it is."""

    def __call__(self, text: str) -> str:
        return text

    def address(self, text: str) -> str:
        return text


class _ReportMasker:
    """One masker for the whole report: a person keeps one label in it (梁某甲), and two people never share one."""

    def __init__(self, masker: Masker):
        self.masker = masker

    def __call__(self, text: str) -> str:
        return self.masker.mask(text)

    def address(self, text: str) -> str:
        return mask_address(self.masker.mask(text))


def _report_masker(store: Store, found: HotspotReport | None, repeats: dict, clustering) -> _ReportMasker:
    """A masker that knows every party named in the report's texts, registered in the order they appear."""
    texts = [h.why for h in found.hotspots] if found else []
    texts += [p["name"] for p in repeats["parties"]] + [a["address"] for a in repeats["addresses"]]
    texts += [word for c in clustering.clusters for word in c.keywords] if clustering else []
    masker = Masker()
    for text in texts:
        masker.add_parties(store.party_names_in(text))
    return _ReportMasker(masker)


def _markdown(store: Store, found: HotspotReport | None, repeats: dict, clustering, files: list[str],
              show: Callable[[str], str]) -> str:
    first, last = date_range(store)
    lines = [
        "# 矛盾纠纷风险分析报告",
        "",
        f"生成时间：{today()}　数据范围：{first or '-'} 至 {last or '-'}　案件总数：{store.count()}",
        "",
        "## 一、本期风险预警",
        "",
    ]
    if found is None:
        lines.append("案件缺少日期、地点或类型，无法按地点和时期检验热点。")
    else:
        by_risk = {risk: sum(h.risk == risk for h in found.hotspots) for risk in RISK_COLOURS}
        lines += [
            f"检验期：**{found.period}**；统计单元：{LEVEL_NAMES[found.level]} × {TYPE_LEVEL_NAMES[found.type_level]}，"
            f"共检验 {found.cells_tested} 个单元。预警："
            + "，".join(f"{risk}色 {n} 个" for risk, n in by_risk.items()) + "。",
            "",
        ]
    if found is not None and found.hotspots:
        lines += ["| 等级 | 地点 | 类型 | 本期件数 | 预期件数 | 原因 |", "| --- | --- | --- | ---: | ---: | --- |"]
        lines += [
            f"| {h.risk} | {h.cell.place_label} | {h.cell.type} | {h.count} | {h.expected:.1f} | {show(h.why)} |"
            for h in found.hotspots[:30]
        ]
        if len(found.hotspots) > 30:
            lines.append(f"\n另有 {len(found.hotspots) - 30} 个预警未列出（见 `leian hotspots --json`）。")
    elif found is not None:
        lines.append("本期无预警。")
    lines += ["", "预警等级规则：", ""] + [f"- **{risk}**：{rule}" for risk, rule in RISK_RULES.items()]
    lines += ["", "## 二、重复纠纷", ""]
    if repeats["parties"] or repeats["addresses"]:
        lines += ["| 对象 | 件数 | 首次 | 最近 |", "| --- | ---: | --- | --- |"]
        lines += [f"| 当事人 {show(p['name'])} | {p['cases']} | {p['first'] or '-'} | {p['last'] or '-'} |" for p in repeats["parties"]]
        lines += [f"| 地址 {show.address(a['address'])} | {a['cases']} | {a['first'] or '-'} | {a['last'] or '-'} |"
                  for a in repeats["addresses"]]
    else:
        lines.append("未发现同一当事人或同一地址三件及以上的重复纠纷。")
    if clustering is not None:
        lines += ["", "## 三、主题聚类", "",
                  f"共 {len(clustering.clusters)} 个主题，未归类 {len(clustering.noise)} 件。", "",
                  "| 主题（关键词） | 件数 | 主要类型 | 主要地点 | 新兴 |", "| --- | ---: | --- | --- | --- |"]
        lines += [
            f"| {show('、'.join(c.keywords[:6]))} | {c.size} | {'、'.join(t for t, _ in c.types) or '-'} | "
            f"{'、'.join(p for p, _ in c.places) or '-'} | {'是' if c.emerging else ''} |"
            for c in clustering.clusters[:20]
        ]
    lines += ["", "## 附图", ""]
    lines += [f"![{name}]({name})" for name in files if name.endswith(".png")]
    lines += ["", "说明：预警基于负二项分布检验（本单元历史基线向同类单元收缩），经 Benjamini-Hochberg 多重比较校正；"
              "件数过少的单元不预警。结果供研判参考，需结合实地核查。", ""]
    return "\n".join(lines)
