"""Encoder benchmark: torch vs ONNX Runtime sentences/s, and bulk ingest with every index vs the raw encoder.

Side by side in one run, rounds interleaved (torch, ONNX, torch, ...) so that
a busy machine weighs on both alike; each figure is the median of the rounds.

- short queries (8-30 characters of the sample's texts), one per ``encode``
  call, as a search encodes its query;
- 500-character documents (windows of the sample's texts), one ``encode``
  call for all, as the search index embeds the pieces of cases;
- the cosine of the two runtimes' vectors of the same texts;
- bulk ingest of generated cases into a fresh home (store + dispute index +
  search index + graph, as ``leian ingest`` runs them) against the raw encoder
  alone encoding the same pieces, in cases/s.

    .venv/bin/python bench/encoder.py --rounds 5 --ingest 300

``bench/search.py`` prints the same first (``--encoder-rounds 0`` skips it there).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from leian.embeddings.encoder import Encoder, load_encoder
from leian.embeddings.text import CHUNK_CHARS, pieces, prepare_query

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "promediconv.jsonl"
RUNTIMES = ("torch", "onnx")


def sample_texts() -> tuple[list[str], list[str]]:
    """Short queries and 500-character documents cut from the bundled sample, normalised as the engine does."""
    texts = [prepare_query(json.loads(line)["text"]) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    rng = np.random.default_rng(0)
    short = []
    for i in range(200):
        text, length = texts[i % len(texts)], int(rng.integers(8, 31))
        start = int(rng.integers(0, max(1, len(text) - length)))
        short.append(text[start : start + length])
    joined = "".join(texts)
    documents = [joined[i : i + CHUNK_CHARS] for i in range(0, len(joined) - CHUNK_CHARS, CHUNK_CHARS)][:64]
    return short, documents


def _rate(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - started)


def encoder_rates(rounds: int = 5, short_n: int = 100, documents_n: int = 32) -> dict[str, dict[str, float]]:
    """Median sentences/s of each runtime for short queries and 500-character documents, and their cosines."""
    short, documents = sample_texts()
    short, documents = short[:short_n], documents[:documents_n]
    encoders = {runtime: load_encoder(f"m3e-small@{runtime}") for runtime in RUNTIMES}
    for encoder in encoders.values():  # warm-up: first calls allocate
        encoder.encode(short[:4])
        encoder.encode(documents[:4])
    rates: dict[str, dict[str, list[float]]] = {r: {"short": [], "documents": []} for r in RUNTIMES}
    for _ in range(rounds):
        for runtime, encoder in encoders.items():
            rates[runtime]["short"].append(_rate(lambda e=encoder: sum(len(e.encode([q])) for q in short)))
            rates[runtime]["documents"].append(_rate(lambda e=encoder: len(e.encode(documents))))
    medians = {r: {kind: statistics.median(values) for kind, values in kinds.items()} for r, kinds in rates.items()}
    medians["cosine"] = {}
    for kind, texts in (("short", short), ("documents", documents)):
        cosines = (encoders["onnx"].encode(texts) * encoders["torch"].encode(texts)).sum(axis=1)
        medians["cosine"].update({f"{kind} min": float(cosines.min()), f"{kind} mean": float(cosines.mean())})
    return medians


def ingest_rates(n: int, work: Path, runtime: str = "onnx", seed: int = 11) -> dict[str, float]:
    """Cases/s of a bulk ingest with every index into a fresh home, and of the raw encoder on the same pieces."""
    from leian.data.generate import generate_to_file
    from leian.data.ingest import ingest
    from leian.home import Home
    from leian.indexers import sync_all

    source = work / f"cases-{n}-{seed}.jsonl"
    if not source.is_file():
        generate_to_file(source, n, seed)
    encoder: Encoder = load_encoder(f"m3e-small@{runtime}")
    with tempfile.TemporaryDirectory(dir=work, prefix="encoder-bench-") as scratch:
        root = Path(scratch) / "home"
        root.mkdir()
        (root / "config.toml").write_text(f'[embeddings]\nruntime = "{runtime}"\n', encoding="utf-8")
        home = Home.resolve(root)
        with home.open_store() as store:
            started = time.perf_counter()
            ingest(store, [source], rejects_dir=home.rejects_dir)
            stored = time.perf_counter() - started
            sync_all(home, store)
            total = time.perf_counter() - started
            texts = list(dict.fromkeys(p for batch in store.iter_search_texts() for _, text in batch for p in pieces(text)))
    started = time.perf_counter()
    encoder.encode(texts)
    encoding = time.perf_counter() - started
    return {"cases": n, "pieces": len(texts), "store s": stored, "ingest s": total, "encoder s": encoding,
            "ingest cases/s": n / total, "encoder cases/s": n / encoding}


def report(rounds: int, ingest_n: int, work: Path) -> None:
    """Print both tables (markdown) with the ratios."""
    import onnxruntime
    import torch

    rates = encoder_rates(rounds)
    print(f"encoder: m3e-small, torch {torch.__version__} ({torch.get_num_threads()} threads) vs onnxruntime "
          f"{onnxruntime.__version__} ({load_encoder('m3e-small@onnx').model_id}), {os.cpu_count()} CPUs, "
          f"median of {rounds} interleaved rounds")
    print()
    print("| texts | torch sentences/s | ONNX sentences/s | ONNX/torch | cosine min (mean) |")
    print("|---|---|---|---|---|")
    for kind, label in (("short", "short queries (8-30 chars), one per call"), ("documents", "500-char documents, one call")):
        torch_rate, onnx_rate = rates["torch"][kind], rates["onnx"][kind]
        cosine = rates["cosine"]
        print(f"| {label} | {torch_rate:.1f} | {onnx_rate:.1f} | {onnx_rate / torch_rate:.2f}x "
              f"| {cosine[f'{kind} min']:.4f} ({cosine[f'{kind} mean']:.4f}) |")
    if ingest_n:
        print()
        print("| runtime | cases | pieces | store s | ingest with all indexes s | raw encoder s | ingest cases/s | encoder cases/s | ingest/encoder |")
        print("|---|---|---|---|---|---|---|---|---|")
        work.mkdir(parents=True, exist_ok=True)
        found = ingest_rates(ingest_n, work)
        print(f"| onnx | {found['cases']} | {found['pieces']} | {found['store s']:.1f} | {found['ingest s']:.1f} | "
              f"{found['encoder s']:.1f} | {found['ingest cases/s']:.1f} | {found['encoder cases/s']:.1f} | "
              f"{found['ingest cases/s'] / found['encoder cases/s']:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Interleaved rounds per figure (the median is printed).")
    parser.add_argument("--ingest", type=int, default=300, help="Generated cases for the bulk-ingest row (0: skip it).")
    parser.add_argument("--work", type=Path, default=Path("/work/bench-homes/encoder"), help="Where generated cases and the home go.")
    args = parser.parse_args()
    report(args.rounds, args.ingest, args.work)


if __name__ == "__main__":
    main()
