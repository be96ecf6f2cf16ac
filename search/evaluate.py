"""Evaluation on public benchmarks: BM25-only, dense-only and fused rankings side by side.

* ``c3rd``: C3RD_mini (10 civil queries x 100 candidate judgments, binary
  relevance): NDCG@10/30, P@5, MRR.
* ``lecard``: LeCaRD queries 0-4 with their ~100 candidates each (graded
  labels 0-3; unlabelled candidates count 0; P@5 and MAP treat labels >= 2 as
  relevant): NDCG@10/20/30, P@5, MAP.
* ``sts``: STS-B-zh test pairs: Spearman x100 of the pair score against the gold score.
* ``tellings``: LeiAn's own dev set (``data/devsets/tellings/<split>.jsonl``): disputes
  each told four ways (short query, grid report, spoken complaint, 调解笔录). Every
  text queries the other texts of its half through the real engine (a throw-away
  home, no types on any case or query, optionally the 97 ProMediConv sample cases,
  types stripped, as distractors); relevant = the other tellings of its scenario.
  MAP, R@3 and MRR per telling and overall. Only these aggregates are printed.
* ``types``: the accuracy of type prediction (:mod:`leian.disputes.types`), 大类 and 小类,
  overall and per telling, on a dev-set half with the shipped model, or on the bundled sample
  (mostly 大类 only) with the model retrained without the sample; plus reliability bins (mean
  probability against the share right). Only aggregates are printed (:func:`run_types`).

Documents are prepared like stored cases (:func:`prepare_query`) and, like
them, embedded in chunks of 500 characters: a document's dense score is its
best chunk's cosine (MaxP). BM25 sees the whole text. The fused ranking uses the engine's weights (on
text-only benchmarks only the dense and BM25 signals exist).

``python -m leian.search.evaluate sweep BENCH --data DIR --cache F --bm25 .. --elements ..
--evidence_none ..`` scores the fused ranking under a grid of weights (comma-separated values)
from signals computed once (:func:`sweep`); docs/quality.md records how the engine's weights were chosen.

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

from leian.data.readers import json_problem
from leian.embeddings.encoder import Encoder
from leian.embeddings.text import chunks, prepare_query, text_hash, tokenize
from leian.search.bm25 import BM25Index
from leian.search.faiss import FaissIndex
from leian.search.fusion import DEFAULT_WEIGHTS, Weights, fuse, rrf

__all__ = [
    "DataError",
    "Task",
    "run",
    "format_table",
    "load_c3rd",
    "load_lecard",
    "load_sts",
    "load_tellings",
    "type_rows",
    "type_accuracy",
    "run_types",
    "RELIABILITY_BINS",
    "tellings_signals",
    "tellings_rows",
    "TELLINGS",
    "POOLS",
    "SINGLE_SIGNALS",
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
    "tellings": [],
    "sts": [
        {"method": "text2vec-base-chinese", "spearman": 79.3},
        {"method": "m3e-base", "spearman": 77.0},
    ],
}
METRICS = {
    "tellings": ["map", "r@3", "mrr"],
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


#: The four ways a dispute is told in the dev set.
TELLINGS = ("short", "report", "spoken", "record")
#: Each signal alone, as a ranking (rows of the tellings table beside the fused one).
SINGLE_SIGNALS = ("bm25", "dense", "elements", "type")
_TELLING_FIELDS = ("id", "scenario", "telling", "text")


def load_tellings(data_dir: Path, split: str, *, types: bool = False) -> list[dict[str, Any]]:
    """The rows of ``<data_dir>/<split>.jsonl``: id, scenario, telling, text and, with ``types`` (to score type
    prediction), category and subtype; other fields are not read."""
    path = Path(data_dir) / f"{split}.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}：无法读取：{exc}") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} 第 {number} 行第 {exc.colno} 列：不是有效的 JSON（{json_problem(exc)}）") from None
        fields = _TELLING_FIELDS + (("category", "subtype") if types else ())
        missing = [f for f in fields if not item.get(f)]
        if missing or item["telling"] not in TELLINGS:
            raise DataError(f"{path} 第 {number} 行：字段缺失或取值不对：{'、'.join(missing or ['telling'])}")
        rows.append({f: item[f] for f in fields})  # gist is never read, the types never for ranking
    if not rows:
        raise DataError(f"{path}：没有任何记录")
    return rows


def _sample_distractors() -> list[dict[str, Any]]:
    """The bundled ProMediConv cases as records without their types."""
    from importlib import resources

    text = (resources.files("leian.data") / "samples" / "promediconv.jsonl").read_text(encoding="utf-8")
    return [{"id": r["id"], "text": r["text"]} for r in map(json.loads, text.splitlines())]


#: Which candidates a dev-set query's ranking covers: the engine's pool (what a search ranks) or every stored text.
POOLS = ("engine", "store")


def tellings_signals(rows: list[dict[str, Any]], home_dir: Path, *, distractors: bool = True, model: str | None = None,
                     pool: str = "engine") -> list[tuple[dict[str, Any], list[str], dict[str, np.ndarray], int]]:
    """Per dev-set text: (row, candidate ids, raw signals per candidate, its element evidence), itself excluded.

    The texts (and distractors) are ingested as untyped cases into a home at
    ``home_dir`` (kept, so a second run reuses its embedding cache) and searched
    through :class:`~leian.search.engine.SearchEngine` like any query. ``pool="engine"``
    ranks the candidates a top-10 search fuses (the dense and the BM25 top lists of
    :func:`~leian.search.engine.pool_size`, the text itself left out); ``"store"`` every stored text.
    """
    from leian.data.ingest import ingest
    from leian.disputes import index as disputes
    from leian.home import Home
    from leian.search.engine import Query, SearchEngine, pool_size, sync

    home = Home.resolve(home_dir)
    records = [{"id": r["id"], "text": r["text"]} for r in rows] + (_sample_distractors() if distractors else [])
    with home.open_store() as store:
        wanted = {r["id"] for r in records}
        store.delete([i for i in store.ids() if i not in wanted])
        source = home.root / "tellings.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        ingest(store, [source], rejects_dir=home.rejects_dir)
        disputes.sync(home, store)
        sync(home, store)
        with SearchEngine(home, store=store, model=model) as engine:
            queries = [Query(r["text"]) for r in rows]
            engine.understand(queries)
            vectors = engine.encoder.encode([q.embedded for q in queries])
            out = []
            for row, query, vector in zip(rows, queries, vectors):
                # The text itself is stored and heads both top lists, so each list is asked for one more.
                size = len(records) if pool == "store" else pool_size(10) + 1
                candidates, signals = engine.signals(query, vector, pool_size=size)
                keep = [i for i, c in enumerate(candidates) if c != row["id"]]
                out.append((row, [candidates[i] for i in keep], {k: np.asarray(v)[keep] for k, v in signals.items()}, query.evidence))
    return out


def _single(name: str, signals: dict[str, np.ndarray]) -> np.ndarray:
    if name == "type":
        return signals.get("subtype", 0) + signals.get("category", 0) + 1e-6 * signals["dense"]
    # Ties (no shared element) are broken by the dense score, so a signal's row ranks every candidate.
    return signals[name] + (1e-6 * signals["dense"] if name == "elements" else 0)


def tellings_rows(data: list[tuple[dict[str, Any], list[str], dict[str, np.ndarray], int]], weights: Weights,
                  methods: tuple[str, ...] = (*SINGLE_SIGNALS, "fused")) -> list[dict[str, Any]]:
    """MAP / R@3 / MRR overall and per telling for each single signal and the fused ranking."""
    scenario_of = {row["id"]: row["scenario"] for row, *_ in data}
    scorers = {name: (lambda s, n, name=name: _single(name, s)) for name in SINGLE_SIGNALS}
    scorers["fused"] = lambda s, n: fuse(s["dense"], s["bm25"], s, weights, n)
    table = []
    for method, score in ((m, scorers[m]) for m in methods):
        per: dict[str, list[dict[str, float]]] = {}
        for row, candidates, signals, evidence in data:
            values = score(signals, evidence)
            ranking = [candidates[i] for i in np.argsort(-values, kind="stable")]
            # Every other telling of the scenario counts, also one the pool left out (it was not found).
            relevant = {other for other, scenario in scenario_of.items() if scenario == row["scenario"] and other != row["id"]}
            metrics = {"map": average_precision(ranking, relevant), "r@3": len(relevant & set(ranking[:3])) / max(1, min(3, len(relevant))),
                       "mrr": reciprocal_rank(ranking, relevant)}
            per.setdefault("all", []).append(metrics)
            per.setdefault(row["telling"], []).append(metrics)
        for telling in ("all", *TELLINGS):
            if telling in per:
                table.append({"method": method, "telling": telling, "queries": len(per[telling]),
                              **{m: round(float(np.mean([v[m] for v in per[telling]])), 4) for m in METRICS["tellings"]}})
    return table


#: Probability bins of the type-prediction reliability table, [low, high) (the last one includes 1).
RELIABILITY_BINS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.95), (0.95, 1.0))


def type_rows(data_dir: Path | None, split: str = "tune", limit: int | None = None) -> list[dict[str, Any]]:
    """Texts with their true types: the dev set's ``split`` half, or with no ``data_dir`` the bundled sample
    (its search text, as the dispute index predicts it; only its 继承 cases carry a 小类)."""
    if data_dir is not None:
        return load_tellings(data_dir, split, types=True)[:limit]
    from leian.disputes.types import sample_cases

    return [{"id": c.id, "text": c.search_text, "category": c.category, "subtype": c.subtype} for c in sample_cases() if c.category][:limit]


def _bin_label(low: float, high: float) -> str:
    return f"<{high:g}" if low == 0 else f"≥{low:g}" if high == 1 else f"{low:g}–{high:g}"


def _reliability(probabilities: list[float], right: list[bool]) -> list[dict[str, Any]]:
    """Per non-empty bin of :data:`RELIABILITY_BINS`: how many, their mean probability and the share right."""
    table = []
    for low, high in RELIABILITY_BINS:
        members = [i for i, p in enumerate(probabilities) if low <= p < high or (high == 1 and p == 1)]
        if members:
            table.append({"bin": _bin_label(low, high), "n": len(members), "mean_p": round(float(np.mean([probabilities[i] for i in members])), 4),
                          "right": round(float(np.mean([right[i] for i in members])), 4)})
    return table


def type_accuracy(rows: list[dict[str, Any]], model: Any) -> dict[str, Any]:
    """大类 and 小类 accuracy of ``model`` (a :class:`~leian.disputes.types.TypeModel`) over ``rows``, overall and
    per telling, and the reliability of P(小类) and P(大类). Each text is normalised as a query is before prediction;
    a row without a 小类 counts for the 大类 only."""
    from leian.disputes.types import TEMPERATURES

    guesses = model.predict([prepare_query(r["text"]) for r in rows])
    category_right = [g.category == r["category"] for g, r in zip(guesses, rows)]
    typed = [i for i, r in enumerate(rows) if r.get("subtype")]
    subtype_right = {i: guesses[i].subtype == rows[i]["subtype"] for i in typed}
    table = []
    for telling in ("all", *TELLINGS):
        members = [i for i, r in enumerate(rows) if telling in ("all", r.get("telling"))]
        if members:
            with_subtype = [i for i in members if i in subtype_right]
            table.append({"telling": telling, "n": len(members), "category": round(float(np.mean([category_right[i] for i in members])), 4),
                          "subtype_n": len(with_subtype),
                          "subtype": round(float(np.mean([subtype_right[i] for i in with_subtype])), 4) if with_subtype else None})
    return {"size": len(rows), "model": model.version, "temperatures": dict(TEMPERATURES), "rows": table, "reliability": {
        "subtype": _reliability([guesses[i].probability for i in typed], [subtype_right[i] for i in typed]),
        "category": _reliability([g.category_probability for g in guesses], category_right)}}


def run_types(data_dir: Path | None, *, split: str = "tune", limit: int | None = None, cache_dir: Path | None = None) -> dict[str, Any]:
    """Type-prediction accuracy on the dev set's ``split`` half with the shipped model (cached in ``cache_dir``),
    or with no ``data_dir`` on the bundled sample with a model retrained without the sample."""
    from leian.disputes.types import TypeModel

    rows = type_rows(data_dir, split, limit)
    if not rows:
        raise DataError("样例中没有任何带类型的案件")
    model = TypeModel.default(cache_dir) if data_dir is not None else TypeModel.train(sample=False)
    return {"benchmark": "types", "data": str(data_dir) if data_dir is not None else None, "split": split if data_dir is not None else None,
            **type_accuracy(rows, model)}


class _VectorCache:
    """Document vectors by text hash, optionally kept in a .npz file between runs."""

    def __init__(self, encoder: Encoder, path: Path | None):
        self.encoder = encoder
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path and path.is_file():
            with np.load(path) as stored:
                self.vectors = {key: stored[key] for key in stored.files}

    def holds(self, task: Task) -> bool:
        """Whether every text :func:`_task_signals` embeds for ``task`` is cached already."""
        texts = [prepare_query(task.query)] + [p for d in task.documents for p in chunks(prepare_query(d))]
        return all(text_hash(t) in self.vectors for t in texts)

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


class TextSignals:
    """Element overlap and type agreement of queries with a fixed set of documents, as the engine computes them
    (element IDF over these documents; every type predicted, none given)."""

    def __init__(self, documents: list[str]):
        from leian.disputes.lexicon import Lexicon
        from leian.disputes.types import TypeModel

        lexicon = Lexicon.elements()
        self.ids = [str(i) for i in range(len(documents))]
        self.found = {i: lexicon.names(d) for i, d in zip(self.ids, documents)}
        counts: dict[str, int] = {}
        for names in self.found.values():
            for name in set(names):
                counts[name] = counts.get(name, 0) + 1
        self.weights = {name: float(np.log((len(documents) + 1) / (n + 0.5))) for name, n in counts.items()}
        self.model = TypeModel.default()
        categories, subtypes = self.model.distributions(list(documents)) if documents else (np.zeros((0, 1)), np.zeros((0, 1)))
        self.best = subtypes.argmax(axis=1)
        self.best_p = subtypes[np.arange(len(self.best)), self.best]
        self.parent = np.array([self.model.categories.index(self.model.parent[self.model.subtypes[b]]) for b in self.best], dtype=int)
        self.parent_p = categories[np.arange(len(self.best)), self.parent]

    def __call__(self, queries: list[str]) -> list[dict[str, np.ndarray]]:
        from leian.search.engine import Query, element_overlap

        categories, subtypes = self.model.distributions(queries)
        parsed = [Query(q) for q in queries]
        return [{"elements": element_overlap(query, self.found, self.ids, self.weights), "evidence": query.evidence,
                 "category": category[self.parent] * self.parent_p, "subtype": subtype[self.best] * self.best_p}
                for query, category, subtype in zip(parsed, categories, subtypes)]


def _ranking_tasks(benchmark: str, data_dir: Path, limit: int | None, vectors: _VectorCache, cached_only: bool) -> list[Task]:
    """The benchmark's tasks; with ``cached_only`` only those whose every text is in the vector cache (nothing is encoded)."""
    tasks = (load_c3rd if benchmark == "c3rd" else load_lecard)(data_dir, limit)
    if cached_only:
        tasks = [task for task in tasks if vectors.holds(task)]
        if not tasks:
            raise DataError(f"{data_dir}：向量缓存中没有任何一条查询的全部向量（去掉 --cached-only 以编码）")
    return tasks


