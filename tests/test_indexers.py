"""One pass per ingest: every indexer (disputes, search, graph) reads the change log once, each case is
decoded once, and the graph's SIMILAR_TO step uses the search engine the ingest opened."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from leian.cli import sample_path
from leian.data.ingest import ingest
from leian.data.store import Store
from leian.graph.networkx import NetworkxGraphStore
from leian.home import Home
from leian.indexers import sync_all
from leian.search import engine as search_engine


class CountingStore(Store):
    """The real store, counting how often the change log is read and each case decoded."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.log_reads = 0
        self.decoded: Counter[str] = Counter()

    def changes_since(self, seq, limit=None):
        self.log_reads += 1
        return super().changes_since(seq, limit)

    def get_many(self, case_ids):
        found = super().get_many(case_ids)
        self.decoded.update(found.keys())
        return found

    def get(self, case_id):
        found = super().get(case_id)
        self.decoded.update([case_id] if found else [])
        return found


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_an_ingest_reads_the_log_once_and_decodes_each_case_once(tmp_path, monkeypatch):
    home = Home.resolve(tmp_path / "home")
    lines = sample_path().read_text(encoding="utf-8").splitlines(keepends=True)
    with home.open_store() as store:
        ingest(store, [_write(tmp_path / "first.jsonl", lines[:60])], rejects_dir=home.rejects_dir)
        sync_all(home, store)

    opened = []
    real_init = search_engine.SearchEngine.__init__

    def counting_init(self, *args, **kwargs):
        opened.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(search_engine.SearchEngine, "__init__", counting_init)
    with CountingStore(home.root / "cases.sqlite") as store:
        ingest(store, [_write(tmp_path / "rest.jsonl", lines[60:])], rejects_dir=home.rejects_dir)
        store.log_reads, store.decoded = 0, Counter()
        sync_all(home, store)
        new = [json.loads(line)["id"] for line in lines[60:]]
        assert store.log_reads == 1
        assert set(store.decoded) >= set(new) and max(store.decoded.values()) == 1, store.decoded.most_common(3)
        last = store.last_change()
    assert len(opened) == 1, "the graph's SIMILAR_TO step reuses the search step's engine"
    with NetworkxGraphStore(home.graph_dir) as graph:
        assert graph.watermark()[1] == last
        similar = {e.src for e in graph.edges_touching([f"case:{c}" for c in new], ["SIMILAR_TO"])}
    assert similar & {f"case:{c}" for c in new}


def _graph(home: Path) -> tuple[dict, dict]:
    with NetworkxGraphStore(Home.resolve(home).graph_dir) as graph:
        return ({n.id: (n.label, n.props) for n in graph.iter_nodes()},
                {(e.src, e.type, e.dst): e.props for e in graph.iter_edges()})


def _cli(*args: str) -> str:
    from click.testing import CliRunner

    from leian.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _similar_edges(edges: dict) -> set:
    return {key for key in edges if key[1] == "SIMILAR_TO"}


def test_the_next_graph_command_catches_up_similar_edges_an_ingest_without_index_left_out(tmp_path):
    lines = sample_path().read_text(encoding="utf-8").splitlines(keepends=True)
    first, rest = _write(tmp_path / "first.jsonl", lines[:60]), _write(tmp_path / "rest.jsonl", lines[60:])
    clean, behind = tmp_path / "clean", tmp_path / "behind"
    for home in (clean, behind):
        _cli("--home", str(home), "ingest", str(first))
    _cli("--home", str(clean), "ingest", str(rest))
    _cli("--home", str(behind), "ingest", str(rest), "--no-index")
    new_case = json.loads(lines[-1])["id"]
    # Any command that reads the graph catches up the search index and the SIMILAR_TO edges.
    _cli("--home", str(behind), "neighbors", new_case, "--json")
    expected = _graph(clean)
    assert _graph(behind) == expected
    new_sources = {key[0] for key in _similar_edges(expected[1])} & {f"case:{json.loads(line)['id']}" for line in lines[60:]}
    assert new_sources, "the new cases have SIMILAR_TO edges to compare"
    exported = tmp_path / "graph.graphml"
    _cli("--home", str(behind), "graph", "export", "--format", "graphml", str(exported))
    assert exported.read_text(encoding="utf-8").count(">SIMILAR_TO<") == len(_similar_edges(expected[1]))


