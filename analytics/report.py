"""The analyst's report: charts (PNG and SVG) and a Markdown summary in Chinese.

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

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from leian.analytics.counts import TYPE_LEVEL_NAMES, count_cells
from leian.analytics.hotspots import RISK_RULES, HotspotReport, detect_hotspots, repeat_hotspots
from leian.data.places import LEVEL_NAMES
from leian.data.store import Store

__all__ = ["cjk_font_path", "missing_glyphs", "figure_texts", "write_report", "RISK_COLOURS", "FONT_CANDIDATES"]

#: Debian font files tried when the PyPI font package is absent.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
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


def _save(figure, out: Path, name: str) -> list[str]:
    """Check every glyph, then write ``name``.png and ``name``.svg; returns the file names."""
    from matplotlib import pyplot

    missing = missing_glyphs(figure_texts(figure), cjk_font_path())
    if missing:
        pyplot.close(figure)
        raise RuntimeError(f"图表 {name}：字体缺少这些字 {''.join(sorted(missing))}")
    files = []
    for suffix in ("png", "svg"):
        figure.savefig(out / f"{name}.{suffix}", dpi=150, bbox_inches="tight")
        files.append(f"{name}.{suffix}")
    pyplot.close(figure)
    return files


def _trend_chart(store: Store, out: Path, months: int = 24) -> list[str]:
    from matplotlib import pyplot

    rows = store.conn.execute(
        "SELECT substr(case_date, 1, 7) AS month, category, COUNT(*) FROM cases "
        "WHERE case_date IS NOT NULL AND category IS NOT NULL GROUP BY month, category"
    ).fetchall()
    if not rows:
        return []
    periods = sorted({r[0] for r in rows})[-months:]
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
    axes.grid(alpha=0.3)
    return _save(figure, out, "trend")


def _hotspot_chart(found: HotspotReport, out: Path, limit: int = 15) -> list[str]:
    from matplotlib import pyplot
    from matplotlib.patches import Patch

    spots = found.hotspots[:limit]
    if not spots:
        return []
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
    axes.set_title(f"{found.period} 风险预警（{LEVEL_NAMES[found.level]} × {TYPE_LEVEL_NAMES[found.type_level]}）")
    legend = [Patch(color=c, label=f"{risk}色预警") for risk, c in RISK_COLOURS.items()]
    axes.legend(handles=legend + [marks], fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(figure, out, "hotspots")


def _place_heatmap(store: Store, out: Path, level: str, period: str, recent: int = 12) -> list[str]:
    from matplotlib import pyplot

    table = count_cells(store, level, period, "category")
    if not table.series:
        return []
    span = slice(max(0, len(table.periods) - recent), len(table.periods))
    places: dict[str, int] = {}
    types: dict[str, int] = {}
    for cell, counts in table.series.items():
        n = int(counts[span].sum())
        places[cell.place_label] = places.get(cell.place_label, 0) + n
        types[cell.category] = types.get(cell.category, 0) + n
    top_places = sorted(places, key=lambda p: (-places[p], p))[:12]
    top_types = sorted(types, key=lambda t: (-types[t], t))[:8]
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
    figure.colorbar(image, ax=axes, label="案件数")
    return _save(figure, out, "places")


def _cluster_chart(clustering, out: Path, limit: int = 12) -> list[str]:
    from matplotlib import pyplot

    shown = clustering.clusters[:limit]
    if not shown:
        return []
    labels = [f"{c.id} {c.label}" + ("（新兴）" if c.emerging else "") for c in shown][::-1]
    figure, axes = pyplot.subplots(figsize=(10, 0.45 * len(shown) + 1.5))
    axes.barh(range(len(shown)), [c.size for c in shown][::-1],
              color=["#d62728" if c.emerging else "#7f7f7f" for c in shown][::-1])
    axes.set_yticks(range(len(shown)), labels)
    axes.set_xlabel("案件数")
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
) -> dict[str, object]:
    """Write charts and ``report.md`` into ``out``; returns what was written and found.

    ``clusters`` needs a writable store (vectors are cached in it).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _use_font()
    # Undated samples (like the bundled ProMediConv cases) still get clusters and repeats.
    dated = bool(count_cells(store, level, period, type_level).periods)
    found = detect_hotspots(store, level=level, period=period, type_level=type_level, at=at) if dated or at else None
    repeats = repeat_hotspots(store, limit=20)
    files = _trend_chart(store, out)
    if found is not None:
        files += _hotspot_chart(found, out) + _place_heatmap(store, out, level, period)
    clustering = None
    if clusters:
        from leian.analytics.clusters import cluster_cases

        clustering = cluster_cases(store, model=model)
        files += _cluster_chart(clustering, out)
    markdown = _markdown(store, found, repeats, clustering, files)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    return {
        "out": str(out),
        "files": files + ["report.md"],
        "period": found.period if found else None,
        "hotspots": len(found.hotspots) if found else None,
        "clusters": len(clustering.clusters) if clustering else None,
        "font": str(cjk_font_path()),
    }


def _markdown(store: Store, found: HotspotReport | None, repeats: dict, clustering, files: list[str]) -> str:
    first, last = store.conn.execute("SELECT MIN(case_date), MAX(case_date) FROM cases").fetchone()
    lines = [
        "# 矛盾纠纷风险分析报告",
        "",
        f"生成时间：{dt.date.today().isoformat()}　数据范围：{first or '-'} 至 {last or '-'}　案件总数：{store.count()}",
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
            f"| {h.risk} | {h.cell.place_label} | {h.cell.type} | {h.count} | {h.expected:.1f} | {h.why} |"
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
        lines += [f"| 当事人 {p['name']} | {p['cases']} | {p['first'] or '-'} | {p['last'] or '-'} |" for p in repeats["parties"]]
        lines += [f"| 地址 {a['address']} | {a['cases']} | {a['first'] or '-'} | {a['last'] or '-'} |" for a in repeats["addresses"]]
    else:
        lines.append("未发现同一当事人或同一地址三件及以上的重复纠纷。")
    if clustering is not None:
        lines += ["", "## 三、主题聚类", "",
                  f"共 {len(clustering.clusters)} 个主题，未归类 {len(clustering.noise)} 件。", "",
                  "| 编号 | 关键词 | 件数 | 主要类型 | 主要地点 | 新兴 |", "| --- | --- | ---: | --- | --- | --- |"]
        lines += [
            f"| {c.id} | {'、'.join(c.keywords[:6])} | {c.size} | {'、'.join(t for t, _ in c.types) or '-'} | "
            f"{'、'.join(p for p, _ in c.places) or '-'} | {'是' if c.emerging else ''} |"
            for c in clustering.clusters[:20]
        ]
    lines += ["", "## 附图", ""]
    lines += [f"![{name}]({name})" for name in files if name.endswith(".png")]
    lines += ["", "说明：预警基于负二项分布检验（本单元历史基线向同类单元收缩），经 Benjamini-Hochberg 多重比较校正；"
              "件数过少的单元不预警。结果供研判参考，需结合实地核查。", ""]
    return "\n".join(lines)