def _task_signals(task: Task, vectors: _VectorCache) -> tuple[np.ndarray, np.ndarray]:
    """Dense and BM25 scores of one task's candidates."""
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
    return index.scores(ids, matrix[0]), np.asarray(bm25)


def ranking_scores(task: Task, vectors: _VectorCache, weights: Weights = DEFAULT_WEIGHTS) -> dict[str, np.ndarray]:
    """Candidate scores of one task under each method."""
    dense, bm25 = _task_signals(task, vectors)
    extra = TextSignals([prepare_query(d) for d in task.documents])([prepare_query(task.query)])[0]
    return _methods(dense, bm25, extra, weights)


def _methods(dense: np.ndarray, bm25: np.ndarray, extra: dict[str, Any], weights: Weights) -> dict[str, np.ndarray]:
    return {
        "bm25": bm25,
        "dense": dense,
        "elements": extra["elements"] + 1e-6 * dense,
        "type": extra["subtype"] + extra["category"] + 1e-6 * dense,
        "rrf": rrf([dense, bm25]),
        "fused": fuse(dense, bm25, extra, weights, extra["evidence"]),
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


def _sts_signals(pairs: list[tuple[str, str, float]], vectors: _VectorCache, weights: Weights) -> dict[str, np.ndarray]:
    """Per pair, each method's score: every left sentence is a query over all right sentences, its signals
    normalised over that collection as the engine normalises them over its candidates; the pair's own score is kept."""
    left = [prepare_query(a) for a, _, _ in pairs]
    right = [prepare_query(b) for _, b, _ in pairs]
    index = BM25Index.build([str(i) for i in range(len(right))], [tokenize(t) for t in right])
    a, b = vectors.encode(left), vectors.encode(right)
    cosine = a @ b.T
    out: dict[str, list[float]] = {}
    extras = TextSignals(right)(left)
    for i, (text, extra) in enumerate(zip(left, extras)):
        bm25 = index.scores(tokenize(text))
        methods = _methods(cosine[i], np.asarray(bm25, dtype=np.float64), extra, weights)
        for name, values in methods.items():
            if name != "rrf":
                out.setdefault(name, []).append(float(values[i]))
    return {name: np.array(values) for name, values in out.items()}


def _spearman(scores: np.ndarray, gold: list[float]) -> float:
    from scipy.stats import spearmanr

    return round(float(spearmanr(scores, gold).statistic) * 100, 2)


def _sts_rows(pairs: list[tuple[str, str, float]], vectors: _VectorCache, weights: Weights) -> list[dict[str, Any]]:
    gold = [s for _, _, s in pairs]
    return [{"method": m, "spearman": _spearman(s, gold)} for m, s in _sts_signals(pairs, vectors, weights).items()]


def sweep(
    benchmark: str,
    data_dir: Path,
    encoder: Encoder,
    grid: list[Weights],
    *,
    limit: int | None = None,
    cache: Path | None = None,
    split: str = "tune",
    cached_only: bool = False,
    pool: str = "engine",
) -> list[dict[str, Any]]:
    """The fused row under each of ``grid``'s weights, with the signals computed once.

    Returns the single-signal rows first, then one row per weights (method
    ``fused``, with the weights under ``"weights"``). For ``tellings`` the rows are
    the overall ones plus the worst telling's MAP under ``"worst_map"``.
    """
    if benchmark == "tellings":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="leian-tellings-") as scratch:
            data = tellings_signals(load_tellings(data_dir, split)[:limit], Path(cache) if cache else Path(scratch), model=encoder.spec, pool=pool)
        rows = [r for r in tellings_rows(data, DEFAULT_WEIGHTS) if r["telling"] == "all" and r["method"] != "fused"]
        for weights in grid:
            table = [r for r in tellings_rows(data, weights, methods=("fused",))]
            overall = next(r for r in table if r["telling"] == "all")
            rows.append({**overall, "worst_map": min(r["map"] for r in table if r["telling"] != "all"), "weights": weights.to_dict()})
        return rows
    vectors = _VectorCache(encoder, cache)
    if benchmark == "sts":
        pairs = load_sts(data_dir, limit)
        gold = [s for _, _, s in pairs]
        singles = _sts_signals(pairs, vectors, DEFAULT_WEIGHTS)
        rows = [{"method": m, "spearman": _spearman(v, gold)} for m, v in singles.items() if m != "fused"]
        for weights in grid:
            rows.append({"method": "fused", "weights": weights.to_dict(), "spearman": _spearman(_sts_signals(pairs, vectors, weights)["fused"], gold)})
        return rows
    tasks = _ranking_tasks(benchmark, data_dir, limit, vectors, cached_only)
    signals = []
    for task in tasks:
        dense, bm25 = _task_signals(task, vectors)
        signals.append((dense, bm25, TextSignals([prepare_query(d) for d in task.documents])([prepare_query(task.query)])[0]))
    rows = [_mean_row(benchmark, m, [_task_metrics(t, _methods(d, b, e, DEFAULT_WEIGHTS)[m]) for t, (d, b, e) in zip(tasks, signals)])
            for m in ("bm25", "dense", "elements", "type")]
    for weights in grid:
        fused = [_task_metrics(t, fuse(d, b, e, weights, e["evidence"])) for t, (d, b, e) in zip(tasks, signals)]
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
    split: str = "tune",
    distractors: bool = True,
    cached_only: bool = False,
    pool: str = "engine",
) -> dict[str, Any]:
    """Evaluate one benchmark; rows for bm25, dense, rrf (ranking tasks) and fused.

    ``tellings`` reads ``split``, ranks ``pool`` (:data:`POOLS`) and keeps its throw-away home in ``cache`` (a folder) when given.
    ``cached_only`` (c3rd, lecard): score only the queries whose vectors are all cached, encoding nothing.
    """
    if benchmark == "tellings":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="leian-tellings-") as scratch:
            rows = load_tellings(data_dir, split)[:limit]
            data = tellings_signals(rows, Path(cache) if cache else Path(scratch), distractors=distractors, model=encoder.spec, pool=pool)
        return {"benchmark": "tellings", "data": str(data_dir), "split": split, "distractors": distractors, "pool": pool, "size": len(data),
                "model": encoder.model_id, "weights": weights.to_dict(), "metrics": METRICS["tellings"],
                "rows": tellings_rows(data, weights), "baselines": []}
    vectors = _VectorCache(encoder, cache)
    if benchmark == "sts":
        pairs = load_sts(data_dir, limit)
        rows, size = _sts_rows(pairs, vectors, weights), len(pairs)
    else:
        tasks = _ranking_tasks(benchmark, data_dir, limit, vectors, cached_only)
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
    if report["benchmark"] == "types":
        return _format_types(report)
    metrics = report["metrics"]
    if report["benchmark"] == "tellings":
        lines = [f"tellings {report['split']} ({report['size']} texts, distractors {'on' if report['distractors'] else 'off'}, pool {report['pool']}, "
                 f"model {report['model']})", "", "| method | telling | queries | " + " | ".join(metrics) + " |",
                 "|---|---|---|" + "---|" * len(metrics)]
        for row in report["rows"]:
            lines.append(f"| {row['method']} | {row['telling']} | {row['queries']} | " + " | ".join(f"{row[m]:.3f}" for m in metrics) + " |")
        return "\n".join(lines)
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


