"""Search benchmark: index build time, size, top-10 latency, QPS and ANN recall at several sizes.

Vectors at size N are derived from the real sample: the m3e-small vectors of
the 97 bundled cases, mixed in random pairs and perturbed with Gaussian noise,
then normalised (encoding N real texts would take N/50 seconds on 2 cores);
the output says so. Query encoding is timed on real sample texts.

txtai (PyPI) runs side by side on the same vectors (its ``external`` vector
method hands it our vectors; its FAISS backend with its default settings), and
the ratio rows compare it with ours.

    .venv/bin/python bench/search.py --sizes 10000,100000 --queries 200

``--cases FILE`` (records from ``leian generate``) times whole searches through
:class:`~leian.search.engine.SearchEngine`, the query encoded for real, side by side in one run:
this checkout's code and, with ``--before COMMIT``, that commit's (its files exported under
``--work``), each in a process of its own (``bench/search_serve.py``) over a home of FILE built once
by its own code under ``--work`` (stored cases get derived vectors), answering interleaved batches
of the dev set's tuning-half texts (the held-out half is kept for quality evaluations). ``--home DIR``
times this checkout's searches on a home built elsewhere, as it is, and with ``--before`` that commit's
on ``--before-home DIR`` (default: the same home; older code refuses a store a newer one has migrated,
so give it a copy made before). Besides wall times each side reports the process CPU time of a search
(both encoder threads included): on shared cores it is the figure that load does not inflate.

    .venv/bin/python bench/search.py --cases /work/bench-homes/search/cases-100000.jsonl --before cbce3c0 \
        --work /work/bench-homes/search --queries 100
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
from leian.embeddings.text import prepare_query
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


def whole_search_latency(cases: Path | None, home: Path | None, work: Path, before: str | None, base: np.ndarray, queries: int,
                         batch: int = 10, before_home: Path | None = None) -> None:
    """p50/p99 of whole searches (the query encoded for real) through ``bench/search_serve.py``: this checkout's
    code, and with ``before`` also that commit's, in two processes answering interleaved batches of queries.

    With ``cases`` each side builds (once) its own home of them under ``work`` with its own code; with ``home``
    each side searches a prebuilt home as it is (nothing is rebuilt): this checkout ``home``, ``before``
    ``before_home`` (else ``home`` too).
    """
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "base.npy", base)
    told = [json.loads(line) for line in (root / "data" / "devsets" / "tellings" / "tune.jsonl").read_text(encoding="utf-8").splitlines()]
    texts, tellings = [row["text"] for row in told], [row["telling"] for row in told]
    # Warmed up on five sample cases' texts: no timed query is one the engine has seen (it remembers query vectors).
    warm_up = [json.loads(line)["text"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:5]]
    asked = warm_up + [texts[i % len(texts)] for i in range(queries)]
    (work / "queries.json").write_text(json.dumps(asked, ensure_ascii=False), encoding="utf-8")
    sides: dict[str, Path] = {"now": root}
    if before:
        code = work / f"code-{before}"
        if not code.is_dir():
            code.mkdir(parents=True)
            archive = subprocess.run(["git", "-C", str(root), "archive", before], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
        sides = {f"before ({before})": code, "now": root}
    servers = {}
    for label, code in sides.items():
        command = [sys.executable, str(root / "bench" / "search_serve.py"), "--code", str(code), "--base", str(work / "base.npy"),
                   "--queries", str(work / "queries.json")]
        if cases:
            command += ["--home", str(work / f"home-{'before' if code != root else 'now'}-{cases.stem}"), "--cases", str(cases)]
        else:
            command += ["--home", str(home if code == root else before_home or home)]
        servers[label] = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for label, server in servers.items():
        if server.stdout.readline().strip() != "ready":
            raise SystemExit(f"{label}: the search process did not start")
    times: dict[str, list[list[float]]] = {label: [] for label in servers}
    order = list(servers)
    for number, start in enumerate(range(5, 5 + queries, batch)):
        for label in order if number % 2 == 0 else order[::-1]:  # alternate who goes first
            servers[label].stdin.write(f"{start} {min(start + batch, 5 + queries)}\n")
            servers[label].stdin.flush()
            times[label].extend(json.loads(servers[label].stdout.readline()))
    for server in servers.values():
        server.stdin.close()
        server.wait()
    size = f"{cases.stem.split('-')[-1]} cases" if cases else str(home)
    print(f"whole searches on {size} (dev-set tuning-half texts, all four tellings; encoding for real, stored vectors derived), "
          f"{queries} queries per side, interleaved in batches of {batch}; load average at the end {os.getloadavg()[0]:.1f}:")
    print("| code | p50 ms | p99 ms | p50 ms without encoding | p99 ms without encoding | p50 encoding ms | p50 CPU ms | mean CPU ms "
          "| repeat alert p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    p50 = {}
    for label, rows in times.items():
        whole, encoding, cpu, alert = np.array(rows, dtype=float).T  # alert: nan for code without it
        rest = whole - encoding
        p50[label] = (np.median(whole), np.median(rest))
        print(f"| {label} | {np.median(whole):.1f} | {np.percentile(whole, 99):.1f} | {np.median(rest):.1f} | {np.percentile(rest, 99):.1f} "
              f"| {np.median(encoding):.1f} | {np.median(cpu):.1f} | {np.mean(cpu):.1f} | {np.median(alert):.1f} |")
    print("p50 ms of whole searches by telling (25 texts each: short 15-23 characters, spoken 80-103, report 91-116, record 353-427):")
    asked_tellings = [tellings[i % len(tellings)] for i in range(queries)]
    for label, rows in times.items():
        whole = np.array([row[0] for row in rows])
        print(f"  {label}: " + ", ".join(f"{telling} {np.median(whole[[t == telling for t in asked_tellings]]):.1f}"
                                       for telling in dict.fromkeys(tellings)))
    if before:
        (old_whole, old_rest), (new_whole, new_rest) = p50.values()
        print(f"now/before p50: {new_whole / old_whole:.2f}x whole search, {new_rest / old_rest:.2f}x without encoding")


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
    parser.add_argument("--cases", type=Path, help="Generated records: time whole searches on homes of them (see above).")
    parser.add_argument("--home", type=Path, help="A home built elsewhere: time whole searches on it as it is.")
    parser.add_argument("--before", help="With --cases or --home: also time this commit's code, side by side.")
    parser.add_argument("--before-home", type=Path, help="With --home and --before: the home the earlier code searches (default: --home).")
    parser.add_argument("--work", type=Path, default=Path("/work/bench-homes"), help="Where the homes and the earlier code are kept.")
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
    if args.cases or args.home:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        whole_search_latency(args.cases, args.home, args.work, args.before, base, args.queries, before_home=args.before_home)
        return
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
