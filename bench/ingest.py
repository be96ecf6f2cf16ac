"""Store-only ingest throughput and peak memory.

Usage: python bench/ingest.py [--n 100000] [--batch-size 500]

Records are the bundled sample cases replicated under new ids, with places,
dates, parties and phones varied so that every record is distinct. The
benchmark times `leian.data.ingest.ingest` into a fresh SQLite store (no search
index or graph) and samples the process RSS every 50 ms.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path

import psutil

from leian.cli import sample_path
from leian.data.ingest import ingest
from leian.data.store import Store

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="records to ingest")
    parser.add_argument("--batch-size", type=int, default=500, help="records per transaction")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "records.jsonl"
        replicate(args.n, source)
        mib = 1024 * 1024
        with Store(Path(tmp) / "home" / "cases.sqlite") as store, PeakRss() as rss:
            before = rss.process.memory_info().rss
            started = time.perf_counter()
            report = ingest(store, [source], rejects_dir=Path(tmp) / "rejects", batch_size=args.batch_size)
            seconds = time.perf_counter() - started
        size = (Path(tmp) / "home" / "cases.sqlite").stat().st_size
    print(f"records            {args.n}")
    print(f"stored             {report.stored} (rejected {report.rejected})")
    print(f"seconds            {seconds:.1f}")
    print(f"records/s          {args.n / seconds:.0f}")
    print(f"RSS before         {before / mib:.0f} MiB")
    print(f"peak RSS           {rss.peak / mib:.0f} MiB (+{(rss.peak - before) / mib:.0f} MiB during ingest)")
    print(f"store bytes/case   {size / args.n:.0f}")


if __name__ == "__main__":
    main()
