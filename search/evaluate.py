"""Evaluation on public benchmarks: BM25-only, dense-only and fused rankings side by side.

* ``c3rd``: C3RD_mini (10 civil queries x 100 candidate judgments, binary
  relevance): NDCG@10/30, P@5, MRR.
* ``lecard``: LeCaRD queries 0-4 with their ~100 candidates each (graded
  labels 0-3; unlabelled candidates count 0; P@5 and MAP treat labels >= 2 as
  relevant): NDCG@10/20/30, P@5, MAP.
* ``sts``: STS-B-zh test pairs: Spearman x100 of the pair score against the gold score.

Documents are prepared like stored cases (:func:`prepare_query`) and, like
them, embedded in chunks of 500 characters: a document's dense score is its
best chunk's cosine (MaxP). BM25 sees the whole text. The fused ranking uses the engine's weights (on
text-only benchmarks only the dense and BM25 signals exist).

``python -m leian.search.evaluate sweep BENCH --data DIR --cache F --base ..
--knee .. --power .. --cap ..`` scores the fused ranking under a grid of
BM25-weight curves (comma-separated values) from signals computed once
(:func:`sweep`); docs/quality.md records how the engine's curve was chosen.

Examples
--------
>>> round(ndcg([0, 2, 3], {0: 3, 2: 2}, 3), 3)
1.0
>>> round(ndcg([0, 1, 2], {2: 1}, 3), 3)
0.5
>>> precision([1, 2, 3, 4, 5], {1, 9}, 5), reciprocal_rank([5, 1], {1})
(0.2, 0.5)
>>> average_precision([1, 5, 2], {1, 2})
0.8333333333333333
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leian.embeddings.encoder import Encoder
from leian.embeddings.text import chunks, prepare_query, text_hash, tokenize
from leian.search.bm25 import BM25Index
from leian.search.faiss import FaissIndex
from leian.search.fusion import DEFAULT_WEIGHTS, Weights, bm25_weight, fuse, rrf

__all__ = [
    "DataError",
    "Task",
    "run",
    "format_table",
    "load_c3rd",
    "load_lecard",
    "load_sts",
    "ranking_scores",
    "ndcg",
    "precision",
    "reciprocal_rank",
    "average_precision",
    "BASELINES",
    "sweep",
    "shortfall",
]

#: Published numbers (from the datasets' README) shown beside ours.
BASELINES = {
    "c3rd": [
        {"method": "BM25 (full set, 1,146 queries)", "p@5": 0.508, "ndcg@10": 0.564, "ndcg@30": 0.599, "mrr": 0.693},
        {"method": "BERT-Civil dual encoder (full set)", "p@5": 0.773, "ndcg@10": 0.855, "ndcg@30": 0.898, "mrr": 0.879},
        {"method": "shipped bm25_score (mini set)", "ndcg@10": 0.443, "ndcg@30": 0.455},
    ],
    "lecard": [
        {"method": "BM25 (107 queries)", "ndcg@10": 0.731, "ndcg@30": 0.888},
        {"method": "BERT (test split)", "ndcg@10": 0.774, "ndcg@30": 0.899},
        {"method": "char-bigram BM25 (queries 0-4)", "ndcg@10": 0.756, "ndcg@30": 0.838},
    ],
    "sts": [
        {"method": "text2vec-base-chinese", "spearman": 79.3},
        {"method": "m3e-base", "spearman": 77.0},
    ],
}
METRICS = {
    "c3rd": ["ndcg@10", "ndcg@30", "p@5", "mrr"],
    "lecard": ["ndcg@10", "ndcg@20", "ndcg@30", "p@5", "map"],
    "sts": ["spearman"],
}


class DataError(ValueError):
    """A benchmark folder is missing or malformed."""


@dataclass
class Task:
    """One query with its candidates and graded relevance (gain by candidate index)."""

    query: str
    documents: list[str]
    gains: dict[int, int]
    relevant_from: int = 1


def ndcg(ranking: Sequence[int], gains: dict[int, int], k: int) -> float:
    """NDCG@k with gains as given (ideal DCG over all judged candidates)."""
    dcg = sum(gains.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sum(g / math.log2(rank + 2) for rank, g in enumerate(sorted(gains.values(), reverse=True)[:k]))
    return dcg / ideal if ideal > 0 else 0.0


def precision(ranking: Sequence[int], relevant: set[int], k: int) -> float:
    return sum(doc in relevant for doc in ranking[:k]) / k


def reciprocal_rank(ranking: Sequence[int], relevant: set[int]) -> float:
    return next((1.0 / (rank + 1) for rank, doc in enumerate(ranking) if doc in relevant), 0.0)


def average_precision(ranking: Sequence[int], relevant: set[int]) -> float:
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranking):
        if doc in relevant:
            hits += 1
            total += hits / (rank + 1)
    return total / len(relevant) if relevant else 0.0


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}：无法读取：{exc}") from None


def load_c3rd(data_dir: Path, limit: int | None = None) -> list[Task]:
    """C3RD_mini: ``<n>.json`` files with query, ctxs{0..99}, gt_idx."""
    files = sorted(Path(data_dir).glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
    if not files:
        raise DataError(f"{data_dir}：没有 C3RD 的 *.json 文件")
    tasks = []
    for path in files[:limit]:
        data = _read_json(path)
        try:
            contexts = data["ctxs"]
            documents = [
                "\n".join(str(contexts[str(i)].get(f) or "") for f in ("Case", "JudgeAccusation", "JudgeReason"))
                for i in range(len(contexts))
            ]
            tasks.append(Task(str(data["query"]), documents, {int(i): 1 for i in data["gt_idx"]}))
        except (KeyError, TypeError) as exc:
            raise DataError(f"{path}：缺少字段 {exc}") from None
    return tasks


def load_lecard(data_dir: Path, limit: int | None = None) -> list[Task]:
    """LeCaRD: query/query.json, label/label_top30_dict.json, candidates/<ridx>/<id>.json."""
    data_dir = Path(data_dir)
    try:
        lines = (data_dir / "query" / "query.json").read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(str(exc)) from None
    queries = {str(q["ridx"]): q for q in map(json.loads, filter(None, lines))}
    labels = _read_json(data_dir / "label" / "label_top30_dict.json")
    folders = sorted((p for p in (data_dir / "candidates").glob("*") if p.is_dir()), key=lambda p: int(p.name))
    if not folders:
        raise DataError(f"{data_dir}：没有 candidates/<ridx>/ 文件夹")
    tasks = []
    for folder in folders[:limit]:
        files = sorted(folder.glob("*.json"))
        documents = []
        for path in files:
            doc = _read_json(path)
            documents.append(f"{doc.get('ajName', '')}\n{doc.get('ajjbqk', '')}")
        label = labels.get(folder.name, {})
        gains = {i: int(label[p.stem]) for i, p in enumerate(files) if int(label.get(p.stem, 0)) > 0}
        tasks.append(Task(queries[folder.name]["q"], documents, gains, relevant_from=2))
    return tasks


def load_sts(data_dir: Path, limit: int | None = None) -> list[tuple[str, str, float]]:
    """STS-B-zh test pairs (sentence1, sentence2, score)."""
    path = Path(data_dir) / "STS-B.test.data"
    try:
        rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise DataError(str(exc)) from None
    return [(a, b, float(s)) for a, b, s in rows[:limit]]


class _VectorCache:
    """Document vectors by text hash, optionally kept in a .npz file between runs."""

    def __init__(self, encoder: Encoder, path: Path | None):
        self.encoder = encoder
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path and path.is_file():
            with np.load(path) as stored:
                self.vectors = {key: stored[key] for key in stored.files}

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [text_hash(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        if missing:
            text_of = dict(zip(keys, texts))
            for key, vector in zip(missing, self.encoder.encode([text_of[k] for k in missing])):
                self.vectors[key] = vector
            if self.path:
                np.savez(self.path, **self.vectors)
        return np.vstack([self.vectors[k] for k in keys])


def _task_signals(task: Task, vectors: _VectorCache) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense and BM25 scores of one task's candidates, and the query's length in jieba tokens."""
    query = prepare_query(task.query)
    documents = [prepare_query(d) for d in task.documents]
    query_tokens = tokenize(query)
    bm25 = BM25Index.build([str(i) for i in range(len(documents))], [tokenize(d) for d in documents]).scores(query_tokens)
    pieces = [chunks(d) for d in documents]
    matrix = vectors.encode([query] + [p for doc_pieces in pieces for p in doc_pieces])
    # The engine's own index scores each document by its best chunk (MaxP).
    ids = [str(i) for i in range(len(documents))]
    index = FaissIndex(matrix.shape[1], kind="flat")
    index.upsert(ids, matrix[1:], counts=[len(p) for p in pieces])
    return index.scores(ids, matrix[0]), np.asarray(bm25), len(query_tokens)


