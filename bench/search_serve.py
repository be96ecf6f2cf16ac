"""One side of ``bench/search.py --cases``: whole searches timed with the code of one checkout, in a process of its own.

    python bench/search_serve.py --code DIR --home HOME [--cases FILE] --base FILE.npy --queries FILE.json

``--code DIR`` is a checkout of LeiAn (this one, or an earlier commit's files), imported instead of the
editable install (``use_checkout`` of ``bench/ingest_into.py``).

With ``--cases`` and no index in HOME, the home is built first the way that code builds one: the
records stored as ``leian ingest --no-index`` stores them (unless HOME has a store already), then that code's search-side indexers
(every entry of ``leian.indexers.INDEXERS`` but the graph's) with *derived* vectors for the stored
cases: per text, a mix of two of the sample's real m3e-small vectors (``--base``), picked and
weighted by the text's hash, plus noise (encoding 100k cases would take hours on 2 cores). Queries
are then encoded for real.

Then it prints ``ready`` and answers lines ``START END`` on stdin with one JSON line: per query
``[whole search ms, of which encoding ms, process CPU ms, repeat alert ms]`` for the queries START..END-1 of
``--queries`` (a JSON list of texts), each through ``SearchEngine.search(text, top_k=10)``, then the repeat alert
``leian search`` and the web page add to it (``LeiAn.repeat_alert``, timed apart; null for code without it). The parent interleaves the
two sides' batches, so load on the shared machine falls on both alike.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from ingest_into import use_checkout  # bench/ingest_into.py: LeiAn imported from another checkout

class DerivedEncoder:
    """Stand-in vectors for the stored cases: two real sample vectors mixed by the text's hash, plus noise."""

    def __init__(self, model_id: str, base: np.ndarray):
        self.model_id, self.base, self.dim = model_id, base, base.shape[1]
        self.max_tokens = 512
        self.texts_encoded = 0

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little"))
            left, right = self.base[rng.integers(0, len(self.base), 2)]
            mix = rng.random()
            vector = mix * left + (1 - mix) * right + rng.normal(0, 0.04, self.dim)
            out[row] = vector / np.linalg.norm(vector)
        self.texts_encoded += len(texts)
        return out


def build(home: Path, cases: Path, base: np.ndarray) -> float:
    """Store ``cases`` and catch the search-side indexes up with derived vectors; returns seconds."""
    from leian.cli import cli
    from leian.embeddings import encoder
    from leian.home import Home
    from leian import indexers

    started = time.perf_counter()
    if not (home / "cases.sqlite").is_file():
        cli.main(["--home", str(home), "ingest", str(cases), "--no-index", "--no-progress", "--batch-size", "2000"],
                 prog_name="leian", standalone_mode=False)
    resolved = Home.resolve(home)
    # Filed where that code's load_encoder looks for the home's model (a name before the runtimes, (name, runtime)
    # since), under the real model's id: the engine opened for the queries finds the index its own.
    model = encoder.model_for_home(resolved)
    key = encoder.split_runtime(model) if hasattr(encoder, "split_runtime") else encoder.resolve_model(model)
    encoder._loaded[key] = DerivedEncoder(encoder.model_id_for(model), base)
    with resolved.open_store() as store:
        for entry in indexers.INDEXERS:
            if not entry.startswith("leian.graph"):
                module_name, function_name = entry.split(":")
                getattr(importlib.import_module(module_name), function_name)(resolved, store)
    del encoder._loaded[key]  # queries are encoded by the real model
    return time.perf_counter() - started


def serve(home: Path, texts: list[str]) -> None:
    """Answer ``START END`` lines with the per-query times (whole search, encoding, process CPU, repeat alert)."""
    import leian

    with leian.open(home) as api:
        engine = api.engine
        alert = getattr(api, "repeat_alert", None)
        encoding: list[float] = []
        encode = engine.encoder.encode

        def timed_encode(batch: list[str], **options: object) -> np.ndarray:
            started = time.perf_counter()
            try:
                return encode(batch, **options)
            finally:
                encoding.append(time.perf_counter() - started)

        engine.encoder.encode = timed_encode
        for text in texts[:5]:  # warm-up: BM25 loaded, caches filled, model paged in, the alert's index built
            engine.search(text, top_k=10)
            if alert:
                alert(text)
        print("ready", flush=True)
        for line in sys.stdin:
            start, end = map(int, line.split())
            times = []
            for text in texts[start:end]:
                encoding.clear()
                started, cpu = time.perf_counter(), time.process_time()
                engine.search(text, top_k=10)
                times.append([(time.perf_counter() - started) * 1000, sum(encoding) * 1000, (time.process_time() - cpu) * 1000])
                if alert:
                    started = time.perf_counter()
                    alert(text)
                    times[-1].append((time.perf_counter() - started) * 1000)
                else:
                    times[-1].append(None)
            print(json.dumps(times), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--cases", type=Path)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    args = parser.parse_args()
    use_checkout(args.code.resolve())
    if args.cases and not (args.home / "index" / "manifest.json").is_file():
        with contextlib.redirect_stdout(sys.stderr):  # stdout answers the parent
            seconds = build(args.home, args.cases, np.load(args.base))
        print(f"built {args.home} in {seconds:.0f} s", file=sys.stderr, flush=True)
    serve(args.home, json.loads(args.queries.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