def test_reindex_syncs_the_graph_with_its_similar_edges(tmp_path):
    source = sample_path()
    clean, bulk = tmp_path / "clean", tmp_path / "bulk"
    _cli("--home", str(clean), "ingest", str(source))
    _cli("--home", str(bulk), "ingest", str(source), "--no-index")
    # Before any search index: the graph is built without SIMILAR_TO ...
    _cli("--home", str(bulk), "graph", "sync")
    assert not _similar_edges(_graph(bulk)[1])
    # ... and `leian reindex` brings the graph level with a home that always had one.
    _cli("--home", str(bulk), "reindex")
    assert _graph(bulk) == _graph(clean)
    assert _similar_edges(_graph(clean)[1])


def test_api_reindex_syncs_the_graph_as_the_command_does(tmp_path):
    """`LeiAn.reindex()` is the code path of `leian reindex`: the graph (its SIMILAR_TO edges too) comes level."""
    import leian

    clean, bulk = tmp_path / "clean", tmp_path / "bulk"
    _cli("--home", str(clean), "ingest", str(sample_path()))
    with leian.open(bulk) as api:
        api.ingest([sample_path()], index=False)
        report = api.reindex()
    assert report.cases == len(sample_path().read_text(encoding="utf-8").splitlines())
    assert _graph(bulk) == _graph(clean)
    assert _similar_edges(_graph(bulk)[1])


def test_index_building_and_graph_sync_report_count_rate_and_eta(tmp_path):
    """What a terminal's bars show reaches a listener too (the web ingest job): every step counts to its total."""
    from leian.progress import listening

    home = Home.resolve(tmp_path / "home")
    records = len(sample_path().read_text(encoding="utf-8").splitlines())
    seen = []
    with home.open_store() as store:
        ingest(store, [sample_path()], rejects_dir=home.rejects_dir)
        with listening(seen.append):
            sync_all(home, store)
    last = {p.step: p for p in seen}
    for step in ("纠纷要素与类型", "建立检索索引", "读取当事人", "写入图谱（networkx）", "图谱相似案件"):
        assert (last[step].done, last[step].total) == (records, records), step
        assert last[step].to_dict()["rate"] > 0 and last[step].to_dict()["eta_seconds"] == 0


