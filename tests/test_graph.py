"""The knowledge graph, the same tests on both stores: embedded networkx and a real Bolt server (ArcadeDB).

Also: exports load back (GraphML re-read by networkx, the Cypher script
replayed into the Bolt server, neo4j-admin CSV headers), and the CLI contracts.
"""
from __future__ import annotations

import csv
import json

import networkx
import pytest
from click.testing import CliRunner

from leian.cli import cli, sample_path
from leian.data.record import validate
from leian.graph.export import export_graph, replay_cypher
from leian.graph.model import Edge, Node, case_node_id
from leian.graph.neo4j import Neo4jGraphStore
from leian.graph.networkx import NetworkxGraphStore
from leian.graph.repeats import resolve_changes
from leian.graph.sync import Similar, apply_changes
from leian.home import Home

SANZAO = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "中心村", "grid": "中心村第1网格"}
HONGQI = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "红旗镇", "community": "中心村"}
MEDIATOR = [{"name": "李梅", "org": "三灶镇人民调解委员会"}]


def _case(case_id, date, location, parties, text=None, **extra):
    return validate({"id": case_id, "text": text or f"纠纷经过{case_id}", "occurred_on": date, "location": location,
                     "parties": parties, "type": "邻里/漏水", "channel": "网格员排查", **extra})


def _cases():
    wang = {"name": "王建国", "role": "申请人", "phone": "13800001111"}
    hengda = {"name": "珠海市恒达建筑劳务有限公司", "role": "被申请人", "kind": "organization"}
    return [
        _case("R01", "2024-01-05", SANZAO, [wang, hengda], mediators=MEDIATOR),
        _case("R03", "2024-09-01", SANZAO, [{**wang, "name": "王 建國"}, {**hengda, "name": "恒达劳务"}], mediators=MEDIATOR),
        _case("R02", "2024-05-01", SANZAO, [{**wang, "phone": "138-0000-1111"}, {**hengda, "name": "珠海恒达建筑劳务公司"}]),
        _case("H01", "2024-02-01", HONGQI, [{"name": "赵刚", "phone": "13900002222"}]),
        _case("H02", "2024-03-01", HONGQI, [{"name": "钱芳", "phone": "13900003333"}]),
    ]


#: Deterministic stand-in for the search index's neighbours (the real one needs the embedding model).
SIMILAR = {"R01": [("H01", 0.88)], "H02": [("R03", 0.9)]}


def _similar(case_id):
    return SIMILAR.get(case_id, [])


@pytest.fixture(params=["networkx", "bolt"])
def graph_store(request, tmp_path):
    if request.param == "networkx":
        graph = NetworkxGraphStore(tmp_path / "graph")
    else:
        graph = Neo4jGraphStore(request.getfixturevalue("bolt_uri"))
        graph.clear()
    yield graph
    graph.close()


@pytest.fixture
def store(tmp_path):
    home = Home.resolve(tmp_path / "home")
    with home.open_store() as opened:
        opened.upsert_batch(_cases())
        resolve_changes(opened)
        yield opened


def _snapshot(graph):
    nodes = {n.id: (n.label, n.props) for n in graph.iter_nodes()}
    edges = {(e.src, e.type, e.dst): e.props for e in graph.iter_edges()}
    return nodes, edges


