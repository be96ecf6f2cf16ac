"""Similar-case search end to end on the real model, real FAISS index and a real SQLite home."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from leian.data.ingest import ingest
from leian.data.normalize import normalize_name
from leian.data.store import SCHEMA_VERSION
from leian.embeddings.text import keywords, prepare_query, text_hash
from leian.home import Home
from leian.indexers import sync_all
from leian.search.engine import CASE_TERMS, MANIFEST, SearchEngine, reindex, sync
from leian.search.filters import FACETS, TREE_LEVELS, facets
from leian.search.fusion import relevance_label

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "promediconv.jsonl"
PLACES = [
    ("金湾区", "三灶镇", "海澄村", "海澄村第3网格"),
    ("金湾区", "红旗镇", "广益村", "广益村第1网格"),
    ("香洲区", "拱北街道", "夏湾社区", "夏湾社区第2网格"),
    ("斗门区", "井岸镇", "西湖村", "西湖村第5网格"),
]
OUTCOMES = ["调解成功", "调解成功", "调解失败", "司法确认", "转诉讼"]
CHANNELS = ["网格员排查", "12345热线", "当事人申请"]
MEDIATORS = [("李调解", "三灶镇人民调解委员会"), ("陈明", "拱北街道人民调解委员会"), ("王芳", "井岸镇司法所")]

# Hand-written paraphrases of sample cases: (case id, what a mediator might type).
PARAPHRASES = [
    ("PMC-033", "我下岗以后向朋友借了两万五千块钱开了个小饭馆，写了欠条，结果饭馆生意不好到期还不上钱"),
    ("PMC-025", "邻居退休老师在我家屋后种的桂花树和毛竹越长越高，影响我家房子，叫他砍掉他不同意"),
    ("PMC-031", "隔壁拆了老房子盖新房，挡住了我家的光照和通风，我去有关部门反映"),
    ("PMC-021", "矿业公司修山路挖出的泥土石渣乱堆，连下大雨引发泥石流，把村民家的核桃树冲毁了"),
    ("PMC-006", "企业职工干活时操作不当把几根手指弄断了，厂里付了住院医药费，家属从外地赶来要求更多赔偿"),
]


def sample_records() -> list[dict]:
    """The bundled real sample, with places, dates, channels and mediators added in a fixed pattern."""
    records = []
    start = dt.date(2023, 1, 1)
    for i, line in enumerate(SAMPLE.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        district, town, community, grid = PLACES[i % len(PLACES)]
        record["location"] = {"province": "广东省", "city": "珠海市", "district": district, "town": town, "community": community, "grid": grid}
        record["occurred_on"] = (start + dt.timedelta(days=9 * i)).isoformat()
        record["outcome"] = OUTCOMES[i % len(OUTCOMES)]
        record["channel"] = CHANNELS[i % len(CHANNELS)]
        name, org = MEDIATORS[i % len(MEDIATORS)]
        record["mediators"] = [{"name": name, "org": org}]
        records.append(record)
    return records


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    root = tmp_path_factory.mktemp("search-home")
    home = Home.resolve(root)
    source = write_jsonl(root / "cases.jsonl", sample_records())
    with home.open_store() as store:
        report = ingest(store, [source], rejects_dir=home.rejects_dir)
        assert report.ok
        sync_all(home, store)
    return home


@pytest.fixture(scope="module")
def engine(home) -> SearchEngine:
    with SearchEngine.open(home) as opened:
        yield opened


@pytest.mark.parametrize("case_id,text", PARAPHRASES)
def test_paraphrase_finds_its_case_in_top_3(engine, case_id, text):
    ids = [r["id"] for r in engine.search(text, top_k=3)["results"]]
    assert case_id in ids


def test_long_case_is_found_by_what_it_says_past_the_first_chunk(engine):
    # PMC-008 (797 characters) opens with an old woman's complaint of abuse; only its
    # second chunk tells of the hidden cameras and the divorce they led to.
    text = "妻子花钱偷偷在家里装了摄像头监控丈夫，丈夫打扫卫生时发现了，大发雷霆提出离婚，妻子死活不同意"
    vector = engine.encoder.encode([prepare_query(text)])[0]
    ids = sorted(engine.vectors.int_of)
    head_scores = dict(zip(ids, engine.vectors.vectors(ids) @ vector))
    assert sum(score > head_scores["PMC-008"] for score in head_scores.values()) >= 1  # its head alone is not first
    assert [r["id"] for r in engine.search(text, top_k=3)["results"]][0] == "PMC-008"


def test_traditional_query_finds_simplified_cases(engine):
    import opencc

    to_traditional = opencc.OpenCC("s2t")
    for case_id, text in PARAPHRASES:
        traditional = to_traditional.convert(text)
        assert traditional != text
        simplified_answer = engine.search(text, top_k=5)
        traditional_answer = engine.search(traditional, top_k=5)
        assert traditional_answer["query"] == simplified_answer["query"]
        assert case_id in [r["id"] for r in traditional_answer["results"][:3]]


def _matches(case, filters: dict) -> bool:
    checks = []
    if "type" in filters:
        checks.append(filters["type"] in (case.category, case.subtype))
    if "where" in filters:
        checks.append(filters["where"] in case.location.values())
    if "since" in filters:
        checks.append(case.date is not None and case.date >= filters["since"])
    if "until" in filters:
        checks.append(case.date is not None and case.date <= filters["until"])
    if "outcome" in filters:
        checks.append(case.outcome == filters["outcome"])
    if "channel" in filters:
        checks.append(case.channel == filters["channel"])
    if "mediator" in filters:
        checks.append(any(filters["mediator"] in (m.name, m.org) or normalize_name(filters["mediator"]) in (m.org or "") for m in case.mediators))
    return all(checks)


FILTERS = [
    {"type": "劳动"},
    {"where": "金湾区"},
    {"where": "三灶镇", "outcome": "调解成功"},
    {"where": "夏湾社区第2网格"},
    {"since": "2023-06-01", "until": "2024-03-31"},
    {"channel": "12345热线", "type": "邻里"},
    {"mediator": "王芳"},
    {"mediator": "拱北街道"},
    {"type": "婚姻家庭", "where": "斗门区", "outcome": "调解失败"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
@pytest.mark.parametrize("top_k", [3, 10])
def test_filters_hold_and_return_k_when_k_match(engine, filters, top_k):
    cases = list(engine.store.iter_cases())
    matching = {c.id for c in cases if _matches(c, filters)}
    assert matching, "each filter in this test must match some cases"
    answer = engine.search("邻居之间因为房屋和钱发生纠纷，要求赔偿", top_k=top_k, filters=filters)
    ids = [r["id"] for r in answer["results"]]
    assert set(ids) <= matching
    assert len(ids) == min(top_k, len(matching))
    for name in FACETS:
        assert sum(answer["facets"].get(name, {}).values()) <= len(matching)
    assert sum(node["count"] for node in answer["facets"]["place"]) <= len(matching)


def _tree_counts(nodes: list[dict], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Each facet-tree node's count by its path from the root, checking that children sum to their parent."""
    found = {}
    for node in nodes:
        path = (*prefix, node["name"])
        found[path] = node["count"]
        assert not node["children"] or sum(child["count"] for child in node["children"]) == node["count"]
        found.update(_tree_counts(node["children"], path))
    return found


