"""Party entity resolution and repeat chains, measured against planted truth.

Two truths: a hand-made set of variant records covering every rule (each
party labelled with the real-world entity it stands for), and the scenario
generator's planted repeat chains and decoys. Pairwise precision and recall
are printed (run with ``-s`` to see them) and asserted.
"""
from __future__ import annotations

import itertools
import json
from collections import defaultdict

import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.data.generate import Generator, score_respondent_chains
from leian.data.record import validate
from leian.graph.repeats import all_chains, resolve_changes
from leian.home import Home

SANZAO = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "海澄村"}
PINGSHA = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "平沙镇", "community": "平塘社区"}
BAOAN = {"province": "广东省", "city": "深圳市", "district": "宝安区", "town": "新安街道", "community": "海滨社区"}
HONGQI = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "红旗镇", "community": "广益村"}

#: (case id, date, location, [(true entity, party), ...]); one rule or trap per group.
VARIANTS = [
    # phone in every format, name with spaces / full-width space / 繁體
    ("V01", "2024-01-05", SANZAO, [("wang", {"name": "王建国", "phone": "138-0000-1111"}),
                                   ("hengda", {"name": "珠海市恒达建筑劳务有限公司", "kind": "organization"})]),
    ("V02", "2024-03-09", SANZAO, [("wang", {"name": "王 建國", "phone": "+8613800001111"}),
                                   ("hengda", {"name": "珠海恒达建筑劳务公司", "kind": "organization"})]),
    ("V03", "2024-07-21", SANZAO, [("wang", {"name": "王\u3000建国", "phone": "138 0000 1111"}),
                                   ("hengda", {"name": "恒达劳务", "kind": "organization"})]),
    # masked phone: merges with the same name in the same town ...
    ("V04", "2024-09-30", SANZAO, [("wang", {"name": "王建国", "phone": "138****1111"}),
                                   ("li_mei_shop", {"name": "海澄村小卖部", "kind": "organization"})]),
    # ... but a masked phone in another district is someone else
    ("V05", "2024-10-02", BAOAN, [("wang_baoan", {"name": "王建国", "phone": "138****1111"})]),
    # ID number (the name is written differently)
    ("V06", "2024-02-01", PINGSHA, [("zhang", {"name": "张三丰", "id_number": "11010519491231002X"})]),
    ("V07", "2025-02-01", PINGSHA, [("zhang", {"name": "张 三峰", "id_number": "11010519491231002x"})]),
    # address with and without the city/district prefix, 号/号楼/室 variants
    ("V08", "2024-04-01", SANZAO, [("lixiu", {"name": "李秀英", "address": "珠海市金湾区三灶镇海澄村翠湖苑3栋502室"})]),
    ("V09", "2024-08-01", SANZAO, [("lixiu", {"name": "李秀英", "address": "三灶镇海澄村翠湖苑3号楼502"})]),
    ("V10", "2025-01-01", SANZAO, [("lixiu", {"name": "李秀英", "address": "金湾区三灶镇海澄村翠湖苑3-502"})]),
    # the same trade name in another industry or another named city is another company
    ("V11", "2024-05-05", SANZAO, [("hengda_wuye", {"name": "珠海市恒达物业服务有限公司", "kind": "organization"})]),
    ("V12", "2024-05-06", BAOAN, [("hengda_sz", {"name": "深圳市恒达建筑劳务有限公司", "kind": "organization"})]),
    # group placeholders by their lead name
    ("V13", "2024-06-01", HONGQI, [("chen_group", {"name": "陈志强等20人"}),
                                   ("village", {"name": "广益村村民委员会", "kind": "organization"})]),
    ("V14", "2024-11-01", HONGQI, [("chen_group", {"name": "陈志强等二十人", "kind": "group"}),
                                   ("village", {"name": "广益村村民委员会", "kind": "organization"})]),
    # a common name alone never merges: 王伟 in 平沙镇 and in 宝安区, with and without phones
    ("V15", "2024-03-03", PINGSHA, [("wangwei_ps", {"name": "王伟", "phone": "13911112222"})]),
    ("V16", "2024-04-04", BAOAN, [("wangwei_ba", {"name": "王伟", "phone": "13733334444"})]),
    ("V17", "2024-05-05", PINGSHA, [("wangwei_ps2", {"name": "王伟"})]),
    ("V18", "2024-06-06", BAOAN, [("wangwei_ba2", {"name": "王伟"})]),
    # ... nor in the same town with different phones
    ("V19", "2024-07-07", PINGSHA, [("wangwei_ps3", {"name": "王偉", "phone": "13955556666"})]),
    # the same pair again, no phones: the pair is the evidence
    ("V20", "2024-02-02", HONGQI, [("liufang", {"name": "刘芳"}), ("zhaogang", {"name": "赵刚"})]),
    ("V21", "2024-12-02", HONGQI, [("liufang", {"name": "刘 芳"}), ("zhaogang", {"name": "趙剛"})]),
    # anonymised names say nothing
    ("V22", "2024-02-02", HONGQI, [("wei1", {"name": "魏某"}), ("jin1", {"name": "金某"})]),
    ("V23", "2024-03-02", HONGQI, [("wei2", {"name": "魏某"}), ("jin2", {"name": "金某"})]),
]
#: Chains the variant set plants: the same pair, or the same party at the same address.
VARIANT_CHAINS = [["V01", "V02", "V03"], ["V08", "V09", "V10"], ["V13", "V14"], ["V20", "V21"]]


