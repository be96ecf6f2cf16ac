"""The evaluation harness on small slices of the real benchmark data."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.disputes.types import TypeModel, sample_cases, training_examples
from leian.embeddings.encoder import load_encoder
from leian.search import evaluate as ev

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TELLINGS_DIR = Path(__file__).resolve().parents[1] / "data" / "devsets" / "tellings"
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if not DATASETS.is_dir():
    DATASETS = Path("/work/shared/datasets")


def test_metrics_agree_with_hand_computed_values():
    ranking = [4, 1, 7, 2]
    assert ev.precision(ranking, {1, 2}, 4) == 0.5
    assert ev.reciprocal_rank(ranking, {7}) == pytest.approx(1 / 3)
    assert ev.average_precision(ranking, {1, 2}) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert ev.ndcg([1, 4], {4: 3, 1: 1}, 2) < ev.ndcg([4, 1], {4: 3, 1: 1}, 2) == pytest.approx(1.0)


def test_loaders_read_the_real_datasets():
    c3rd = ev.load_c3rd(DATASETS / "c3rd_mini", limit=2)
    assert len(c3rd) == 2 and len(c3rd[0].documents) == 100 and c3rd[0].gains
    lecard = ev.load_lecard(DATASETS / "lecard", limit=1)
    assert len(lecard[0].documents) >= 100 and max(lecard[0].gains.values()) == 3
    assert len(ev.load_sts(DATASETS / "sts_b_zh", limit=5)) == 5
    with pytest.raises(ev.DataError):
        ev.load_c3rd(DATASETS / "lecard")


def test_sts_slice_scores_like_a_sentence_model():
    report = ev.run("sts", DATASETS / "sts_b_zh", load_encoder(), limit=120)
    rows = {row["method"]: row["spearman"] for row in report["rows"]}
    assert set(rows) == {"bm25", "dense", "elements", "type", "fused"}
    assert rows["dense"] > 50 and rows["dense"] > rows["bm25"]
    assert "| dense |" in ev.format_table(report)


def test_ranking_slice_on_c3rd(tmp_path):
    task = ev.load_c3rd(DATASETS / "c3rd_mini", limit=1)[0]
    # A slice: the relevant candidates and the first irrelevant ones, 20 in all.
    keep = sorted(task.gains)[:5] + [i for i in range(100) if i not in task.gains][:15]
    small = ev.Task(task.query, [task.documents[i][:300] for i in keep], {n: 1 for n, i in enumerate(keep) if i in task.gains})
    scores = ev.ranking_scores(small, ev._VectorCache(load_encoder(), tmp_path / "v.npz"))
    assert set(scores) == {"bm25", "dense", "elements", "type", "rrf", "fused"}
    for name in ("bm25", "dense", "rrf", "fused"):
        values = scores[name]
        ranking = list(reversed(sorted(range(20), key=lambda i: values[i])))
        # Every signal puts the same-cause cases well above chance (5 of 20 relevant).
        assert ev.average_precision(ranking, set(small.gains)) > 0.4


def test_tellings_eval_runs_the_engine_and_prints_only_aggregates(tmp_path):
    data = TELLINGS_DIR
    report = ev.run("tellings", data, load_encoder(), limit=16, split="tune", distractors=False)
    rows = {(r["method"], r["telling"]): r for r in report["rows"]}
    assert {m for m, _ in rows} == {"bm25", "dense", "elements", "type", "fused"}
    assert rows[("fused", "all")]["queries"] == 16 and 0 < rows[("fused", "all")]["map"] <= 1
    table = ev.format_table(report)
    assert "| fused | all | 16 |" in table
    # Only the tuning half may be swept: the sweep command refuses the held-out one.
    with pytest.raises(SystemExit):
        ev._main(["sweep", "tellings", "--data", str(data), "--split", "heldout"])


def test_tellings_rank_the_engines_pool_and_count_a_telling_it_left_out_as_missed(tmp_path):
    data = TELLINGS_DIR
    rows = ev.load_tellings(data, "tune")[:8]
    store = ev.tellings_signals(rows, tmp_path / "home", pool="store")
    engine = ev.tellings_signals(rows, tmp_path / "home", pool="engine")
    for (row, everything, all_signals, _), (_, pooled, signals, _) in zip(store, engine):
        # 8 texts and the 97 sample cases: the pool is the top 50 by cosine and by BM25 (the text itself left out).
        assert len(everything) == 104 and row["id"] not in pooled and set(pooled) < set(everything)
        by_cosine = [everything[i] for i in np.argsort(-all_signals["dense"], kind="stable")[:50]]
        assert set(by_cosine) <= set(pooled) and len(pooled) <= 100
        at = {c: i for i, c in enumerate(everything)}
        assert np.allclose(signals["dense"], all_signals["dense"][[at[c] for c in pooled]])
    # A relevant telling the pool did not bring counts as not found: three relevant, two found at ranks 1 and 2.
    found = [({"id": "a", "scenario": "s", "telling": "short"}, ["b", "x", "c"], {"dense": np.array([0.9, 0.8, 0.7])}, 0),
             ({"id": "b", "scenario": "s", "telling": "report"}, [], {"dense": np.array([])}, 0),
             ({"id": "c", "scenario": "s", "telling": "spoken"}, [], {"dense": np.array([])}, 0),
             ({"id": "d", "scenario": "s", "telling": "record"}, [], {"dense": np.array([])}, 0)]
    table = ev.tellings_rows(found, ev.DEFAULT_WEIGHTS, methods=("dense",))
    short = next(r for r in table if r["telling"] == "short")
    assert short["map"] == round((1 + 2 / 3) / 3, 4)


def test_cached_only_scores_just_the_queries_whose_vectors_are_cached(tmp_path):
    encoder = load_encoder()
    cache = tmp_path / "v.npz"
    with pytest.raises(ev.DataError):
        ev.run("c3rd", DATASETS / "c3rd_mini", encoder, limit=2, cache=cache, cached_only=True)
    # Vectors for the second query's texts only (their values do not matter here: nothing may be encoded).
    task = ev.load_c3rd(DATASETS / "c3rd_mini", limit=2)[1]
    texts = [ev.prepare_query(task.query)] + [p for d in task.documents for p in ev.chunks(ev.prepare_query(d))]
    rng = np.random.default_rng(0)
    ev.np.savez(cache, **{ev.text_hash(t): v / np.linalg.norm(v) for t, v in zip(texts, rng.normal(size=(len(texts), encoder.dim)).astype(np.float32))})
    before = encoder.texts_encoded
    report = ev.run("c3rd", DATASETS / "c3rd_mini", encoder, limit=2, cache=cache, cached_only=True)
    assert report["size"] == 1 and encoder.texts_encoded == before
    assert "1 条查询" in ev.format_table(report)


def _eval_types(home: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--home", str(home), "eval", "types", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _agrees_with_predictions(report: dict, rows: list[dict], model: TypeModel) -> None:
    """The report's accuracies and reliability bins are those of the model's own predictions on the rows."""
    guesses = model.predict([ev.prepare_query(r["text"]) for r in rows])
    for line in report["rows"]:
        members = [(g, r) for g, r in zip(guesses, rows) if line["telling"] in ("all", r.get("telling"))]
        typed = [(g, r) for g, r in members if r["subtype"]]
        assert line["n"] == len(members) and line["subtype_n"] == len(typed)
        assert line["category"] == round(np.mean([g.category == r["category"] for g, r in members]), 4)
        assert line["subtype"] == (round(np.mean([g.subtype == r["subtype"] for g, r in typed]), 4) if typed else None)
    typed = [(g, r) for g, r in zip(guesses, rows) if r["subtype"]]
    for level, pairs, probability, right in (("subtype", typed, lambda g: g.probability, lambda g, r: g.subtype == r["subtype"]),
                                              ("category", list(zip(guesses, rows)), lambda g: g.category_probability,
                                               lambda g, r: g.category == r["category"])):
        bins = report["reliability"][level]
        # Every text lies in one bin: counts, summed probabilities and rights add up to the whole (up to the
        # bins' rounding to 4 decimals).
        rounding = 1e-4 * len(pairs)
        assert sum(b["n"] for b in bins) == len(pairs)
        assert sum(b["n"] * b["mean_p"] for b in bins) == pytest.approx(sum(probability(g) for g, _ in pairs), abs=rounding)
        assert sum(b["n"] * b["right"] for b in bins) == pytest.approx(sum(right(g, r) for g, r in pairs), abs=rounding)


def test_type_accuracy_on_the_tuning_half_is_the_models_own(tmp_path):
    report = _eval_types(tmp_path / "home", "--data", str(TELLINGS_DIR), "--limit", "40")
    # The held-out half is read only when asked for by name.
    assert report["split"] == "tune" and report["size"] == 40
    assert {line["telling"] for line in report["rows"]} == {"all", *ev.TELLINGS}
    _agrees_with_predictions(report, ev.load_tellings(TELLINGS_DIR, "tune", types=True)[:40], TypeModel.default())
    assert "| all | 40 |" in ev.format_table(report)


def test_type_accuracy_on_the_sample_uses_a_model_trained_without_it(tmp_path):
    report = _eval_types(tmp_path / "home", "--sample", "--limit", "30")
    model = TypeModel.train(sample=False)
    assert report["split"] is None and report["model"] == model.version and model.version.endswith("-without-sample")
    sample_texts = {case.search_text for case in sample_cases()}
    assert not sample_texts & {text for text, *_ in training_examples(sample=False)}
    assert sample_texts & {text for text, *_ in training_examples()}
    rows = [{"text": c.search_text, "category": c.category, "subtype": c.subtype} for c in sample_cases() if c.category][:30]
    _agrees_with_predictions(report, rows, model)
    assert "ProMediConv 样例，30 件" in ev.format_table(report)


@pytest.mark.parametrize("args, message", [
    (["types"], "types：请给出 --data 开发集文件夹或 --sample（二选一）"),
    (["types", "--sample", "--data", str(TELLINGS_DIR)], "types：请给出 --data 开发集文件夹或 --sample（二选一）"),
    (["tellings", "--sample", "--data", str(TELLINGS_DIR)], "--sample 只用于 types"),
    (["sts"], "请用 --data 给出评测集所在文件夹"),
])
def test_eval_refuses_a_missing_or_misplaced_data_option(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "eval", *args])
    assert result.exit_code != 0 and message in result.output
