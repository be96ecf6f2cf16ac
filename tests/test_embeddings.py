"""Text preparation, the real encoder and the embedding cache in a real store."""
from __future__ import annotations

import os

import numpy as np
import pytest

from leian.data.normalize import normalize_text
from leian.data.store import Store
from leian.embeddings.cache import cached_tokens, cached_vectors, prune
from leian.embeddings.encoder import DEFAULT_MODEL, load_encoder
from leian.embeddings.text import domain_terms, keywords, prepare_query, text_hash, tokenize

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


def test_domain_dictionary_keeps_mediation_terms_whole():
    assert len(domain_terms()) >= 300
    text = "业主拖欠物业费，在宅基地上建房，老人要赡养费，她申请了人身安全保护令，协议申请司法确认，新业态骑手，预付卡退费"
    tokens = tokenize(text)
    for term in ("物业费", "宅基地", "赡养费", "人身安全保护令", "司法确认", "新业态", "预付卡"):
        assert term in tokens


def test_traditional_and_full_width_text_tokenise_like_simplified():
    assert tokenize("業主拖欠物業費，ＡＢＣ") == tokenize("业主拖欠物业费,abc")
    assert prepare_query("樓上漏水") == "楼上漏水"


def test_simplified_text_is_left_as_written():
    # t2s's phrase table rewrites some simplified phrases (打坏 -> 打坯): a text with no traditional character keeps
    # its words, so keywords and snippets show what the party said; a traditional one is still converted.
    text = "楼上的人喝醉了打坏了我家的门"
    assert normalize_text(text) == text and "坯" not in "".join(tokenize(text)) and "打坏" in keywords(text, 10)
    assert normalize_text("他把門打壞了") == "他把门打坏了"


def test_keywords_skip_stopwords_and_numbers():
    words = keywords("2023年3月，楼上住户卫生间漏水，楼下天花板发霉，双方因为赔偿金额发生争执", 8)
    assert "漏水" in words and "2023" not in words and "的" not in words


def test_tokens_and_keywords_share_one_cut_and_give_what_jieba_gives():
    """A search's query is cut by jieba once for its BM25 tokens and its keywords (the words are remembered):
    each still equals what jieba's own tokenizer gives, in either order, a text with capitals included."""
    import jieba
    import jieba.analyse

    from leian.embeddings import text as text_module

    reference = jieba.analyse.TFIDF()  # jieba's own tokenizer (jieba.dt), our stopwords
    reference.set_stop_words(text_module._data_file("stopwords.txt"))
    for text in ("楼上住户卫生间漏水，楼下天花板发霉，双方因为赔偿金额发生争执", "ABC物业公司停水，业主拖欠物业费"):
        prepared = prepare_query(text)
        text_module._words.cache_clear()
        tokens_first, keywords_after = tokenize(text), text_module._analyse().extract_tags(prepared, topK=40)
        text_module._words.cache_clear()
        keywords_first, tokens_after = text_module._analyse().extract_tags(prepared, topK=40), tokenize(text)
        assert tokens_first == tokens_after and tokens_first
        assert text_module._words(prepared.lower()) == tuple(jieba.lcut(prepared.lower()))
        assert keywords_after == keywords_first == reference.extract_tags(prepared, topK=40)


def test_encoder_is_loaded_once_and_returns_unit_vectors(encoder):
    assert load_encoder(DEFAULT_MODEL) is encoder
    vectors = encoder.encode(["楼上漏水", "樓上漏水", "拖欠工资"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, encoder.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # A paraphrase is nearer than an unrelated dispute.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_cache_encodes_each_text_once_per_model(encoder, tmp_path):
    store = Store(tmp_path / "cache.sqlite")
    texts = ["楼上漏水", "拖欠工资", "楼上漏水"]
    start = encoder.texts_encoded
    first = cached_vectors(store, encoder, texts)
    assert encoder.texts_encoded == start + 2  # the repeated text is encoded once
    again = cached_vectors(store, encoder, texts)
    assert encoder.texts_encoded == start + 2
    assert np.array_equal(first, again) and np.array_equal(first[0], first[2])
    store.close()
    reopened = Store(tmp_path / "cache.sqlite")
    assert np.array_equal(cached_vectors(reopened, encoder, texts[:1]), first[:1])
    assert encoder.texts_encoded == start + 2
    assert cached_tokens(reopened, ["拖欠工资"]) == [tokenize("拖欠工资")]
    removed = prune(reopened, {text_hash("拖欠工资")})
    assert removed == 1  # the vector of 楼上漏水; 拖欠工资 keeps its vector and tokens
    cached_vectors(reopened, encoder, texts[:1])
    assert encoder.texts_encoded == start + 3
    reopened.close()
