"""The repeat alert from free text: a description that only mentions a name and an address finds the party."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.data.record import validate
from leian.graph.alert import PartyIndex, repeat_alert
from leian.graph.repeats import resolve_changes
from leian.home import Home

PLACE = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "中心村",
         "address": "三灶镇中心村西街75号"}
ELSEWHERE = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "平沙镇", "community": "平塘社区",
             "address": "平沙镇平塘社区西街75号"}
#: 梁颖 in five cases under three spellings (繁體, a full-width space), the same phone; a namesake elsewhere.
RECORDS = [
    {"id": f"L{i}", "text": "邻居拉闸断电，影响生活", "type": "邻里/相邻关系", "occurred_on": f"2025-0{i}-10", "location": PLACE,
     "parties": [{"name": name, "role": "被申请人", "phone": "13800007575"}, {"name": f"邻居{i}", "role": "申请人", "phone": f"1390000000{i}"}]}
    for i, name in enumerate(["梁颖", "梁穎", "梁\u3000颖", "梁颖", "梁颖"], 1)
] + [{"id": "X1", "text": "噪音", "occurred_on": "2025-03-01", "location": ELSEWHERE,
      "parties": [{"name": "梁颖", "phone": "13500000001"}, {"name": "陈明", "phone": "13500000002"}]}]
QUERY = "邻居梁颖又拉闸断电，我们家冰箱里的东西都坏了。她住在三灶镇中心村西街75号"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with Home.resolve(tmp_path_factory.mktemp("alert")).open_store() as opened:
        opened.upsert_batch([validate(r) for r in RECORDS])
        resolve_changes(opened)
        yield opened


def test_a_name_and_an_address_in_the_text_raise_the_alert(store):
    alert = repeat_alert(store, QUERY)
    assert [a["case_ids"] for a in alert["addresses"]] == [["L1", "L2", "L3", "L4", "L5"]]
    # The address narrows the common name to the 梁颖 of 三灶镇: one person, with her spellings, once.
    [person] = alert["parties"]
    assert person["case_ids"] == ["L1", "L2", "L3", "L4", "L5"] and person["names"] == ["梁颖", "梁穎", "梁 颖"]
    # Five neighbours against her at one address: a chain of both kinds, each the whole chain.
    assert [c["kind"] for c in person["chains"]] == ["respondent", "same_address"]
    assert all(c["case_ids"] == person["case_ids"] for c in person["chains"])
    assert alert["text"].startswith("重复纠纷提示：梁颖（梁颖、梁穎、梁 颖）已有5件纠纷")


def test_without_a_place_namesakes_are_both_listed_and_unknown_text_finds_nothing(store):
    alert = repeat_alert(store, "梁颖家又吵起来了")
    assert sorted(p["cases"] for p in alert["parties"]) == [1, 5]
    assert repeat_alert(store, "楼上漏水，天花板发霉") == {"parties": [], "addresses": [], "text": ""}
    # 西街750号 is not 西街75号.
    assert repeat_alert(store, "住在三灶镇中心村西街750号")["addresses"] == []


def test_the_index_catches_up_with_new_parties(tmp_path):
    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch([validate(r) for r in RECORDS])
        resolve_changes(store)
        index = PartyIndex(store)
        before = len(index.find(QUERY)[0]) and len(index)
        store.upsert_batch([validate({"id": "N1", "text": "欠款", "occurred_on": "2025-06-01", "location": PLACE,
                                      "parties": [{"name": "欧阳明月", "phone": "13700000001"}]})])
        resolve_changes(store)
        assert index.find("欧阳明月欠钱不还")[0] == ["欧阳明月"] and len(index) > before


def test_a_nickname_is_found_where_a_word_starts_not_inside_another_word(tmp_path):
    # 老钱 (a party's nickname) is in 我去找老钱要账, not in 不给老娘养老钱 (养老 + 钱); 小王 not in 从小王家门口过.
    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch([validate({"id": f"K{i}", "text": "欠款不还", "occurred_on": f"2025-0{i}-01", "location": PLACE,
                                      "parties": [{"name": name, "phone": f"1370000000{i}"}]})
                            for i, name in enumerate(["老钱", "小王"], 1)])
        resolve_changes(store)
        index = PartyIndex(store)
        assert index.find("我去找老钱要账，他说没钱")[0] == ["老钱"]
        assert index.find("老钱又来闹了")[0] == ["老钱"] and index.find("小王把车停在我家门口")[0] == ["小王"]
        assert index.find("儿子不给老娘养老钱")[0] == [] and index.find("每天从小王家门口过")[0] == []


def test_the_index_given_is_the_one_caught_up_and_kept(store):
    # The API keeps one index per home: the first alert fills it, the next ones only add what is new.
    index = PartyIndex(store)
    assert len(index) == 0
    first = repeat_alert(store, QUERY, index=index)
    kept = len(index)
    assert kept > 0
    assert repeat_alert(store, QUERY, index=index) == first and len(index) == kept


def test_search_json_carries_the_alert(tmp_path):
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n", encoding="utf-8")
    home = str(tmp_path / "home")
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", home, "ingest", str(source)]).exit_code == 0
    result = runner.invoke(cli, ["--home", home, "search", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["results"] and [p["case_ids"] for p in answer["repeat_alert"]["parties"]] == [["L1", "L2", "L3", "L4", "L5"]]
    text = runner.invoke(cli, ["--home", home, "search", QUERY]).output
    assert "重复纠纷提示：梁颖" in text


def test_repeat_counts_agree_everywhere(store):
    """Dashboard, search alert and address history, party timeline and chains count the same cases (issue 15)."""
    from leian.analytics.hotspots import repeat_hotspots
    from leian.graph.repeats import all_chains, party_cases, place_cases

    alert = repeat_alert(store, QUERY)
    [person] = alert["parties"]
    dashboard = repeat_hotspots(store)
    address = next(a for a in dashboard["addresses"] if a["address"].endswith("中心村西街75"))
    party = next(p for p in dashboard["parties"] if p["name"] == "梁颖")
    expected = ["L1", "L2", "L3", "L4", "L5"]
    assert address["case_ids"] == sorted(place_cases(store, "三灶镇中心村西街75号院")) == alert["addresses"][0]["case_ids"] == expected
    assert party["case_ids"] == party_cases(store, [person["party_id"]])[person["party_id"]] == person["case_ids"] == expected
    assert [c.case_ids for c in all_chains(store) if person["party_id"] in c.party_ids] == [expected, expected]
