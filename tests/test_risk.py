"""The 风险台账 (risk register) and 回访 on hand-made families, through the Python API and the CLI."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.data.record import validate
from leian.graph.followups import local_today, record_followup
from leian.graph.repeats import resolve_changes
from leian.graph.risk import assess, register
from leian.home import Home

SHANGDANG = {"province": "山西省", "city": "长治市", "district": "上党区", "town": "韩店街道", "community": "西故县村"}
TODAY = local_today()


def _day(days_ago: int) -> str:
    return (TODAY - dt.timedelta(days=days_ago)).isoformat()


WIFE = {"name": "李娟", "role": "申请人", "phone": "13512340001"}
HUSBAND = {"name": "张强", "role": "被申请人", "phone": "13512340002"}
#: Three 家暴 cases in six months, the last with a protective order; a single settled noise case elsewhere.
CASES = [
    {"id": "F1", "text": "李娟称丈夫张强酒后对其拳打脚踢，致其手臂受伤", "type": "婚姻家庭/家庭暴力", "occurred_on": _day(150),
     "channel": "110非警务警情", "outcome": "调解成功", "handling": "民警出具家庭暴力告诫书，调解员上门劝导"},
    {"id": "F2", "text": "张强再次殴打李娟，并扬言要同归于尽", "type": "家庭暴力", "occurred_on": _day(70),
     "channel": "110非警务警情", "outcome": "处理中", "handling": "村婚调室介入"},
    {"id": "F3", "text": "李娟反映张强砸东西、动刀威胁，已向法院申请", "type": "家庭暴力", "occurred_on": _day(10),
     "channel": "当事人申请", "outcome": "处理中", "handling": "法院发出人身安全保护令，区婚调中心跟进"},
]
NOISE = {"id": "N1", "text": "楼上装修噪音扰民，双方协商后约定施工时段", "type": "邻里/噪音", "occurred_on": _day(20),
         "outcome": "调解成功", "location": {**SHANGDANG, "community": "东故县村"},
         "parties": [{"name": "王明", "role": "申请人", "phone": "13600000001"}, {"name": "赵亮", "role": "被申请人", "phone": "13600000002"}]}


def _records() -> list[dict]:
    return [{**c, "location": SHANGDANG, "parties": [WIFE, HUSBAND]} for c in CASES] + [NOISE]


@pytest.fixture
def store(tmp_path):
    with Home.resolve(tmp_path / "home").open_store() as opened:
        opened.upsert_batch([validate(r) for r in _records()])
        resolve_changes(opened)
        yield opened


def _party(store, name: str) -> str:
    return store.conn.execute("SELECT entity_id FROM graph_mentions WHERE name = ? LIMIT 1", (name,)).fetchone()[0]


def test_three_domestic_violence_cases_with_a_protective_order_are_red(store):
    wife = assess(store, _party(store, "李娟"))
    print("\n" + json.dumps(wife.to_dict(), ensure_ascii=False))
    assert (wife.level, wife.colour, wife.cadence, wife.responsible, wife.every_days) == ("高", "红", "每周两次", "区", 3)
    reasons = "；".join(wife.reasons)
    for expected in ("180天内3件纠纷", "涉及家庭暴力", "人身安全保护令", "告诫书", "经110非警务警情转入", "最近一件处理中"):
        assert expected in reasons, expected
    assert wife.case_ids == ["F1", "F2", "F3"] and wife.due == _day(7)
    assert [h["level"] for h in wife.history][-1] == "高" and wife.history[0]["date"] == _day(150)


def test_one_settled_noise_case_is_safe(store):
    neighbour = assess(store, _party(store, "王明"))
    assert (neighbour.level, neighbour.colour, neighbour.reasons, neighbour.due) == ("平安", None, [], None)
    assert neighbour.cadence == "跟踪观察"
    assert {a.party_id for a in register(store)} == {_party(store, "李娟"), _party(store, "张强")}


def test_levels_fall_with_revisits_and_quiet_months(store):
    wife = _party(store, "李娟")
    record_followup(store, wife, "上门回访，双方情绪稳定", by="村妇联执委")
    assert assess(store, wife).level == "高"  # one revisit: not yet
    record_followup(store, wife, "再次回访，张强写下保证书", by="村婚调室")
    after = assess(store, wife)
    assert after.level == "中" and any("已回访2次，降1级" in r for r in after.reasons)
    assert (after.cadence, after.responsible) == ("每周", "镇街")
    # 70 more quiet days: one more level down; the history shows each step.
    later = assess(store, wife, today=TODAY + dt.timedelta(days=70))
    assert later.level == "低" and [h["level"] for h in later.history][-3:] == ["高", "中", "低"]


def test_quiet_months_alone_lower_the_level_step_by_step(store):
    wife = _party(store, "李娟")
    # The last case was 10 days ago; each further 60 quiet days is one level down, with no revisit recorded.
    seen = [assess(store, wife, today=TODAY + dt.timedelta(days=days)) for days in (49, 50, 110, 170)]
    assert [a.level for a in seen] == ["高", "中", "低", "微"]
    assert "已60天无新纠纷，降1级" in seen[1].reasons and "已180天无新纠纷，降3级" in seen[3].reasons
    assert [(a.colour, a.cadence, a.responsible) for a in seen[1:]] == [
        ("橙", "每周", "镇街"), ("黄", "每半月", "村"), ("蓝", "每月", "村")]


def test_register_lists_every_party_assess_puts_above_safe(tmp_path):
    """The parties the register assesses are chosen in SQL from what the rules look at; a party one rule scores on
    one case alone is among them (a single case whose mediation was ended, 终止调解: 最近一件终止调解, 1 point, 微)."""
    from leian.data.generate import Generator

    generator = Generator(400, seed=3)
    ended = _case("E1", TODAY, [{"name": "欧阳雪梅", "role": "申请人", "phone": "13600000001"}], outcome="终止调解")
    with Home.resolve(tmp_path / "home").open_store() as store:
        store.upsert_batch([validate(r) for r in [*generator.records(), *_records(), ended]])
        resolve_changes(store)
        listed = {a.party_id: a.to_dict() for a in register(store, today=TODAY)}
        parties = [r[0] for r in store.conn.execute("SELECT DISTINCT entity_id FROM graph_mentions")]
        above_safe = {p: a.to_dict() for p in parties if (a := assess(store, p, today=TODAY)).level != "平安"}
    assert {p: a["level"] for p, a in listed.items()} == {p: a["level"] for p, a in above_safe.items()}
    assert [a["reasons"] for a in listed.values() if a["case_ids"] == ["E1"]] == [["计1分，初评微风险", "最近一件终止调解"]]


def test_register_filters_by_colour_and_place(store):
    assert len(register(store, level="红")) == 2 and register(store, level="蓝") == []
    assert len(register(store, where="韩店街道")) == 2 and register(store, where="东故县村") == []
    assert register(store, where="韓店街道") == register(store, where="韩店街道")  # 繁體 input finds the place too
    with pytest.raises(ValueError, match="未知风险等级"):
        register(store, level="紫")


def test_cli_risk_and_followup_round_trip(tmp_path):
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _records()) + "\n", encoding="utf-8")
    home = str(tmp_path / "home")
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", home, "ingest", "--no-index", str(source)]).exit_code == 0
    result = runner.invoke(cli, ["--home", home, "risk", "--level", "红", "--json"])
    assert result.exit_code == 0, result.output
    parties = json.loads(result.output)["parties"]
    assert {p["name"] for p in parties} == {"李娟", "张强"}
    first = parties[0]
    assert set(first) >= {"party_id", "name", "level", "colour", "reasons", "revisit", "responsible", "case_ids"}
    assert set(first["revisit"]) >= {"every_days", "due"} and first["responsible"] in ("村", "镇街", "区")

    # The visit is dated by the local clock when it is recorded (which may be past midnight in Asia/Shanghai since
    # this module's TODAY was taken), so it is checked against the dates around the call.
    before = local_today()
    recorded = runner.invoke(cli, ["--home", home, "followup", "record", "李娟", "--note", "上门回访，情绪稳定", "--by", "周平", "--json"])
    assert recorded.exit_code == 0, recorded.output
    item = json.loads(recorded.output)
    visited = dt.date.fromisoformat(item["followup"]["local_date"])
    assert item["followup"]["by"] == "周平" and before <= visited <= local_today()
    listed = json.loads(runner.invoke(cli, ["--home", home, "followups", "--json"]).output)["followups"]
    wife = next(f for f in listed if f["party_id"] == item["party_id"])
    assert wife["last_visit"]["note"] == "上门回访，情绪稳定" and wife["due"] == (visited + dt.timedelta(days=3)).isoformat()
    due = json.loads(runner.invoke(cli, ["--home", home, "followups", "--due", "--json"]).output)["followups"]
    assert item["party_id"] not in {f["party_id"] for f in due}  # just visited: due in 3 days
    timeline = runner.invoke(cli, ["--home", home, "party", item["party_id"]]).output
    assert "回访（周平）：上门回访，情绪稳定" in timeline
    ambiguous = runner.invoke(cli, ["--home", home, "followup", "record", "无此人", "--note", "x"])
    assert ambiguous.exit_code == 1 and ambiguous.output.startswith("错误：没有名为或编号为")


def test_register_kept_in_step_equals_a_full_recomputation(tmp_path):
    """Several ingests, an edit, a deletion and recorded revisits: the facts kept from the change log give
    the register a full recomputation gives, reading only the cases that changed; so does the register kept
    between calls (:class:`KeptRegister`), assessing again only the parties those changes touched."""
    from leian.data.generate import Generator
    from leian.graph.risk import KeptRegister, refresh_facts

    generator = Generator(1500, seed=5)
    records = list(generator.records())
    end = dt.date.fromisoformat(generator.truth["date_range"][1])
    between_calls = KeptRegister()

    def everyone(store) -> list[dict]:
        return [a.to_dict() for a in register(store, today=end, include_safe=True)]

    def listed(store, kept=None, today=end) -> list[dict]:
        return [a.to_dict() for a in register(store, today=today, kept=kept)]

    with Home.resolve(tmp_path / "home").open_store() as store:
        for batch in (records[:600], records[600:1100], records[1100:] + _records()):
            store.upsert_batch([validate(r) for r in batch])
            resolve_changes(store)
            assert refresh_facts(store) == len(batch)
            everyone(store)
            assert listed(store, between_calls) == listed(store)
        assert refresh_facts(store) == 0  # nothing changed: nothing read
        assert listed(store, between_calls) == listed(store) and between_calls.assessed == 0
        edited = {**records[10], "handling": "派出所出具家庭暴力告诫书"}
        store.upsert_batch([validate(edited)])
        store.delete([records[20]["id"]])
        resolve_changes(store)
        for party in (_party(store, "李娟"), _party(store, "张强"), _party(store, "李娟")):
            record_followup(store, party, "上门回访", by="村妇联执委", now=dt.datetime(end.year, end.month, end.day, 2, tzinfo=dt.UTC))
        assert refresh_facts(store) == 2
        kept = everyone(store)
        assert listed(store, between_calls) == listed(store)
        every_party = len(register(store, today=end, include_safe=True))
        assert 0 < between_calls.assessed < 20 < every_party  # the parties of two cases and two revisited ones
        assert refresh_facts(store, full=True) == len(records) + len(_records())
        assert kept == everyone(store)
        # The next day only the parties whose assessment may differ on it are assessed again.
        tomorrow = end + dt.timedelta(days=1)
        assert listed(store, between_calls, tomorrow) == listed(store, today=tomorrow) and 0 < between_calls.assessed < every_party
    # Another process (other string hashes) finds the facts current: nothing read again.
    again = subprocess.run(
        [sys.executable, "-c", "import sys; from leian.home import Home; from leian.graph.risk import refresh_facts\n"
         "with Home.resolve(sys.argv[1]).open_store() as s: print(refresh_facts(s))", str(tmp_path / "home")],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert again.stdout.strip() == "0"
    edited_party = next(p for p in kept if records[10]["id"] in p["case_ids"] and any("告诫书" in r for r in p["reasons"]))
    assert records[20]["id"] not in {c for p in kept for c in p["case_ids"]} and edited_party
    assert len(kept) > 100 and {p["level"] for p in kept} >= {"平安", "高"}


#: Hand-made cases for the days the kept register walks through: 司马光明, whose newer, settled case is later
#: deleted (the older one is still 处理中); three cases of which the third, dated before the other two, joins their two
#: 欧阳雪梅 (one by phone, one by address), so that the second case moves to another party.
SIMA = {"name": "司马光明", "role": "申请人", "phone": "13700000009"}
OUYANG = {"name": "欧阳雪梅", "role": "申请人", "phone": "13600000001"}
OUYANG_HOME = "上党区韩店街道东故县村翠湖苑3栋502室"


def _case(case_id: str, day: dt.date, parties: list[dict], **fields) -> dict:
    """A settled 邻里 case of ``day`` in 上党区 (the area of the test's area user)."""
    return {"id": case_id, "text": f"{parties[0]['name']}反映邻里噪音纠纷", "type": "邻里/噪音", "location": SHANGDANG,
            "occurred_on": day.isoformat(), "outcome": "调解成功", "parties": parties, **fields}


def test_kept_register_across_days_changes_rules_and_an_area(tmp_path):
    """Day after day, with cases added (one dated ahead), edited, moved to another party and deleted, revisits
    recorded and the rules changed, the register kept between calls, for every case and for an area's user at once,
    equals a full recomputation at every step; a later day assesses again only the parties whose assessment may
    differ on it, and a new case in the area only its parties."""
    from leian.data.areas import Area
    from leian.data.generate import Generator
    from leian.graph.risk import RULES_FILE, KeptRegister, RiskRules

    generator = Generator(1500, seed=5)
    start = dt.date.fromisoformat(generator.truth["date_range"][1]) - dt.timedelta(days=200)
    area = Area.parse("上党区")
    between_calls = KeptRegister()
    stricter = tmp_path / "risk_rules.toml"
    stricter.write_text(RULES_FILE.read_text(encoding="utf-8").replace(
        'points = 1\nreason = "最近一件{outcome}"', 'points = 3\nreason = "最近一件{outcome}"'), encoding="utf-8")

    with Home.resolve(tmp_path / "home").open_store() as store:
        def ingest(*records: dict) -> None:
            store.upsert_batch([validate(r) for r in records])
            resolve_changes(store)

        def in_step(day: dt.date, rules: RiskRules | None = None) -> dict[str, tuple[int, int]]:
            """Per register (every case's, the area's): how many parties the kept one assessed again, and how many
            can score; each kept register equal to a full recomputation."""
            found = {}
            for name, within in (("all", None), ("area", area.case_ids(store))):
                kept = [a.to_dict() for a in register(store, today=day, rules=rules, within=within, kept=between_calls)]
                assessed = between_calls.assessed
                assert kept == [a.to_dict() for a in register(store, today=day, rules=rules, within=within)], (name, day)
                found[name] = assessed, len(register(store, today=day, rules=rules, within=within, include_safe=True))
            return found

        def just_moved_on(counts: dict[str, tuple[int, int]]) -> bool:
            return all(assessed < scoring / 2 for assessed, scoring in counts.values())

        ingest(*generator.records(), *_records())
        day = start
        assert all(assessed == scoring > 10 for assessed, scoring in in_step(day).values())  # nothing kept yet
        assert in_step(day) == {name: (0, scoring) for name, (_, scoring) in in_step(day).items()}
        for days in (1, 1, 6, 30, 60, 61, 62):
            day = start + dt.timedelta(days=days)
            assert just_moved_on(in_step(day)), day
        wife, husband = _party(store, "李娟"), _party(store, "张强")
        for party in (wife, husband, wife):
            record_followup(store, party, "上门回访", by="村妇联执委", now=dt.datetime.combine(day, dt.time(2), dt.UTC))
        assert just_moved_on(in_step(day))
        # A new case in the area, and one in it dated three weeks ahead: the area's register follows its area.
        threat = _case("L1", day, [WIFE, {"name": "李华", "role": "被申请人"}], text="李娟与李华因宅基地争吵，李华扬言报复")
        ahead = _case("L2", day + dt.timedelta(days=21), [{"name": "周大勇", "role": "申请人", "phone": "13800000077"}],
                      type="家庭暴力", text="周大勇之妻称其酒后殴打家人")
        ingest(threat, ahead)
        counts = in_step(day := day + dt.timedelta(days=1))
        assert counts["area"][0] < counts["area"][1] / 4 and just_moved_on(counts)
        for days in (1, 19, 20, 21):
            assert just_moved_on(in_step(day + dt.timedelta(days=days)))
        day += dt.timedelta(days=21)
        assert register(store, today=day, kept=between_calls, where="韩店街道") == register(store, today=day, where="韩店街道")
        ingest({**ahead, "handling": "派出所出具家庭暴力告诫书"})  # edited
        assert just_moved_on(in_step(day))
        ingest(_case("M1", day - dt.timedelta(days=40), [OUYANG]),
               _case("M2", day - dt.timedelta(days=30), [{**OUYANG, "phone": None, "address": OUYANG_HOME}], outcome="调解失败"))
        assert just_moved_on(in_step(day := day + dt.timedelta(days=1)))
        ingest(_case("M3", day - dt.timedelta(days=50), [{**OUYANG, "address": OUYANG_HOME}]))  # M2 moves to M1's party
        assert store.conn.execute("SELECT COUNT(*) FROM graph_moved").fetchone()[0] == 1
        assert just_moved_on(in_step(day))
        record_followup(store, _party(store, "欧阳雪梅"), "电话回访", by="村婚调室",
                        now=dt.datetime.combine(day, dt.time(3), dt.UTC))
        assert just_moved_on(in_step(day := day + dt.timedelta(days=2)))

        # Other rules: an unsettled last case weighs 3. Everyone is assessed again, then day by day as before.
        rules = RiskRules.load(stricter)
        ingest(_case("S1", day - dt.timedelta(days=100), [SIMA], outcome="处理中"), _case("S2", day - dt.timedelta(days=95), [SIMA]))
        assert all(assessed == scoring for assessed, scoring in in_step(day, rules).values())
        sima = _party(store, "司马光明")
        assert sima not in {a.party_id for a in register(store, today=day, rules=rules)}  # 平安: the last case settled
        store.delete(["S2", "M3"])  # S2 gone, 司马光明's last case is the unsettled one; M2 moves again
        resolve_changes(store)
        assert just_moved_on(in_step(day, rules))
        assert sima in {a.party_id for a in register(store, today=day, rules=rules, kept=between_calls)}
        for days in (1, 2, 9):
            assert just_moved_on(in_step(day + dt.timedelta(days=days), rules))
        # An earlier day than the one kept assesses everyone again.
        assert all(assessed == scoring for assessed, scoring in in_step(start, rules).values())
