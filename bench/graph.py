"""Graph benchmark: entity resolution and graph build time, memory, 2-hop latency on networkx and on a Bolt server.

Cases come from the scenario generator (``leian.data.generate``), stored
without the search index. Per size it prints, side by side: entity-resolution
time, repeat chains, respondent chains (重点关注对象, 群体性纠纷) and the risk
register (风险台账, as of the last case's day; first the facts of every case read
once, as an ingest keeps them, then one call of the register; then the register kept between calls:
its first call, a call with nothing changed, one after a case is edited, and, before and after side by side, the
first call of the next day and an area's first call after a case joins the area) with their wall times and the peak
resident memory of the process during each (``*_peak_mb``, sampled every 20 ms), networkx build time, the process's resident-memory growth and the
graph.sqlite size, the Bolt load time, and 2-hop neighbourhood latency p50/p99 for
both stores (the same random cases, the same walk). The Bolt server is a
throw-away ArcadeDB started by ``tools/arcadedb_server.py`` unless
``--bolt URI`` is given.

    .venv/bin/python bench/graph.py --sizes 2000,10000          # quick
    .venv/bin/python bench/graph.py --sizes 100000,1000000 --bolt-max 100000
    .venv/bin/python bench/graph.py --calibrate-similar 3000   # SIMILAR_TO threshold

``--calibrate-similar N`` builds the real search index over N generated cases
and prints, per cosine threshold, how many of each case's top-3 dense
neighbours at or above it share the case's 小类 and 大类 (precision) and how
many cases keep at least one SIMILAR_TO edge (coverage).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import json
import os
import random
import statistics
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import psutil

from leian.data.areas import Area
from leian.data.generate import generate_to_file, score_respondent_chains
from leian.data.ingest import ingest
from leian.data.record import validate
from leian.graph.model import case_node_id
from leian.graph.neo4j import Neo4jGraphStore
from leian.graph.networkx import GRAPH_FILE, NetworkxGraphStore
from leian.graph.repeats import all_chains, resolve_changes, respondent_chains
from leian.graph.risk import KeptRegister, refresh_facts, register
from leian.graph.sync import apply_changes
from leian.home import Home

ROOT = Path(__file__).resolve().parent.parent


def _rss() -> int:
    return psutil.Process().memory_info().rss


class _Stage:
    """Wall time and peak resident memory of one stage, RSS sampled every 20 ms by a thread."""

    def __enter__(self) -> "_Stage":
        self.peak = _rss()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        self.started, self.cpu_started = time.perf_counter(), time.process_time()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = time.process_time() - self.cpu_started  # what other jobs' load does not inflate
        self._done.set()
        self._sampler.join()
        self.peak = max(self.peak, _rss())

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def _latency(graph, case_ids: list[str]) -> tuple[float, float, float]:
    """p50, p99 milliseconds of a 2-hop neighbourhood, and the mean number of nodes returned."""
    timings, sizes = [], []
    for case_id in case_ids:
        started = time.perf_counter()
        nodes, _ = graph.neighborhood(case_node_id(case_id), hops=2)
        timings.append((time.perf_counter() - started) * 1000)
        sizes.append(len(nodes))
    p50, p99 = _percentiles(timings)
    return p50, p99, statistics.mean(sizes)


def _server_tool():
    spec = importlib.util.spec_from_file_location("arcadedb_server", ROOT / "tools" / "arcadedb_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _progress(n: int, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {n} cases: {message}", flush=True)


def run_size(n: int, work: Path, bolt_uri: str | None, queries: int, seed: int, skip_stores: bool = False) -> dict:
    cases_file = work / f"cases-{n}.jsonl"
    if not cases_file.exists():
        generate_to_file(cases_file, n, seed, work / f"truth-{n}.json")
    home = Home.resolve(work / f"home-{n}")
    row: dict = {"cases": n}
    with home.open_store() as store:
        if store.count() < n:
            ingest(store, [cases_file], rejects_dir=home.rejects_dir, batch_size=2000)
        gc.collect()
        with _Stage() as stage:
            resolve_changes(store)
        row["resolve_s"], row["resolve_peak_mb"] = stage.seconds, stage.peak_mb
        _progress(n, f"entities resolved in {row['resolve_s']:.0f} s, peak RSS {stage.peak_mb:.0f} MiB")
        with _Stage() as stage:
            row["chains"] = len(all_chains(store))
        row["chains_s"], row["chains_peak_mb"] = stage.seconds, stage.peak_mb
        with _Stage() as stage:
            respondents = respondent_chains(store)
        row["respondent_s"], row["respondent_peak_mb"] = stage.seconds, stage.peak_mb
        row["respondents"] = len(respondents)
        row["group_disputes"] = sum(c.group_dispute for c in respondents)
        truth_file = work / f"truth-{n}.json"
        if truth_file.exists():
            score = score_respondent_chains([(c.case_ids, c.group_dispute) for c in respondents],
                                            json.loads(truth_file.read_text(encoding="utf-8")))
            row["respondent_recall"], row["respondent_precision"] = score.recall, score.precision
            _progress(n, f"respondent chains against the generator truth: {score.line()}")
        last_day = store.conn.execute("SELECT MAX(case_date) FROM cases").fetchone()[0]
        # The register's facts are filled once from every case (as an ingest keeps them), then each call reads them.
        with _Stage() as stage:
            refresh_facts(store, full=True)
        row["facts_s"], row["facts_peak_mb"] = stage.seconds, stage.peak_mb
        _progress(n, f"register facts of every case read in {row['facts_s']:.0f} s")
        with _Stage() as stage:
            listed = register(store, today=dt.date.fromisoformat(last_day[:10]))
        row["register_s"], row["register_peak_mb"] = stage.seconds, stage.peak_mb
        row["register"] = len(listed)
        row["red"] = sum(a.level == "高" for a in listed)
        _kept_register(store, row, dt.date.fromisoformat(last_day[:10]), listed)
        _progress(n, f"chains {row['chains_s']:.0f} s, respondent chains {row['respondent_s']:.1f} s, "
                     f"register {row['register_s']:.1f} s (peak RSS {row['register_peak_mb']:.0f} MiB)")
        if skip_stores:
            return row

        gc.collect()
        before = _rss()
        graph = NetworkxGraphStore(home.graph_dir)
        started = time.perf_counter()
        apply_changes(graph, store)
        row["nx_build_s"] = time.perf_counter() - started
        row["nx_rss_mb"] = (_rss() - before) / 2**20
        row["nodes"], row["edges"] = graph.counts()
        _progress(n, f"networkx graph built in {row['nx_build_s']:.0f} s")
        row["graph_mb"] = sum(p.stat().st_size for p in home.graph_dir.glob(GRAPH_FILE + "*")) / 2**20
        sample = random.Random(seed).sample(store.ids(), min(queries, n))
        row["nx_p50_ms"], row["nx_p99_ms"], row["hood_nodes"] = _latency(graph, sample)
        if bolt_uri:
            with Neo4jGraphStore(bolt_uri) as server:
                server.clear()
                started = time.perf_counter()
                server.load(graph.iter_nodes(), graph.iter_edges())
                row["bolt_load_s"] = time.perf_counter() - started
                _progress(n, f"Bolt server loaded in {row['bolt_load_s']:.0f} s")
                row["bolt_p50_ms"], row["bolt_p99_ms"], _ = _latency(server, sample)
        del graph
        gc.collect()
    return row


def _kept_register(store, row: dict, today: dt.date, listed: list) -> None:
    """The register kept between calls (what ``LeiAn.risk`` and the web server keep): its first call, a call with
    nothing changed, a call after one listed party's case is edited (and resolved, as an ingest leaves it); then,
    before and after side by side, the first call of the next day and an area's first call after a new case in
    the area. Before, both assessed every party that can score, as a fresh ``KeptRegister`` does."""
    kept = KeptRegister()
    with _Stage() as stage:
        register(store, today=today, kept=kept)
    row["kept_first_s"] = stage.seconds
    with _Stage() as stage:
        again = register(store, today=today, kept=kept)
    row["kept_again_s"] = stage.seconds
    assert [a.to_dict() for a in again] == [a.to_dict() for a in listed]
    case = store.get(listed[0].case_ids[-1])
    store.upsert_batch([validate({**case.raw, "handling": f"{case.raw.get('handling') or ''}，对方扬言报复"})])
    resolve_changes(store)
    with _Stage() as stage:
        edited = register(store, today=today, kept=kept)
    row["kept_edit_s"], row["kept_edit_assessed"] = stage.seconds, kept.assessed
    assert [a.to_dict() for a in edited] == [a.to_dict() for a in register(store, today=today)]
    store.upsert_batch([validate(case.raw)])  # back as it was, for the next run
    resolve_changes(store)
    _progress(row["cases"], f"kept register: first call {row['kept_first_s']:.1f} s, again {row['kept_again_s']:.2f} s, "
                            f"after one edited case {row['kept_edit_s']:.2f} s ({kept.assessed} parties assessed)")

    tomorrow = today + dt.timedelta(days=1)
    _before_after(row, "next_day", lambda kept: register(store, today=tomorrow, kept=kept), kept)
    area = Area(case.location["district"])
    register(store, today=tomorrow, within=area.case_ids(store), kept=kept)
    joined = {**case.raw, "id": f"{case.id}-bench", "occurred_on": tomorrow.isoformat(), "reported_on": None, "closed_on": None}
    store.upsert_batch([validate(joined)])
    resolve_changes(store)
    try:
        _before_after(row, "area_case", lambda kept: register(store, today=tomorrow, within=area.case_ids(store), kept=kept), kept)
    finally:
        store.delete([joined["id"]])  # gone again, for the next run
        resolve_changes(store)
    # What the kept register holds (every assessment above 平安, and of every party that can score the day it holds
    # until and its cases and revisits), as Python objects still allocated after its first call, and the peak.
    tracemalloc.start()
    held = KeptRegister()
    register(store, today=tomorrow, kept=held)
    row["kept_mib"], row["kept_peak_mib"] = (size / 2**20 for size in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    _progress(row["cases"], f"kept register holds {row['kept_mib']:.0f} MiB (tracemalloc; peak {row['kept_peak_mib']:.0f} MiB)")


def _before_after(row: dict, name: str, call, kept: KeptRegister) -> None:
    """``call(kept)`` timed with a fresh ``KeptRegister`` (before: every party that can score assessed) and with
    ``kept`` (after), the two answers checked equal."""
    for side, register_kept in (("before", KeptRegister()), ("after", kept)):
        gc.collect()
        with _Stage() as stage:
            answer = [a.to_dict() for a in call(register_kept)]
        row[f"{name}_{side}_s"], row[f"{name}_{side}_cpu_s"] = stage.seconds, stage.cpu_seconds
        row[f"{name}_{side}_assessed"], row[f"{name}_{side}_listed"] = register_kept.assessed, len(answer)
        if side == "before":
            expected = answer
    assert answer == expected, name
    _progress(row["cases"], f"{name}: before {row[f'{name}_before_s']:.2f} s ({row[f'{name}_before_assessed']} parties "
                            f"assessed), after {row[f'{name}_after_s']:.2f} s ({row[f'{name}_after_assessed']})")


def calibrate_similar(n: int, work: Path, seed: int, top: int = 3) -> None:
    from leian.search.engine import SearchEngine

    cases_file = work / f"cases-{n}.jsonl"
    if not cases_file.exists():
        generate_to_file(cases_file, n, seed)
    home = Home.resolve(work / f"similar-{n}")
    with home.open_store() as store:
        if store.count() < n:
            ingest(store, [cases_file], rejects_dir=home.rejects_dir, batch_size=2000)
        types = {r[0]: (r[1], r[2]) for r in store.conn.execute("SELECT id, category, subtype FROM cases")}
        with SearchEngine(home, store=store) as engine:
            pairs = [(score, types[case_id] == types[other], types[case_id][0] == types[other][0], case_id)
                     for case_id in types for other, score in engine.neighbors(case_id, top)]
    print(f"{n} generated cases, top-{top} dense neighbours each ({len(pairs)} pairs)")
    print("| threshold | pairs kept | same 小类 | same 大类 | cases with an edge |")
    print("|---|---|---|---|---|")
    for step in range(76, 100, 2):
        threshold = step / 100
        kept = [p for p in pairs if p[0] >= threshold]
        if kept:
            subtype_share = sum(p[1] for p in kept) / len(kept)
            category_share = sum(p[2] for p in kept) / len(kept)
            coverage = len({p[3] for p in kept}) / n
            print(f"| {threshold:.2f} | {len(kept)} | {subtype_share:.3f} | {category_share:.3f} | {coverage:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated case counts (default 100000,1000000)")
    parser.add_argument("--bolt-max", type=int, default=100_000, help="largest size also loaded into the Bolt server (default 100000)")
    parser.add_argument("--bolt", help="use this Bolt URI instead of starting a throw-away ArcadeDB")
    parser.add_argument("--heap", default="4g", help="Java heap of the throw-away ArcadeDB (default 4g; 1M cases want 8g)")
    parser.add_argument("--queries", type=int, default=200, help="2-hop queries per store (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--work", help="working directory (default: a temporary one)")
    parser.add_argument("--resolution-only", action="store_true",
                        help="time resolution, chains, respondent chains and the risk register only (no graph stores)")
    parser.add_argument("--calibrate-similar", type=int, metavar="N", help="only calibrate the SIMILAR_TO threshold on N generated cases")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="leian-bench-graph-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.calibrate_similar:
        calibrate_similar(args.calibrate_similar, work, args.seed)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    tool = server_dir = None
    bolt_uri = args.bolt
    if bolt_uri is None and not args.resolution_only and any(n <= args.bolt_max for n in sizes):
        tool, server_dir = _server_tool(), work / "arcadedb"
        bolt_uri = tool.start(server_dir, heap=args.heap)
    try:
        rows = [run_size(n, work, bolt_uri if n <= args.bolt_max else None, args.queries, args.seed, args.resolution_only)
                for n in sizes]
    finally:
        if tool:
            tool.stop(server_dir)
    print(f"cpus={os.cpu_count()} queries={args.queries} seed={args.seed}")
    columns = ["cases", "resolve_s", "resolve_peak_mb", "chains", "chains_s", "chains_peak_mb", "respondents",
               "group_disputes", "respondent_recall", "respondent_precision", "respondent_s", "respondent_peak_mb", "facts_s", "register", "red", "register_s",
               "register_peak_mb", "kept_first_s", "kept_again_s", "kept_edit_s", "kept_edit_assessed", "kept_mib", "kept_peak_mib", "nx_build_s", "nx_rss_mb", "graph_mb", "nodes", "edges", "hood_nodes",
               "nx_p50_ms", "nx_p99_ms", "bolt_load_s", "bolt_p50_ms", "bolt_p99_ms"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    print("| first call | cases | parties listed | before: assessed | before: wall s | before: CPU s "
          "| after: assessed | after: wall s | after: CPU s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        for name, label in (("next_day", "of the next day"), ("area_case", "of an area after a case joins it")):
            if f"{name}_after_s" in row:
                cells = [f"{row[f'{name}_{side}_assessed']} | {row[f'{name}_{side}_s']:.3f} | {row[f'{name}_{side}_cpu_s']:.3f}"
                         for side in ("before", "after")]
                print(f"| {label} | {row['cases']} | {row[f'{name}_after_listed']} | {' | '.join(cells)} |")
    for row in rows:
        if "bolt_p50_ms" in row:
            print(f"{row['cases']} cases: Bolt/networkx 2-hop p50 ratio {row['bolt_p50_ms'] / row['nx_p50_ms']:.1f}x, "
                  f"p99 ratio {row['bolt_p99_ms'] / row['nx_p99_ms']:.1f}x")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    main()
