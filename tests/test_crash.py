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
