"""Embedding and token caches in the store, keyed by text hash.

Vectors are keyed by (model id, sha256 of the prepared text) and jieba tokens
by the text hash, so re-ingesting or reindexing never encodes or tokenises an
unchanged text twice. A case's keywords (what a search result's 共同关键词 are
picked from) are kept the same way by a rebuild of the index, so a search reads
its results' keywords instead of running jieba's TF-IDF over each result's text. The tables belong to the ``embeddings`` component of the
store (see :meth:`Store.migrate_component`).

Examples
--------
>>> import tempfile, pathlib
>>> from leian.data.store import Store
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "c.sqlite")
>>> cached_tokens(store, ["业主拖欠物业费"])
[['业主', '拖欠', '物业费']]
>>> store.conn.execute("SELECT COUNT(*) FROM token_cache").fetchone()[0]
1
>>> store.close()
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from leian.data.store import Store
from leian.embeddings.encoder import Encoder
from leian.embeddings.text import keywords, text_hash, tokenize

__all__ = ["MIGRATIONS", "ensure_tables", "cached_vectors", "cached_tokens", "cached_keywords", "prune"]

#: Schema of the ``embeddings`` component; append, never edit.
MIGRATIONS = [
    """
    CREATE TABLE embedding_cache (
        model TEXT NOT NULL,
        text_hash TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (model, text_hash)
    );
    CREATE TABLE token_cache (
        text_hash TEXT PRIMARY KEY,
        tokens TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE keyword_cache (
        text_hash TEXT NOT NULL,
        top_k INTEGER NOT NULL,
        terms TEXT NOT NULL,
        PRIMARY KEY (text_hash, top_k)
    )
    """,
]

_CHUNK = 500  # SQLite's default limit of host parameters is far above this


def ensure_tables(store: Store) -> None:
    """Create or upgrade the cache tables (a no-op once done)."""
    store.migrate_component("embeddings", MIGRATIONS)


def _lookup(store: Store, sql: str, keys: list[str], prefix: tuple = ()) -> dict[str, object]:
    found: dict[str, object] = {}
    for start in range(0, len(keys), _CHUNK):
        part = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(part))
        for key, value in store.conn.execute(sql.format(marks=marks), (*prefix, *part)):
            found[key] = value
    return found


def cached_vectors(
    store: Store, encoder: Encoder, texts: Sequence[str], *, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """Vectors of prepared ``texts``: from the cache, encoding (in batches) only the texts not cached yet."""
    ensure_tables(store)
    hashes = [text_hash(t) for t in texts]
    unique = list(dict.fromkeys(hashes))
    blobs = _lookup(
        store,
        "SELECT text_hash, vector FROM embedding_cache WHERE model = ? AND text_hash IN ({marks})",
        unique,
        (encoder.model_id,),
    )
    missing = [h for h in unique if h not in blobs]
    if missing:
        text_of = dict(zip(hashes, texts))
        vectors = encoder.encode([text_of[h] for h in missing], batch_size=batch_size, progress=progress)
        rows = [(encoder.model_id, h, encoder.dim, v.tobytes()) for h, v in zip(missing, vectors)]
        with store.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO embedding_cache VALUES (?, ?, ?, ?)", rows)
        blobs.update((h, v.tobytes()) for h, v in zip(missing, vectors))
    out = np.empty((len(texts), encoder.dim), dtype=np.float32)
    for row, digest in enumerate(hashes):
        out[row] = np.frombuffer(blobs[digest], dtype=np.float32)
    return out


def cached_tokens(store: Store, texts: Sequence[str]) -> list[list[str]]:
    """jieba tokens of prepared ``texts``, tokenising only the texts not cached yet."""
    ensure_tables(store)
    hashes = [text_hash(t) for t in texts]
    found = {
        h: json.loads(tokens)
        for h, tokens in _lookup(
            store, "SELECT text_hash, tokens FROM token_cache WHERE text_hash IN ({marks})", list(dict.fromkeys(hashes))
        ).items()
    }
    new = {h: tokenize(t) for h, t in zip(hashes, texts) if h not in found}
    if new:
        with store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO token_cache VALUES (?, ?)",
                [(h, json.dumps(tokens, ensure_ascii=False)) for h, tokens in new.items()],
            )
        found.update(new)
    return [found[h] for h in hashes]


def cached_keywords(store: Store, texts: Sequence[str], top_k: int, *, write: bool = True) -> list[list[str]]:
    """:func:`~leian.embeddings.text.keywords` of prepared ``texts``, computing only the texts not cached yet
    (and, with ``write``, caching them: a search reads the cache without writing to the store)."""
    ensure_tables(store)
    hashes = [text_hash(t) for t in texts]
    found = {
        h: json.loads(terms)
        for h, terms in _lookup(
            store, "SELECT text_hash, terms FROM keyword_cache WHERE top_k = ? AND text_hash IN ({marks})",
            list(dict.fromkeys(hashes)), (top_k,)
        ).items()
    }
    new = {h: keywords(t, top_k) for h, t in zip(hashes, texts) if h not in found}
    if new and write:
        with store.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO keyword_cache VALUES (?, ?, ?)",
                [(h, top_k, json.dumps(terms, ensure_ascii=False)) for h, terms in new.items()],
            )
    found.update(new)
    return [found[h] for h in hashes]


def prune(store: Store, keep_hashes: set[str]) -> int:
    """Drop cached vectors, tokens and keywords of texts no stored case has any more; returns rows removed."""
    ensure_tables(store)
    removed = 0
    with store.transaction() as conn:
        for table in ("embedding_cache", "token_cache", "keyword_cache"):
            stale = [h for (h,) in conn.execute(f"SELECT DISTINCT text_hash FROM {table}") if h not in keep_hashes]
            for start in range(0, len(stale), _CHUNK):
                part = stale[start : start + _CHUNK]
                cursor = conn.execute(f"DELETE FROM {table} WHERE text_hash IN ({','.join('?' * len(part))})", part)
                removed += cursor.rowcount
    return removed
