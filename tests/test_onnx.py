"""The ONNX runtime of m3e-small against torch: the same vectors within cosine 0.99, the same search answers.

A wrong ``[embeddings] runtime`` is one line naming the key: ``tests/test_settings.py``.

Real model both ways (the ONNX export made by ``make install``, or on first use), real FAISS, a real home.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leian.data.ingest import ingest
from leian.embeddings.encoder import load_encoder, model_for_home
from leian.embeddings.onnx import MODEL_ID, model_path
from leian.embeddings.text import pieces, prepare_query
from leian.home import Home
from leian.search.engine import MANIFEST, SearchEngine

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "promediconv.jsonl"
QUERIES = ["楼上漏水", "业主拖欠物业费，物业公司停水", "宅基地边界", "工伤赔偿", "邻居装修噪音扰民",
           "借了两万块钱写了欠条到期不还", "离婚后孩子抚养费谁出", "村里土地承包合同到期纠纷"]
# 繁體 as typed, before normalisation, and a 笔录 longer than the 512-token window (both runtimes cut it alike).
TRADITIONAL = ["樓上漏水，物業費拖欠不還", "鄰居裝修噪音擾民，多次協商無果", "宅基地邊界糾紛，雙方互不相讓"]
TRANSCRIPT = ("调解笔录  时间：2023年5月6日  地点：三灶镇调委会  申请人：王某，男，40岁。  被申请人：李某，女，38岁。  "
              + "申请人称：被申请人家卫生间漏水，渗到申请人家天花板，墙皮脱落，要求赔偿维修费三千元。被申请人称：已请人查看，不同意赔偿这么多。" * 8
              + "  调解员指出：双方是邻居，应互谅互让。经调解，双方同意由被申请人承担维修费二千元。")


def _sample_texts() -> list[str]:
    return [json.loads(line)["text"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def _home(root: Path, runtime: str) -> Home:
    root.mkdir()
    (root / "config.toml").write_text(f'[embeddings]\nruntime = "{runtime}"\n', encoding="utf-8")
    home = Home.resolve(root)
    with home.open_store() as store:
        assert ingest(store, [SAMPLE], rejects_dir=home.rejects_dir).ok
    return home


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Home]:
    root = tmp_path_factory.mktemp("runtimes")
    return {runtime: _home(root / runtime, runtime) for runtime in ("onnx", "torch")}


def test_onnx_vectors_are_torch_vectors_within_cosine_099():
    onnx, torch = load_encoder("m3e-small@onnx"), load_encoder("m3e-small@torch")
    assert (onnx.model_id, torch.model_id) == (MODEL_ID, "m3e-small") and onnx.dim == torch.dim == 512
    assert model_path().is_file()
    # What an encoder says it is loads it again (the ONNX id names its runtime too).
    assert load_encoder(onnx.spec) is onnx and load_encoder(MODEL_ID) is onnx and load_encoder(torch.spec) is torch
    texts = (QUERIES + [prepare_query(q) for q in TRADITIONAL] + TRADITIONAL + [TRANSCRIPT, prepare_query(TRANSCRIPT)]
             + [piece for text in _sample_texts() for piece in pieces(text)])
    a, b = onnx.encode(texts), torch.encode(texts)
    assert a.shape == b.shape and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= 0.99, texts[int(cosines.argmin())]
    # A text's vector does not depend on what it is encoded with (the int8 MatMuls quantise per run):
    # the cache, a query against the same stored text and a re-run after a crash all see one vector (a text alone
    # is cut by the tokenizer's encode, several by encode_batch).
    documents = [TRANSCRIPT] + [text[:500] for text in _sample_texts() if len(text) > 300][:4] + [QUERIES[1]]
    together = onnx.encode(documents)
    for row, text in enumerate(documents):
        assert np.array_equal(onnx.encode([text])[0], together[row]), text[:20]


def test_the_runtime_setting_chooses_the_encoder_and_its_index(homes):
    for runtime, model_id in (("onnx", MODEL_ID), ("torch", "m3e-small")):
        assert model_for_home(homes[runtime]) == f"m3e-small@{runtime}"
        with SearchEngine.open(homes[runtime]) as engine:
            assert engine.encoder.model_id == model_id
        manifest = json.loads((homes[runtime].index_dir / MANIFEST).read_text(encoding="utf-8"))
        assert manifest["model"] == model_id


def test_search_answers_agree_between_runtimes(homes):
    answers = {}
    for runtime, home in homes.items():
        with SearchEngine.open(home) as engine:
            answers[runtime] = [[hit["id"] for hit in engine.search(q, top_k=10)["results"]] for q in QUERIES + TRADITIONAL]
    overlaps = [len(set(a) & set(b)) / len(a) for a, b in zip(answers["onnx"], answers["torch"])]
    same_first = sum(a[0] == b[0] for a, b in zip(answers["onnx"], answers["torch"]))
    assert np.mean(overlaps) >= 0.9 and min(overlaps) >= 0.7, overlaps
    assert same_first >= len(overlaps) - 1, answers


def test_switching_the_runtime_rebuilds_the_index_never_mixes(tmp_path):
    home = _home(tmp_path / "switch", "torch")
    with SearchEngine.open(home) as engine:
        torch_vector = engine.encoder.encode([prepare_query(QUERIES[0])])[0]
    (home.root / "config.toml").write_text('[embeddings]\nruntime = "onnx"\n', encoding="utf-8")
    switched = Home.resolve(home.root)
    with SearchEngine.open(switched) as engine:
        assert engine.encoder.model_id == MODEL_ID
        assert len(engine.vectors) == 97  # every case re-embedded by the new runtime, none kept from torch
        assert not np.array_equal(engine.encoder.encode([prepare_query(QUERIES[0])])[0], torch_vector)
    assert json.loads((home.index_dir / MANIFEST).read_text(encoding="utf-8"))["model"] == MODEL_ID

