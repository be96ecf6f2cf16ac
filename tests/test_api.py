"""The Python API (``leian.open``) on the bundled sample: typed answers whose ``to_dict()`` is, byte for byte,
the JSON the engines produced before they were typed and the JSON ``leian … --json`` prints."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import leian
from leian.cli import cli, sample_path
from leian.clitools import echo_json

TODAY = dt.date(2026, 1, 1)


def _text(data) -> str:
    """The bytes ``echo_json`` prints for ``data``."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory):
    home = leian.open(tmp_path_factory.mktemp("api") / "home")
    report = home.ingest([sample_path()])
    assert report.ok and report.inserted == 97
    yield home
    home.close()


def _cli_json(home, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--home", str(home.home.root), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_ingest_records_from_a_list_names_rejects(tmp_path):
    with leian.open(tmp_path / "home") as home:
        report = home.ingest([{"id": "A1", "text": "楼上漏水"}, {"id": "A2", "text": "噪音", "amount": "abc"}, "not a record"],
                             index=False, source="upload")
        assert (report.inserted, report.rejected) == (1, 2)
        assert report.reject_messages[0].startswith("upload:2 id=A2 amount")
        assert report.reject_messages[1].startswith("upload:3 record")
        assert home.case("A1").text == "楼上漏水"
        with pytest.raises(leian.NotFound):
            home.case("A2")


def test_a_home_without_a_store_is_not_found(tmp_path):
    with pytest.raises(leian.NotFound, match="中还没有案件库"):
        leian.open(tmp_path / "empty", readonly=True)
    assert not (tmp_path / "empty" / "cases.sqlite").exists()


def test_search_answer_is_typed_and_keeps_the_contract(sample_home):
    from leian.graph.alert import PartyIndex, repeat_alert

    text = "楼上漏水把我家天花板泡坏了"
    raw = sample_home.engine.search(text, top_k=5)
    raw["repeat_alert"] = repeat_alert(sample_home.store, text, index=PartyIndex(sample_home.store))
    answer = sample_home.search(text, top_k=5)
    assert isinstance(answer.results[0], leian.SearchResult) and isinstance(answer.results[0].why, leian.Why)
    assert answer.results[0].id == raw["results"][0]["id"]
    assert _text(answer.to_dict()) == _text(raw)
    assert _cli_json(sample_home, "search", "--json", "--top-k", "5", text) == _text(raw)


def test_filtered_paged_search_and_batch_keep_the_contract(sample_home):
    raw = sample_home.engine.search("装修噪音扰民", top_k=3, filters={"type": "邻里"}, page=2)
    answer = sample_home.search("装修噪音扰民", top_k=3, filters=leian.Filters(type="邻里"), page=2, alert=False)
    assert _text(answer.to_dict()) == _text(raw)
    batch = sample_home.search_many([{"text": "工资拖欠三个月", "parties": ["张三"]}, "邻居吵架"], top_k=3)
    assert [a.query for a in batch] == ["工资拖欠三个月", "邻居吵架"]
    assert all(a.repeat_alert is not None for a in batch)


def test_stats_and_show_match_the_cli(sample_home):
    raw = {**sample_home.store.stats(), "home": str(sample_home.home.root)}
    assert _text(sample_home.stats().to_dict()) == _text(raw) == _cli_json(sample_home, "stats", "--json")
    case = sample_home.store.get("PMC-001")
    raw = {"case": case.to_dict(), "original": case.raw}
    assert _text(sample_home.show("PMC-001").to_dict()) == _text(raw) == _cli_json(sample_home, "show", "PMC-001", "--json")


def test_graph_answers_match_the_cli(sample_home):
    from leian.graph.neighborhood import summarize_neighborhood
    from leian.graph.parties import party_history
    from leian.graph.repeats import all_chains
    from leian.graph.risk import register

    with sample_home.graph() as graph:
        nodes, edges = graph.neighborhood("case:PMC-001", 2)
    raw = summarize_neighborhood("PMC-001", nodes, edges)
    neighborhood = sample_home.neighbors("PMC-001")
    assert neighborhood.parties and isinstance(neighborhood.parties[0].other_cases, list)
    assert _text(neighborhood.to_dict()) == _text(raw) == _cli_json(sample_home, "neighbors", "PMC-001", "--json")

    party_id = neighborhood.parties[0].party_id
    raw = {"parties": party_history(sample_home.store, party_id)}
    history = sample_home.party(party_id)
    assert history.parties[0].cases[0].case_id
    assert _text(history.to_dict()) == _text(raw) == _cli_json(sample_home, "party", party_id, "--json")
    with pytest.raises(leian.NotFound):
        sample_home.party("没有这个人")

    raw = {"chains": [c.to_dict() for c in all_chains(sample_home.store)]}
    assert _text(sample_home.repeats().to_dict()) == _text(raw) == _cli_json(sample_home, "repeats", "--json")

    raw = {"today": TODAY.isoformat(), "parties": [a.to_dict() for a in register(sample_home.store, today=TODAY)]}
    assert _text(sample_home.risk(today=TODAY).to_dict()) == _text(raw) == _cli_json(sample_home, "risk", "--json", "--today", "2026-01-01")
    assert _text(sample_home.followups(today=TODAY).to_dict()) == _cli_json(sample_home, "followups", "--json", "--today", "2026-01-01")


def test_hotspots_match_the_cli(tmp_path):
    from leian.analytics.hotspots import detect_hotspots, repeat_hotspots
    from leian.data.generate import generate_to_file

    generate_to_file(tmp_path / "cases.jsonl", 600, seed=3)
    with leian.open(tmp_path / "home") as home:
        assert home.ingest([tmp_path / "cases.jsonl"], index=False).ok
        raw = {**detect_hotspots(home.store, level="district").to_dict(), "repeats": repeat_hotspots(home.store)}
        found = home.hotspots(level="district", repeats=True)
        assert found.report.hotspots is not None
        assert _text(found.to_dict()) == _text(raw) == _cli_json(home, "hotspots", "--json", "--level", "district", "--repeats")


def test_analytics_and_libraries_match_the_cli(sample_home):

    clustering = sample_home.clusters()
    assert _text(clustering.to_dict()) == _cli_json(sample_home, "clusters", "--json")

    libraries = sample_home.libraries()
    libraries.create("教学")
    libraries.add("教学", ["PMC-001"])
    assert _text({"libraries": [lib.to_dict() for lib in libraries.list()]}) == _cli_json(sample_home, "library", "list", "--json")


def test_echo_json_prints_what_to_dict_gives(sample_home, capsys):
    echo_json(sample_home.stats().to_dict())
    assert capsys.readouterr().out == _cli_json(sample_home, "stats", "--json")


def test_public_names_are_documented():
    for name in leian.__all__:
        value = getattr(leian, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), f"leian.{name} has no docstring"
    assert Path(leian.__file__).read_text(encoding="utf-8").startswith('"""')