def _format_types(report: dict[str, Any]) -> str:
    """A :func:`run_types` report as Markdown tables: accuracy per telling, then reliability per level."""
    temperatures = f"温度 大类 {float(report['temperatures']['category'])} / 小类 {float(report['temperatures']['subtype'])}（在 tune 半选定）"
    if report["split"] is None:
        what = f"ProMediConv 样例，{report['size']} 件；模型 {report['model']}（重新训练，训练数据不含样例）；{temperatures}"
    else:
        what = f"开发集 {report['split']} 半，{report['size']} 条；模型 {report['model']}；{temperatures}"
        if report["split"] == "heldout":
            what += "。这是一次留出评测，须记入 docs/quality.md"
    lines = [f"类型预测：{what}", "", "| 讲法 | 条数 | 大类准确率 | 小类准确率 |", "|---|---|---|---|"]
    for row in report["rows"]:
        subtype = "—" if row["subtype"] is None else f"{row['subtype']:.3f}" + (f"（其中 {row['subtype_n']} 条有小类）" if row["subtype_n"] < row["n"] else "")
        lines.append(f"| {row['telling']} | {row['n']} | {row['category']:.3f} | {subtype} |")
    for level, name in (("subtype", "小类"), ("category", "大类")):
        if report["reliability"][level]:
            lines += ["", f"可靠性：P({name}) 分段 → 实际猜对的比例", "", f"| P({name}) | 条数 | 平均概率 | 猜对比例 |", "|---|---|---|---|"]
            lines += [f"| {b['bin']} | {b['n']} | {b['mean_p']:.2f} | {b['right']:.2f} |" for b in report["reliability"][level]]
    return "\n".join(lines)