def test_place_and_date_trees_count_the_cases_level_by_level(engine):
    cases = list(engine.store.iter_cases())[::2]
    found = facets(engine.store, [c.id for c in cases])
    places, months = Counter(), Counter()
    for case in cases:
        path = tuple(case.location[level] for level in TREE_LEVELS if case.location.get(level))
        places.update(path[:n] for n in range(1, len(path) + 1))
        months.update([(case.date[:4],), (case.date[:4], case.date[:7])])
    assert _tree_counts(found["place"]) == places
    assert [node["level"] for node in found["place"]] == ["city"]
    assert _tree_counts(found["date"]) == months
    assert [node["name"] for node in found["date"]] == sorted({case.date[:4] for case in cases}, reverse=True)


def test_search_answer_trees_match_its_flat_facets_and_a_tree_place_filters(engine):
    text = "邻居之间因为房屋和钱发生纠纷，要求赔偿"
    answer = engine.search(text, top_k=10)
    tree = _tree_counts(answer["facets"]["place"])
    assert {path[-1]: n for path, n in tree.items() if len(path) == 2} == answer["facets"]["district"]
    assert {path[-1]: n for path, n in tree.items() if len(path) == 3} == answer["facets"]["town"]
    grid, count = next((path[-1], n) for path, n in tree.items() if len(path) == 5)
    filtered = engine.search(text, top_k=10, filters={"where": grid})
    cases = engine.store.get_many([r["id"] for r in filtered["results"]])
    assert len(cases) >= min(10, count) and all(case.location["grid"] == grid for case in cases.values())