def ranking_scores(task: Task, vectors: _VectorCache, weights: Weights = DEFAULT_WEIGHTS) -> dict[str, np.ndarray]:
    """Candidate scores of one task under each method."""
    dense, bm25, query_tokens = _task_signals(task, vectors)
    return {
        "bm25": bm25,
        "dense": dense,
        "rrf": rrf([dense, bm25]),
        "fused": fuse(dense, bm25, {}, weights, query_tokens),
    }


def _task_metrics(task: Task, scores: np.ndarray) -> dict[str, float]:
    relevant = {doc for doc, gain in task.gains.items() if gain >= task.relevant_from}
    ranking = list(np.argsort(-scores, kind="stable"))
    values = {f"ndcg@{k}": ndcg(ranking, task.gains, k) for k in (10, 20, 30)}
    values.update({"p@5": precision(ranking, relevant, 5), "mrr": reciprocal_rank(ranking, relevant), "map": average_precision(ranking, relevant)})
    return values


def _mean_row(benchmark: str, method: str, rows: list[dict[str, float]]) -> dict[str, Any]:
    return {"method": method, **{m: round(float(np.mean([v[m] for v in rows])), 4) for m in METRICS[benchmark]}}


def _ranking_rows(benchmark: str, tasks: list[Task], vectors: _VectorCache, weights: Weights) -> list[dict[str, Any]]:
    per_method: dict[str, list[dict[str, float]]] = {}
    for task in tasks:
        for method, scores in ranking_scores(task, vectors, weights).items():
            per_method.setdefault(method, []).append(_task_metrics(task, scores))
    return [_mean_row(benchmark, method, rows) for method, rows in per_method.items()]