def _records():
    for case_id, date, location, parties in VARIANTS:
        yield {"id": case_id, "text": f"纠纷{case_id}", "occurred_on": date, "location": location,
               "parties": [party for _, party in parties]}


def _pairwise(predicted: dict, truth: dict) -> tuple[float, float, int, int]:
    """Pairwise precision and recall of a clustering of mentions against the truth."""

    def pairs(assignment):
        groups = defaultdict(list)
        for mention, entity in assignment.items():
            groups[entity].append(mention)
        return {pair for group in groups.values() for pair in itertools.combinations(sorted(group), 2)}

    found, true = pairs(predicted), pairs(truth)
    hits = len(found & true)
    return hits / max(1, len(found)), hits / max(1, len(true)), len(found), len(true)


def _resolved(store) -> dict:
    return {(r[0], r[1]): r[2] for r in store.conn.execute("SELECT case_id, position, entity_id FROM graph_mentions")}


@pytest.fixture(scope="module")
def variant_home(tmp_path_factory):
    home = Home.resolve(tmp_path_factory.mktemp("variants"))
    store = home.open_store()
    store.upsert_batch([validate(r) for r in _records()])
    notices = resolve_changes(store)
    yield home, store, notices
    store.close()


def test_every_rule_on_hand_made_variants(variant_home):
    _, store, _ = variant_home
    truth = {(case_id, i): entity for case_id, _, _, parties in VARIANTS for i, (entity, _) in enumerate(parties)}
    precision, recall, found, true = _pairwise(_resolved(store), truth)
    print(f"\nhand-made variants: pairwise precision {precision:.3f}, recall {recall:.3f} ({found} pairs found, {true} true)")
    assert (precision, recall) == (1.0, 1.0)


def test_merged_party_keeps_spellings_and_reasons(variant_home):
    home, _, _ = variant_home
    result = CliRunner().invoke(cli, ["--home", str(home.root), "party", "王建国", "--json"])
    assert result.exit_code == 0, result.output
    parties = json.loads(result.output)["parties"]
    wang = next(p for p in parties if len(p["cases"]) == 4)
    assert set(wang["names"]) == {"王建国", "王 建國", "王\u3000建国"}
    assert any("电话相同" in r for r in wang["reasons"]) and any("隐藏号码相符" in r for r in wang["reasons"])
    assert [c["case_id"] for c in wang["cases"]] == ["V01", "V02", "V03", "V04"]
    # The masked-phone 王建国 of 宝安区 is a party of its own.
    assert sorted(len(p["cases"]) for p in parties) == [1, 4]