def test_result_places_name_a_grid_named_after_its_village_once(engine):
    # The sample's grids are named after their village (海澄村, 海澄村第3网格), as real registers name them.
    answer = engine.search(PARAPHRASES[1][1], top_k=8)
    expected = {f"珠海市{district}{town}{grid}" for district, town, _, grid in PLACES}
    assert answer["results"] and all(r["place"] in expected for r in answer["results"])


def test_query_attributes_raise_matching_cases_without_filtering(engine):
    text = "两家人因为宅基地上盖房子的界线吵起来了"
    plain = engine.search(text, top_k=10)
    boosted = engine.search(text, top_k=10, type="邻里", where="三灶镇")
    assert any(r["why"]["same_type"] in ("大类", "小类") for r in boosted["results"][:3])
    same_place = [r for r in boosted["results"] if r["why"]["same_place"]]
    assert same_place and all(r["why"]["same_place"]["name"] == "三灶镇" or r["why"]["same_place"]["level"] == "grid" for r in same_place)
    def share(answer):
        return sum(r["category"] == "邻里" for r in answer["results"])
    assert share(boosted) >= share(plain)


def test_result_explains_itself_and_summary_counts_outcomes(engine):
    answer = engine.search(PARAPHRASES[0][1], top_k=10)
    first = answer["results"][0]
    assert first["why"]["shared_terms"]
    assert 0 < first["why"]["dense"] <= 1.0001
    assert first["why"]["contributions"]["dense"] > 0
    relevant = [r for r in answer["results"] if r["relevance"] != "low"]
    resolved = sum(r["outcome"] in ("调解成功", "司法确认") for r in relevant)
    assert relevant and answer["summary"]["count"] == len(relevant) and answer["summary"]["resolved"] == resolved
    assert answer["summary"]["text"].startswith(f"{resolved}/{len(relevant)} 调解成功")


def test_why_similar_names_the_shared_dispute_elements(engine):
    answer = engine.search("工人干活时被机器压断了手指，老板只付了医药费，家属要求赔偿", top_k=5)
    assert {"工伤", "赔偿"} <= {e["name"] for e in answer["elements"]}
    first = answer["results"][0]
    assert first["why"]["shared_elements"] and set(first["why"]["shared_elements"]) <= set(first["elements"])
    assert answer["predicted_type"]["category"] == "劳动" and answer["predicted_type"]["text"].startswith("劳动")
    assert first["relevance"] in ("high", "medium")


def test_sample_injuries_are_not_told_as_a_leak_or_mould(engine):
    # The stored elements (what why-similar shows as 共同要素) of two injuries whose 渗 / 脱落 once read as 漏水 / 发霉.
    from leian.disputes import index as disputes

    engine.element_weights()  # brings the dispute index up to date with the store
    stored = disputes.case_elements(engine.store, ["PMC-090", "PMC-040"])
    assert stored["PMC-090"] and stored["PMC-040"]
    assert not {"漏水", "发霉"} & (set(stored["PMC-090"]) | set(stored["PMC-040"]))
    # A spoken complaint: 泡坏了 is the leak's damage, not mould, and nothing here is a faulty product.
    answer = engine.search("楼上卫生间漏水把我家天花板泡坏了，找他他不管", top_k=3)
    assert {"漏水", "天花板"} <= {e["name"] for e in answer["elements"]}
    assert not {"发霉", "商品质量"} & {e["name"] for e in answer["elements"]}