def _sts_signals(pairs: list[tuple[str, str, float]], vectors: _VectorCache) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per pair: dense cosine, BM25 scaled by the query's best match in the collection, query length."""
    left = [prepare_query(a) for a, _, _ in pairs]
    right = [prepare_query(b) for _, b, _ in pairs]
    index = BM25Index.build([str(i) for i in range(len(right))], [tokenize(t) for t in right])
    bm25 = np.empty(len(pairs))
    for i, text in enumerate(left):
        scores = index.scores(tokenize(text))
        # Scaled by the query's best match in the collection, as the engine does per query.
        bm25[i] = scores[i] / scores.max() if len(scores) and scores.max() > 0 else 0.0
    a, b = vectors.encode(left), vectors.encode(right)
    return np.sum(a * b, axis=1), bm25, [len(tokenize(t)) for t in left]


def _sts_fused(dense: np.ndarray, bm25: np.ndarray, lengths: list[int], weights: Weights) -> np.ndarray:
    return weights.dense * dense + np.array([bm25_weight(weights, n) for n in lengths]) * bm25


def _spearman(scores: np.ndarray, gold: list[float]) -> float:
    from scipy.stats import spearmanr

    return round(float(spearmanr(scores, gold).statistic) * 100, 2)


def _sts_rows(pairs: list[tuple[str, str, float]], vectors: _VectorCache, weights: Weights) -> list[dict[str, Any]]:
    dense, bm25, lengths = _sts_signals(pairs, vectors)
    gold = [s for _, _, s in pairs]
    methods = {"bm25": bm25, "dense": dense, "fused": _sts_fused(dense, bm25, lengths, weights)}
    return [{"method": m, "spearman": _spearman(s, gold)} for m, s in methods.items()]


def sweep(
    benchmark: str,
    data_dir: Path,
    encoder: Encoder,
    grid: list[Weights],
    *,
    limit: int | None = None,
    cache: Path | None = None,
) -> list[dict[str, Any]]:
    """The fused row under each of ``grid``'s weights, with the signals computed once.

    Returns the bm25 and dense rows first, then one row per weights (method
    ``fused``, with the weights under ``"weights"``).
    """
    vectors = _VectorCache(encoder, cache)
    if benchmark == "sts":
        pairs = load_sts(data_dir, limit)
        dense, bm25, lengths = _sts_signals(pairs, vectors)
        gold = [s for _, _, s in pairs]
        rows = [{"method": "bm25", "spearman": _spearman(bm25, gold)}, {"method": "dense", "spearman": _spearman(dense, gold)}]
        for weights in grid:
            rows.append({"method": "fused", "weights": weights.to_dict(), "spearman": _spearman(_sts_fused(dense, bm25, lengths, weights), gold)})
        return rows
    tasks = (load_c3rd if benchmark == "c3rd" else load_lecard)(data_dir, limit)
    signals = [_task_signals(task, vectors) for task in tasks]
    rows = [
        _mean_row(benchmark, "bm25", [_task_metrics(t, b) for t, (_, b, _) in zip(tasks, signals)]),
        _mean_row(benchmark, "dense", [_task_metrics(t, d) for t, (d, _, _) in zip(tasks, signals)]),
    ]
    for weights in grid:
        fused = [_task_metrics(t, fuse(d, b, {}, weights, n)) for t, (d, b, n) in zip(tasks, signals)]
        rows.append({**_mean_row(benchmark, "fused", fused), "weights": weights.to_dict()})
    return rows


