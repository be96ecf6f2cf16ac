"""Topical clusters of cases: a k-nearest-neighbour graph of embeddings split into communities.

Every case's text is embedded (through the store's embedding cache, so a re-run
encodes nothing new), FAISS finds each case's ``k`` nearest neighbours by
cosine similarity, and Louvain community detection (networkx, fixed seed)
splits that graph. Communities smaller than ``min_size`` are left as noise.

Each cluster gets:

- an id derived from its content: ``C`` + a hash of its medoid (the member
  closest to the centroid), so the same data gives the same ids on every run;
- keywords by class-based TF-IDF over jieba tokens (words frequent in this
  cluster and rare in the others);
- its size, most frequent places and types, and monthly counts over the last
  ``TREND_MONTHS`` months of the data;
- ``emerging`` when at least ``emerging_share`` of its dated cases fall in the
  last ``window_days`` days and that share is at least twice the share of all
  cases in that window (so a young data set does not make everything emerging).

Examples
--------
>>> ctfidf_keywords([["漏水", "楼上", "漏水", "调解"], ["工资", "拖欠", "调解"]], top=2)
[['漏水', '楼上'], ['工资', '拖欠']]
>>> purity([0, 0, 1, 1], ["a", "a", "a", "b"])
0.75
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from leian.analytics.counts import period_of, period_span
from leian.data.normalize import normalize_name, person_names
from leian.data.places import place_label
from leian.data.record import Case
from leian.data.store import Store

__all__ = [
    "Cluster",
    "Clustering",
    "cluster_cases",
    "knn_communities",
    "ctfidf_keywords",
    "purity",
    "cluster_quality",
    "TREND_MONTHS",
]

TREND_MONTHS = 6


@dataclass
class Cluster:
    """One topical cluster."""

    id: str
    keywords: list[str]
    case_ids: list[str]
    medoid: str
    places: list[tuple[str, int]]
    types: list[tuple[str, int]]
    trend: dict[str, int]
    recent_share: float
    emerging: bool

    @property
    def size(self) -> int:
        return len(self.case_ids)

    @property
    def label(self) -> str:
        return "、".join(self.keywords[:4])

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "size": self.size,
            "keywords": self.keywords,
            "medoid": self.medoid,
            "places": [{"place": p, "cases": n} for p, n in self.places],
            "types": [{"type": t, "cases": n} for t, n in self.types],
            "trend": self.trend,
            "recent_share": round(self.recent_share, 3),
            "emerging": self.emerging,
            "case_ids": self.case_ids,
        }


@dataclass
class Clustering:
    """All clusters (largest first) and the cases left in none."""

    clusters: list[Cluster]
    noise: list[str] = field(default_factory=list)
    model_id: str = ""
    window: tuple[str, str] | None = None

    def labels(self) -> dict[str, str]:
        """Case id -> cluster id (noise cases map to ``"noise"``)."""
        labels = {case_id: "noise" for case_id in self.noise}
        for cluster in self.clusters:
            labels.update((case_id, cluster.id) for case_id in cluster.case_ids)
        return labels

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model_id,
            "window": list(self.window) if self.window else None,
            "clusters": [c.to_dict() for c in self.clusters],
            "noise": len(self.noise),
        }


def knn_communities(vectors: np.ndarray, *, k: int = 10, resolution: float = 1.5, seed: int = 0) -> list[list[int]]:
    """Communities (row indices, each sorted) of the cosine kNN graph of ``vectors``.

    The vectors are centred first: sentence embeddings share one common
    direction that squeezes every cosine into a narrow band (0.67-0.82 for
    m3e-small on the sample), and removing it makes neighbours more telling.
    """
    import faiss
    import networkx as nx

    n = len(vectors)
    if n == 0:
        return []
    centred = vectors - vectors.mean(axis=0)
    centred = np.ascontiguousarray(centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12), dtype=np.float32)
    neighbours = min(k + 1, n)
    index = faiss.IndexFlatIP(centred.shape[1])
    index.add(centred)
    similarity, nearest = index.search(centred, neighbours)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for i in range(n):
        for sim, j in zip(similarity[i], nearest[i]):
            if j >= 0 and j != i:
                # Keep the stronger weight when both ends list each other.
                weight = max(float(sim), 0.01, graph.edges[i, j]["weight"] if graph.has_edge(i, j) else 0.0)
                graph.add_edge(i, int(j), weight=weight)
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    return sorted((sorted(c) for c in communities), key=lambda c: (-len(c), c[0]))


def ctfidf_keywords(documents: list[list[str]], *, top: int = 8) -> list[list[str]]:
    """Distinctive words of each class (one token list per class) by class-based TF-IDF."""
    counts = [Counter(doc) for doc in documents]
    total = Counter()
    for count in counts:
        total.update(count)
    average = sum(total.values()) / max(len(documents), 1)
    keywords = []
    for count in counts:
        size = sum(count.values()) or 1
        scores = {word: n / size * math.log(1 + average / total[word]) for word, n in count.items()}
        keywords.append([w for w, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:top]])
    return keywords


def purity(clusters: list, truth: list) -> float:
    """Share of items whose cluster's most common true label is their own."""
    members: dict[object, Counter] = {}
    for cluster, label in zip(clusters, truth):
        members.setdefault(cluster, Counter())[label] += 1
    return sum(c.most_common(1)[0][1] for c in members.values()) / max(len(truth), 1)