def test_sync_builds_the_model(graph_store, store):
    assert apply_changes(graph_store, store, similar=_similar) == 5
    nodes, edges = _snapshot(graph_store)
    # Two villages named 中心村 in different towns stay two places.
    village_a = "loc:广东省›珠海市›金湾区›三灶镇›中心村"
    village_b = "loc:广东省›珠海市›金湾区›红旗镇›中心村"
    assert nodes[village_a] == ("Location", {"name": "中心村", "level": "community", "level_name": "村社"})
    assert (village_a, "PART_OF", "loc:广东省›珠海市›金湾区›三灶镇") in edges
    assert (village_b, "PART_OF", "loc:广东省›珠海市›金湾区›红旗镇") in edges
    assert (case_node_id("R01"), "OCCURRED_IN", village_a + "›中心村第1网格") in edges
    # One resolved party per real party, with its spellings.
    parties = {k: v[1] for k, v in nodes.items() if v[0] == "Party"}
    assert sorted(p["name"] for p in parties.values()) == sorted(["珠海市恒达建筑劳务有限公司", "王建国", "赵刚", "钱芳"])
    company = next(p for p in parties.values() if p["kind"] == "organization")
    assert set(company["names"]) == {"珠海市恒达建筑劳务有限公司", "恒达劳务", "珠海恒达建筑劳务公司"} and company["case_count"] == 3
    roles = {e[0]: p["role"] for e, p in edges.items() if e[1] == "INVOLVES" and parties[e[2]]["kind"] == "organization"}
    assert roles == {"case:R01": "被申请人", "case:R02": "被申请人", "case:R03": "被申请人"}
    # Mediator, organisation, type hierarchy, channel.
    assert ("mediator:李梅@三灶镇人民调解委员会", "MEMBER_OF", "org:三灶镇人民调解委员会") in edges
    assert ("type:邻里›漏水", "SUBTYPE_OF", "type:邻里") in edges
    assert (case_node_id("H01"), "VIA", "channel:网格员排查") in edges
    # Repeat chain in time order (R01 < R02 < R03) and similar cases with their score.
    repeat = sorted((s, d) for s, t, d in edges if t == "REPEAT_OF")
    assert repeat == [("case:R02", "case:R01"), ("case:R03", "case:R02")]
    assert edges[("case:R01", "SIMILAR_TO", "case:H01")] == {"score": 0.88}
    assert graph_store.counts() == (len(nodes), len(edges))


def test_incremental_changes_match_a_fresh_build(graph_store, store, tmp_path):
    apply_changes(graph_store, store, similar=_similar)
    # R02 now names someone else; H02 is deleted.
    changed = _case("R02", "2024-05-01", SANZAO, [{"name": "孙丽", "phone": "13700001234"}])
    store.upsert_batch([changed])
    store.delete(["H02"])
    resolve_changes(store)
    assert apply_changes(graph_store, store, similar=_similar) == 2
    nodes, edges = _snapshot(graph_store)
    assert "case:H02" not in nodes and not any(e[0] == "case:H02" for e in edges)
    assert sorted((s, d) for s, t, d in edges if t == "REPEAT_OF") == [("case:R03", "case:R01")]
    assert "孙丽" in {v[1]["name"] for v in nodes.values() if v[0] == "Party"}
    assert "钱芳" not in {v[1]["name"] for v in nodes.values() if v[0] == "Party"}
    fresh = NetworkxGraphStore(tmp_path / "fresh")
    # Two changes at a time: chains and similar cases reach into later batches.
    apply_changes(fresh, store, similar=_similar, batch_size=2)
    assert (nodes, edges) == _snapshot(fresh)
    assert apply_changes(graph_store, store) == 0


def test_a_case_deleted_in_a_sync_without_similar_cases_gives_way_to_the_next_nearest_later(graph_store, store, tmp_path):
    scores = {frozenset(("R01", "H02")): 0.95, frozenset(("R01", "H01")): 0.88, frozenset(("R02", "R03")): 0.9}

    def linked_by(case_id):  # every stored case that scores case_id, best first (what the search index answers)
        pairs = [(other, scores.get(frozenset((case_id, other)))) for other in store.ids() if other != case_id]
        return sorted(((other, score) for other, score in pairs if score), key=lambda hit: -hit[1])

    nearest = Similar(lambda case_id: linked_by(case_id)[:1], linked_by, top=1)
    apply_changes(graph_store, store, similar=nearest)
    assert ("case:R01", "SIMILAR_TO", "case:H02") in _snapshot(graph_store)[1]
    store.delete(["H02"])
    resolve_changes(store)
    apply_changes(graph_store, store)  # no search index to ask: the edge to H02 goes, R01 is noted
    assert graph_store.similar_stale() == {"R01"}
    apply_changes(graph_store, store, similar=nearest)
    fresh = NetworkxGraphStore(tmp_path / "fresh")
    apply_changes(fresh, store, similar=nearest)
    assert _snapshot(graph_store) == _snapshot(fresh)
    assert _snapshot(graph_store)[1][("case:R01", "SIMILAR_TO", "case:H01")] == {"score": 0.88}
    assert graph_store.similar_stale() == set()
    graph_store.set_similar_stale({"R02"})
    graph_store.clear()
    assert graph_store.similar_stale() == set()