def test_cli_and_json_write_the_predicted_type_without_claiming_certainty(home):
    text = "楼上卫生间漏水，我家天花板发霉了"
    answer = json.loads(_leian(home, "search", text, "--top-k", "3", "--json").stdout)
    guess = answer["predicted_type"]
    assert guess["probability"] > 0.995 and guess["text"] == "邻里 › 漏水（99%以上）"  # the raw field stays a probability
    shown = _leian(home, "search", text, "--top-k", "3").stdout
    assert "推测类型：邻里 › 漏水（99%以上）" in shown and "100%" not in shown


def test_a_result_whose_type_counts_a_guessed_subtype_names_it_in_its_header(home):
    # Most sample cases are recorded with a 大类 only; ranking and the 同小类 reason use the 小类 the type model
    # guessed, so the header names that 小类 as a guess instead of contradicting the reason with a bare 大类.
    answer = json.loads(_leian(home, "search", PARAPHRASES[0][1], "--top-k", "10", "--json").stdout)
    guessed = {r["id"]: r["predicted_type"] for r in answer["results"] if r["predicted_type"] and r["predicted_type"]["subtype"]}
    assert guessed
    shown = _leian(home, "search", PARAPHRASES[0][1], "--top-k", "10").stdout
    blocks = {m.group(1): block for block in shown.split("\n\n") if (m := re.match(r"\d+\. \[([^\]]+)\]", block))}
    for case_id, guess in guessed.items():
        assert f"{guess['category']} › {guess['subtype']}（推测）" in blocks[case_id]
    for block in blocks.values():
        if "同小类" in block:
            assert " › " in block.splitlines()[1]


def test_the_same_text_again_is_not_encoded_again(engine):
    text = "隔壁装修电钻声从早到晚，老人睡不好觉，找物业也没用"
    first = engine.search(text, top_k=5)
    encoded = engine.encoder.texts_encoded
    assert engine.search(text, top_k=5) == first
    assert engine.search(text, top_k=5, page=2)["results"] and engine.encoder.texts_encoded == encoded
    assert engine.search(text + "，还影响孩子上网课", top_k=5) and engine.encoder.texts_encoded == encoded + 1


def test_a_query_encoded_beside_the_lexical_signals_answers_as_one_encoded_first(engine):
    """search() encodes the query in another thread while BM25 and the type model run: the answer is the one
    search_vector gives with the vector encoded beforehand, for searches from many threads at once too."""
    from concurrent.futures import ThreadPoolExecutor

    from leian.search.engine import Query

    texts = [text for _, text in PARAPHRASES[:6]] + ["樓上鄰居天天半夜蹦迪，吵得俺睡不著覺", "asdfgh 12345"]
    expected = [engine.search_vector(Query(t), engine.encoder.encode([Query(t).embedded])[0], top_k=5) for t in texts]
    engine._query_vectors.clear()  # nothing remembered: every search below encodes in the encoding thread
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda t: engine.search(t, top_k=5), texts * 2))
    assert answers == expected * 2
    assert engine._encoding is not None  # the encodings went through the engine's encoding threads


def test_candidates_read_in_two_parts_are_the_one_read_of_them_all(engine):
    """A search reads its BM25 hits while the query is encoded and the other dense hits after: together they are what
    one read of every candidate gives, the rows in its order (the facets' ties keep it), unknown ids skipped."""
    from leian.search.engine import CandidateRead

    ids = sorted(engine.store.ids(), key=text_hash)  # a fixed order that is not the store's
    lexical, dense = ids[::3] + ["没有这个案件"], [i for i in ids if i not in ids[::3]]
    whole = CandidateRead.of(engine.store, dense + lexical)
    parts = CandidateRead.of(engine.store, lexical).adding(engine.store, dense)
    assert [tuple(row) for row in parts.rows] == [tuple(row) for row in whole.rows] and len(whole.rows) == len(ids)
    assert (parts.by_id.keys(), parts.elements, parts.guesses) == (whole.by_id.keys(), whole.elements, whole.guesses)
    assert whole.elements and facets(engine.store, ids, parts.rows) == facets(engine.store, ids)