def test_variant_chains_and_notices(variant_home):
    _, store, notices = variant_home
    chains = all_chains(store)
    assert sorted(c.case_ids for c in chains) == sorted(VARIANT_CHAINS)
    pair = next(c for c in chains if c.case_ids[0] == "V01")
    assert set(pair.parties) == {"王建国", "珠海市恒达建筑劳务有限公司"} and pair.reasons == ["同一对当事人"]
    # One notice per chain, as many as `leian repeats` lists (issue 17: they count the same thing).
    assert len(notices) == len(chains)
    assert "重复纠纷链（同一对当事人，3件）：V01 → V02 → V03；当事人 王建国/珠海市恒达建筑劳务有限公司；本次新增 V01、V02、V03" in notices
    assert not any("V17" in n or "V18" in n or "V22" in n or "V23" in n for n in notices)


def test_generator_truth_pairwise_and_decoys(tmp_path):
    generator = Generator(3000, seed=11)
    records = list(generator.records())
    truth = generator.truth
    home = Home.resolve(tmp_path)
    with home.open_store() as store:
        store.upsert_batch([validate(r) for r in records])
        resolve_changes(store)
        predicted = _resolved(store)
        kinds = {(r[0], r[1]): r[2] for r in store.conn.execute("SELECT case_id, position, kind FROM graph_mentions")}
        chains = all_chains(store)
    true_entity = {tuple(m): eid for eid, e in truth["entities"].items() for m in e["mentions"]}
    truth_assignment = {m: true_entity.get(m, m) for m in predicted}
    # Every party resolved together with a planted mention: false merges with unplanted ones count too.
    planted_entities = {predicted[m] for m in true_entity}
    planted = {m: e for m, e in predicted.items() if e in planted_entities}
    precision, recall, found, true = _pairwise(planted, {m: truth_assignment[m] for m in planted})
    persons = {m: e for m, e in predicted.items() if kinds[m] == "person"}
    person_precision, person_recall, person_found, person_true = _pairwise(persons, {m: truth_assignment[m] for m in persons})
    print(f"\ngenerator (n=3000, seed 11): planted mentions pairwise precision {precision:.3f}, recall {recall:.3f} "
          f"({found} pairs found, {true} true); all persons precision {person_precision:.3f}, recall {person_recall:.3f} "
          f"({person_found} found, {person_true} true)")
    assert precision == 1.0 and recall >= 0.95
    assert person_precision >= 0.95 and person_recall >= 0.95
    for decoy in truth["decoys"]:
        resolved_as = [{predicted[tuple(m)] for m in truth["entities"][eid]["mentions"]} for eid in decoy["entity_ids"]]
        for a, b in itertools.combinations(resolved_as, 2):
            assert not a & b, f"decoy {decoy['name']}: two people linked"
    found_chains = [c.case_ids for c in chains]
    recovered = sum(chain["case_ids"] in found_chains for chain in truth["repeat_chains"])
    print(f"repeat chains: {recovered}/{len(truth['repeat_chains'])} planted chains found exactly; {len(found_chains)} chains in all")
    assert recovered == len(truth["repeat_chains"])


def test_signals_for_search(variant_home):
    from leian.graph.signals import cases_sharing_parties, earlier_case_counts

    _, store, _ = variant_home
    # A short company name finds every company it may stand for; a place narrows it down.
    assert sorted(cases_sharing_parties(store, ["恒达劳务"])) == ["V01", "V02", "V03", "V12"]
    assert sorted(cases_sharing_parties(store, ["恒达劳务"], place={"city": "珠海市"})) == ["V01", "V02", "V03"]
    assert sorted(cases_sharing_parties(store, ["王 建國"])) == ["V01", "V02", "V03", "V04", "V05"]
    assert cases_sharing_parties(store, ["魏某"]) == {}
    assert earlier_case_counts(store, "V03") == {0: 2, 1: 2}
    assert earlier_case_counts(store, "V01") == {0: 0, 1: 0}


