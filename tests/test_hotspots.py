"""Hotspots on a real SQLite store: the generator's planted spikes are found, quiet cells stay quiet, risk rules hold."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from leian.analytics.counts import count_cells, period_of
from leian.analytics.hotspots import RISKS, detect_hotspots, repeat_hotspots
from leian.cli import cli
from leian.data.generate import generate_to_file
from leian.data.ingest import ingest
from leian.data.store import Store
from leian.graph.repeats import resolve_changes
from leian.home import Home

MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
CATEGORIES = ["邻里", "劳动", "物业", "婚姻家庭", "土地", "借贷"]
TOWNS = [(f"{d}区", f"{d}{t}镇") for d in "金香斗" for t in "东西南北"]
PLACE = {town: {"city": "珠海市", "district": district, "town": town} for district, town in TOWNS}
# (town, category, month, planted cases, party of the planted cases)
SPIKES = [
    ("金东镇", "邻里", "2025-09", 12, {"name": "海澄村村民等15人", "kind": "group"}),
    ("香西镇", "劳动", "2025-09", 10, {"name": "赵大勇", "phone": "13900000001"}),
    ("斗南镇", "物业", "2025-11", 9, None),
    ("金北镇", "土地", "2025-11", 8, None),
    ("香东镇", "借贷", "2025-12", 10, None),
    ("斗北镇", "婚姻家庭", "2025-12", 11, None),
]


class Records:
    """Records built like registers look: ids, dates, places, types, parties."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def add(self, town: str, category: str, date: str, *, party: dict | None = None, outcome: str = "调解成功",
            text: str = "纠纷") -> str:
        case_id = f"T{len(self.items) + 1:06d}"
        record = {"id": case_id, "text": f"{category}{text}", "type": category, "occurred_on": date,
                  "location": PLACE[town], "outcome": outcome}
        if party:
            record["parties"] = [party]
        self.items.append(record)
        return case_id


def build_records() -> list[dict]:
    rng = np.random.default_rng(6)
    records = Records()
    for _, town in TOWNS:
        for category in CATEGORIES:
            rate = rng.gamma(2.0, 0.6)
            for month in MONTHS:
                for _ in range(rng.poisson(rate)):
                    records.add(town, category, f"{month}-{rng.integers(1, 29):02d}")
    for town, category, month, n, party in SPIKES:
        for day in range(n):
            records.add(town, category, f"{month}-{day + 1:02d}", party=party if day < 3 else None)
    # 赵大勇 is a party of three planted cases: a repeat chain inside the spike.
    # A lone quiet cell: two cases in the tested month, none before.
    records.add("金南镇", "治安", "2025-12-03")
    records.add("金南镇", "治安", "2025-12-04")
    # A rising cell: nothing special per month, but the last three months far above the past.
    for month in MONTHS[-3:]:
        for day in range(4):
            records.add("斗西镇", "合同", f"{month}-{day * 5 + 2:02d}")
    for month in MONTHS[:-3:3]:
        records.add("斗西镇", "合同", f"{month}-15")
    # Latent risk: one party back again and again, and cases left 处理中.
    for month in ("2025-03", "2025-06", "2025-08", "2025-10"):
        records.add("香南镇", "医疗", f"{month}-10", party={"name": "钱秀英", "phone": "13700000002"})
    for day in (5, 12, 19):
        records.add("金西镇", "消费", f"2025-08-{day:02d}", outcome="处理中")
        # Fresh cases are open as a matter of course: no backlog.
        records.add("金南镇", "合同", f"2025-11-{day:02d}", outcome="处理中")
    return records.items


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    records = build_records()
    path = tmp_path_factory.mktemp("hotspots") / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    root = path.parent / "home"
    result = CliRunner().invoke(cli, ["--home", str(root), "ingest", "--no-index", str(path)])
    assert result.exit_code == 0, result.output
    return Home.resolve(root)


@pytest.fixture(scope="module")
def store(home):
    with home.open_store(readonly=True) as store:
        yield store


def test_counts_cover_every_dated_case(store):
    table = count_cells(store, "town", "month", "category")
    assert table.periods[0] == "2024-01" and table.periods[-1] == "2025-12"
    assert int(table.totals().sum()) == store.count()
    weekly = count_cells(store, "district", "week", "category")
    assert int(weekly.totals().sum()) == store.count()
    assert weekly.periods[0] == period_of("2024-01-01", "week")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """10,000 generated cases with the generator's planted spikes (its ground truth)."""
    folder = tmp_path_factory.mktemp("generated")
    generate_to_file(folder / "cases.jsonl", 10_000, 7, folder / "truth.json")
    store = Store(folder / "cases.sqlite")
    report = ingest(store, [folder / "cases.jsonl"], rejects_dir=folder / "rejects", progress=False)
    assert report.rejected == 0
    yield store, json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    store.close()