def shortfall(rows: list[dict[str, Any]], metrics: list[str]) -> float:
    """How far the last row falls below the best single-signal row, at worst (<= 0 is met).

    Spearman (×100) is divided by 100 so that every metric is on a 0..1 scale.

    >>> rows = [{"method": "bm25", "mrr": 0.65}, {"method": "dense", "mrr": 0.69}, {"method": "fused", "mrr": 0.65}]
    >>> round(shortfall(rows, ["mrr"]), 3)
    0.04
    """
    best = {m: max(r[m] for r in rows if r["method"] in ("bm25", "dense", "elements", "type")) for m in metrics}
    return max((best[m] - rows[-1][m]) / (100 if m == "spearman" else 1) for m in metrics)


def _main(argv: list[str] | None = None) -> None:
    """``python -m leian.search.evaluate sweep BENCH --data DIR [--cache F] [--split tune] --dense .. --bm25 .. --elements .. --category .. --subtype .. --evidence_none .. --evidence_full ..``"""
    import argparse
    import itertools

    from leian.embeddings.encoder import load_encoder

    parser = argparse.ArgumentParser(prog="python -m leian.search.evaluate", description="Fused metrics over a grid of fusion weights.")
    parser.add_argument("command", choices=["sweep"])
    parser.add_argument("benchmark", choices=sorted(METRICS))
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--split", default="tune", choices=["tune"], help="tellings: only the tuning half may be swept")
    parser.add_argument("--cached-only", action="store_true", help="c3rd, lecard: only the queries whose vectors are all cached")
    parser.add_argument("--pool", default="engine", choices=POOLS, help="tellings: rank the engine's pool or every stored text")
    names = ("dense", "bm25", "elements", "category", "subtype", "evidence_none", "evidence_full")
    for name in names:
        default = str(getattr(DEFAULT_WEIGHTS, name))
        parser.add_argument(f"--{name}", default=default, help=f"comma-separated values (default {default})")
    args = parser.parse_args(argv)
    values = [[float(v) for v in getattr(args, n).split(",")] for n in names]
    grid = [Weights(**dict(zip(names, combo))) for combo in itertools.product(*values)]
    rows = sweep(args.benchmark, args.data, load_encoder(), grid, limit=args.limit, cache=args.cache, split=args.split,
                 cached_only=args.cached_only, pool=args.pool)
    for row in rows:
        metrics = {m: row[m] for m in METRICS[args.benchmark]}
        if row["method"] == "fused":
            w = " ".join(f"{n}={row['weights'][n]:g}" for n in names)
            singles = [r for r in rows if r["method"] != "fused"]
            extra = {"worst_map": row["worst_map"]} if "worst_map" in row else {"shortfall": round(shortfall(singles + [row], METRICS[args.benchmark]), 4)}
            print(json.dumps({"weights": w, **metrics, **extra}))
        else:
            print(json.dumps({"method": row["method"], **metrics}))


if __name__ == "__main__":
    _main()