#: Two property companies of one town that share the trade name 华辉, and the short name that fits both.
SERVICE = {"name": "珠海市华辉物业服务有限公司", "kind": "organization"}
MANAGEMENT = {"name": "珠海华辉物业管理有限公司", "kind": "organization"}
SHORT = {"name": "华辉物业", "kind": "organization"}


def _arrivals(tmp_path, cases: list[tuple[str, list[dict]]]) -> dict[str, list[tuple[str, list[str]]]]:
    """Resolve cases one at a time in the order given: per case, (entity id, reasons) of each party."""
    with Home.resolve(tmp_path).open_store() as store:
        for case_id, parties in cases:
            store.upsert_batch([validate({"id": case_id, "text": f"物业纠纷{case_id}", "occurred_on": "2024-05-01",
                                          "location": SANZAO, "parties": parties})])
            resolve_changes(store)
        rows = store.conn.execute("SELECT case_id, entity_id, details FROM graph_mentions ORDER BY case_id, position")
        resolved = defaultdict(list)
        for case_id, entity_id, details in rows:
            resolved[case_id].append((entity_id, json.loads(details)["reasons"]))
        return resolved


def _companies(resolved) -> set[frozenset[str]]:
    """The cases grouped by the entity of their first party (the company)."""
    groups = defaultdict(set)
    for case_id, parties in resolved.items():
        groups[parties[0][0]].add(case_id)
    return {frozenset(g) for g in groups.values()}


def test_short_org_name_fitting_two_companies_joins_neither(tmp_path):
    cases = {"C1": [SERVICE], "C2": [MANAGEMENT], "C3": [SHORT], "C4": [{**SERVICE, "name": "华辉物业服务公司"}]}
    # Whichever company came first, the short name stays apart; the fuller 华辉物业服务公司 fits one only.
    for order in (["C1", "C2", "C3", "C4"], ["C2", "C1", "C3", "C4"]):
        resolved = _arrivals(tmp_path / "-".join(order), [(c, cases[c]) for c in order])
        assert _companies(resolved) == {frozenset({"C1", "C4"}), frozenset({"C2"}), frozenset({"C3"})}, order
        assert resolved["C4"][0][1] == ["单位名称相同（去除地名与公司后缀）", "同一镇街（三灶镇）"]


@pytest.mark.parametrize("evidence, short, service", [
    ("电话相同", [{**SHORT, "phone": "0756-7771234"}], [{**SERVICE, "phone": "07567771234"}]),
    ("再次与同一对方（业主甲）", [SHORT, {"name": "业主甲"}], [SERVICE, {"name": "业主甲"}]),
])
def test_stronger_evidence_picks_one_of_two_companies(tmp_path, evidence, short, service):
    cases = {"C1": service, "C2": [MANAGEMENT, {"name": "业主乙"}], "C3": short}
    for order in (["C1", "C2", "C3"], ["C2", "C1", "C3"]):
        resolved = _arrivals(tmp_path / "-".join(order), [(c, cases[c]) for c in order])
        assert _companies(resolved) == {frozenset({"C1", "C3"}), frozenset({"C2"})}, order
        assert any(evidence in reason for reason in resolved["C3"][0][1]), resolved["C3"]


NANSHUI = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "南水镇", "community": "南水村"}


def test_full_registered_name_identifies_an_organisation_across_towns(tmp_path):
    """A labour company owing wages in two towns of one district, its registered name written in full twice and short once."""
    cases = [
        ("W1", "2025-01-10", SANZAO, {"name": "珠海市恒达建筑劳务有限公司", "role": "被申请人", "kind": "organization"}),
        ("W2", "2025-02-11", PINGSHA, {"name": "珠海恒达建筑劳务有限责任公司", "role": "被申请人", "kind": "organization"}),
        ("W3", "2025-03-12", PINGSHA, {"name": "恒达劳务", "role": "被申请人", "kind": "organization"}),
        # A short name elsewhere says nothing about which 恒达 it is; another city's registered name is another company.
        ("W4", "2025-03-20", NANSHUI, {"name": "恒达劳务", "role": "被申请人", "kind": "organization"}),
        ("W5", "2025-04-01", BAOAN, {"name": "深圳市恒达建筑劳务有限公司", "role": "被申请人", "kind": "organization"}),
    ]
    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch([validate({"id": i, "text": "拖欠工资", "occurred_on": d, "location": loc,
                                      "parties": [{"name": f"工人{i}", "role": "申请人"}, company]}) for i, d, loc, company in cases])
        resolve_changes(store)
        entity = {r[0]: (r[1], json.loads(r[2])["reasons"]) for r in store.conn.execute(
            "SELECT case_id, entity_id, details FROM graph_mentions WHERE position = 1")}
    assert entity["W1"][0] == entity["W2"][0] == entity["W3"][0]
    assert entity["W2"][1] == ["登记名称相同（珠海恒达建筑劳务有限责任公司）"]
    assert len({entity["W1"][0], entity["W4"][0], entity["W5"][0]}) == 3