def test_nonsense_is_flagged_low_with_no_summary(engine):
    answer = engine.search("asdfgh 12345", top_k=10)
    assert answer["results"] and all(r["relevance"] == "low" for r in answer["results"])
    assert answer["total"] == 0 and answer["summary"]["count"] == 0 and answer["summary"].get("no_meaning")
    assert "没有可识别的纠纷内容" in answer["summary"]["text"] and "调解成功" not in answer["summary"]["text"]
    assert answer["predicted_type"] is None and answer["elements"] == []


def test_a_debt_told_with_names_between_its_words_is_a_dispute(engine):
    # 欠…的钱 with a party's name between: once read as 没有可识别的纠纷内容, the most common dispute a mediator types.
    answer = engine.search("郭桂敏欠王宇林的钱还没还", top_k=5)
    assert {"欠款", "拒不还钱"} <= {e["name"] for e in answer["elements"]}
    assert not answer["summary"].get("no_meaning") and "没有可识别" not in answer["summary"]["text"]


def test_cli_writes_relevance_as_a_level_and_a_rounded_probability(home):
    # A listed case is never "0%": below the floor the level alone, above it steps of 5% up to 95%.
    nonsense = _leian(home, "search", "asdfgh 12345", "--top-k", "5")
    assert nonsense.returncode == 0, nonsense.stderr
    labels = re.findall(r"相关度 (\S+)$", nonsense.stdout, re.M)
    assert labels == ["低"] * 5
    assert "相关案例约" not in nonsense.stdout  # none above the floor: the summary says so, not "约 0 件"
    text = PARAPHRASES[0][1]
    as_json, as_text = (_leian(home, "search", text, "--top-k", "5", *extra) for extra in (["--json"], []))
    assert as_json.returncode == 0 and as_text.returncode == 0, as_json.stderr + as_text.stderr
    answer, printed = json.loads(as_json.stdout), as_text.stdout
    shown = re.findall(r"相关度 (\S+)$", printed, re.M)
    assert f"相关案例约 {answer['total']} 件；第 1 页" in printed and answer["total"] > 0
    expected = [r for r in answer["results"] if r["relevance"] != "low"] + [r for r in answer["results"] if r["relevance"] == "low"]
    assert answer["results"][0]["relevance"] != "low"
    assert shown == [relevance_label(r["relevance_probability"]) for r in expected]
    for label, result in zip(shown, expected):
        if result["relevance"] == "low":
            assert label == "低"
        else:
            level, percent = re.fullmatch(r"([高中])（约(\d+)%）", label).groups()
            assert int(percent) % 5 == 0 and abs(int(percent) - 100 * result["relevance_probability"]) <= 5
            assert 50 <= int(percent) <= 95 if level == "高" else 20 <= int(percent) <= 45


def test_pages_follow_one_another_without_overlap(engine):
    text = PARAPHRASES[0][1]
    first, second = engine.search(text, top_k=5), engine.search(text, top_k=5, page=2)
    whole = engine.search(text, top_k=10)
    assert (first["page"], second["page"]) == (1, 2)
    assert [r["id"] for r in first["results"] + second["results"]] == [r["id"] for r in whole["results"]]
    assert first["total"] == whole["total"] >= 1


def test_given_type_replaces_the_predicted_one(engine):
    text = "两家人因为盖房子的界线吵起来了"
    predicted = engine.search(text, top_k=5)
    assert predicted["predicted_type"] is not None
    given = engine.search(text, top_k=5, type="邻里/相邻关系")
    assert given["predicted_type"] is None and given["results"][0]["why"]["same_type"] in ("大类", "小类")


