"""A `kill -9` of an ingest at random points leaves the store readable, every committed
batch intact and no partial record; running the ingest again finishes the job."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    import shutil

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