#: The issue's three records: 王建国 with a phone; with an address only; with both.
ORDER_TRAP = [
    ("A", "2024-01-05", SANZAO, [{"name": "王建国", "phone": "13800001111"}]),
    ("B", "2024-02-05", SANZAO, [{"name": "王建国", "address": "三灶镇海澄村东街12号"}]),
    ("C", "2024-03-05", SANZAO, [{"name": "王建国", "phone": "138-0000-1111", "address": "海澄村东街12号"}]),
]


def _outcome(store) -> tuple:
    """What resolution decided, without the entity ids: the partition of mentions, each with its reasons; the chains."""
    groups = defaultdict(set)
    for case_id, position, entity_id, details in store.conn.execute("SELECT case_id, position, entity_id, details FROM graph_mentions"):
        groups[entity_id].add((case_id, position, tuple(json.loads(details)["reasons"])))
    chains = sorted((c.kind, tuple(c.case_ids), tuple(c.reasons)) for c in all_chains(store))
    return frozenset(frozenset(g) for g in groups.values()), chains


@pytest.mark.parametrize("records", ["trap", "variants", "respondents"])
def test_resolution_does_not_depend_on_arrival_order(tmp_path, records):
    import random

    if records == "trap":
        items = [validate({"id": i, "text": "纠纷", "occurred_on": d, "location": loc, "parties": p}) for i, d, loc, p in ORDER_TRAP]
    elif records == "variants":
        items = [validate(r) for r in _records()]
    else:
        items = _respondent_cases()
    orders = [list(range(len(items))), list(reversed(range(len(items))))]
    shuffler = random.Random(5)
    orders += [shuffler.sample(range(len(items)), len(items)) for _ in range(3)]
    outcomes = []
    for number, order in enumerate(orders):
        with Home.resolve(tmp_path / f"order{number}").open_store() as store:
            # One case per ingest for the first half, then the rest at once: batches must not matter either.
            half = len(order) // 2
            for index in order[:half]:
                store.upsert_batch([items[index]])
                resolve_changes(store)
            store.upsert_batch([items[index] for index in order[half:]])
            resolve_changes(store)
            outcomes.append(_outcome(store))
    assert all(outcome == outcomes[0] for outcome in outcomes[1:])
    if records == "trap":
        partition, _ = outcomes[0]
        assert len(partition) == 1  # one 王建国: A and C share the phone, B and C the address
    if records == "respondents":
        _, chains = outcomes[0]
        assert {ids for kind, ids, _ in chains if kind == "respondent"} == {("L1", "L2", "L3"), tuple(f"M{i}" for i in range(1, 7))}


def _respondent_case(case_id, date, location, claimant, respondent, role="申请人"):
    return validate({"id": case_id, "text": f"纠纷{case_id}", "occurred_on": date, "location": location,
                     "parties": [{"role": role, **claimant}, {"role": "被申请人", **respondent}]})