def test_deletes_and_moves_prune_what_no_case_uses(graph_store, store, tmp_path):
    haicheng = {**SANZAO, "community": "海澄村", "grid": "海澄村第2网格"}
    pingsha = {**HONGQI, "town": "平沙镇", "community": "平塘社区"}
    alone = {"mediators": [{"name": "陈静", "org": "海澄村调解小组"}], "type": "物业/停车", "channel": "12345热线"}
    store.upsert_batch([
        _case("G01", "2024-04-01", haicheng, [{"name": "周敏", "phone": "13600001111"}], **alone),
        _case("G02", "2024-04-02", pingsha, [{"name": "吴强", "phone": "13600002222"}]),
    ])
    resolve_changes(store)
    apply_changes(graph_store, store, similar=_similar)
    # G01 was the only case of its grid, village, mediator (the only one of its org), type and channel;
    # G02 moves from 平沙镇, where it was alone, to 红旗镇.
    store.delete(["G01"])
    store.upsert_batch([_case("G02", "2024-04-02", HONGQI, [{"name": "吴强", "phone": "13600002222"}])])
    resolve_changes(store)
    assert apply_changes(graph_store, store, similar=_similar) == 2
    nodes, edges = _snapshot(graph_store)
    fresh = NetworkxGraphStore(tmp_path / "fresh")
    apply_changes(fresh, store, similar=_similar)
    assert (nodes, edges) == _snapshot(fresh)
    district = "loc:广东省›珠海市›金湾区"
    gone = [f"{district}›三灶镇›海澄村›海澄村第2网格", f"{district}›三灶镇›海澄村", f"{district}›平沙镇›平塘社区",
            f"{district}›平沙镇", "mediator:陈静@海澄村调解小组", "org:海澄村调解小组", "type:物业›停车", "type:物业",
            "channel:12345热线"]
    assert [n for n in gone if n in nodes] == []
    kept = [f"{district}›三灶镇", district, f"{district}›红旗镇›中心村", "org:三灶镇人民调解委员会", "type:邻里", "channel:网格员排查"]
    assert [n for n in kept if n not in nodes] == []


def test_element_nodes_link_cases_to_their_dispute_elements(graph_store, store, tmp_path):
    store.upsert_batch([
        _case("E01", "2024-06-01", SANZAO, [{"name": "周敏", "phone": "13600001111"}], text="樓上衛生間漏水，我家天花板發霉了"),
        _case("E02", "2024-06-02", SANZAO, [{"name": "吴强", "phone": "13600002222"}], text="包工头跑路了，工资一直拖着没发"),
    ])
    resolve_changes(store)
    apply_changes(graph_store, store, similar=_similar)
    nodes, edges = _snapshot(graph_store)
    assert nodes["element:漏水"] == ("Element", {"name": "漏水", "role": "事由"})
    has = lambda case: sorted(d for s, t, d in edges if s == case_node_id(case) and t == "HAS_ELEMENT")
    assert has("E01") == ["element:卫生间", "element:发霉", "element:天花板", "element:漏水", "element:邻居"]
    assert has("E02") == ["element:包工头", "element:工资", "element:欠薪", "element:跑路"]
    # E01 is retold without the leak: its element nodes no other case uses are pruned, as a fresh build would.
    store.upsert_batch([_case("E01", "2024-06-01", SANZAO, [{"name": "周敏", "phone": "13600001111"}], text="隔壁深夜打麻将，吵得睡不着")])
    resolve_changes(store)
    apply_changes(graph_store, store, similar=_similar)
    nodes, edges = _snapshot(graph_store)
    assert "element:漏水" not in nodes and has("E01") == ["element:噪音", "element:深夜扰民", "element:生活噪音源", "element:邻居"]
    fresh = NetworkxGraphStore(tmp_path / "fresh")
    apply_changes(fresh, store, similar=_similar)
    assert (nodes, edges) == _snapshot(fresh)
    # Every export carries them.
    export_graph(graph_store, "neo4j-csv", tmp_path / "csv")
    assert "element:欠薪" in (tmp_path / "csv" / "nodes_Element.csv").read_text(encoding="utf-8")
    assert (tmp_path / "csv" / "relationships_HAS_ELEMENT.csv").is_file()
    export_graph(graph_store, "graphml", tmp_path / "g.graphml")
    assert networkx.read_graphml(tmp_path / "g.graphml", force_multigraph=True).nodes["element:欠薪"]["label"] == "Element"
    export_graph(graph_store, "cypher", tmp_path / "g.cypher")
    assert "MERGE (a)-[r:HAS_ELEMENT]->(b)" in (tmp_path / "g.cypher").read_text(encoding="utf-8")


