"""Benchmark of the scenario generator: records/s and memory at several sizes.

Each size runs in its own process so that peak RSS belongs to that size alone;
RSS is also sampled at every tenth of the run to show that memory stays flat.

    .venv/bin/python bench/generate.py --sizes 10000,100000,1000000
    .venv/bin/python bench/generate.py --sizes 100000 --out /work/bench-homes/graph   # keep the files

With ``--out DIR`` each size's records and truth are kept as ``DIR/cases-N.jsonl``
and ``DIR/truth-N.json`` (the names ``bench/graph.py --work DIR`` reads) instead
of being written to a temporary folder and removed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil


def run_one(n: int, seed: int, folder: str) -> dict:
    """Generate ``n`` records into ``folder/cases-n.jsonl``; return speed and memory figures."""
    from leian.data.generate import generate_to_file

    process = psutil.Process()
    samples: list[float] = []
    step = max(1, n // 10)

    def sample(written: int) -> None:
        if written // step > len(samples) - 1 or written == n:
            samples.append(process.memory_info().rss / 2**20)

    samples.append(process.memory_info().rss / 2**20)
    cases_file = Path(folder) / f"cases-{n}.jsonl"
    report = generate_to_file(cases_file, n, seed, truth_path=Path(folder) / f"truth-{n}.json", on_chunk=sample)
    size = cases_file.stat().st_size
    return {"n": n, "seconds": report.seconds, "records_per_s": round(n / report.seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_mb_by_tenth": [round(s, 1) for s in samples], "file_mb": round(size / 2**20, 1),
            "chains": report.chains, "decoys": report.decoys, "spikes": report.spikes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="Comma-separated record counts.")
    parser.add_argument("--seed", type=int, default=7, help="Random seed.")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="keep the generated files in this folder (default: a temporary one, removed)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.seed, args.folder)))
        return
    rows = []
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="leian-bench-") as scratch:
            folder = args.out or scratch
            out = subprocess.run([sys.executable, __file__, "--child", str(n), "--seed", str(args.seed),
                                  "--folder", folder], check=True, capture_output=True, text=True,
                                 env={**os.environ, "HF_HUB_OFFLINE": "1"})
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            row = rows[-1]
            print(f"n={row['n']:>9,}  {row['seconds']:8.1f} s  {row['records_per_s']:>6,} rec/s  "
                  f"peak RSS {row['peak_rss_mb']:6.1f} MB  file {row['file_mb']:7.1f} MB  "
                  f"RSS by tenth {row['rss_mb_by_tenth']}", flush=True)
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(f"{large['n'] / small['n']:.0f}x the records: {large['seconds'] / small['seconds']:.1f}x the time, "
              f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x the peak RSS")


if __name__ == "__main__":
    main()