def run(
    benchmark: str,
    data_dir: Path,
    encoder: Encoder,
    *,
    limit: int | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Evaluate one benchmark; rows for bm25, dense, rrf (ranking tasks) and fused."""
    vectors = _VectorCache(encoder, cache)
    if benchmark == "sts":
        pairs = load_sts(data_dir, limit)
        rows, size = _sts_rows(pairs, vectors, weights), len(pairs)
    else:
        tasks = (load_c3rd if benchmark == "c3rd" else load_lecard)(data_dir, limit)
        rows, size = _ranking_rows(benchmark, tasks, vectors, weights), len(tasks)
    return {
        "benchmark": benchmark,
        "data": str(data_dir),
        "size": size,
        "model": encoder.model_id,
        "weights": weights.to_dict(),
        "metrics": METRICS[benchmark],
        "rows": rows,
        "baselines": BASELINES[benchmark],
    }


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    metrics = report["metrics"]
    lines = [
        f"{report['benchmark']}（{report['size']} {'个句对' if report['benchmark'] == 'sts' else '条查询'}，模型 {report['model']}）",
        "",
        "| 方法 | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for row in report["rows"] + report["baselines"]:
        cells = [f"{row[m]:.3f}" if isinstance(row.get(m), float) and m != "spearman" else str(row.get(m, "")) for m in metrics]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shortfall(rows: list[dict[str, Any]], metrics: list[str]) -> float:
    """How far the last row falls below the better of the bm25 and dense rows, at worst (<= 0 is met).

    Spearman (×100) is divided by 100 so that every metric is on a 0..1 scale.

    >>> rows = [{"method": "bm25", "mrr": 0.65}, {"method": "dense", "mrr": 0.69}, {"method": "fused", "mrr": 0.65}]
    >>> round(shortfall(rows, ["mrr"]), 3)
    0.04
    """
    best = {m: max(r[m] for r in rows if r["method"] in ("bm25", "dense")) for m in metrics}
    return max((best[m] - rows[-1][m]) / (100 if m == "spearman" else 1) for m in metrics)


def _main(argv: list[str] | None = None) -> None:
    """``python -m leian.search.evaluate sweep BENCH --data DIR [--cache F] --base .. --knee .. --power .. --cap ..``"""
    import argparse
    import itertools

    from leian.embeddings.encoder import load_encoder

    parser = argparse.ArgumentParser(prog="python -m leian.search.evaluate", description="Fused metrics over a grid of BM25-weight curves.")
    parser.add_argument("command", choices=["sweep"])
    parser.add_argument("benchmark", choices=sorted(METRICS))
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--limit", type=int)
    for name, default in (("base", "0.05"), ("knee", "16"), ("power", "4"), ("cap", "100")):
        parser.add_argument(f"--{name}", default=default, help=f"comma-separated values (default {default})")
    args = parser.parse_args(argv)
    values = [[float(v) for v in getattr(args, n).split(",")] for n in ("base", "knee", "power", "cap")]
    grid = [Weights(bm25=b, bm25_knee=k, bm25_power=p, bm25_cap=c) for b, k, p, c in itertools.product(*values)]
    rows = sweep(args.benchmark, args.data, load_encoder(), grid, limit=args.limit, cache=args.cache)
    for row in rows:
        metrics = {m: row[m] for m in METRICS[args.benchmark]}
        if row["method"] == "fused":
            w = row["weights"]
            curve = f"base={w['bm25']:g} knee={w['bm25_knee']:g} power={w['bm25_power']:g} cap={w['bm25_cap']:g}"
            gap = shortfall(rows[:2] + [row], METRICS[args.benchmark])
            print(json.dumps({"curve": curve, **metrics, "shortfall": round(gap, 4)}))
        else:
            print(json.dumps({"method": row["method"], **metrics}))


if __name__ == "__main__":
    _main()