def cluster_quality(clustering: Clustering, truth: dict[str, str]) -> dict[str, float | int]:
    """Purity and NMI of the clusters against known labels (noise counts as one more cluster)."""
    from sklearn.metrics import normalized_mutual_info_score

    labels = clustering.labels()
    ids = sorted(set(labels) & set(truth))
    predicted = [labels[i] for i in ids]
    actual = [truth[i] for i in ids]
    return {
        "cases": len(ids),
        "clusters": len(clustering.clusters),
        "noise": len(clustering.noise),
        "purity": round(purity(predicted, actual), 4),
        "nmi": round(float(normalized_mutual_info_score(actual, predicted)), 4),
    }


def cluster_cases(
    store: Store,
    *,
    model: str | None = None,
    k: int = 10,
    min_size: int = 3,
    resolution: float = 1.5,
    window_days: int = 90,
    emerging_share: float = 0.5,
    progress: bool = False,
) -> Clustering:
    """Cluster every case in the store (writable: vectors and tokens go to its cache)."""
    from leian.embeddings.cache import cached_tokens, cached_vectors
    from leian.embeddings.encoder import load_encoder
    from leian.embeddings.text import head, prepare

    cases = list(store.iter_cases())
    encoder = load_encoder(model)
    texts = [prepare(case) for case in cases]
    vectors = cached_vectors(store, encoder, [head(t) for t in texts], progress=progress)
    # Party names (王某, 李秀英) say who, not what about: they never label a topic, nor do parts of
    # a person's name (小店 of 王小店, 刘梦英 of 刘梦英等42人).
    names = {p.name_norm for case in cases for p in case.parties}
    names |= {person[i:j] for case in cases for p in case.parties for person in map(normalize_name, person_names(p.name, p.kind))
              for i in range(len(person)) for j in range(i + 2, len(person) + 1)}
    tokens = [[t for t in doc if len(t) > 1 and "某" not in t and t not in names] for doc in cached_tokens(store, texts)]
    communities = knn_communities(vectors, k=k, resolution=resolution)
    kept = [c for c in communities if len(c) >= min_size]
    noise_rows = [i for c in communities if len(c) < min_size for i in c]
    # Noise is one more class for the keyword statistics, so its words do not look distinctive elsewhere.
    keywords = ctfidf_keywords([sum((tokens[i] for i in c), []) for c in kept] + [sum((tokens[i] for i in noise_rows), [])])

    dates = sorted(case.date[:10] for case in cases if case.date)
    window = None
    overall_share = 0.0
    if dates:
        last = dt.date.fromisoformat(dates[-1])
        window = ((last - dt.timedelta(days=window_days - 1)).isoformat(), last.isoformat())
        overall_share = sum(d >= window[0] for d in dates) / len(dates)
        months = period_span(period_of(dates[0], "month"), period_of(dates[-1], "month"), "month")[-TREND_MONTHS:]
    clusters = []
    for rows, words in zip(kept, keywords):
        members = [cases[i] for i in rows]
        centroid = vectors[rows].mean(axis=0)
        closeness = vectors[rows] @ centroid
        medoid = min(zip(-closeness, (m.id for m in members)))[1]
        member_dates = [m.date[:10] for m in members if m.date]
        recent = sum(d >= window[0] for d in member_dates) / len(member_dates) if window and member_dates else 0.0
        clusters.append(
            Cluster(
                id="C" + hashlib.sha1(medoid.encode("utf-8")).hexdigest()[:6],
                keywords=words,
                case_ids=sorted(m.id for m in members),
                medoid=medoid,
                places=_top(_town_label(m) for m in members),
                types=_top(m.category for m in members),
                trend={month: sum(d.startswith(month) for d in member_dates) for month in months} if dates else {},
                recent_share=recent,
                emerging=bool(member_dates) and recent >= emerging_share and recent >= 2 * overall_share,
            )
        )
    clusters.sort(key=lambda c: (-c.size, c.id))
    return Clustering(clusters, sorted(cases[i].id for i in noise_rows), encoder.model_id, window)


def _town_label(case: Case) -> str | None:
    return place_label({level: case.location.get(level) for level in ("city", "district", "town")}) or None


def _top(values, n: int = 3) -> list[tuple[str, int]]:
    counted = Counter(v for v in values if v)
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:n]
