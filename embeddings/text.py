"""Text preparation for search: what is embedded, normalisation, jieba tokens, keywords.

The embedded text of a case is its title and text (:attr:`Case.search_text`:
half-width, simplified); handling and agreement are kept for display only, so
a query about a dispute is matched against disputes, not against how they were
settled. Queries get the same normalisation, so 繁體 input meets 简体 cases.

jieba is initialised once per process, quietly, with the mediation dictionary
``mediation_dict.txt`` (物业费, 宅基地, 人身安全保护令 ...) beside this module.

Examples
--------
>>> prepare_query("樓上漏水，　物業費")
'楼上漏水, 物业费'
>>> tokenize("业主拖欠物业费，物业公司停水")
['业主', '拖欠', '物业费', '物业公司', '停水']
>>> "人身安全保护令" in tokenize("申请人身安全保护令")
True
>>> text_hash("abc") == text_hash("abc"), len(text_hash("abc"))
(True, 64)
>>> [len(c) for c in chunks("甲" * 1000, size=400)]
[400, 400, 200]
>>> pieces("申请人：王某，男，40岁。 纠纷事实：楼上漏水，要求赔偿。")  # a 笔录's line breaks are spaces here
['楼上漏水，要求赔偿。']
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

from leian.data.normalize import normalize_text
from leian.data.record import Case

__all__ = [
    "prepare",
    "prepare_query",
    "tokenize",
    "word_starts",
    "keywords",
    "text_hash",
    "chunks",
    "head",
    "pieces",
    "CHUNK_CHARS",
    "stopwords",
    "domain_terms",
]

#: Characters per embedded piece: about the 512-token window of m3e-small and BERT-like models.
CHUNK_CHARS = 500
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")
_DIGITS = re.compile(r"^[\d.,%]+$")
_jieba_lock = threading.Lock()


def prepare(case: Case) -> str:
    """The text of a case that is embedded and tokenised (normalised title + text)."""
    return case.search_text


def prepare_query(text: str) -> str:
    """A query in the same normal form as stored cases (half-width, simplified)."""
    return normalize_text(text)


def text_hash(text: str) -> str:
    """sha256 of prepared text: the key of the embedding and token caches."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _data_file(name: str) -> str:
    return str(resources.files("leian.embeddings") / name)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Function words dropped from BM25 tokens and keywords."""
    with open(_data_file("stopwords.txt"), encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


@lru_cache(maxsize=1)
def domain_terms() -> frozenset[str]:
    """The mediation vocabulary given to jieba."""
    with open(_data_file("mediation_dict.txt"), encoding="utf-8") as handle:
        return frozenset(line.split()[0] for line in handle if line.strip())


@lru_cache(maxsize=1)
def _jieba():
    """The jieba module with our dictionary loaded; once per process, no log noise."""
    with _jieba_lock:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.load_userdict(_data_file("mediation_dict.txt"))
        return jieba


@lru_cache(maxsize=1)
def _analyse():
    """jieba's TF-IDF keywords with our stopwords, loaded only for keywords: importing it reads jieba's
    part-of-speech and IDF tables (≈ 2 s of CPU), which tokenising, so every ingest, never needs."""
    _jieba()
    with _jieba_lock:
        import jieba.analyse

        jieba.analyse.set_stop_words(_data_file("stopwords.txt"))
        jieba.analyse.default_tfidf.tokenizer = _RememberedWords()
        return jieba.analyse


@lru_cache(maxsize=16)
def _words(text: str) -> tuple[str, ...]:
    """jieba's words of ``text``, remembered for the last few texts: a search cuts its query for BM25's tokens and
    for its keywords, and a text without capital letters is the same text for both (≈ 1 ms of CPU for a 笔录)."""
    return tuple(_jieba().lcut(text))


def word_starts(text: str) -> frozenset[int]:
    """The offsets in ``text`` where jieba starts a word.

    >>> sorted(word_starts("不给老娘养老钱"))
    [0, 1, 2, 4, 6]
    """
    offsets, at = set(), 0
    for word in _words(text):
        offsets.add(at)
        at += len(word)
    return frozenset(offsets)


class _RememberedWords:
    """The tokenizer jieba's TF-IDF keywords cut with (its default, ``jieba.dt``), answered by :func:`_words`."""

    def cut(self, sentence: str) -> Iterator[str]:
        return iter(_words(sentence))


def tokenize(text: str) -> list[str]:
    """BM25 tokens: jieba words of the normalised text, lower-cased, without stopwords or punctuation."""
    stop = stopwords()
    tokens = []
    for word in _words(prepare_query(text).lower()):
        word = word.strip()
        if word and word not in stop and _WORDLIKE.search(word) and not _DIGITS.match(word):
            tokens.append(word)
    return tokens


def keywords(text: str, top_k: int = 12) -> list[str]:
    """Key terms of a text (jieba TF-IDF), domain terms first; used to explain matches."""
    return list(_keywords(text, top_k))


@lru_cache(maxsize=4096)
def _keywords(text: str, top_k: int) -> tuple[str, ...]:
    """:func:`keywords`, remembered: a search explains each result by its case's keywords, and the cases
    found again and again (by the web server's next query, by a query's next page) are cut by jieba once."""
    stop = stopwords()
    found = [
        w for w in _analyse().extract_tags(prepare_query(text), topK=top_k * 2)
        if w not in stop and len(w) > 1 and not _DIGITS.match(w)
    ]
    terms = domain_terms()
    ranked = [w for w in found if w in terms] + [w for w in found if w not in terms]
    return tuple(ranked[:top_k])


def chunks(text: str, size: int = CHUNK_CHARS, overlap: int = 0) -> list[str]:
    """Split a long text into pieces of at most ``size`` characters, each embedded on its own.

    One piece for most mediation records; long narratives and judgments get
    several, so what they say past the model's window is still searched.
    """
    if len(text) <= size:
        return [text]
    step = max(1, size - overlap)
    return [text[start : start + size] for start in range(0, len(text) - overlap, step) if text[start : start + size]]


def pieces(text: str) -> list[str]:
    """What is embedded of a prepared text: the dispute itself (:func:`leian.disputes.clean.dispute_text`:
    no 笔录 header, names, setting or account of the mediation, no dates, ages or amounts), in chunks.

    Measured on the tuning half of the dev set through the engine (dense alone, distractors): raw text MAP
    0.500, the first cleaner 0.620 (records 0.395), this one 0.694 (records 0.655); see docs/quality.md.
    """
    from leian.disputes.clean import dispute_text

    return chunks(dispute_text(text))


def head(text: str) -> str:
    """The first piece: the one vector that stands for a case where only one can (clusters, near-duplicates).

    It is the search index's head vector too, so both share one cache entry.
    """
    return pieces(text)[0]