def test_sample_injuries_get_no_leak_or_mould_element_nodes(graph_store, store):
    # PMC-090 (血渗出) and PMC-040 (耳上端脱落) are injuries; 渗 and 脱落 once made them 漏水 and 发霉.
    sample = {r["id"]: r for r in map(json.loads, sample_path().read_text(encoding="utf-8").splitlines())}
    store.upsert_batch([_case(i, "2024-06-01", SANZAO, [{"name": "周敏", "phone": "13600001111"}], text=sample[i]["text"])
                        for i in ("PMC-090", "PMC-040")])
    resolve_changes(store)
    apply_changes(graph_store, store, similar=_similar)
    _, edges = _snapshot(graph_store)
    for case in ("PMC-090", "PMC-040"):
        elements = {d for s, t, d in edges if s == case_node_id(case) and t == "HAS_ELEMENT"}
        assert elements and not elements & {"element:漏水", "element:发霉"}, elements


def test_unreferenced_lists_existing_nodes_nothing_points_at(graph_store):
    graph_store.upsert_nodes([Node("case:A", "Case"), Node("loc:镇", "Location"), Node("loc:镇›村", "Location"),
                              Node("org:会", "Organization")])
    graph_store.upsert_edges([Edge("case:A", "OCCURRED_IN", "loc:镇›村"), Edge("loc:镇›村", "PART_OF", "loc:镇")])
    ids = ["org:会", "loc:镇", "loc:镇›村", "case:A", "loc:无"]
    assert graph_store.unreferenced(ids) == ["org:会", "case:A"]


def test_two_hop_neighbourhood_walks_parties_not_hubs(graph_store, store):
    apply_changes(graph_store, store, similar=_similar)
    nodes, edges = graph_store.neighborhood(case_node_id("R01"), hops=2)
    cases = sorted(n for n in nodes if n.startswith("case:"))
    # R02/R03 through the shared parties, H01 as a similar case; H02 shares only
    # the type and channel hubs (its similar case R03 is two hops away already).
    assert cases == ["case:H01", "case:R01", "case:R02", "case:R03"]
    one_hop = sorted(n for n in graph_store.neighborhood(case_node_id("R01"), hops=1)[0] if n.startswith("case:"))
    assert one_hop == ["case:H01", "case:R01", "case:R02"]  # R02 REPEAT_OF R01
    assert "type:邻里›漏水" in nodes and "mediator:李梅@三灶镇人民调解委员会" in nodes
    assert all(e.src in nodes and e.dst in nodes for e in edges)


