"""Every form of a lexicon with each place it occurs, in context: what a precision audit of ``elements.json`` reads.

For every form (every part of an ``A…B`` form) the listing gives how often it occurs per source and the distinct
contexts, each marked ``✓`` when the lexicon finds the form's entry in that text and ``✗`` when it does not (a
``not_in`` phrase or an ``only_with`` condition dropped it). A person judges each context; the listing judges nothing.

Sources are JSONL files of records (``text``, and ``title`` for elements; ``handling`` and ``agreement`` for
methods) and optionally C3RD_mini's folder (query and candidate judgments). The dev set's held-out half is refused:
it is read only by its evaluations (docs/quality.md).

Usage: ``python bench/lexicon_audit.py [--methods] [--entry 漏水] [--longest 2] SOURCE.jsonl … [--c3rd DIR]``, e.g.
``python bench/lexicon_audit.py data/samples/promediconv.jsonl gen.jsonl data/devsets/tellings/tune.jsonl
--c3rd ../shared/datasets/c3rd_mini --longest 2 > audit.txt`` (``gen.jsonl`` from ``leian generate``).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

from leian.disputes.lexicon import Lexicon, normalise

#: Characters of context shown on each side of an occurrence.
CONTEXT = 10


def records(path: Path, methods: bool) -> Iterator[tuple[str, str]]:
    """``(source:id, text)`` of each record: what the lexicon reads of it (title and text, or handling and agreement)."""
    fields = ("handling", "agreement") if methods else ("title", "text")
    for number, line in enumerate(path.open(encoding="utf-8"), 1):
        if line.strip():
            record = json.loads(line)
            yield f"{path.stem}:{record.get('id', number)}", "\n".join(str(record[f]) for f in fields if record.get(f))


def c3rd_texts(folder: Path) -> Iterator[tuple[str, str]]:
    """C3RD_mini's queries and candidate judgments, as its evaluation reads them."""
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        yield f"c3rd:q{data['q_i']}", data["query"]
        for key, doc in data["ctxs"].items():
            yield f"c3rd:{data['q_i']}.{key}", "\n".join(str(doc.get(f) or "") for f in ("Case", "JudgeAccusation", "JudgeReason"))


def audit(lexicon: Lexicon, texts: list[tuple[str, str]], entry_name: str | None, longest: int | None, limit: int) -> Iterator[str]:
    """The listing, line by line."""
    normals = [normalise(text) for _, text in texts]
    found = [set(lexicon.names(text)) for _, text in texts]
    for entry in lexicon.entries:
        if entry_name and entry.name != entry_name:
            continue
        for form in entry.forms:
            parts = [normalise(p) for p in form.split("…") if p]
            if longest and sum(map(len, parts)) > longest:
                continue
            for part in parts:
                per_source: Counter[str] = Counter()
                contexts: dict[str, str] = {}
                for (ident, _), normal, names in zip(texts, normals, found):
                    at = normal.find(part)
                    while at >= 0:
                        per_source[ident.split(":")[0]] += 1
                        shown = normal[max(0, at - CONTEXT):at] + "【" + part + "】" + normal[at + len(part):at + len(part) + CONTEXT]
                        contexts.setdefault(shown.replace("\n", " "), f"{'✓' if entry.name in names else '✗'} {ident}")
                        at = normal.find(part, at + 1)
                label = form if part == form else f"{form}（{part}）"
                yield f"## {entry.name} ← {label}  {sum(per_source.values())} 处 {dict(per_source)}"
                yield from (f"   {where} {shown}" for shown, where in list(contexts.items())[:limit])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="JSONL files of records")
    parser.add_argument("--c3rd", type=Path, help="C3RD_mini's folder, its queries and judgments read too")
    parser.add_argument("--methods", action="store_true", help="audit methods.json over handling texts, not elements.json")
    parser.add_argument("--entry", help="only this entry")
    parser.add_argument("--longest", type=int, help="only forms of at most this many characters")
    parser.add_argument("--contexts", type=int, default=25, help="distinct contexts shown per form")
    args = parser.parse_args(argv)
    if any("heldout" in path.name for path in args.sources):
        sys.exit("开发集的留出一半只由其评测读取，不用于审查词表")
    texts = [item for path in args.sources for item in records(path, args.methods)]
    if args.c3rd and not args.methods:
        texts += list(c3rd_texts(args.c3rd))
    lexicon = Lexicon.methods() if args.methods else Lexicon.elements()
    for line in audit(lexicon, texts, args.entry, args.longest, args.contexts):
        print(line)


if __name__ == "__main__":
    main()
