"""Topical clusters of cases: a k-nearest-neighbour graph of embeddings split into communities.

Every case's text is embedded (through the store's embedding cache, so a re-run
encodes nothing new), FAISS finds each case's ``k`` nearest neighbours by
cosine similarity, and Louvain community detection (networkx, fixed seed)
splits that graph. Communities smaller than ``min_size`` are left as noise.

Each cluster gets:

- an id derived from its content: ``C`` + a hash of its medoid (the member
  closest to the centroid), so the same data gives the same ids on every run;
  the id stays with the topic as cases arrive (:func:`cluster_cases` keeps the
  memberships in the store, tables of component ``analytics``);
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
import json
import math
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from leian.analytics.counts import period_of, period_span
from leian.data.normalize import normalize_name, person_names
from leian.data.places import place_label
from leian.data.queries import case_columns, case_dates
from leian.data.record import Case
from leian.data.store import Store

__all__ = [
    "Cluster",
    "Clustering",
    "cluster_cases",
    "clusters_within",
    "knn_communities",
    "ctfidf_keywords",
    "purity",
    "cluster_quality",
    "TREND_MONTHS",
    "RECLUSTER_SHARE",
    "SAME_CLUSTER",
    "MIGRATIONS",
]

TREND_MONTHS = 6
#: A cluster with at least this share of its dated cases in the recent window (and twice the share of all cases) is emerging.
EMERGING_SHARE = 0.5


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
    centred = _centred(vectors)
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


def _centred(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors after removing the direction all sentence embeddings share (the mean)."""
    centred = vectors - vectors.mean(axis=0)
    return np.ascontiguousarray(centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12), dtype=np.float32)


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
    emerging_share: float = EMERGING_SHARE,
    progress: bool = False,
    fresh: bool = False,
) -> Clustering:
    """Cluster every case in the store (writable: vectors, tokens and the memberships are kept in it).

    Clusters keep their identity as cases arrive: after the first run, a new or
    changed case joins the cluster most of its ``k`` nearest neighbours belong to;
    the new cases that do not (their neighbours are mostly other new cases, or
    noise) are clustered among themselves, so a new topic still shows up as a new
    cluster. Everything is clustered afresh when the changes pass
    :data:`RECLUSTER_SHARE` of the cases, when the model or the parameters
    change, or with ``fresh``; clusters that then match an earlier one by their
    members (Jaccard at least :data:`SAME_CLUSTER`) keep its id.
    """
    from leian.embeddings.cache import cached_tokens, cached_vectors
    from leian.embeddings.encoder import load_encoder
    from leian.embeddings.text import head, prepare

    store.migrate_component("analytics", MIGRATIONS)
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
    ids = [case.id for case in cases]
    settings = json.dumps({"model": encoder.model_id, "k": k, "min_size": min_size, "resolution": resolution}, sort_keys=True)
    previous = None if fresh else _previous(store, settings, set(ids))
    if previous is not None:
        assigned = _assign_new(vectors, ids, previous, k=k, min_size=min_size, resolution=resolution)
    else:
        communities = [c for c in knn_communities(vectors, k=k, resolution=resolution) if len(c) >= min_size]
        assigned = _name_clusters(communities, ids, vectors, _saved_members(store))
    _save(store, assigned, ids, settings)
    kept = list(assigned.items())
    clustered = {row for _, rows in kept for row in rows}
    noise_rows = [row for row in range(len(cases)) if row not in clustered]
    # Noise is one more class for the keyword statistics, so its words do not look distinctive elsewhere.
    keywords = ctfidf_keywords([sum((tokens[i] for i in rows), []) for _, rows in kept] + [sum((tokens[i] for i in noise_rows), [])])

    dates = sorted(case.date[:10] for case in cases if case.date)
    window = None
    overall_share = 0.0
    if dates:
        last = dt.date.fromisoformat(dates[-1])
        window = ((last - dt.timedelta(days=window_days - 1)).isoformat(), last.isoformat())
        overall_share = sum(d >= window[0] for d in dates) / len(dates)
        months = period_span(period_of(dates[0], "month"), period_of(dates[-1], "month"), "month")[-TREND_MONTHS:]
    clusters = []
    for (cluster_id, rows), words in zip(kept, keywords):
        members = [cases[i] for i in rows]
        facts = [_Member(m.date[:10] if m.date else None, m.category, _town_label(m)) for m in members]
        clusters.append(
            Cluster(id=cluster_id, keywords=words, case_ids=sorted(m.id for m in members), medoid=_medoid(vectors, rows, ids),
                    **_summary(facts, months if dates else [], window, overall_share, emerging_share))
        )
    clusters.sort(key=lambda c: (-c.size, c.id))
    return Clustering(clusters, sorted(cases[i].id for i in noise_rows), encoder.model_id, window)