def test_graphml_export_reads_back(graph_store, store, tmp_path):
    apply_changes(graph_store, store, similar=_similar)
    written = export_graph(graph_store, "graphml", tmp_path / "graph.graphml")
    again = networkx.read_graphml(tmp_path / "graph.graphml", force_multigraph=True)
    assert written == graph_store.counts() == (again.number_of_nodes(), again.number_of_edges())
    assert again.nodes["case:R01"]["category"] == "邻里" and again.nodes["case:R01"]["label"] == "Case"
    company = next(n for n, data in again.nodes(data=True) if data.get("kind") == "organization")
    assert "恒达劳务" in json.loads(again.nodes[company]["names"])


def test_cypher_export_replays_into_bolt(bolt_uri, store, tmp_path):
    local = NetworkxGraphStore(tmp_path / "graph")
    apply_changes(local, store, similar=_similar)
    export_graph(local, "cypher", tmp_path / "graph.cypher")
    with Neo4jGraphStore(bolt_uri) as server:
        server.clear()
        statements = replay_cypher(tmp_path / "graph.cypher", server.write)
        assert statements > 10
        assert server.counts() == local.counts()
        assert _snapshot(server) == _snapshot(local)


def test_neo4j_csv_export_has_import_headers(store, tmp_path):
    local = NetworkxGraphStore(tmp_path / "graph")
    apply_changes(local, store, similar=_similar)
    nodes_written, edges_written = export_graph(local, "neo4j-csv", tmp_path / "csv")
    ids, node_rows, edge_rows = set(), 0, 0
    for path in sorted((tmp_path / "csv").glob("nodes_*.csv")):
        rows = list(csv.reader(path.open(encoding="utf-8")))
        assert rows[0][:2] == ["id:ID", ":LABEL"] and all(":" in h for h in rows[0])
        ids.update(r[0] for r in rows[1:])
        node_rows += len(rows) - 1
    for path in sorted((tmp_path / "csv").glob("relationships_*.csv")):
        rows = list(csv.reader(path.open(encoding="utf-8")))
        assert rows[0][:3] == [":START_ID", ":END_ID", ":TYPE"]
        assert all(r[0] in ids and r[1] in ids for r in rows[1:])
        edge_rows += len(rows) - 1
    party_header = next(csv.reader((tmp_path / "csv" / "nodes_Party.csv").open(encoding="utf-8")))
    assert "names:string[]" in party_header and "case_count:long" in party_header
    assert (node_rows, edge_rows) == (nodes_written, edges_written) == local.counts()
    assert "neo4j-admin database import full" in (tmp_path / "csv" / "import.sh").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory):
    """A home with the bundled sample and the repeat cases, ingested without the search index."""
    home = tmp_path_factory.mktemp("cli-home")
    path = home / "repeats.jsonl"
    path.write_text("\n".join(json.dumps(c.raw, ensure_ascii=False) for c in _cases()) + "\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["--home", str(home), "ingest", "--no-index", str(sample_path()), str(path)]).exit_code == 0
    return home


def test_repeats_cli_contract(cli_home):
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(cli_home), "repeats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["chains"]
    chain = next(c for c in data["chains"] if "R01" in c["case_ids"])
    assert {k: chain[k] for k in ("case_ids", "kind", "parties", "reasons")} == {
        "case_ids": ["R01", "R02", "R03"], "kind": "same_parties", "parties": ["王建国", "珠海市恒达建筑劳务有限公司"],
        "reasons": ["同一对当事人"]}
    assert len(chain["party_ids"]) == 2 and chain["chain_id"] == "same_parties:R01"
    # Link chains are maximal: no case in two of them; the anonymised sample (魏某, 张某 ...) forms none.
    members = [c for chain in data["chains"] if chain["kind"] != "respondent" for c in chain["case_ids"]]
    assert len(members) == len(set(members)) and not any(c.startswith("PMC") for c in members)
    text = runner.invoke(cli, ["--home", str(cli_home), "repeats"])
    assert "R01 → R02 → R03" in text.output


def test_neighbors_at_one_hop_does_not_say_a_party_has_no_other_cases(cli_home):
    runner = CliRunner()
    near = runner.invoke(cli, ["--home", str(cli_home), "neighbors", "R02", "--hops", "1"])
    assert near.exit_code == 0 and "当事人 王建国（申请人，" in near.output
    assert "其他案件：未展开（加 --hops 2 列出）" in near.output and "其他案件：无" not in near.output
    assert "其他案件：R01、R03" in runner.invoke(cli, ["--home", str(cli_home), "neighbors", "R02"]).output


def test_neighbors_and_party_cli(cli_home, bolt_uri):
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(cli_home), "neighbors", "R02", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["place"] == ["广东省", "珠海市", "金湾区", "三灶镇", "中心村", "中心村第1网格"]
    assert {p["name"]: p["other_cases"] for p in data["parties"]} == {"王建国": ["R01", "R03"], "珠海市恒达建筑劳务有限公司": ["R01", "R03"]}
    assert data["repeat_of"] == ["R01"] and data["repeated_by"] == ["R03"]
    on_bolt = runner.invoke(cli, ["--home", str(cli_home), "neighbors", "R02", "--json", "--graph", bolt_uri])
    assert on_bolt.exit_code == 0, on_bolt.output
    assert {k: v for k, v in json.loads(on_bolt.output).items()} == data
    party = json.loads(runner.invoke(cli, ["--home", str(cli_home), "party", "恒达劳务", "--json"]).output)
    assert [c["case_id"] for c in party["parties"][0]["cases"]] == ["R01", "R02", "R03"]
    missing = runner.invoke(cli, ["--home", str(cli_home), "neighbors", "NOPE"])
    assert missing.exit_code == 1 and missing.output.strip() == "错误：没有编号为 'NOPE' 的案件"
    bad_uri = runner.invoke(cli, ["--home", str(cli_home), "neighbors", "R02", "--graph", "http://x"])
    assert bad_uri.exit_code == 1 and "应为 bolt://" in bad_uri.output and "Traceback" not in bad_uri.output
    a_file = cli_home / "repeats.jsonl"
    blocked = runner.invoke(cli, ["--home", str(cli_home), "graph", "export", "--format", "neo4j-csv", str(a_file)])
    assert blocked.exit_code == 1 and blocked.output.strip() == f"错误：无法写入 {a_file}：已存在"


def test_push_loads_the_whole_graph(cli_home, bolt_uri):
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(cli_home), "graph", "push", "--uri", bolt_uri, "--replace"])
    assert result.exit_code == 0, result.output
    local = NetworkxGraphStore(Home.resolve(cli_home).graph_dir)
    with Neo4jGraphStore(bolt_uri) as server:
        assert server.counts() == local.counts()
        assert server.watermark() == local.watermark() and local.watermark()[1] > 0
    records = len(sample_path().read_text(encoding="utf-8").splitlines())
    assert sum(1 for n in local.iter_nodes() if n.label == "Case") == records + len(_cases())