def test_neighbors_exclude_the_case_itself(engine):
    neighbours = engine.neighbors("PMC-001", 5)
    assert len(neighbours) == 5
    assert "PMC-001" not in [i for i, _ in neighbours]
    # PMC-005 is the same story as PMC-001 in the sample.
    assert neighbours[0][0] == "PMC-005" and neighbours[0][1] > 0.99
    assert [s for _, s in neighbours] == sorted((s for _, s in neighbours), reverse=True)


def _leian(home: Home, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "leian"), "--home", str(home.root), *args],
        capture_output=True, text=True, encoding="utf-8", timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


RESULT_KEYS = {"id", "score", "title", "type", "place", "date", "outcome", "handling", "agreement", "mediators", "why"}
WHY_KEYS = {"shared_terms", "shared_elements", "same_type", "same_place", "shared_parties", "dense", "bm25", "contributions"}


def _check_contract(answer: dict, top_k: int) -> None:
    assert {"query", "results", "summary", "facets", "elements", "predicted_type", "total", "page", "top_k"} <= set(answer)
    assert len(answer["results"]) == top_k
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)
    for result in answer["results"]:
        assert RESULT_KEYS | {"elements", "relevance", "relevance_probability"} <= set(result)
        assert result["relevance"] in ("high", "medium", "low")
        assert WHY_KEYS <= set(result["why"])
        assert isinstance(result["score"], float)


def test_cli_json_matches_the_contract(home):
    done = _leian(home, "search", PARAPHRASES[1][1], "--top-k", "4", "--where", "金湾区", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    _check_contract(answer, 4)
    assert answer["filters"] == {"where": "金湾区"}
    assert all("金湾区" in r["place"] for r in answer["results"])


def test_cli_names_its_filters_in_chinese_and_says_when_they_leave_nothing(home):
    found = _leian(home, "search", PARAPHRASES[1][1], "--top-k", "3", "--where", "金湾区", "--type", "邻里").stdout
    assert "筛选：类型 邻里，地点 金湾区" in found.splitlines() and "放宽" not in found
    empty = _leian(home, "search", PARAPHRASES[1][1], "--where", "不存在镇")
    assert empty.returncode == 0 and "筛选：地点 不存在镇" in empty.stdout
    assert "在符合筛选条件的案件中没有找到；可放宽或去掉部分筛选条件。" in empty.stdout.splitlines()


def test_cli_pages_with_top_k(home):
    pages = [json.loads(_leian(home, "search", PARAPHRASES[0][1], "--top-k", "3", "--page", str(page), "--json").stdout) for page in (1, 2)]
    whole = json.loads(_leian(home, "search", PARAPHRASES[0][1], "--top-k", "6", "--json").stdout)
    assert [p["page"] for p in pages] == [1, 2] and pages[0]["total"] == whole["total"]
    assert [r["id"] for p in pages for r in p["results"]] == [r["id"] for r in whole["results"]]
    shown = _leian(home, "search", PARAPHRASES[0][1], "--top-k", "3", "--page", "2")
    assert shown.returncode == 0 and "第 2 页" in shown.stdout


def test_cli_batch_keeps_input_order(home, tmp_path):
    lines = [
        json.dumps({"text": PARAPHRASES[2][1], "type": "邻里", "where": "三灶镇"}, ensure_ascii=False),
        PARAPHRASES[3][1],
        json.dumps({"text": PARAPHRASES[0][1]}, ensure_ascii=False),
    ]
    batch = tmp_path / "queries.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = _leian(home, "search", "--batch", str(batch), "--top-k", "3", "--json")
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["query"] for a in answers] == [prepare_query(PARAPHRASES[i][1]) for i in (2, 3, 0)]
    for answer, expected in zip(answers, ("PMC-031", "PMC-021", "PMC-033")):
        _check_contract(answer, 3)
        assert expected in [r["id"] for r in answer["results"]]


