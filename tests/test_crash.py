"""A `kill -9` of an ingest leaves the store readable, every committed batch intact and no partial
record; running the ingest again finishes the job, and the store, the search index (vectors, BM25) and
the graph (SIMILAR_TO edges included) end equal to those of an ingest never killed.

The kills at random moments check the store's batches; the kills at each named crash point
(:mod:`leian.faults`: the process kills itself there, no timing involved) check every file the
search index and the graph write, a compaction's too.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leian.data.ingest import DEFAULT_BATCH_SIZE
from leian.data.store import Store

N = 8000
BATCH = 200
LEIAN = [sys.executable, "-c", "from leian.cli import main; main()"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    sample = Path(__file__).parents[1] / "data" / "samples" / "promediconv.jsonl"
    base = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    path = tmp_path_factory.mktemp("crash") / "cases.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(N):
            record = dict(base[i % len(base)], id=f"K{i:05d}")
            record["parties"] = [{"name": f"当事人{i}-{j}", "role": "当事人"} for j in range(1 + i % 4)]
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def committed(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def ingest_command(home: Path, source: Path) -> list[str]:
    return LEIAN + ["--home", str(home), "ingest", str(source), "--batch-size", str(BATCH), "--no-index", "--no-progress"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_minus_nine_mid_ingest(tmp_path, source, seed):
    rng = random.Random(seed)
    home = tmp_path / "home"
    db = home / "cases.sqlite"
    process = subprocess.Popen(ingest_command(home, source), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait for a random number of committed batches, then kill without warning.
    target = BATCH * rng.randint(1, 10)
    deadline = time.monotonic() + 120
    while committed(db) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.05))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    expected = {json.loads(line)["id"]: json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()}
    with Store(db) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = store.count()
        assert 0 < stored < N, "the kill must land mid-ingest"
        assert stored % BATCH == 0, "only whole batches are committed"
        assert store.ids() == sorted(expected)[:stored], "batches are committed in file order"
        for case in store.iter_cases():
            assert case.raw == expected[case.id]
            assert [p.name for p in case.parties] == [p["name"] for p in expected[case.id]["parties"]]
        orphans = store.conn.execute(
            "SELECT COUNT(*) FROM case_parties WHERE case_id NOT IN (SELECT id FROM cases)"
        ).fetchone()[0]
        assert orphans == 0

    finish = subprocess.run(ingest_command(home, source) + ["--json"], capture_output=True, text=True, timeout=300)
    assert finish.returncode == 0, finish.stderr
    summary = json.loads(finish.stdout)
    assert (summary["unchanged"], summary["inserted"]) == (stored, N - stored)
    with Store(db) as store:
        assert store.count() == N
        assert store.conn.execute("SELECT COUNT(*) FROM case_parties").fetchone()[0] == sum(
            len(r["parties"]) for r in expected.values()
        )


def _graph_state(home: Path) -> tuple[dict, dict, tuple]:
    from leian.graph.networkx import NetworkxGraphStore
    from leian.home import Home

    with NetworkxGraphStore(Home.resolve(home).graph_dir) as graph:
        nodes = {n.id: (n.label, n.props) for n in graph.iter_nodes()}
        edges = {(e.src, e.type, e.dst): e.props for e in graph.iter_edges()}
        return nodes, edges, graph.watermark()


def _sync_indexes_in_process(home: Path, *, graph: bool) -> None:
    from leian.graph.sync import sync as sync_graph
    from leian.home import Home
    from leian.search.engine import sync as sync_search

    opened = Home.resolve(home)
    with opened.open_store() as store:
        sync_search(opened, store)
        if graph:
            sync_graph(opened, store)


#: Cases in the graph test: the graph holds the first half, store and search index all of them.
GRAPH_N = 400


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _write_lock_held(db: Path) -> bool:
    """Whether another connection holds ``db``'s write lock (a write transaction is open)."""
    if not db.is_file():
        return False
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


