"""Encoder benchmark: torch vs ONNX Runtime sentences/s, and bulk ingest with every index vs the raw encoder.

Side by side in one run, rounds interleaved (torch, ONNX, torch, ...) so that
a busy machine weighs on both alike; each figure is the median of the rounds.

- short queries (8-30 characters of the sample's texts), one per ``encode``
  call, as a search encodes its query;
- 500-character documents (windows of the sample's texts), one ``encode``
  call for all, as the search index embeds the pieces of cases;
- the cosine of the two runtimes' vectors of the same texts;
- bulk ingest of generated cases into a home (store + dispute index + search
  index + graph, as ``leian ingest`` runs them; the process warmed by a first
  small ingest) against the raw encoder alone encoding the same pieces, in cases/s.

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


def encoder_rates(rounds: int = 5, short_n: int = 50, documents_n: int = 16) -> dict[str, dict[str, float]]:
    """Median sentences/s for short queries and 500-character documents, and the two runtimes' cosines.

    torch runs with its default threads and with one: on a loaded machine one thread is often faster,
    and the ratio is taken to the better of the two.
    """
    import torch

    short, documents = sample_texts()
    short, documents = short[:short_n], documents[:documents_n]
    encoders = {runtime: load_encoder(f"m3e-small@{runtime}") for runtime in RUNTIMES}
    threads = torch.get_num_threads()
    runs = {f"torch {threads} threads": (encoders["torch"], threads), "torch 1 thread": (encoders["torch"], 1),
            "onnx": (encoders["onnx"], threads)}
    for encoder in encoders.values():  # warm-up: first calls allocate
        encoder.encode(short[:4])
        encoder.encode(documents[:4])
    rates: dict[str, dict[str, list[float]]] = {run: {"short": [], "documents": []} for run in runs}
    for _ in range(rounds):
        for run, (encoder, count) in runs.items():
            torch.set_num_threads(count)
            rates[run]["short"].append(_rate(lambda e=encoder: sum(len(e.encode([q])) for q in short)))
            rates[run]["documents"].append(_rate(lambda e=encoder: len(e.encode(documents))))
    torch.set_num_threads(threads)
    medians = {run: {kind: statistics.median(values) for kind, values in kinds.items()} for run, kinds in rates.items()}
    medians["cosine"] = {}
    for kind, texts in (("short", short), ("documents", documents)):
        cosines = (encoders["onnx"].encode(texts) * encoders["torch"].encode(texts)).sum(axis=1)
        medians["cosine"].update({f"{kind} min": float(cosines.min()), f"{kind} mean": float(cosines.mean())})
    return medians


def ingest_rates(n: int, work: Path, runtime: str = "onnx", seed: int = 11, warm: int = 50) -> dict[str, float]:
    """Cases/s of a bulk ingest of ``n`` cases with every index, and of the raw encoder on the same pieces.

    The home first takes ``warm`` other cases, so the timed ingest is the steady state of a running
    process (jieba loaded, the type model trained), not its start-up.
    """
    from leian.data.generate import generate_to_file
    from leian.data.ingest import ingest
    from leian.home import Home
    from leian.indexers import sync_all

    generated = work / f"cases-{warm + n}-{seed}.jsonl"
    if not generated.is_file():
        generate_to_file(generated, warm + n, seed)
    lines = generated.read_text(encoding="utf-8").splitlines(keepends=True)
    encoder: Encoder = load_encoder(f"m3e-small@{runtime}")
    with tempfile.TemporaryDirectory(dir=work, prefix="encoder-bench-") as scratch:
        first, bulk = Path(scratch) / "warm.jsonl", Path(scratch) / "bulk.jsonl"
        first.write_text("".join(lines[:warm]), encoding="utf-8")
        bulk.write_text("".join(lines[warm:]), encoding="utf-8")
        root = Path(scratch) / "home"
        root.mkdir()
        (root / "config.toml").write_text(f'[embeddings]\nruntime = "{runtime}"\n', encoding="utf-8")
        home = Home.resolve(root)
        with home.open_store() as store:
            ingest(store, [first], rejects_dir=home.rejects_dir)
            sync_all(home, store)
            warmed = set(store.ids())
            started = time.perf_counter()
            ingest(store, [bulk], rejects_dir=home.rejects_dir)
            stored = time.perf_counter() - started
            sync_all(home, store)
            total = time.perf_counter() - started
            texts = list(dict.fromkeys(p for batch in store.iter_search_texts() for case_id, text in batch
                                       if case_id not in warmed for p in pieces(text)))
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
    cosine = rates.pop("cosine")
    runs = list(rates)
    print(f"encoder: m3e-small, torch {torch.__version__} vs onnxruntime {onnxruntime.__version__} "
          f"({load_encoder('m3e-small@onnx').model_id}), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"median of {rounds} interleaved rounds")
    print()
    print(f"| texts | {' | '.join(f'{run} /s' for run in runs)} | ONNX / best torch | cosine min (mean) |")
    print("|---|" + "---|" * (len(runs) + 2))
    for kind, label in (("short", "short queries (8-30 chars), one per call"), ("documents", "500-char documents, one call")):
        best_torch = max(rates[run][kind] for run in runs if run.startswith("torch"))
        print(f"| {label} | {' | '.join(f'{rates[run][kind]:.1f}' for run in runs)} | {rates['onnx'][kind] / best_torch:.2f}x "
              f"| {cosine[f'{kind} min']:.4f} ({cosine[f'{kind} mean']:.4f}) |")
    if ingest_n:
        print()
        print("| runtime | cases | pieces | store s | store + all indexes s | raw encoder s | ingest cases/s | encoder cases/s | ingest/encoder |")
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