def test_cli_bad_batch_line_is_one_plain_error(home, tmp_path):
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"text": "漏水"}\n{"type": "邻里"}\n', encoding="utf-8")
    done = _leian(home, "search", "--batch", str(batch), "--json")
    assert done.returncode != 0
    assert "第 2 行" in done.stderr and "text" in done.stderr and "Traceback" not in done.stderr
    batch.write_text('{"text": "漏水"}\n{"text": \n', encoding="utf-8")
    done = _leian(home, "search", "--batch", str(batch), "--json")
    assert done.returncode != 0 and done.stderr.strip() == f"错误：{batch} 第 2 行第 9 列：不是有效的 JSON（此处应为一个值）"


@pytest.fixture
def small_home(tmp_path) -> Home:
    home = Home.resolve(tmp_path / "small")
    source = write_jsonl(tmp_path / "small.jsonl", sample_records()[20:45])
    with home.open_store() as store:
        assert ingest(store, [source], rejects_dir=home.rejects_dir).ok
        sync(home, store)
    return home


def test_candidates_are_read_from_indexes_alone(engine):
    """A search reads its candidates' columns and elements from covering indexes, never from the cases' rows."""
    from leian.search.engine import CandidateRead

    ids, statements = engine.store.ids()[:5], []
    engine.store.conn.set_trace_callback(statements.append)
    try:
        CandidateRead.of(engine.store, ids)
    finally:
        engine.store.conn.set_trace_callback(None)
    plans = {sql.split(" FROM ")[1].split()[0]: " ".join(row[3] for row in engine.store.conn.execute("EXPLAIN QUERY PLAN " + sql))
             for sql in statements if " IN (" in sql and "case_type_guess" not in sql}
    assert set(plans) == {"cases", "case_elements"}
    assert all("COVERING INDEX" in plan and "TEMP B-TREE" not in plan for plan in plans.values()), plans