def test_planted_spikes_found_with_few_false_alarms(generated):
    store, truth = generated
    assert truth["spikes"]
    found, missed, false_alarms, unplanted = 0, [], 0, 0
    for month in sorted({spike["period"] for spike in truth["spikes"]}):
        report = detect_hotspots(store, level="grid", type_level="subtype", at=month)
        flagged = {(cell.place, cell.subtype) for cell in report.spikes}
        planted = {(s["place"], s["subtype"]) for s in truth["spikes"] if s["period"] == month}
        found += len(flagged & planted)
        missed += sorted(planted - flagged)
        false_alarms += len(flagged - planted)
        unplanted += report.cells_tested - len(planted)
    recall = found / len(truth["spikes"])
    false_alarm_rate = false_alarms / unplanted
    print(f"\ngenerated n=10000 seed=7: spike recall {recall:.3f} ({found}/{len(truth['spikes'])}), "
          f"false alarms {false_alarm_rate:.5f} ({false_alarms}/{unplanted} unplanted cells)")
    assert recall >= 0.95, f"missed {missed}"
    assert false_alarm_rate <= 0.05


def test_repeat_parties_prefer_the_graphs_resolution(generated):
    store, truth = generated
    planted = [{case for case, _ in e["mentions"]} for e in truth["entities"].values()]
    planted = [cases for cases in planted if len(cases) >= 3]

    def recall() -> float:
        found = [set(p["case_ids"]) for p in repeat_hotspots(store, limit=100_000)["parties"]]
        return sum(any(len(cases & f) >= 3 for f in found) for cases in planted) / len(planted)

    by_name_and_phone = recall()
    resolve_changes(store)
    by_graph = recall()
    print(f"\nrepeat parties with 3+ cases found: name+phone {by_name_and_phone:.2f}, graph entities {by_graph:.2f} "
          f"(of {len(planted)} planted)")
    assert by_graph >= 0.95 and by_graph > by_name_and_phone


def test_small_cells_do_not_alarm(store):
    report = detect_hotspots(store, level="town", at="2025-12")
    assert all(report_count >= 5 for report_count in (h.count for h in report.hotspots if h.risk in ("红", "橙")))
    quiet = [h for h in report.hotspots if h.cell.place == "金南镇" and h.cell.category == "治安"]
    assert quiet == []
    # Even with no correction at all, two cases are below the minimum count.
    loose = detect_hotspots(store, level="town", at="2025-12", fdr=0.5, min_count=3)
    assert not any(c.place == "金南镇" and c.category == "治安" for c in loose.spikes)


def test_risk_levels_and_reasons(store):
    by_cell = {}
    for month in ("2025-09", "2025-11", "2025-12"):
        for spot in detect_hotspots(store, level="town", at=month).hotspots:
            by_cell[(spot.cell.place, spot.cell.category, month)] = spot
    group = by_cell[("金东镇", "邻里", "2025-09")]
    assert group.risk == "红" and "群体" in group.why
    chain = by_cell[("香西镇", "劳动", "2025-09")]
    assert chain.risk == "红" and "赵大勇" in chain.why and "累计3件" in chain.why
    plain = by_cell[("斗南镇", "物业", "2025-11")]
    assert plain.risk == "橙" and plain.why.startswith("显著激增")
    rising = by_cell[("斗西镇", "合同", "2025-12")]
    assert rising.risk == "黄" and "上升趋势" in rising.why
    repeat = by_cell[("香南镇", "医疗", "2025-11")]
    assert repeat.risk == "蓝" and "钱秀英" in repeat.why
    unresolved = by_cell[("金西镇", "消费", "2025-11")]
    assert unresolved.risk == "蓝" and "超过60天仍处理中" in unresolved.why
    assert ("金南镇", "合同", "2025-11") not in by_cell
    assert all(spot.risk in RISKS and spot.why for spot in by_cell.values())


def test_repeat_parties_need_a_phone_or_id(store):
    repeats = repeat_hotspots(store)
    names = {p["name"]: p["cases"] for p in repeats["parties"]}
    assert names["钱秀英"] == 4 and names["赵大勇"] == 3
    assert "海澄村村民等15人" not in names  # no phone: a name alone is not one person


def test_cli_json_contract_and_plain_errors(home):
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(home.root), "hotspots", "--at", "2025-09", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    spots = data["hotspots"]
    assert spots and data["period"] == "2025-09"
    for key in ("place", "level", "type", "period", "count", "expected", "p_value", "risk", "why"):
        assert key in spots[0]
    assert spots[0]["risk"] == "红" and spots[0]["level"] == "town"
    bad = runner.invoke(cli, ["--home", str(home.root), "hotspots", "--at", "1999-01"])
    assert bad.exit_code == 1 and "不在数据范围内" in bad.output and "Traceback" not in bad.output
    # A label that is no period at all is told as such, not as one outside the data.
    for at, said in (("2025-13", "周期 '2025-13' 不是有效的月份（如 2025-03）"), ("2025-3", "周期 '2025-3' 不是有效的月份（如 2025-03）")):
        wrong = runner.invoke(cli, ["--home", str(home.root), "hotspots", "--at", at])
        assert wrong.exit_code == 1 and wrong.output.strip() == f"错误：{said}"
    week = runner.invoke(cli, ["--home", str(home.root), "hotspots", "--period", "week", "--at", "2025-W60"])
    assert week.exit_code == 1 and week.output.strip() == "错误：周期 '2025-W60' 不是有效的周（如 2025-W11）"