def _respondent_cases() -> list:
    """A labour company owing three workers of two towns, a 物业公司 against six owners, and what is not a respondent chain."""
    labour = {"name": "珠海市恒达建筑劳务有限公司", "kind": "organization"}
    manager = {"name": "珠海市华辉物业服务有限公司", "kind": "organization"}
    return [
        # 欠薪: three workers of two towns in four months, the name in full twice and short once.
        _respondent_case("L1", "2025-01-10", SANZAO, {"name": "周一", "phone": "13700000001"}, labour),
        _respondent_case("L2", "2025-02-20", PINGSHA, {"name": "吴二", "phone": "13700000002"}, {**labour, "name": "珠海恒达建筑劳务有限公司"}),
        _respondent_case("L3", "2025-04-30", PINGSHA, {"name": "郑三", "phone": "13700000003"}, {**labour, "name": "恒达劳务"}),
        # one 物业公司 against six owners within three weeks: 群体性纠纷
        *[_respondent_case(f"M{i}", f"2025-06-{i + 1:02d}", SANZAO, {"name": f"业主{i}", "phone": f"1380000100{i}"}, manager)
          for i in range(1, 7)],
        # the same claimant three times is a pair chain, not a respondent one; two cases are too few
        *[_respondent_case(f"S{i}", f"2025-0{i}-15", HONGQI, {"name": "刘芳", "phone": "13900000009"}, {"name": "赵刚", "phone": "13900000010"})
          for i in range(1, 4)],
        _respondent_case("T1", "2025-03-01", HONGQI, {"name": "孙丽", "phone": "13600000001"}, {"name": "钱勇", "phone": "13600000002"}),
        _respondent_case("T2", "2025-05-01", HONGQI, {"name": "李平", "phone": "13600000003"}, {"name": "钱勇", "phone": "13600000002"}),
    ]


def test_respondent_chains_and_group_disputes_on_hand_made_records(tmp_path):
    from leian.graph.repeats import RepeatSettings

    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch(_respondent_cases())
        resolve_changes(store)
        chains = {tuple(c.case_ids): c for c in all_chains(store) if c.kind == "respondent"}
        stricter = [c for c in all_chains(store, RepeatSettings(respondent_min_cases=4)) if c.kind == "respondent"]
    assert set(chains) == {("L1", "L2", "L3"), tuple(f"M{i}" for i in range(1, 7))}
    labour_chain, manager_chain = chains[("L1", "L2", "L3")], chains[tuple(f"M{i}" for i in range(1, 7))]
    assert (labour_chain.group_dispute, labour_chain.claimants, labour_chain.parties) == (False, 3, ["珠海市恒达建筑劳务有限公司"])
    assert labour_chain.reasons == ["同一被申请人（珠海市恒达建筑劳务有限公司）110天内被3方申请人提起3件纠纷"]
    assert manager_chain.group_dispute and "群体性纠纷：30天内6名申请人" in manager_chain.reasons
    assert [c.case_ids[0] for c in stricter] == ["M1"]


def test_respondent_chains_and_families_on_generator_truth(tmp_path):
    from leian.graph.risk import assess

    generator = Generator(4000, seed=3)
    records = list(generator.records())
    truth = generator.truth
    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch([validate(r) for r in records])
        resolve_changes(store)
        predicted = _resolved(store)
        found = [c for c in all_chains(store) if c.kind == "respondent"]
        end = __import__("datetime").date.fromisoformat(truth["date_range"][1])
        levels = [assess(store, predicted[tuple(m)], today=end).level
                  for family in truth["families"] for eid in family["entity_ids"] for m in truth["entities"][eid]["mentions"][:1]]
    score = score_respondent_chains([(c.case_ids, c.group_dispute) for c in found], truth)
    print(f"\nrespondent chains (n=4000, seed 3): {score.line()}; families at 高: {levels.count('高')}/{len(levels)}")
    assert score.recall >= 0.95 and score.precision == 1.0 and score.group_flag_right == score.recovered
    assert score.decoys_linked == 0, "a respondent decoy was linked"
    for decoy in truth["respondent_decoys"]:
        a, b = ({predicted[tuple(m)] for m in truth["entities"][e]["mentions"]} for e in decoy["entity_ids"])
        assert not a & b, f"decoy {decoy['name']}: two companies linked"
    assert levels and all(level == "高" for level in levels)