@pytest.fixture(scope="module")
def graph_behind(source, tmp_path_factory) -> Path:
    """A home whose graph holds the first half of the cases while store and search index hold them all."""
    folder = tmp_path_factory.mktemp("graph")
    home = folder / "home"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:GRAPH_N]
    subprocess.run(ingest_command(home, _write_lines(folder / "first.jsonl", lines[: GRAPH_N // 2])),
                   check=True, capture_output=True, timeout=300)
    _sync_indexes_in_process(home, graph=True)
    subprocess.run(ingest_command(home, _write_lines(folder / "all.jsonl", lines)), check=True, capture_output=True, timeout=300)
    _sync_indexes_in_process(home, graph=False)
    return home


def test_kill_minus_nine_mid_graph_sync(graph_behind, tmp_path):
    """A graph sync killed inside its transaction leaves a whole graph; the next sync equals an uninterrupted one."""
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    shutil.copytree(graph_behind, clean)
    shutil.copytree(graph_behind, killed)
    previous = _graph_state(killed)
    sync_command = LEIAN + ["--home", str(killed), "graph", "sync"]
    subprocess.run(LEIAN + ["--home", str(clean), "graph", "sync"], check=True, capture_output=True, timeout=600)
    expected = _graph_state(clean)
    assert expected != previous

    process = subprocess.Popen(sync_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill while the sync's one write transaction is open: anywhere from its first write to its commit.
    db = killed / "graph" / "graph.sqlite"
    while process.poll() is None and not _write_lock_held(db):
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the kill must land mid-sync"

    assert _graph_state(killed) in (previous, expected), "a killed sync leaves the previous graph (or, killed after commit, the new one)"
    subprocess.run(sync_command, check=True, capture_output=True, timeout=600)
    nodes, edges, watermark = _graph_state(killed)
    assert (nodes, edges, watermark) == expected
    with Store(killed / "cases.sqlite") as store:
        last = store.last_change()
        assert watermark[1] == last
        assert sorted(n[5:] for n, (label, _) in nodes.items() if label == "Case") == store.ids()
    manifest = json.loads((killed / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seq"] == last
    assert sum(1 for key in edges if key[1] == "SIMILAR_TO") > 0


# -- kill -9 at each crash point of an ingest ------------------------------------------------------

#: The sample's first cases make the home, the next ones the ingest that is killed (three batches).
FIRST, SECOND, POINT_BATCH = 30, 30, 10
QUERY = "楼上卫生间漏水，天花板发霉，邻居不肯维修"


def run_cli(*args: str) -> str:
    """A ``leian`` command in this process (the model is loaded once for the whole module)."""
    from click.testing import CliRunner

    from leian.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def snapshot(home: Path) -> dict[str, object]:
    """What an ingest leaves, in canonical form: stored rows, vectors, a search and a BM25 ranking, the graph."""
    from leian.embeddings.text import tokenize
    from leian.home import Home
    from leian.search.engine import MANIFEST, SearchEngine

    opened = Home.resolve(home)
    with opened.open_store() as store:
        rows = store.conn.execute("SELECT id, content_hash, record FROM cases ORDER BY id").fetchall()
        parties = store.conn.execute("SELECT * FROM case_parties ORDER BY 1, 2").fetchall()
        last = store.last_change()
        manifest = json.loads((opened.index_dir / MANIFEST).read_text(encoding="utf-8"))
        named = {MANIFEST, ".lock", *manifest["vector_files"], *manifest["segments"], manifest["bm25"]}
        with SearchEngine(opened, store=store) as engine:
            ids = sorted(engine.vectors.int_of)
            vectors = engine.vectors.vectors(ids)
            search = [(r["id"], r["score"]) for r in engine.search(QUERY, top_k=10)["results"]]
            bm25 = [(i, round(s, 4)) for i, s in engine.bm25.top(tokenize(QUERY), 10)]
    nodes, edges, (_, graph_seq) = _canonical(*_graph_state(home))
    return {
        "cases": [tuple(r) for r in rows], "parties": [tuple(r) for r in parties],
        "index_seq": manifest["seq"] == last, "index_files": sorted(p.name for p in opened.index_dir.iterdir()) == sorted(named),
        "vector_ids": ids, "vectors": vectors, "search": search, "bm25": bm25,
        "graph_seq": graph_seq == last, "nodes": nodes, "edges": edges,
        "similar": sorted(key for key in edges if key[1] == "SIMILAR_TO"),
    }


def _canonical(nodes: dict, edges: dict, watermark: tuple) -> tuple[dict, dict, tuple]:
    """The graph with each Party node named by what it is, not by its number: its name and the cases it is in.

    Resolution numbers entities as it meets them, so a home whose cases were resolved in two steps
    (a command between a kill and the re-run) numbers them otherwise than a clean run; the parties
    themselves, what they merge and every edge must be the same.
    """
    involved: dict[str, list] = {}
    for (src, kind, dst), props in sorted(edges.items()):
        if kind == "INVOLVES":
            involved.setdefault(dst, []).append((src, json.dumps(props, sort_keys=True, ensure_ascii=False)))
    name = {n: f"party:{props['name']}@{involved.get(n)}" for n, (label, props) in nodes.items() if label == "Party"}
    assert len(set(name.values())) == len(name), "two parties of one name in the same cases"
    renamed = {name.get(n, n): value for n, value in nodes.items()}
    return renamed, {(name.get(s, s), k, name.get(d, d)): props for (s, k, d), props in edges.items()}, watermark


def assert_same(after: dict[str, object], expected: dict[str, object]) -> None:
    """Two snapshots agree: everything equal, except that floats the encoder computed may differ in their last bits
    (texts are encoded in other batches after a kill), so vectors and scores agree to 1e-4."""
    import numpy as np

    assert after["index_seq"] and after["graph_seq"] and after["index_files"], "index and graph reflect the whole store"
    for key in ("cases", "parties", "vector_ids", "bm25", "nodes", "similar"):
        assert after[key] == expected[key], key
    assert np.allclose(after["vectors"], expected["vectors"], atol=1e-5)
    assert [i for i, _ in after["search"]] == [i for i, _ in expected["search"]]
    assert np.allclose([s for _, s in after["search"]], [s for _, s in expected["search"]], atol=2e-4)
    assert after["edges"].keys() == expected["edges"].keys()
    for key, props in expected["edges"].items():
        mine = after["edges"][key]
        assert mine.keys() == props.keys() and all(
            abs(mine[name] - value) <= 2e-4 if name == "score" else mine[name] == value for name, value in props.items()), key


@pytest.fixture(scope="module")
def point_files(tmp_path_factory) -> tuple[Path, Path]:
    """The first file (the home's cases) and the second (the ingest that is killed): ten cases, then twice the same
    ten told again (another id, a few words more), so each case's nearest cases come in a later batch."""
    sample = Path(__file__).parents[1] / "data" / "samples" / "promediconv.jsonl"
    lines = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    folder = tmp_path_factory.mktemp("points")
    told = [json.loads(line) for line in lines[FIRST : FIRST + POINT_BATCH]]
    again = [dict(r, id=f"{r['id']}-{n}", text=f"{r['text']}{words}") for n, words in ((2, "（再次反映）"), (3, "（第三次反映，仍未解决）"))
             for r in told]
    second = [json.dumps(r, ensure_ascii=False) + "\n" for r in told + again]
    assert len(second) == SECOND
    return _write_lines(folder / "first.jsonl", lines[:FIRST]), _write_lines(folder / "second.jsonl", second)


def second_ingest(home: Path, second: Path) -> list[str]:
    return ["--home", str(home), "ingest", str(second), "--batch-size", str(POINT_BATCH), "--no-progress"]


#: ``config.toml`` of each kind of home: the default (the ONNX encoder, whose vector of a text does not depend on
#: the texts encoded with it, so texts encoded in other batches after a kill match a clean run exactly), and one
#: whose every sync compacts (vectors and BM25).
CONFIGS = {"delta": "", "compacting": "[search]\ncompact_floor = 1\n"}


@pytest.fixture(scope="module")
def point_homes(point_files, tmp_path_factory) -> dict[str, tuple[Path, dict[str, object]]]:
    """Per config: a home holding the first file, and the snapshot after the second file is ingested, never killed."""
    first, second = point_files
    homes = {}
    for name, config in CONFIGS.items():
        folder = tmp_path_factory.mktemp(name)
        base, clean = folder / "base", folder / "clean"
        base.mkdir()
        (base / "config.toml").write_text(config, encoding="utf-8")
        run_cli("--home", str(base), "ingest", str(first), "--no-progress")
        shutil.copytree(base, clean)
        run_cli(*second_ingest(clean, second))
        homes[name] = (base, snapshot(clean))
    return homes


def test_similar_edges_are_each_cases_nearest_whatever_order_the_cases_came_in(point_homes, point_files, tmp_path):
    """Both files in one ingest give what the two ingests gave: the first file's cases link to the second's too.

    (Compared with the home whose second ingest rebuilt BM25: with a delta, BM25 scores it with the
    statistics of both segments, as a search engine does before merging, not as a fresh build.)"""
    together = tmp_path / "together"
    together.mkdir()
    (together / "config.toml").write_text(CONFIGS["delta"], encoding="utf-8")
    _write_lines(tmp_path / "both.jsonl", [path.read_text(encoding="utf-8") for path in point_files])
    run_cli("--home", str(together), "ingest", str(tmp_path / "both.jsonl"), "--no-progress")
    first_ids = {f"case:{json.loads(line)['id']}" for line in point_files[0].read_text(encoding="utf-8").splitlines()}
    expected = point_homes["compacting"][1]
    assert_same(snapshot(together), expected)
    assert any(src in first_ids and dst not in first_ids for src, _, dst in expected["similar"])


POINTS = [
    ("store.batch_committed", "delta"),
    ("vectors.segment_written", "delta"),
    ("index.manifest_written", "delta"),
    ("graph.before_commit", "delta"),
    ("vectors.main_written", "compacting"),
    ("bm25.saved", "compacting"),
    ("index.manifest_written", "compacting"),
]


@pytest.mark.parametrize(("point", "config"), POINTS, ids=[f"{p}-{c}" for p, c in POINTS])
def test_kill_at_each_point_then_any_command_and_rerun_equals_a_clean_run(point_homes, point_files, tmp_path, point, config):
    from leian.faults import POINTS as NAMED

    assert point in NAMED
    base, expected = point_homes[config]
    home = tmp_path / "home"
    shutil.copytree(base, home)
    killed = subprocess.run(LEIAN + second_ingest(home, point_files[1]), env={**os.environ, "LEIAN_KILL_AT": point},
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, f"the ingest never reached {point}: {killed.stderr}"
    with Store(home / "cases.sqlite") as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # Any command right after the crash works on what the kill left (and catches the indexes up) ...
    run_cli("--home", str(home), "search", QUERY)
    run_cli("--home", str(home), "neighbors", json.loads(point_files[0].read_text(encoding="utf-8").splitlines()[0])["id"])
    # ... and running the killed ingest again ends where an ingest never killed ends.
    run_cli(*second_ingest(home, point_files[1]))
    assert_same(snapshot(home), expected)
    assert expected["similar"], "the sample links similar cases"



def _as_format_5(home: Path) -> None:
    """Make a home's index what the version before the id table saved: the main segment's id map as JSON."""
    from leian.search.ids import IdTable

    index = home / "index"
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    faiss_file, table_file = manifest["vector_files"]
    table, meta = IdTable.read(index / table_file)
    pairs = list(table.items())
    old = {**{k: meta[k] for k in ("dim", "kind", "nprobe", "threshold", "next_id")}, "ids": [i for i, _ in pairs],
           "numbers": [n for _, n in pairs], "extra": [[n, table.extra(n)] for _, n in pairs if table.extra(n)]}
    (index / f"{table_file}.json").write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")
    (index / table_file).unlink()
    manifest.update(format=5, vector_files=[faiss_file, f"{table_file}.json"])
    (index / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize("point", [None, "vectors.segment_written", "index.manifest_written"])
def test_an_index_whose_id_map_an_earlier_version_saved_as_json_is_upgraded_by_the_next_save_even_if_killed(
        point_homes, point_files, tmp_path, point):
    """A home saved by the version before the id table (format 5: the map as JSON, read whole on every open) is read
    as it is; the next ingest's save rewrites the map as a table, and a kill during that save changes nothing."""
    base, expected = point_homes["delta"]
    home = tmp_path / "home"
    shutil.copytree(base, home)
    _as_format_5(home)
    if point:
        killed = subprocess.run(LEIAN + second_ingest(home, point_files[1]), env={**os.environ, "LEIAN_KILL_AT": point},
                                capture_output=True, text=True, timeout=600)
        assert killed.returncode == -signal.SIGKILL, f"the ingest never reached {point}: {killed.stderr}"
    run_cli(*second_ingest(home, point_files[1]))
    manifest = json.loads((home / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == 6 and manifest["vector_files"][1].endswith(".ids"), manifest
    assert_same(snapshot(home), expected)

# -- the web server killed during an upload --------------------------------------------------------

PASSWORD = "kill-nine-safe-2026"


def _with_admin(base: Path, home: Path) -> Path:
    from leian.web.accounts import Accounts

    shutil.copytree(base, home)
    with Store(home / "cases.sqlite") as store:
        Accounts(store).add("chief", "admin", PASSWORD)
    return home


class Server:
    """A real ``leian serve`` process on a free port, and an admin's logged-in session with it."""

    def __init__(self, home: Path, log: Path, **env: str):
        import requests

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        with log.open("ab") as out:
            self.process = subprocess.Popen(LEIAN + ["--home", str(home), "serve", "--port", str(port), "--threads", "4"],
                                            env={**os.environ, **env}, stdout=out, stderr=out)
        deadline = time.monotonic() + 300
        while True:  # waits for the port to open, or for the process to end
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert self.process.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
                time.sleep(0.05)
        self.session = requests.Session()
        answer = self.session.post(f"{self.url}/api/login", json={"username": "chief", "password": PASSWORD})
        self.session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]

    def get(self, path: str):
        return self.session.get(f"{self.url}{path}", headers={"Accept": "application/json"}, timeout=120)

    def upload(self, path: Path) -> dict:
        with path.open("rb") as handle:
            answer = self.session.post(f"{self.url}/api/ingest", files={"file": (path.name, handle)}, timeout=120)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def test_server_killed_during_an_upload_catches_up_in_the_background_and_ends_as_a_clean_run(point_homes, point_files, tmp_path):
    import requests

    base, expected = point_homes["delta"]
    home = _with_admin(base, tmp_path / "home")
    log = tmp_path / "server.log"
    second_ids = [json.loads(line)["id"] for line in point_files[1].read_text(encoding="utf-8").splitlines()]

    doomed = Server(home, log, LEIAN_KILL_AT="store.batch_committed")
    try:
        doomed.upload(point_files[1])
    except requests.ConnectionError:
        pass  # the job thread killed the server before it answered the upload
    assert doomed.process.wait(timeout=600) == -signal.SIGKILL, log.read_text(encoding="utf-8")
    left = list((home / "uploads").glob("leian-upload-*"))
    assert left, "the killed server's upload is still there"
    with Store(home / "cases.sqlite") as store:
        assert store.get(second_ids[0]) is not None, "the kill came after the upload's cases were committed"
        assert _graph_state(home)[2][1] < store.last_change(), "... and before the graph was synced"

    server = Server(home, log)  # the port opens while the start-up catch-up runs
    try:
        assert not any(folder.exists() for folder in left), "the killed server's upload is removed at start"
        deadline = time.monotonic() + 600
        while (answer := server.get(f"/api/cases/{second_ids[0]}/neighbors")).status_code == 503:
            assert answer.json()["error"]["detail"].startswith("正在更新…") and answer.headers["Retry-After"]
            assert time.monotonic() < deadline, "the start-up catch-up never ended"
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text  # before this fix: 404 until the next ingest
        job = server.upload(point_files[1])  # the upload the kill cut short, again
        while (job := server.get(f"/api/ingest/{job['id']}").json())["status"] == "running":
            time.sleep(0.2)
        assert job["status"] == "done" and job["report"]["unchanged"] == SECOND, job
    finally:
        server.stop()
    assert_same(snapshot(home), expected)


def test_case_graph_says_updating_while_the_start_up_catch_up_runs(point_homes, point_files, tmp_path):
    """While the server catches up, a case the graph does not hold yet answers 503 "正在更新…", then its graph."""
    from leian.home import Home
    from leian.web.app import create_app

    base, _ = point_homes["delta"]
    home = _with_admin(base, tmp_path / "home")
    run_cli("--home", str(home), "ingest", str(point_files[1]), "--no-index", "--no-progress")  # stored, graph behind
    case_id = json.loads(point_files[1].read_text(encoding="utf-8").splitlines()[0])["id"]
    app = create_app(Home.resolve(home), testing=True)
    client = app.test_client()
    client.post("/api/login", json={"username": "chief", "password": PASSWORD})
    services = app.extensions["leian"]
    assert client.get(f"/api/cases/{case_id}/neighbors").status_code == 404  # no catch-up running: not in the graph
    with services.jobs.run_lock:  # an upload is running: the catch-up waits for it, the server still answers
        catch_up = services.start_catch_up()
        waiting = client.get(f"/api/cases/{case_id}/neighbors")
        assert waiting.status_code == 503 and waiting.headers["Retry-After"] == "5"
        assert waiting.get_json()["error"]["detail"] == "正在更新…图谱正与案件库同步，稍后即可查看"
        assert client.get(f"/cases/{case_id}").status_code == 200  # the case page itself is there
    catch_up.join(timeout=600)
    assert not services.updating.is_set()
    drawn = client.get(f"/api/cases/{case_id}/neighbors")
    assert drawn.status_code == 200, drawn.get_json()
    assert f"case:{case_id}" in {node["id"] for node in drawn.get_json()["nodes"]}
    _, _, (_, graph_seq) = _graph_state(home)
    with Store(home / "cases.sqlite") as store:
        assert graph_seq == store.last_change()


# -- readers in many threads while an upload writes -------------------------------------------------

#: The upload the readers watch: two of the upload's batches of cases carrying one mediator's name.
MARKER, WATCHED = "并发测试员", 2 * DEFAULT_BATCH_SIZE


def test_readers_in_many_threads_see_only_whole_committed_batches_of_an_upload(point_homes, point_files, tmp_path):
    import io
    import re
    import threading

    from leian.home import Home
    from leian.web.app import create_app

    base, _ = point_homes["delta"]
    home = _with_admin(base, tmp_path / "home")
    sample = [json.loads(line) for line in point_files[0].read_text(encoding="utf-8").splitlines()]
    records = [dict(sample[i % len(sample)], id=f"T{i:04d}", mediators=[{"name": MARKER}],
                    parties=[{"name": f"并发甲{i}"}, {"name": f"并发乙{i}"}]) for i in range(WATCHED)]
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    app = create_app(Home.resolve(home), testing=True)

    def logged_in():
        client = app.test_client()
        client.csrf = client.post("/api/login", json={"username": "chief", "password": PASSWORD}).get_json()["csrf_token"]
        return client

    writer = logged_in()
    readers = [logged_in() for _ in range(8)]
    totals: list[int] = []
    broken: list[str] = []
    done = threading.Event()

    def read(client, seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            page = client.get("/", query_string={"mediator": MARKER}).get_data(as_text=True)
            found = re.search(r"符合条件的案件共 (\d+) 件", page)
            if found is None:
                broken.append(page[:500])
                return
            totals.append(int(found.group(1)))
            case = client.get(f"/api/cases/T{rng.randrange(WATCHED):04d}")
            if case.status_code == 200 and len(case.get_json()["case"]["parties"]) != 2:
                broken.append(f"a case without all its parties: {case.get_json()}")

    threads = [threading.Thread(target=read, args=(client, n)) for n, client in enumerate(readers)]
    for thread in threads:
        thread.start()
    try:
        started = writer.post("/api/ingest", headers={"X-CSRF-Token": writer.csrf}, content_type="multipart/form-data",
                              data={"file": (io.BytesIO(body), "watched.jsonl")})
        assert started.status_code == 202, started.get_json()
        while (job := writer.get(f"/api/ingest/{started.get_json()['id']}").get_json())["status"] == "running":
            time.sleep(0.2)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=600)
    assert job["status"] == "done" and job["report"]["inserted"] == WATCHED, job
    assert not broken, broken[:3]
    assert totals and set(totals) <= {0, DEFAULT_BATCH_SIZE, WATCHED}, sorted(set(totals))
    assert writer.get("/", query_string={"mediator": MARKER}).get_data(as_text=True).count(f"符合条件的案件共 {WATCHED} 件") == 1