class _Member(NamedTuple):
    """What a cluster's summary counts of one member."""

    date: str | None
    category: str | None
    place: str | None


def _summary(members: list[_Member], months: list[str], window: tuple[str, str] | None, overall_share: float,
             emerging_share: float) -> dict[str, Any]:
    """A cluster's places, types, monthly trend, share of recent cases and whether it is emerging, over ``members``."""
    dates = [m.date for m in members if m.date]
    recent = sum(d >= window[0] for d in dates) / len(dates) if window and dates else 0.0
    return {"places": _top(m.place for m in members), "types": _top(m.category for m in members),
            "trend": {month: sum(d.startswith(month) for d in dates) for month in months}, "recent_share": recent,
            "emerging": bool(dates) and recent >= emerging_share and recent >= 2 * overall_share}


def clusters_within(found: dict[str, Any], store: Store, case_ids: Collection[str], *,
                    emerging_share: float = EMERGING_SHARE) -> dict[str, Any]:
    """A clustering (as :meth:`Clustering.to_dict` gives it) seen from ``case_ids`` alone, a user's area:
    each cluster with its members among them, its places, types, trend, recent share and ``emerging``
    counted over those (against the share of all of ``case_ids`` in the window), the clusters left with
    no member dropped, largest first. Keywords and ids stay the whole clustering's."""
    members = [c for cluster in found["clusters"] for c in cluster["case_ids"] if c in case_ids]
    facts = {row["id"]: _Member(row["case_date"][:10] if row["case_date"] else None, row["category"],
                                place_label({level: row[level] for level in ("city", "district", "town")}) or None)
             for row in case_columns(store, members, ("id", "case_date", "category", "city", "district", "town"))}
    window = tuple(found["window"]) if found.get("window") else None
    dates = [d for d in case_dates(store, case_ids).values() if d]
    overall_share = sum(d[:10] >= window[0] for d in dates) / len(dates) if window and dates else 0.0
    shown = []
    for cluster in found["clusters"]:
        kept = [c for c in cluster["case_ids"] if c in facts]
        if not kept:
            continue
        summary = _summary([facts[c] for c in kept], list(cluster["trend"]), window, overall_share, emerging_share)
        shown.append({**cluster, "case_ids": kept, "size": len(kept), "medoid": cluster["medoid"] if cluster["medoid"] in facts else kept[0],
                      "places": [{"place": p, "cases": n} for p, n in summary["places"]],
                      "types": [{"type": t, "cases": n} for t, n in summary["types"]], "trend": summary["trend"],
                      "recent_share": round(summary["recent_share"], 3), "emerging": summary["emerging"]})
    shown.sort(key=lambda c: (-c["size"], c["id"]))
    return {**found, "clusters": shown}


