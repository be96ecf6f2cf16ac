"""Search benchmark: index build time, size, top-10 latency, QPS and ANN recall at several sizes.

Vectors at size N are derived from the real sample: the m3e-small vectors of
the 97 bundled cases, mixed in random pairs and perturbed with Gaussian noise,
then normalised (encoding N real texts would take N/50 seconds on 2 cores);
the output says so. Query encoding is timed on real sample texts.

txtai (PyPI) runs side by side on the same vectors (its ``external`` vector
method hands it our vectors; its FAISS backend with its default settings), and
the ratio rows compare it with ours.

    .venv/bin/python bench/search.py --sizes 10000,100000 --queries 200

``--engine-home DIR`` times whole searches through :class:`~leian.search.engine.SearchEngine`
on a home of generated cases (``bench/graph.py`` leaves one at 100k under its ``--work``
folder; a copy is used, the original is not written), side by side in one run: as the engine
searched before 纠纷要素 and type prediction (the same engine with its query-understanding and
element/type steps skipped) and as it searches now. The home's embedding cache is filled with
derived vectors first, so building its index encodes no text.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import encoder as encoder_bench  # bench/encoder.py: torch vs ONNX, bulk ingest vs the raw encoder
from leian.embeddings.encoder import load_encoder
from leian.embeddings.text import prepare_query, text_hash
from leian.search.faiss import FaissIndex

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "promediconv.jsonl"


def derived_vectors(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    left, right = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
    mix = rng.random((n, 1)).astype(np.float32)
    vectors = mix * base[left] + (1 - mix) * base[right] + rng.normal(0, 0.04, (n, base.shape[1])).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def txtai_version() -> str:
    from importlib.metadata import version

    return version("txtai")


class TxtaiRun:
    """A txtai Embeddings index over the same vectors (texts are row numbers its transform looks up)."""

    def __init__(self, vectors: np.ndarray, queries: np.ndarray):
        from txtai import Embeddings

        table = np.vstack([vectors, queries])
        self.first_query = len(vectors)

        def transform(texts: list[str]) -> np.ndarray:  # txtai wants a plain function
            return table[[int(t) for t in texts]]

        self.embeddings = Embeddings({"method": "external", "transform": transform, "backend": "faiss", "content": False})

    def build(self) -> None:
        self.embeddings.index((f"c{i}", str(i), None) for i in range(self.first_query))

    def search(self, row: int) -> list[tuple[str, float]]:
        return self.embeddings.search(str(self.first_query + row), 10)

    def size_bytes(self) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            self.embeddings.save(tmp)
            return sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())


def understanding_ms(texts: list[str]) -> np.ndarray:
    """Per query: the elements found and the type predicted, as the engine does before ranking (model trained first, untimed)."""
    from leian.disputes.types import TypeModel
    from leian.search.engine import Query

    model = TypeModel.default()
    model.distributions(texts[:1])

    def understand(text: str) -> None:
        Query(text)
        model.distributions([text])

    return timed(understand, texts)


def engine_latency(source: Path, work: Path, base: np.ndarray, texts: list[str], rng: np.random.Generator, queries: int) -> None:
    """p50/p99 of whole searches on a copy of the home at ``source``, without and with elements and type prediction."""
    import shutil
    import sqlite3

    from leian.disputes import index as disputes
    from leian.embeddings.cache import ensure_tables
    from leian.embeddings.text import pieces
    from leian.home import Home
    from leian.search.engine import Query, SearchEngine, sync

    root = work / f"search-{source.name}"
    home = Home.resolve(root)
    if not (root / "cases.sqlite").is_file():
        root.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source / "cases.sqlite") as origin, sqlite3.connect(root / "cases.sqlite") as copy:
            origin.backup(copy)
    encoder = load_encoder()
    with home.open_store() as store:
        ensure_tables(store)
        started = time.perf_counter()
        for batch in store.iter_search_texts():
            wanted = list(dict.fromkeys(text_hash(p) for _, text in batch for p in pieces(text)))
            vectors = derived_vectors(base, len(wanted), rng)
            with store.transaction() as conn:
                conn.executemany("INSERT OR IGNORE INTO embedding_cache VALUES (?, ?, ?, ?)",
                                 [(encoder.model_id, h, encoder.dim, v.tobytes()) for h, v in zip(wanted, vectors)])
        disputes.sync(home, store)
        sync(home, store)
        cases = len(store.ids())
        print(f"engine home: {cases:,} generated cases (a copy of {source}), derived vectors, prepared in {time.perf_counter() - started:.0f} s")
        with SearchEngine(home, store=store) as engine:
            asked = [(texts[i % len(texts)][:120], base[i % len(base)]) for i in range(queries)]

            def search(item: tuple[str, np.ndarray]) -> None:
                engine.search_vector(Query(item[0]), item[1], top_k=10)

            understand, structure = engine.understand, engine._structure
            engine.understand = lambda queries: None
            engine._structure = lambda query, candidates: {}
            search(asked[0])
            before = timed(search, asked)
            engine.understand, engine._structure = understand, structure
            search(asked[0])
            after = timed(search, asked)
    print(f"| cases | search | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    print(f"| {cases:,} | before (dense + BM25, no 纠纷要素 or type prediction) | {np.median(before):.1f} | {np.percentile(before, 99):.1f} |")
    print(f"| {cases:,} | now (+ elements, type prediction, element and type signals) | {np.median(after):.1f} | {np.percentile(after, 99):.1f} |")
    print(f"now/before p50: {np.median(after) / np.median(before):.2f}x (query encoding excluded from both)")


def timed(fn, items) -> np.ndarray:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000


def rate(fn, items, threads: int) -> float:
    with ThreadPoolExecutor(threads) as pool:  # warm-up: thread start-up is not search time
        list(pool.map(fn, items[:threads]))
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, items))
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated index sizes.")
    parser.add_argument("--queries", type=int, default=200, help="Queries per measurement.")
    parser.add_argument("--engine-home", type=Path, help="A home of generated cases: time whole searches on a copy of it (see above).")
    parser.add_argument("--work", type=Path, default=Path("/work/bench-homes"), help="Where the copy of --engine-home is kept.")
    parser.add_argument("--encoder-rounds", type=int, default=3, help="Rounds of the torch vs ONNX encoder table (0: skip it).")
    parser.add_argument("--encoder-ingest", type=int, default=200, help="Generated cases of the bulk-ingest vs raw-encoder row.")
    args = parser.parse_args()
    if args.encoder_rounds:
        encoder_bench.report(args.encoder_rounds, args.encoder_ingest, args.work / "encoder")
        print()
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    texts = [prepare_query(json.loads(line)["text"]) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    encoder = load_encoder()
    base = encoder.encode(texts)
    encode_ms = []
    for text in texts[: min(50, len(texts))]:
        start = time.perf_counter()
        encoder.encode([text[:120]])
        encode_ms.append((time.perf_counter() - start) * 1000)
    print(f"machine: {os.cpu_count()} CPUs, faiss {faiss.__version__}, 1 FAISS thread per query")
    print("vectors: derived from the 97 sample cases' m3e-small vectors (pairwise mixes + noise), not encoded texts")
    print(f"query encoding (m3e-small, ~120 chars): p50 {np.median(encode_ms):.1f} ms, p99 {np.percentile(encode_ms, 99):.1f} ms")
    understand_ms = understanding_ms([text[:120] for text in texts[: min(50, len(texts))]])
    print(f"query understanding (纠纷要素 + type prediction, ~120 chars): p50 {np.median(understand_ms):.2f} ms, "
          f"p99 {np.percentile(understand_ms, 99):.2f} ms; encoding + understanding p50 "
          f"{np.median(encode_ms) + np.median(understand_ms):.1f} ms = {1 + np.median(understand_ms) / np.median(encode_ms):.3f}x encoding alone")
    if args.engine_home:
        print()
        engine_latency(args.engine_home, args.work, base, texts, rng, args.queries)
        return
    print(f"txtai {txtai_version()}: same vectors through its external-vectors method, FAISS backend, default settings")
    print()
    print("| cases | kind | build s | bytes/case | p50 ms | p99 ms | p50 ms incl. encoding | QPS 1 thr | QPS 2 thr | recall@10 vs flat |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ratios: list[str] = []
    for size in (int(s) for s in args.sizes.split(",")):
        results: dict[str, tuple[float, float, float]] = {}
        vectors = derived_vectors(base, size, rng)
        ids = [f"c{i}" for i in range(size)]
        queries = list(derived_vectors(base, args.queries, rng))
        exact = None
        for kind in ("flat", "ivf"):
            started = time.perf_counter()
            index = FaissIndex(base.shape[1], kind=kind)
            index.upsert(ids, vectors)
            build = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                files = index.save(Path(tmp), "bench")
                size_bytes = sum((Path(tmp) / f).stat().st_size for f in files)
            def one(q, index=index):
                return index.search(q[None, :], 10)

            lat = timed(one, queries)
            hits = [{i for i, _ in row} for row in index.search(np.vstack(queries), 10)]
            if kind == "flat":
                exact, recall = hits, 1.0
            else:
                recall = float(np.mean([len(a & b) / 10 for a, b in zip(hits, exact)]))
            print(
                f"| {size:,} | {index.kind} | {build:.2f} | {size_bytes / size:.0f} | {np.median(lat):.2f} | {np.percentile(lat, 99):.2f} "
                f"| {np.median(lat) + np.median(encode_ms):.1f} | {rate(one, queries, 1):.0f} | {rate(one, queries, 2):.0f} | {recall:.3f} |"
            )
            results[kind] = (build, size_bytes / size, np.median(lat))
            del index
        other = TxtaiRun(vectors, np.vstack(queries))
        started = time.perf_counter()
        other.build()
        build = time.perf_counter() - started
        rows = list(range(len(queries)))
        lat = timed(other.search, rows)
        hits = [{i for i, _ in other.search(r)} for r in rows]
        recall = float(np.mean([len(a & b) / 10 for a, b in zip(hits, exact)]))
        size_bytes = other.size_bytes()
        print(
            f"| {size:,} | txtai | {build:.2f} | {size_bytes / size:.0f} | {np.median(lat):.2f} | {np.percentile(lat, 99):.2f} "
            f"| {np.median(lat) + np.median(encode_ms):.1f} | {rate(other.search, rows, 1):.0f} | {rate(other.search, rows, 2):.0f} | {recall:.3f} |"
        )
        ours = results["ivf" if size >= 50_000 else "flat"]
        ratios.append(f"{size:,}: txtai/LeiAn({'ivf' if size >= 50_000 else 'flat'}) build {build / ours[0]:.2f}x, bytes/case {size_bytes / size / ours[1]:.2f}x, p50 {np.median(lat) / ours[2]:.2f}x")
        del other
    print()
    print("ratios (above 1: txtai slower or larger):")
    for line in ratios:
        print("  " + line)


if __name__ == "__main__":
    main()
