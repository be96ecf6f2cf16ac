"""Whole search answers, kept to check that a change to the query path leaves them as they were.

    python bench/search_answers.py dump HOME OUT.json [--code DIR]   # with DIR's code (an earlier commit's files)
    python bench/search_answers.py compare BEFORE.json AFTER.json

``dump`` writes what ``leian search --json`` prints (``LeiAn.search(...).to_dict()``: results, scores, why-similar,
summary, facets, repeat alert) for the dev set's first 50 tuning-half texts and seven more asks (a second page, 25
results, a place and an outcome filter, a party, a given type, a text naming no dispute), in one process.
``compare`` says where two dumps differ: anything but floats within 1e-6 (relative) counts, and it exits 1 if any do.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ingest_into import use_checkout  # bench/ingest_into.py: LeiAn imported from another checkout

TUNE = Path(__file__).resolve().parents[1] / "data" / "devsets" / "tellings" / "tune.jsonl"


def asks() -> list[dict[str, Any]]:
    texts = [json.loads(line)["text"] for line in TUNE.read_text(encoding="utf-8").splitlines()]
    return [{"text": text} for text in texts[:50]] + [
        {"text": texts[0], "page": 2}, {"text": texts[5], "top_k": 25}, {"text": texts[9], "filters": {"where": "珠海市"}},
        {"text": texts[13], "parties": ["梁颖"]}, {"text": texts[17], "as_type": "邻里"}, {"text": "你好"},
        {"text": texts[21], "filters": {"outcome": "调解成功"}},
    ]


def dump(home: Path, out: Path) -> None:
    import leian

    with leian.open(home, create=False) as api:
        answers = [{"ask": ask, "answer": api.search(ask["text"], **{k: v for k, v in ask.items() if k != "text"}).to_dict()}
                   for ask in asks()]
    out.write_text(json.dumps(answers, ensure_ascii=False, default=str), encoding="utf-8")
    print(f"{len(answers)} answers ({leian.__file__}) -> {out}")


def differences(before: Any, after: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where ``after`` differs from ``before``: keys, lengths and values, floats within 1e-6 relative."""
    if isinstance(before, float) or isinstance(after, float):
        same = isinstance(before, (int, float)) and isinstance(after, (int, float)) and math.isclose(before, after, rel_tol=1e-6, abs_tol=1e-9)
        return [] if same else [(path, before, after)]
    if isinstance(before, dict) and isinstance(after, dict):
        found = [] if list(before) == list(after) else [(f"{path}.keys", list(before), list(after))]
        return found + [d for key in before if key in after for d in differences(before[key], after[key], f"{path}.{key}")]
    if isinstance(before, list) and isinstance(after, list):
        found = [] if len(before) == len(after) else [(f"{path}.len", len(before), len(after))]
        return found + [d for i, (x, y) in enumerate(zip(before, after)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if before == after else [(path, before, after)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dumping = commands.add_parser("dump")
    dumping.add_argument("home", type=Path)
    dumping.add_argument("out", type=Path)
    dumping.add_argument("--code", type=Path, help="A checkout of LeiAn to run instead of this one.")
    comparing = commands.add_parser("compare")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        if args.code:
            use_checkout(args.code.resolve())
        dump(args.home, args.out)
        return
    before, after = (json.loads(path.read_text(encoding="utf-8")) for path in (args.before, args.after))
    found = differences(before, after)
    print(f"{len(before)} answers; {len(found)} differences")
    for where, old, new in found[:20]:
        print(f"  {where}: {str(old)[:140]} -> {str(new)[:140]}")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