#: Tables of the ``analytics`` component: the last clustering's memberships, and what it was made with.
MIGRATIONS = [
    """
    CREATE TABLE analytics_cluster_members (case_id TEXT PRIMARY KEY, cluster_id TEXT NOT NULL);
    CREATE INDEX analytics_cluster_members_cluster ON analytics_cluster_members(cluster_id);
    CREATE TABLE analytics_cluster_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]
#: Past this share of new, changed or deleted cases, everything is clustered afresh.
RECLUSTER_SHARE = 0.2
#: Two clusters with at least this Jaccard overlap of members are the same topic (the id carries over).
SAME_CLUSTER = 0.3
_NOISE = "noise"


@dataclass
class _Previous:
    """The last clustering, where it still applies: each case's cluster (or noise), and the cases new since."""

    members: dict[str, str]
    new: list[str]


def _saved_members(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT case_id, cluster_id FROM analytics_cluster_members").fetchall())


def _previous(store: Store, settings: str, present: set[str]) -> _Previous | None:
    """The last clustering if it was made with the same settings and few cases changed since; else None."""
    state = dict(store.conn.execute("SELECT key, value FROM analytics_cluster_state").fetchall())
    if state.get("settings") != settings or "seq" not in state:
        return None
    members = {case_id: cluster for case_id, cluster in _saved_members(store).items() if case_id in present}
    changed = {change.case_id for change in store.changes_since(int(state["seq"]))}
    new = sorted((present - set(members)) | (changed & present))
    gone = len(_saved_members(store)) - len(members)
    if len(new) + gone > RECLUSTER_SHARE * max(len(present), 1):
        return None
    for case_id in new:
        members.pop(case_id, None)
    return _Previous(members, new)


def _assign_new(vectors: np.ndarray, ids: list[str], previous: _Previous, *, k: int, min_size: int,
                resolution: float) -> dict[str, list[int]]:
    """Clusters (id -> rows) of the last run, each new case added where most of its neighbours are;
    the new cases that belong nowhere yet are clustered among themselves and with the noise."""
    row_of = {case_id: row for row, case_id in enumerate(ids)}
    assigned: dict[str, list[int]] = {}
    for case_id, cluster in previous.members.items():
        if cluster != _NOISE:
            assigned.setdefault(cluster, []).append(row_of[case_id])
    pending = []
    if previous.new:
        new_rows = [row_of[i] for i in previous.new]
        for row, neighbours in zip(new_rows, _neighbours(vectors, new_rows, k)):
            votes = Counter(previous.members.get(ids[n], "") for n in neighbours)
            cluster, count = votes.most_common(1)[0]
            if cluster not in ("", _NOISE) and count * 2 > len(neighbours):
                assigned[cluster].append(row)
            else:
                pending.append(row)
    if len(pending) >= min_size:
        # A new topic: pending cases (and old noise) that a clustering of everything puts together. Modularity
        # cannot find one dense group in a small pool on its own, so the pool is looked at within the whole graph.
        free = set(pending) | {row_of[i] for i, cluster in previous.members.items() if cluster == _NOISE}
        for community in knn_communities(vectors, k=k, resolution=resolution):
            rows = [row for row in community if row in free]
            if len(rows) >= min_size and any(row in pending for row in rows):
                assigned.setdefault(_fresh_id(vectors, rows, ids, assigned), rows)
    return {cluster: sorted(rows) for cluster, rows in assigned.items() if rows}


def _neighbours(vectors: np.ndarray, rows: list[int], k: int) -> list[list[int]]:
    """The ``k`` nearest other cases of each row, by cosine of the centred vectors (as the clustering sees them)."""
    import faiss

    centred = _centred(vectors)
    index = faiss.IndexFlatIP(centred.shape[1])
    index.add(centred)
    _, nearest = index.search(centred[rows], min(k + 1, len(vectors)))
    return [[int(n) for n in found if n >= 0 and n != row][:k] for row, found in zip(rows, nearest)]


def _name_clusters(communities: list[list[int]], ids: list[str], vectors: np.ndarray,
                   before: dict[str, str]) -> dict[str, list[int]]:
    """Ids for fresh communities: the id of the earlier cluster they match by members, else a new one."""
    earlier: dict[str, set[str]] = {}
    for case_id, cluster in before.items():
        if cluster != _NOISE:
            earlier.setdefault(cluster, set()).add(case_id)
    pairs = []
    for number, rows in enumerate(communities):
        members = {ids[row] for row in rows}
        for cluster, old in earlier.items():
            overlap = len(members & old) / len(members | old)
            if overlap >= SAME_CLUSTER:
                pairs.append((overlap, number, cluster))
    named: dict[int, str] = {}
    for _, number, cluster in sorted(pairs, reverse=True):  # best matches first, each side used once
        if number not in named and cluster not in named.values():
            named[number] = cluster
    assigned: dict[str, list[int]] = {}
    for number, rows in enumerate(communities):
        assigned[named[number] if number in named else _fresh_id(vectors, rows, ids, {**assigned, **{c: [] for c in named.values()}})] = rows
    return assigned


def _fresh_id(vectors: np.ndarray, rows: list[int], ids: list[str], taken: dict[str, Any]) -> str:
    """``C`` + a hash of the cluster's medoid: the same cases give the same id on every run."""
    medoid = _medoid(vectors, rows, ids)
    cluster_id = "C" + hashlib.sha1(medoid.encode("utf-8")).hexdigest()[:6]
    suffix = 1
    while cluster_id in taken:
        suffix += 1
        cluster_id = "C" + hashlib.sha1(f"{medoid}#{suffix}".encode("utf-8")).hexdigest()[:6]
    return cluster_id


def _medoid(vectors: np.ndarray, rows: list[int], ids: list[str]) -> str:
    """The member closest to the cluster's centroid (ties: the smallest id)."""
    centroid = vectors[rows].mean(axis=0)
    closeness = vectors[rows] @ centroid
    return min(zip(-closeness, (ids[row] for row in rows)))[1]


def _save(store: Store, assigned: dict[str, list[int]], ids: list[str], settings: str) -> None:
    cluster_of = {ids[row]: cluster for cluster, rows in assigned.items() for row in rows}
    with store.transaction() as conn:
        conn.execute("DELETE FROM analytics_cluster_members")
        conn.executemany("INSERT INTO analytics_cluster_members VALUES (?, ?)",
                         [(case_id, cluster_of.get(case_id, _NOISE)) for case_id in ids])
        conn.executemany("INSERT OR REPLACE INTO analytics_cluster_state VALUES (?, ?)",
                         [("settings", settings), ("seq", str(store.last_change()))])


def _town_label(case: Case) -> str | None:
    return place_label({level: case.location.get(level) for level in ("city", "district", "town")}) or None


def _top(values, n: int = 3) -> list[tuple[str, int]]:
    counted = Counter(v for v in values if v)
    return sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:n]
