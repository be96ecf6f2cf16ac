"""Ingest benchmarks: store-only throughput, and the cost of a small ingest into a big home, before and after.

Store-only (the default): ``python bench/ingest.py [--n 100000] [--batch-size 500]``.
Records are the bundled sample cases replicated under new ids, with places,
dates, parties and phones varied so that every record is distinct. The
benchmark times `leian.data.ingest.ingest` into a fresh SQLite store (no search
index or graph) and samples the process RSS every 50 ms.

Into a big home (``--work DIR``): a 1-case and a 100-case ``leian ingest`` into
homes of each ``--sizes`` (generator v3 cases, seed 7), with the code of
``--before REV`` (a ``git worktree`` at ``DIR/before``) and of this checkout,
side by side in one run: wall time, bytes written, peak RSS of the ingesting
process. Build the homes first, outside the bench lock (slow; see
``bench/ingest_into.py`` for what is derived: the existing cases' vectors)::

    nice -n 10 python bench/ingest.py --work /work/bench-homes/persist --sizes 100000 --build
    flock /tmp/leian-bench.lock python bench/ingest.py --work /work/bench-homes/persist --sizes 100000

Each run ingests new cases (generator seed 8, fresh ids, each text ending in the
run's tag so that none is cached), so a home grows by 102 cases per run.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from leian.cli import sample_path
from leian.data.ingest import ingest
from leian.data.store import Store

from ingest_into import BUILT  # the script's folder is on sys.path; importing it loads no LeiAn code

ROOT = Path(__file__).resolve().parents[1]
#: The last commit before vectors in segments, BM25 saved with bm25s and the graph in SQLite: every ingest
#: wrote the whole FAISS index and re-pickled the whole networkx graph.
BEFORE = "20a9d43"
INTO = ROOT / "bench" / "ingest_into.py"

TOWNS = [("珠海市", "金湾区", "三灶镇"), ("珠海市", "金湾区", "红旗镇"), ("长治市", "潞州区", "老顶山镇"),
         ("武威市", "凉州区", "高坝镇"), ("深圳市", "宝安区", "西乡街道"), ("重庆市", "永川区", "胜利路街道")]
OUTCOMES = ["调解成功", "调解成功", "调解成功", "调解失败", "司法确认", "转诉讼", "处理中"]


def replicate(n: int, out: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    base = [json.loads(line) for line in sample_path().read_text(encoding="utf-8").splitlines()]
    with out.open("w", encoding="utf-8") as handle:
        for i in range(n):
            record = dict(base[i % len(base)])
            city, district, town = rng.choice(TOWNS)
            month, day = rng.randint(1, 12), rng.randint(1, 28)
            record.update(
                id=f"B{i:07d}",
                occurred_on=f"2025-{month:02d}-{day:02d}",
                location={"city": city, "district": district, "town": town, "grid": f"第{rng.randint(1, 30)}网格"},
                outcome=rng.choice(OUTCOMES),
                parties=[dict(p, phone=f"13{rng.randint(0, 999999999):09d}") for p in record.get("parties", [])],
            )
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


class PeakRss:
    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def store_only(n: int, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "records.jsonl"
        replicate(n, source)
        mib = 1024 * 1024
        with Store(Path(tmp) / "home" / "cases.sqlite") as store, PeakRss() as rss:
            before = rss.process.memory_info().rss
            started = time.perf_counter()
            report = ingest(store, [source], rejects_dir=Path(tmp) / "rejects", batch_size=batch_size)
            seconds = time.perf_counter() - started
        size = (Path(tmp) / "home" / "cases.sqlite").stat().st_size
    print(f"records            {n}")
    print(f"stored             {report.stored} (rejected {report.rejected})")
    print(f"seconds            {seconds:.1f}")
    print(f"records/s          {n / seconds:.0f}")
    print(f"RSS before         {before / mib:.0f} MiB")
    print(f"peak RSS           {rss.peak / mib:.0f} MiB (+{(rss.peak - before) / mib:.0f} MiB during ingest)")
    print(f"store bytes/case   {size / n:.0f}")


def before_checkout(work: Path, rev: str) -> Path:
    """A detached worktree of ``rev`` under ``work`` (made once)."""
    folder = work / "before"
    if not folder.is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), rev], check=True)
    return folder


def cases_file(work: Path, n: int, seed: int = 7) -> Path:
    path = work / f"cases-{n}.jsonl"
    if not path.is_file():
        subprocess.run([str(Path(sys.executable).parent / "leian"), "generate", "--n", str(n), "--seed", str(seed),
                        "--out", str(path), "--no-progress"], check=True)
    return path


def new_cases(work: Path, count: int, tag: str, start: int = 0) -> Path:
    """``count`` generator cases (seed 8, from line ``start``) under ids no home holds yet, each text ending in
    ``tag``: no home has their vectors or tokens cached, so every measured ingest encodes its cases."""
    source = cases_file(work, 1000, seed=8)
    path = work / f"new-{tag}-{count}.jsonl"
    with source.open(encoding="utf-8") as lines, path.open("w", encoding="utf-8") as out:
        for i, line in enumerate(itertools.islice(lines, start, start + count)):
            record = json.loads(line)
            out.write(json.dumps({**record, "id": f"N{tag}-{i:03d}", "text": f"{record['text']}（{tag}）"}, ensure_ascii=False) + "\n")
    return path


def child(code: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(INTO), "--code", str(code), *args], check=True, capture_output=True,
                         text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def homes(work: Path, n: int) -> dict[str, Path]:
    return {side: work / f"home-{n}-{side}" for side in ("before", "after")}


def build(work: Path, sizes: list[int], codes: dict[str, Path]) -> None:
    for n in sizes:
        for side, home in homes(work, n).items():
            if home.exists():
                print(f"{home} exists, kept")
                continue
            steps = child(codes[side], "build", "--home", str(home), "--cases", str(cases_file(work, n)),
                          *(["--no-similar"] if n > 100_000 else []))
            print(f"built {home}: " + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()), flush=True)


def compare(work: Path, sizes: list[int], codes: dict[str, Path], rev: str) -> None:
    mb = 1e6
    tag = time.strftime("%m%d%H%M%S")
    print(f"before = {rev} (whole FAISS index and pickled graph rewritten per ingest), after = {ROOT.name} "
          f"({subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()})")
    print("existing cases: generator v3 (seed 7), stored by leian ingest, indexes caught up by each side's own code "
          "with DERIVED vectors (hashed bigrams, 512-dim); new cases encoded by m3e-small")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (wall time grows with it, CPU time much less)")
    print("MB written: write_bytes of /proc/self/io (what reached the block layer); peak RSS of the ingesting process")
    print("first: a 1-case ingest before the measured ones, paying what a home built by older code pays once "
          "(format upgrades, new cache tables, facts rebuilt for new rules)")
    header = (f"{'home':>9} {'ingest':>6} | {'wall s':>13} | {'CPU s':>13} | {'MB written':>15} | {'peak RSS MB':>13} | load\n"
              f"{'':>16} | {'before':>6} {'after':>6} | {'before':>6} {'after':>6} | {'before':>7} {'after':>7} | {'before':>6} {'after':>6} |")
    print(header)
    print("-" * len(header.splitlines()[0]))
    for n in sizes:
        built = {side: home for side, home in homes(work, n).items() if (home / BUILT).is_file()}
        missing = [str(h) for side, h in homes(work, n).items() if side not in built]
        if missing:
            print(f"{n:>9,} home not built (no {BUILT}: never built, or its build still running): {', '.join(missing)}"
                  + ("; the other side alone below" if built else ""))
        if not built:
            continue
        for label, count, start in (("first", 1, 0), (1, 1, 1), (100, 100, 2)):
            batch = new_cases(work, count, f"{tag}{label}", start)
            got = {side: child(codes[side], "ingest", "--home", str(home), "--cases", str(batch)) for side, home in built.items()}
            cells = [" ".join(f"{got[side][key] / scale:{width}.{digits}f}" if side in got else f"{'—':>{width}}"
                              for side in ("before", "after"))
                     for key, scale, width, digits in (("seconds", 1, 6, 1), ("cpu_seconds", 1, 6, 1), ("write_bytes", mb, 7, 1),
                                                       ("peak_rss", mb, 6, 0))]
            print(f"{n:>9,} {label:>6} | " + " | ".join(cells) + f" | {os.getloadavg()[0]:4.1f}", flush=True)
            batch.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="store-only: records to ingest")
    parser.add_argument("--batch-size", type=int, default=500, help="store-only: records per transaction")
    parser.add_argument("--work", type=Path, help="folder of the big homes: compare before and after instead")
    parser.add_argument("--sizes", default="100000,1000000", help="home sizes (comma-separated)")
    parser.add_argument("--before", default=BEFORE, help="commit whose code is 'before'")
    parser.add_argument("--build", action="store_true", help="build the missing homes (slow; outside the bench lock)")
    args = parser.parse_args()
    if args.work is None:
        store_only(args.n, args.batch_size)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    codes = {"before": before_checkout(args.work, args.before), "after": ROOT}
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.build:
        build(args.work, sizes, codes)
    else:
        compare(args.work, sizes, codes, args.before)


if __name__ == "__main__":
    main()