def test_an_ingest_loads_no_module_it_never_uses(tmp_path):
    """A fresh `leian ingest` process (what a centre runs for every new case) reads neither jieba's keyword
    tables, networkx nor the Neo4j driver: a sync never loads the whole graph or talks Bolt, and tokenising
    needs no TF-IDF. Each costs a fixed 0.5-2 s of every small ingest."""
    import subprocess
    import sys

    records = tmp_path / "three.jsonl"
    records.write_text("".join(sample_path().read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    script = (
        "import sys\n"
        "from leian.cli import cli\n"
        f"cli.main(['--home', {str(tmp_path / 'home')!r}, 'ingest', {str(records)!r}, '--no-progress'], standalone_mode=False)\n"
        "print(sorted(m for m in ('jieba.analyse', 'networkx', 'neo4j') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out
    with NetworkxGraphStore(Home.resolve(tmp_path / "home").graph_dir) as graph:
        assert graph.counts()[0] > 3, "the graph was written all the same"


def _similar_scores(home: Path) -> dict:
    return {key: props for key, props in _graph(home)[1].items() if key[1] == "SIMILAR_TO"}


def test_a_case_deleted_while_the_graph_synced_without_the_search_index_leaves_no_similar_edge_behind(tmp_path):
    """The cases whose SIMILAR_TO edges led to a deleted case get their next nearest, even when the graph applied
    the deletion with no search index to ask and linked again only later: SIMILAR_TO equals a build without the case."""
    generated = tmp_path / "generated.jsonl"
    _cli("generate", "--n", "200", "--seed", "3", "--out", str(generated))
    lines = generated.read_text(encoding="utf-8").splitlines(keepends=True)
    behind, clean = tmp_path / "behind", tmp_path / "clean"
    _cli("--home", str(behind), "ingest", str(generated))
    pointed_at = Counter(dst for _, _, dst in _similar_edges(_graph(behind)[1]))
    gone = [node.removeprefix("case:") for node, _ in pointed_at.most_common(3)]
    _cli("--home", str(clean), "ingest", str(_write(tmp_path / "kept.jsonl", [line for line in lines if json.loads(line)["id"] not in gone])))
    with Home.resolve(behind).open_store() as store:
        store.delete(gone)
    # The graph catches up while the home has no search index (moved aside), then again with it.
    index = Home.resolve(behind).index_dir
    index.rename(tmp_path / "index-aside")
    _cli("--home", str(behind), "graph", "sync")
    without_index = _similar_scores(behind)
    assert not {f"case:{c}" for c in gone} & set(_graph(behind)[0])
    (tmp_path / "index-aside").rename(index)
    _cli("--home", str(behind), "reindex")
    expected = _similar_scores(clean)
    assert without_index != expected, "the deletion cost a case an edge that a build without the deleted cases has"
    assert _similar_scores(behind) == expected
    with NetworkxGraphStore(Home.resolve(behind).graph_dir) as graph:
        assert graph.similar_stale() == set()


def test_an_ingest_of_typed_cases_loads_neither_torch_nor_the_type_model(tmp_path):
    """With the default ONNX encoder a `leian ingest` never imports torch, sentence-transformers or transformers
    (onnxruntime and tokenizers encode), nor jieba for a few cases (their BM25 tokens are left to the next search),
    and the type model is loaded only for a case without a 小类: a case that has one gets no guess, one that lacks
    it gets its guess. The model comes from the home's arrays (the first sync trained and wrote it), so even then
    neither scikit-learn nor SciPy's stats (~1.3 s of CPU) is imported."""
    import subprocess
    import sys

    from leian.disputes.index import type_guesses

    home = tmp_path / "home"
    first = _write(tmp_path / "first.jsonl", [
        json.dumps({"id": "T1", "text": "楼上卫生间漏水，我家天花板发霉，多次协商未果", "type": "邻里/漏水"}, ensure_ascii=False) + "\n"])
    typed = _write(tmp_path / "typed.jsonl", [
        json.dumps({"id": "T2", "text": "借给同村李某两万元，到期不还", "type": "借款纠纷"}, ensure_ascii=False) + "\n"])
    untyped = _write(tmp_path / "untyped.jsonl", [json.dumps({"id": "U1", "text": "楼上卫生间漏水，天花板都发霉了"}, ensure_ascii=False) + "\n"])
    heavy = ("torch", "sentence_transformers", "transformers", "sklearn", "scipy.stats", "jieba")
    script = (
        "import sys\n"
        "from leian.cli import cli\n"
        "cli.main(['--home', sys.argv[1], 'ingest', sys.argv[2], '--no-progress'], standalone_mode=False)\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    run = lambda records: subprocess.run([sys.executable, "-c", script, str(home), str(records)], check=True,  # noqa: E731
                                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    run(first)  # a home's first sync passes over every case (as after a new lexicon or type model)
    assert run(typed) == "[]"
    assert run(untyped) == "[]"
    assert [p.suffix for p in (home / "models").iterdir()] == [".npz"]
    with Store(home / "cases.sqlite") as store:
        guesses = type_guesses(store, ["T1", "T2", "U1"])
    assert list(guesses) == ["U1"] and guesses["U1"][:2] == ("邻里", "漏水")


def test_bm25_tokens_a_small_ingest_left_to_the_next_search_rank_as_if_cached_at_once(tmp_path, monkeypatch):
    """A few cases indexed with no BM25 loaded are tokenised by the next BM25 load (and cached then): the search
    ranks and scores exactly as when the ingest tokenised them itself."""
    from leian.embeddings.text import tokenize

    lines = sample_path().read_text(encoding="utf-8").splitlines(keepends=True)
    query = "楼上卫生间漏水，天花板发霉，邻居不肯维修"
    seen = {}
    for name, tokenise_now in (("left", search_engine._TOKENISE_NOW), ("at_once", 1)):
        monkeypatch.setattr(search_engine, "_TOKENISE_NOW", tokenise_now)
        home = Home.resolve(tmp_path / name)
        with home.open_store() as store:
            for part, chunk in (("first", lines[:60]), ("rest", lines[60:])):
                ingest(store, [_write(tmp_path / f"{name}-{part}.jsonl", chunk)], rejects_dir=home.rejects_dir)
                sync_all(home, store)
            cached = store.conn.execute("SELECT COUNT(*) FROM token_cache").fetchone()[0]
            with search_engine.SearchEngine(home, store=store) as engine:
                seen[name] = (engine.bm25.top(tokenize(query), 20),
                              [(r["id"], r["score"]) for r in engine.search(query, top_k=10)["results"]])
            after = store.conn.execute("SELECT COUNT(*) FROM token_cache").fetchone()[0]
        seen[name] += (cached, after)
    # (The first ingest into the empty home builds BM25's main segment, tokenising its cases.)
    assert seen["left"][2] < seen["at_once"][2], "the second ingest left its cases' tokens"
    assert seen["left"][3] == seen["at_once"][3] == seen["at_once"][2], "the search cached them"
    assert seen["left"][:2] == seen["at_once"][:2] and seen["left"][0]
