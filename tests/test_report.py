"""The analyst's report: real charts with a real CJK font (no tofu), and a Chinese Markdown summary."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

from matplotlib import image as mpimage
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib import font_manager

from leian.analytics.report import cjk_font_path, figure_texts, missing_glyphs, write_report
from leian.cli import cli
from leian.data.record import validate
from leian.data.store import Store

TEXTS = {
    "邻里": ["楼上卫生间漏水导致楼下天花板发霉", "邻居深夜装修噪音扰民，多次协商未果"],
    "劳动": ["工地拖欠农民工工资三个月", "外卖骑手送餐途中受伤，平台拒绝赔偿"],
    "物业": ["业主拒交物业费，物业公司停水停电", "小区电梯长期故障，物业迟迟不修"],
}
TOWNS = ["三灶镇", "红旗镇", "平沙镇", "南水镇"]


def build_store(path: Path) -> Store:
    rng = np.random.default_rng(3)
    cases = []
    for town in TOWNS:
        for category, texts in TEXTS.items():
            for month in range(1, 13):
                for _ in range(rng.poisson(1.0)):
                    cases.append((town, category, texts[len(cases) % 2], f"2025-{month:02d}-{rng.integers(1, 29):02d}", None))
    for day in range(12):  # a group dispute spike in the last month
        party = {"name": "平沙镇工人等20人", "kind": "group"} if day == 0 else None
        cases.append(("平沙镇", "劳动", TEXTS["劳动"][0], f"2025-12-{day + 1:02d}", party))
    for i in range(3):  # the same party, again and again
        cases.append(("三灶镇", "邻里", TEXTS["邻里"][0], f"2025-0{3 * i + 2}-10", {"name": "王建国", "phone": "138-0000-1111"}))
    store = Store(path)
    store.upsert_batch([
        validate({"id": f"R{i:05d}", "text": text, "type": category, "occurred_on": date,
                  "location": {"city": "珠海市", "district": "金湾区", "town": town},
                  "parties": [party] if party else []})
        for i, (town, category, text, date, party) in enumerate(cases)
    ])
    return store


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    with build_store(root / "home" / "cases.sqlite") as store, warnings.catch_warnings():
        # matplotlib warns "Glyph ... missing from font" when it draws a tofu box: make that fatal.
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        result = write_report(store, root / "out", at="2025-12")
    return root, result


def test_every_chart_is_written_as_png_and_svg(written):
    root, result = written
    out = root / "out"
    for name in ("trend", "hotspots", "places", "clusters"):
        image = mpimage.imread(out / f"{name}.png")
        assert image.shape[0] > 200 and image.shape[1] > 400 and image.std() > 0.01
        assert (out / f"{name}.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert result["period"] == "2025-12" and result["hotspots"] >= 1 and result["clusters"] >= 1


def test_summary_in_chinese_names_the_hotspot_and_the_repeat_party(written):
    root, _ = written
    summary = (root / "out" / "report.md").read_text(encoding="utf-8")
    assert summary.startswith("# 矛盾纠纷风险分析报告")
    row = next(line for line in summary.splitlines() if "平沙镇" in line and line.startswith("| 红"))
    assert "劳动" in row and "群体" in row
    assert "主题聚类" in summary
    # Names masked as in the library exports: the repeat party is told apart, never named.
    assert "王建国" not in summary and "| 当事人 王某" in summary
    assert "138" not in summary.split("## 二、重复纠纷")[1]
    for name in ("trend", "hotspots", "places", "clusters"):
        assert f"![{name}.png]({name}.png)" in summary


def test_charts_show_complete_months_whole_counts_and_clusters_by_keywords(written):
    _, result = written
    texts = result["chart_texts"]
    # The data runs to 2025-12-12: December is still running and is left out of the monthly trend.
    months = [t for t in texts["trend"] if t[:4] == "2025" and len(t) == 7]
    assert months and max(months) == "2025-11"
    assert "2025-12" not in texts["places"][-1] and all("2025-12" not in t for t in texts["places"])
    # Count axes carry whole numbers only.
    for name in ("trend", "hotspots", "places", "clusters"):
        ticks = [t.replace("\u2212", "-") for t in texts[name] if t.replace(".", "", 1).replace("\u2212", "").isdigit()]
        assert ticks and all(float(t).is_integer() and "." not in t for t in ticks), (name, ticks)
    # Clusters are named by their keywords, not by ids like C3.
    assert not [t for t in texts["clusters"] if re.search(r"\bC[0-9a-f]{6}\b", t)]
    assert any("、" in t for t in texts["clusters"])


def test_an_unmasked_report_names_the_parties(tmp_path):
    with build_store(tmp_path / "home" / "cases.sqlite") as store:
        write_report(store, tmp_path / "out", at="2025-12", clusters=False, masked=False)
    assert "| 当事人 王建国 |" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def test_the_font_draws_every_character_and_the_check_can_fail():
    font = cjk_font_path()
    from matplotlib import pyplot

    figure, axes = pyplot.subplots()
    axes.set_title("三灶镇·邻里纠纷（漏水）2025年")
    axes.set_xlabel("案件数")
    texts = figure_texts(figure)
    pyplot.close(figure)
    assert "三灶镇·邻里纠纷（漏水）2025年" in texts
    assert missing_glyphs(texts, font) == set()
    # matplotlib's own default font has no Chinese: the check must notice.
    dejavu = Path(font_manager.findfont("DejaVu Sans"))
    assert missing_glyphs(["邻里纠纷"], dejavu) == set("邻里纠纷")


def test_cli_report(tmp_path):
    home = tmp_path / "home"
    build_store(home / "cases.sqlite").close()
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home), "report", "--out", str(tmp_path / "out"), "--no-clusters",
                                 "--at", "2025-12"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "hotspots.png").is_file() and not (tmp_path / "out" / "clusters.png").exists()
    missing = runner.invoke(cli, ["--home", str(tmp_path / "nowhere"), "report", "--out", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "中还没有案件库" in missing.output