def test_an_older_store_gets_the_candidate_indexes_once_with_the_same_answers(small_home):
    """A store made before the candidate indexes (schema v1, ``disputes`` at v1) gets them when it is opened, once;
    searches answer as before."""
    text = PARAPHRASES[1][1]
    with SearchEngine.open(small_home) as engine:
        expected = engine.search(text, top_k=5)
        versions = dict(engine.store.conn.execute("SELECT component, version FROM component_schema"))
    assert versions["disputes"] == 2
    with small_home.open_store() as store, store.transaction() as conn:
        conn.execute("DROP INDEX cases_candidate")
        conn.execute("DROP INDEX case_elements_in_order")
        conn.execute("UPDATE component_schema SET version = 1 WHERE component = 'disputes'")
        conn.execute("PRAGMA user_version = 1")
    for _ in range(2):  # the second open finds everything done
        with SearchEngine.open(small_home) as engine:
            assert engine.search(text, top_k=5) == expected
            assert engine.store.schema_version == SCHEMA_VERSION == 2
            assert dict(engine.store.conn.execute("SELECT component, version FROM component_schema")) == versions
            indexes = {row[0] for row in engine.store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            assert {"cases_candidate", "case_elements_in_order"} <= indexes


def test_delete_update_persist_reload_round_trip(small_home, tmp_path):
    query = PARAPHRASES[2][1]  # PMC-031 is in the slice
    with SearchEngine.open(small_home) as engine:
        vector = engine.encoder.encode([prepare_query(query)])
        before = engine.vectors.search(vector, 5)[0]
        int_ids = dict(engine.vectors.int_of)
    assert before[0][0] == "PMC-031"

    with small_home.open_store() as store:
        store.delete(["PMC-031"])
        sync(small_home, store)
    with SearchEngine.open(small_home) as engine:
        assert "PMC-031" not in [r["id"] for r in engine.search(query, top_k=5)["results"]]
        after_delete = engine.vectors.search(vector, 4)[0]
        assert "PMC-031" not in engine.vectors
        assert engine.vectors.int_of == {k: v for k, v in int_ids.items() if k != "PMC-031"}
    assert [i for i, _ in after_delete] == [i for i, _ in before[1:5]]
    assert [s for _, s in after_delete] == pytest.approx([s for _, s in before[1:5]], abs=1e-5)

    record = next(r for r in sample_records() if r["id"] == "PMC-025")
    record["text"] = "楼上住户家卫生间漏水，渗到楼下天花板，墙皮脱落，楼下要求赔偿装修损失。"
    with small_home.open_store() as store:
        assert ingest(store, [write_jsonl(tmp_path / "update.jsonl", [record])], rejects_dir=small_home.rejects_dir).ok
        sync(small_home, store)
    with SearchEngine.open(small_home) as engine:
        assert engine.vectors.int_of["PMC-025"] == int_ids["PMC-025"]
        assert engine.search("楼上卫生间漏水把楼下天花板泡坏了", top_k=1)["results"][0]["id"] == "PMC-025"

    restored = next(r for r in sample_records() if r["id"] == "PMC-031")
    with small_home.open_store() as store:
        assert ingest(store, [write_jsonl(tmp_path / "restore.jsonl", [restored])], rejects_dir=small_home.rejects_dir).ok
        sync(small_home, store)
    with SearchEngine.open(small_home) as engine:
        assert engine.search(query, top_k=1)["results"][0]["id"] == "PMC-031"
        manifest = json.loads((small_home.index_dir / MANIFEST).read_text(encoding="utf-8"))
        assert manifest["count"] == 25 and manifest["seq"] == engine.store.last_change()
    # Only the current generation's files remain.
    files = sorted(p.name for p in small_home.index_dir.iterdir() if not p.name.startswith("."))
    assert files == sorted([MANIFEST, *manifest["vector_files"], *manifest["segments"], manifest["bm25"]])
    assert len(manifest["segments"]) == 3  # each sync wrote a delta segment, not the whole index


def test_result_keywords_are_kept_by_a_reindex_and_read_back_by_searches(small_home):
    query = PARAPHRASES[2][1]
    with small_home.open_store() as store:
        # An ingest keeps none (loading jieba's TF-IDF tables would be most of a small ingest's cost) ...
        assert store.conn.execute("SELECT COUNT(*) FROM keyword_cache").fetchone()[0] == 0
        with SearchEngine(small_home, store=store) as engine:
            computed = engine.search(query, top_k=10)
        reindex(small_home, store)
    with SearchEngine.open(small_home) as engine:
        # ... a rebuild keeps every case's, and a search reads them back: the same answer either way.
        texts = engine.store.search_texts(list(engine.vectors.int_of))
        kept = dict(engine.store.conn.execute("SELECT text_hash, terms FROM keyword_cache WHERE top_k = ?", (CASE_TERMS,)))
        assert set(kept) == {text_hash(text) for text in texts.values()}
        assert all(json.loads(kept[text_hash(text)]) == keywords(text, CASE_TERMS) for text in texts.values())
        answer = engine.search(query, top_k=10)
        assert answer == computed
        first = answer["results"][0]
        case_terms = set(json.loads(kept[text_hash(texts[first["id"]])]))
        assert first["why"]["shared_terms"] == [t for t in keywords(prepare_query(query), 20) if t in case_terms][:8]


def test_embedding_cache_avoids_re_encoding(small_home, tmp_path):
    with small_home.open_store() as store:
        with SearchEngine(small_home, store=store) as engine:
            encoder = engine.encoder
        start = encoder.texts_encoded
        report = reindex(small_home, store)
        assert report["cases"] == 25 and report["encoded"] == 0
        assert encoder.texts_encoded == start
        # Re-ingesting the same file changes nothing and encodes nothing.
        records = sample_records()[20:45]
        assert ingest(store, [write_jsonl(tmp_path / "same.jsonl", records)], rejects_dir=small_home.rejects_dir).ok
        sync_all(small_home, store)
        assert encoder.texts_encoded == start
        # One changed text: exactly one new encoding.
        records[0]["text"] += "双方最终达成分期赔付协议。"
        records[1]["handling"] = "现场勘查后背靠背调解"  # handling is not embedded
        assert ingest(store, [write_jsonl(tmp_path / "changed.jsonl", records)], rejects_dir=small_home.rejects_dir).ok
        sync_all(small_home, store)
        assert encoder.texts_encoded == start + 1