def test_concurrent_writers_merge_one_node_per_key(bolt_uri):
    """Two writers MERGE the same keys at once: constraint races are retried, nothing is duplicated."""
    from concurrent.futures import ThreadPoolExecutor

    nodes = [Node(f"party:C{i:05d}", "Party", {"name": f"甲{i}", "case_count": 1}) for i in range(1500)]
    with Neo4jGraphStore(bolt_uri) as first, Neo4jGraphStore(bolt_uri) as second:
        first.clear()
        with ThreadPoolExecutor(2) as pool:
            for future in [pool.submit(first.upsert_nodes, nodes), pool.submit(second.upsert_nodes, list(reversed(nodes)))]:
                future.result()
        assert first.counts() == (1500, 0)
        assert first.get_nodes(["party:C00042"])["party:C00042"].props == {"name": "甲42", "case_count": 1}


def test_ingest_prints_and_stores_the_repeat_flag(tmp_path):
    """The real path: `leian ingest` runs every indexer (search, then graph) and prints the flag."""
    from leian.graph.repeats import repeat_flag

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    cases = _cases()
    first.write_text(json.dumps(cases[0].raw, ensure_ascii=False) + "\n", encoding="utf-8")
    second.write_text(json.dumps(cases[2].raw, ensure_ascii=False) + "\n", encoding="utf-8")
    runner = CliRunner()
    home = tmp_path / "home"
    assert runner.invoke(cli, ["--home", str(home), "ingest", str(first)]).exit_code == 0
    result = runner.invoke(cli, ["--home", str(home), "ingest", str(second)])
    assert result.exit_code == 0, result.output
    notice = "重复纠纷链（同一对当事人，2件）：R01 → R02；当事人 王建国/珠海市恒达建筑劳务有限公司；本次新增 R02"
    assert notice in result.output
    with Home.resolve(home).open_store() as store:
        flag = repeat_flag(store, "R02")
    assert flag["related"] == ["R01"] and flag["notice"] == notice
    graph = NetworkxGraphStore(Home.resolve(home).graph_dir)
    assert ("case:R02", "REPEAT_OF", "case:R01") in {(e.src, e.type, e.dst) for e in graph.iter_edges()}


