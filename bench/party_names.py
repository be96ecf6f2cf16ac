"""CPU per ``Store.party_names_in`` call: the SQL scan it replaced against the automaton, on one store, one run.

Texts: the devset tellings, their first sentences, stored party names and group heads inside sentences, short
keywords and names cut to two to four characters. Every text's two answers are compared (same pairs, same order)
before anything is timed; a difference stops the run.

Usage: ``python bench/party_names.py HOME_OR_SQLITE [--texts 400]`` (a copy: the store is opened for writing)
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from leian.data.party_names import scan
from leian.data.store import Store

DEVSETS = Path(__file__).resolve().parents[1] / "data" / "devsets" / "tellings"


def texts(store: Store, n: int, seed: int = 7) -> list[str]:
    """Devset tellings and sentences made of stored names, short keywords and pieces of names."""
    rng = random.Random(seed)
    tellings = [json.loads(line)["text"] for path in sorted(DEVSETS.glob("*.jsonl")) for line in path.open(encoding="utf-8")]
    names = rng.sample([row[0] for row in store.conn.execute("SELECT name FROM case_parties ORDER BY rowid")], 2000)
    groups = [row[0] for row in store.conn.execute("SELECT name FROM case_parties WHERE kind = 'group' ORDER BY rowid LIMIT 200")]
    made = rng.sample(tellings, min(len(tellings), n // 4)) + [t.split("，")[0] for t in rng.sample(tellings, min(len(tellings), n // 8))]
    while len(made) < n:
        name = rng.choice(names + groups)
        pick = rng.randrange(5)
        if pick == 0:
            made.append(f"{rng.choice(tellings)[:40]}，{name}又来了")
        elif pick == 1:
            made.append(f"{name.split('等')[0]}等人称对方拖欠工资")
        elif pick == 2:
            made.append(name[rng.randrange(max(1, len(name) - 1)):][: rng.randint(2, 4)])
        elif pick == 3:
            made.append(rng.choice(["噪音", "彩礼", "工资", "有限公司", "物业费", "漏水", "宅基地"]))
        else:
            made.append(name)
    return made[:n]


def cpu_ms(call, store: Store, items: list[str]) -> list[float]:
    spent = []
    for text in items:
        started = time.process_time()
        call(store, text)
        spent.append((time.process_time() - started) * 1000)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", help="a home folder or its cases.sqlite (a copy)")
    parser.add_argument("--texts", type=int, default=400)
    args = parser.parse_args()
    path = Path(args.store)
    store = Store(path / "cases.sqlite" if path.is_dir() else path)
    parties = store.conn.execute("SELECT COUNT(*) FROM case_parties").fetchone()[0]
    items = texts(store, args.texts)
    started = time.process_time()
    store.party_names_in("")  # builds the automaton
    build = (time.process_time() - started) * 1000
    for text in items:
        if (got := store.party_names_in(text)) != (want := scan(store, text)):
            sys.exit(f"different answer for {text!r}:\n  new {got}\n  old {want}")
    new_ms = cpu_ms(Store.party_names_in, store, items)
    old_ms = cpu_ms(scan, store, items)
    short = [i for i, t in enumerate(items) if 2 <= len(t) <= 6]
    tellings = [i for i, t in enumerate(items[: len(items) // 4]) if len(t) > 6]
    load = os.getloadavg()[0]
    print(f"{parties:,} party rows, {len(items)} texts ({len(short)} of 2-6 chars), all answers equal; "
          f"automaton built in {build:.0f} ms CPU; load {load:.1f}")
    print(f"{'':10} {'old p50':>8} {'old p95':>8} {'new p50':>8} {'new p95':>8}  (ms CPU per call)")
    for label, chosen in (("all", range(len(items))), ("tellings", tellings), ("2-6 chars", short)):
        o = sorted(old_ms[i] for i in chosen)
        n = sorted(new_ms[i] for i in chosen)
        print(f"{label:10} {statistics.median(o):8.2f} {o[int(len(o) * 0.95)]:8.2f} "
              f"{statistics.median(n):8.3f} {n[int(len(n) * 0.95)]:8.3f}")
    store.close()


if __name__ == "__main__":
    main()
