"""Evaluation on public benchmarks: BM25-only, dense-only and fused rankings side by side.

* ``c3rd``: C3RD_mini (10 civil queries x 100 candidate judgments, binary
  relevance): NDCG@10/30, P@5, MRR.
* ``lecard``: LeCaRD queries 0-4 with their ~100 candidates each (graded
  labels 0-3; unlabelled candidates count 0; P@5 and MAP treat labels >= 2 as
  relevant): NDCG@10/20/30, P@5, MAP.
* ``sts``: STS-B-zh test pairs: Spearman x100 of the pair score against the gold score.

Documents are prepared like stored cases (:func:`prepare_query`). Dense
vectors cover the first 512 tokens of a document (title and facts come first);
BM25 sees the whole text. The fused ranking uses the engine's weights (on
text-only benchmarks only the dense and BM25 signals exist).

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
from leian.embeddings.text import prepare_query, text_hash, tokenize
from leian.search.bm25 import BM25Index
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
        raise DataError(f"{path}: {exc}") from None


def load_c3rd(data_dir: Path, limit: int | None = None) -> list[Task]:
    """C3RD_mini: ``<n>.json`` files with query, ctxs{0..99}, gt_idx."""
    files = sorted(Path(data_dir).glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0)
    if not files:
        raise DataError(f"{data_dir}: no C3RD *.json files")
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
            raise DataError(f"{path}: missing field {exc}") from None
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
        raise DataError(f"{data_dir}: no candidates/<ridx>/ folders")
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


def ranking_scores(task: Task, vectors: _VectorCache, weights: Weights = DEFAULT_WEIGHTS) -> dict[str, np.ndarray]:
    """Candidate scores of one task under each method."""
    query = prepare_query(task.query)
    documents = [prepare_query(d) for d in task.documents]
    query_tokens = tokenize(query)
    bm25 = BM25Index.build([str(i) for i in range(len(documents))], [tokenize(d) for d in documents]).scores(query_tokens)
    matrix = vectors.encode([query] + documents)
    dense = matrix[1:] @ matrix[0]
    return {
        "bm25": bm25,
        "dense": dense,
        "rrf": rrf([dense, bm25]),
        "fused": fuse(dense, bm25, {}, weights, len(query_tokens)),
    }


def _ranking_rows(benchmark: str, tasks: list[Task], vectors: _VectorCache, weights: Weights) -> list[dict[str, Any]]:
    per_method: dict[str, list[dict[str, float]]] = {}
    for task in tasks:
        relevant = {doc for doc, gain in task.gains.items() if gain >= task.relevant_from}
        for method, scores in ranking_scores(task, vectors, weights).items():
            ranking = list(np.argsort(-scores, kind="stable"))
            values = {f"ndcg@{k}": ndcg(ranking, task.gains, k) for k in (10, 20, 30)}
            values.update({"p@5": precision(ranking, relevant, 5), "mrr": reciprocal_rank(ranking, relevant), "map": average_precision(ranking, relevant)})
            per_method.setdefault(method, []).append(values)
    return [
        {"method": method, **{m: round(float(np.mean([v[m] for v in rows])), 4) for m in METRICS[benchmark]}}
        for method, rows in per_method.items()
    ]


def _sts_rows(pairs: list[tuple[str, str, float]], vectors: _VectorCache, weights: Weights) -> list[dict[str, Any]]:
    from scipy.stats import spearmanr

    left = [prepare_query(a) for a, _, _ in pairs]
    right = [prepare_query(b) for _, b, _ in pairs]
    gold = [s for _, _, s in pairs]
    index = BM25Index.build([str(i) for i in range(len(right))], [tokenize(t) for t in right])
    bm25 = np.empty(len(pairs))
    for i, text in enumerate(left):
        scores = index.scores(tokenize(text))
        # Scaled by the query's best match in the collection, as the engine does per query.
        bm25[i] = scores[i] / scores.max() if len(scores) and scores.max() > 0 else 0.0
    a, b = vectors.encode(left), vectors.encode(right)
    dense = np.sum(a * b, axis=1)
    lengths = [len(tokenize(t)) for t in left]
    fused = weights.dense * dense + np.array([bm25_weight(weights, n) for n in lengths]) * bm25
    methods = {"bm25": bm25, "dense": dense, "fused": fused}
    return [{"method": m, "spearman": round(float(spearmanr(s, gold).statistic) * 100, 2)} for m, s in methods.items()]


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
        f"{report['benchmark']} ({report['size']} {'pairs' if report['benchmark'] == 'sts' else 'queries'}, model {report['model']})",
        "",
        "| method | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for row in report["rows"] + report["baselines"]:
        cells = [f"{row[m]:.3f}" if isinstance(row.get(m), float) and m != "spearman" else str(row.get(m, "")) for m in metrics]
        lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