def test_the_graph_is_kept_in_sqlite_and_reopens_equal(store, tmp_path):
    """State after reopen equals state before; the file holds JSON values only (nothing to unpickle)."""
    import sqlite3

    directory = tmp_path / "graph"
    with NetworkxGraphStore(directory) as graph:
        apply_changes(graph, store, similar=_similar)
        before, watermark = _snapshot(graph), graph.watermark()
    assert sorted(p.name for p in directory.iterdir() if not p.name.startswith("graph.sqlite-")) == ["graph.sqlite"]
    with sqlite3.connect(directory / "graph.sqlite") as raw:
        for (props,) in raw.execute("SELECT props FROM nodes UNION ALL SELECT props FROM edges"):
            assert isinstance(json.loads(props), dict)
    again = NetworkxGraphStore(directory)
    assert _snapshot(again) == before and again.watermark() == watermark
    # networkx holds the whole graph on demand, read from the tables.
    whole = again.graph
    assert (whole.number_of_nodes(), whole.number_of_edges()) == again.counts()
    assert whole.edges["case:R01", "case:H01", "SIMILAR_TO"] == {"score": 0.88}
    again.close()


def test_a_failed_sync_commits_nothing(store, tmp_path):
    directory = tmp_path / "graph"
    with NetworkxGraphStore(directory) as graph:
        apply_changes(graph, store)
        before, watermark = _snapshot(graph), graph.watermark()
    with pytest.raises(KeyError), NetworkxGraphStore(directory) as graph:
        graph.delete_nodes(["case:R01"])
        graph.upsert_edges([Edge("case:R02", "SIMILAR_TO", "case:NOPE")])
    again = NetworkxGraphStore(directory)
    assert _snapshot(again) == before and again.watermark() == watermark
    again.close()


def test_a_home_with_the_old_pickle_is_rebuilt_from_the_store(tmp_path):
    """graph.pickle is never unpickled (it would run code): the graph is rebuilt from the store and the pickle removed."""
    runner = CliRunner()
    home = tmp_path / "home"
    source = tmp_path / "cases.jsonl"
    source.write_text("".join(json.dumps(c.raw, ensure_ascii=False) + "\n" for c in _cases()), encoding="utf-8")
    assert runner.invoke(cli, ["--home", str(home), "ingest", str(source), "--no-index"]).exit_code == 0
    graph_dir = Home.resolve(home).graph_dir
    graph_dir.mkdir(parents=True)
    planted = tmp_path / "unpickled"
    # A pickle that, if loaded, would create a file.
    (graph_dir / "graph.pickle").write_bytes(
        b"cos\nsystem\n(S'touch " + str(planted).encode() + b"'\ntR.")
    result = runner.invoke(cli, ["--home", str(home), "neighbors", "R02", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["repeat_of"] == ["R01"]
    assert not planted.exists() and not (graph_dir / "graph.pickle").exists()
    local = NetworkxGraphStore(graph_dir)
    assert sum(1 for n in local.iter_nodes() if n.label == "Case") == 5
    local.close()
