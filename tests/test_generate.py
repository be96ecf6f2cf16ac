"""The scenario generator: determinism, valid records, planted truth, variety, proportions, CLI."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from itertools import combinations

import numpy as np
import pytest
from click.testing import CliRunner
from leian.data import generate_text as words
from leian.data.generate import Generator, Profile, generate_to_file
from leian.data.ingest import ingest
from leian.data.normalize import normalize_name, normalize_phone
from leian.data.record import validate
from leian.data.store import Store
from leian.data.taxonomy import Taxonomy

from leian.cli import cli

N = 10_000
SEED = 7


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated")
    cases_path, truth_path = folder / "cases.jsonl", folder / "truth.json"
    generate_to_file(cases_path, N, SEED, truth_path=truth_path)
    records = [json.loads(line) for line in cases_path.read_text(encoding="utf-8").splitlines()]
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    cases = {r["id"]: validate(r) for r in records}
    return {"path": cases_path, "records": records, "truth": truth, "cases": cases}


def test_same_seed_same_bytes_and_other_seeds_differ(tmp_path):
    outputs = []
    for run, seed in enumerate((11, 11, 12)):
        cases, truth = tmp_path / f"c{run}.jsonl", tmp_path / f"t{run}.json"
        generate_to_file(cases, 1500, seed, truth_path=truth)
        outputs.append((cases.read_bytes(), truth.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[2][0] and outputs[0][1] != outputs[2][1]


def test_generated_records_ingest_without_rejects(generated, tmp_path):
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in generated["records"][:3000]),
                      encoding="utf-8")
    with Store(tmp_path / "cases.sqlite") as store:
        report = ingest(store, [sample], rejects_dir=tmp_path / "rejects")
        assert (report.rejected, report.stored, store.count()) == (0, 3000, 3000)
        assert not report.unmapped_types


def test_dates_outcomes_and_fields_are_consistent(generated):
    truth = generated["truth"]
    first, last = truth["date_range"]
    for case in generated["cases"].values():
        assert first <= case.occurred_on <= case.reported_on <= last
        assert (case.closed_on is None) == (case.outcome == "处理中")
        if case.closed_on:
            assert case.reported_on <= case.closed_on <= last
        assert case.category and case.channel in words.OPENINGS
        assert case.location["grid"].startswith(case.location["community"])
        assert case.mediators and case.mediators[0].org
        if case.outcome in ("调解成功", "司法确认") and case.amount:
            assert f"{case.amount:g}元" in case.agreement  # the agreement names the agreed sum
        if case.outcome not in ("调解成功", "司法确认"):
            assert case.agreement is None
    kinds = Counter(p.kind for c in generated["cases"].values() for p in c.parties)
    assert kinds["person"] and kinds["organization"] and kinds["group"]
    assert any(p.id_number for c in generated["cases"].values() for p in c.parties)
    grids = Counter(com for towns in words.PLACES.values() for coms in towns.values() for com in coms)
    assert max(grids.values()) == 1  # community (and so grid) names say where they are
    provinces = {c.location["province"] for c in generated["cases"].values()}
    assert provinces == {"广东省", "山西省", "甘肃省", "重庆市"}


def test_proportions_follow_the_profile(generated):
    cases = list(generated["cases"].values())
    profile = Profile()
    total = sum(profile.categories.values())
    shares = Counter(c.category for c in cases)
    for category, weight in profile.categories.items():
        assert abs(shares[category] / len(cases) - weight / total) < 0.02, category
    closed = [c for c in cases if c.outcome != "处理中"]
    success = sum(c.outcome in ("调解成功", "司法确认") for c in closed) / len(closed)
    assert 0.96 <= success <= 0.99
    assert set(Counter(c.outcome for c in cases)) == {"调解成功", "司法确认", "调解失败", "转诉讼", "转仲裁", "撤回", "处理中"}
    channels = Counter(c.channel for c in cases)
    channel_total = sum(profile.channels.values())
    for channel, weight in profile.channels.items():
        assert abs(channels[channel] / len(cases) - weight / channel_total) < 0.02, channel
    written_types = Counter(c.raw["type"] for c in cases if c.category == "邻里")
    assert len(written_types) >= 10  # registers spell types many ways
    assert any(c.subtype is None for c in cases) and sum(c.subtype is not None for c in cases) > 0.7 * len(cases)


def test_a_profile_file_changes_the_mix(tmp_path):
    profile_path = tmp_path / "profile.toml"
    profile_path.write_text('success_rate = 0.5\n[categories]\n"邻里" = 300\n', encoding="utf-8")
    gen = Generator(2000, seed=1, profile=Profile.from_file(profile_path))
    cases = [validate(r) for r in gen.records()]
    assert sum(c.category == "邻里" for c in cases) / len(cases) > 0.6
    closed = [c for c in cases if c.outcome != "处理中"]
    assert sum(c.outcome in ("调解成功", "司法确认") for c in closed) / len(closed) < 0.65
    only_medical = Profile().replace(categories={c: 0 for c in Profile().categories} | {"医疗": 1},
                                     subtypes={"医疗损害": 0})
    gen = Generator(1000, seed=2, profile=only_medical)
    cases = [validate(r) for r in gen.records()]
    assert {c.category for c in cases} == {"医疗"} and "医疗损害" not in {c.subtype for c in cases}
    assert gen.truth["spikes"] and {s["subtype"] for s in gen.truth["spikes"]} <= {"医疗费用", "医患冲突"}
    with pytest.raises(ValueError, match="不是分类体系中的大类"):
        Profile().replace(categories={"外星": 1})


def _digits(text: str) -> list[str]:
    return re.findall(r"\d+", text)


def test_truth_matches_the_written_records(generated):
    truth, cases = generated["truth"], generated["cases"]
    assert (truth["seed"], truth["n"], truth["generator_version"]) == (SEED, N, 3)
    entities = truth["entities"]
    # Entities: every mention points at a party that is a written variant of the entity.
    for entity in entities.values():
        assert len(entity["mentions"]) >= 2
        phones = set()
        for case_id, position in entity["mentions"]:
            party = cases[case_id].parties[position]
            assert party.kind == entity["kind"]
            if entity["kind"] == "person":
                assert normalize_name(party.name) == entity["name"]
            else:
                core = entity["name"][3:5]  # the brand after the city: 珠海市恒达… -> 恒达
                assert core in party.name and party.name != core
            if party.phone_norm and "*" not in party.phone_norm:
                phones.add(party.phone_norm)
        assert len(phones) <= 1
    # Repeat chains: cases exist, in time order, and every case mentions the chain's entities.
    mentioned = defaultdict(set)
    for entity_id, entity in entities.items():
        for case_id, _ in entity["mentions"]:
            mentioned[case_id].add(entity_id)
    assert len(truth["repeat_chains"]) == N // 250
    for chain in truth["repeat_chains"]:
        dates = [cases[c].occurred_on for c in chain["case_ids"]]
        assert 2 <= len(dates) <= 5 and dates == sorted(dates) and len(set(dates)) == len(dates)
        for case_id in chain["case_ids"]:
            assert set(chain["entity_ids"]) <= mentioned[case_id]
        if chain["kind"] == "same_party_same_address":
            assert len(chain["entity_ids"]) == 1
            for case_id in chain["case_ids"]:
                written = cases[case_id].location["address"]
                community = cases[case_id].location["community"]
                street = re.match(r"\D+", chain["address"].split(community, 1)[1]).group(0)
                assert _digits(written) == _digits(chain["address"]) and community + street in written
        else:
            assert chain["kind"] == "same_pair" and len(chain["entity_ids"]) == 2 and chain["address"] is None
    # Decoys: one common name, different people in different districts with different phones.
    for decoy in truth["decoys"]:
        districts, phones = set(), set()
        for entity_id in decoy["entity_ids"]:
            entity = entities[entity_id]
            assert entity["name"] == decoy["name"] and decoy["name"] in words.COMMON_NAMES
            case_id, position = entity["mentions"][0]
            districts.add(cases[case_id].location["district"])
            phones.add(cases[case_id].parties[position].phone_norm)
        assert len(districts) == len(decoy["entity_ids"]) >= 2
        assert set().union(*({c for c, _ in entities[e]["mentions"]} for e in decoy["entity_ids"])) == set(decoy["case_ids"])
    # No unlisted party shares a full phone number with a listed entity (phones are unique per person).
    listed = {(c, p) for e in entities.values() for c, p in e["mentions"]}
    entity_phones = {cases[c].parties[p].phone_norm for c, p in listed} - {None}
    for case in cases.values():
        for position, party in enumerate(case.parties):
            if (case.id, position) not in listed and party.phone_norm and "*" not in party.phone_norm:
                assert party.phone_norm not in entity_phones


def test_planted_mentions_carry_realistic_variants(generated):
    truth, cases = generated["truth"], generated["cases"]
    names, phones, orgs, addresses = set(), set(), set(), set()
    for entity in truth["entities"].values():
        for case_id, position in entity["mentions"]:
            party = cases[case_id].raw["parties"][position]
            (names if entity["kind"] == "person" else orgs).add(party["name"])
            if party.get("phone"):
                phones.add(re.sub(r"\d", "9", party["phone"]))
    for chain in truth["repeat_chains"]:
        if chain["address"]:
            addresses.update(cases[c].location["address"] for c in chain["case_ids"])
    assert any("\u3000" in n for n in names) and any(" " in n.strip() for n in names)
    assert any(normalize_name(n) != n.strip().replace(" ", "").replace("\u3000", "") for n in names)  # 繁體
    assert {"99999999999", "999-9999-9999", "999 9999 9999", "+9999999999999", "999****9999"} <= phones
    assert any(o.endswith("有限公司") for o in orgs) and any(not o.endswith("公司") for o in orgs)
    assert any(a.startswith(("珠海", "长治", "武威", "深圳", "重庆", "金湾", "宝安")) for a in addresses)


def test_spikes_stand_out_in_the_written_data(generated):
    truth, cases = generated["truth"], generated["cases"]
    assert 3 <= len(truth["spikes"]) <= 20
    taxonomy = Taxonomy.default()
    for spike in truth["spikes"]:
        by_month = Counter(c.occurred_on[:7] for c in cases.values()
                           if c.location["grid"] == spike["place"] and c.subtype == spike["subtype"])
        assert by_month[spike["period"]] == spike["count"] == len(spike["case_ids"])
        others = sum(v for k, v in by_month.items() if k != spike["period"])
        months = 24
        assert spike["baseline_per_month"] == round(others / (months - 1), 3)
        assert spike["count"] >= 4 * spike["baseline_per_month"] + 5
        assert taxonomy.parent_of(spike["subtype"]) == spike["category"]
        path = spike["path"]
        for case_id in spike["case_ids"]:
            location = cases[case_id].location
            assert {k: location[k] for k in path} == path


def _shingle_hashes(text: str) -> np.ndarray:
    return np.fromiter({hash(text[i:i + 5]) for i in range(len(text) - 4)}, dtype=np.int64).view(np.uint64)


def test_texts_vary_like_real_records(generated):
    """Near-identical texts (5-gram Jaccard > 0.9), other than planted repeats, are under 1%.

    MinHash with 24 hashes in 6 bands of 4 finds candidate pairs; each is then checked exactly.
    """
    records = generated["records"]
    texts = [r["text"] for r in records]
    rng = np.random.default_rng(0)
    a = rng.integers(1, 2**63, size=24, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=24, dtype=np.uint64)
    shingles = [_shingle_hashes(t) for t in texts]
    buckets = defaultdict(list)
    for i, hashes in enumerate(shingles):
        signature = (hashes[:, None] * a + b).min(axis=0)
        for band in range(6):
            buckets[(band, signature[band * 4:band * 4 + 4].tobytes())].append(i)
    candidates = {pair for members in buckets.values() if len(members) > 1 for pair in combinations(members, 2)}
    same_chain = {(c1, c2) for chain in generated["truth"]["repeat_chains"] for c1 in chain["case_ids"] for c2 in chain["case_ids"]}
    near = []
    for i, j in candidates:
        left, right = set(shingles[i].tolist()), set(shingles[j].tolist())
        if len(left & right) / len(left | right) > 0.9 and (records[i]["id"], records[j]["id"]) not in same_chain:
            near.append((i, j))
    assert len(near) < 0.01 * len(texts)
    assert len(set(texts)) > 0.99 * len(texts)


def test_every_subtype_has_several_templates_that_all_render():
    import random

    taxonomy = Taxonomy.default()
    subtypes = [s for subs in taxonomy.categories.values() for s in subs]
    assert set(subtypes) == set(words.SUBTYPES)
    rng = random.Random(0)
    slots = {k: "某" for k in ("A", "B", "a", "b", "community", "town", "district", "grid", "addr", "when", "rwhen",
                              "n", "m", "yrs", "age", "days", "rent", "claim", "med", "org", "amount", "k", "per",
                              "day", "due", "fix")}
    slots.update({k: v[0] for k, v in words.SLOT_WORDS.items()})
    for subtype in subtypes:
        facts = words.SUBTYPES[subtype].facts
        assert len(set(facts)) >= 3, subtype
        for template in facts:
            assert words.render(words.compile_template(template), rng, slots)
    for pool in (*words.OPENINGS.values(), *words.CATEGORY_DETAILS.values(), *words.CATEGORY_DEMANDS.values(),
                 words.CONTEXT_NOTES,
                 *words.HANDLING_CLOSINGS.values(), *words.AGREEMENTS.values(), words.METHODS, words.FIXES):
        for template in pool:
            words.render(words.compile_template(template), rng, slots)


def test_generated_ids_and_phones_are_valid(generated):
    for case in list(generated["cases"].values())[:2000]:
        assert re.fullmatch(r"G\d{7}", case.id)
        for party in case.parties:
            if party.phone and "*" not in party.phone and party.kind == "person":
                assert re.fullmatch(r"1[3-9]\d{9}", normalize_phone(party.phone))


def test_cli_generate_writes_records_and_truth(tmp_path):
    out, truth = tmp_path / "g.jsonl", tmp_path / "t.json"
    result = CliRunner().invoke(cli, ["generate", "--n", "300", "--seed", "5", "--out", str(out),
                                      "--truth", str(truth), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 300
    assert json.loads(truth.read_text(encoding="utf-8"))["n"] == 300
    bad = tmp_path / "bad.json"
    bad.write_text('{"channels": {"飞鸽传书": 3}}', encoding="utf-8")
    result = CliRunner().invoke(cli, ["generate", "--n", "10", "--out", str(out), "--profile", str(bad)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [(f"错误：{bad}：channels：'飞鸽传书' 不是已知的来源渠道"
                                                  f"（可用：{'、'.join(words.OPENINGS)}）")]
    # A file that does not parse is told where, and one that parses but is no table of settings (or gives a
    # setting that is no table of shares) what it must be: in Chinese, not json's, tomllib's or Python's English.
    for name, text, said in (("broken.json", '{"channels": {"网格员排查": 3,}}', "不是有效的 JSON，第 1 行第 26 列：字段名须用双引号括起"),
                             ("broken.toml", "success_rate = half\n", "不是有效的 TOML，第 1 行第 16 列：值无效（文字须加引号，如 \"Asia/Shanghai\"）"),
                             ("list.json", "[1]", "配置须是一组“配置项 = 值”（JSON 对象或 TOML 表），不是单个值或列表"),
                             ("shape.json", '{"categories": 5}', "配置项 categories 须是“名称 = 比例”的表（如 categories = { 邻里 = 0.3 }），不是 5")):
        broken = tmp_path / name
        broken.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["generate", "--n", "10", "--out", str(out), "--profile", str(broken)])
        assert result.exit_code == 1 and result.output.strip().splitlines() == [f"错误：{broken}：{said}"]
