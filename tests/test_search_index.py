"""The FAISS vector index and BM25 on their own: round trips, filters inside the search, both index kinds."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from leian.embeddings.encoder import load_encoder
from leian.embeddings.text import prepare_query, tokenize
from leian.search.base import create_vector_index, load_vector_index
from leian.search.bm25 import BM25Index
from leian.search.faiss import FaissIndex

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "promediconv.jsonl"


@pytest.fixture(scope="module")
def sample():
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:40]  # 40 real cases are enough here
    texts = [prepare_query(json.loads(line)["text"]) for line in lines]
    return texts, load_encoder().encode(texts)


@pytest.fixture(scope="module")
def vectors(sample):
    """2,000 vectors near the real sample's (mixes of two cases plus noise): enough to train IVF."""
    base = sample[1]
    rng = np.random.default_rng(3)
    left, right = rng.integers(0, len(base), 2000), rng.integers(0, len(base), 2000)
    mixed = 0.7 * base[left] + 0.3 * base[right] + rng.normal(0, 0.03, (2000, base.shape[1])).astype(np.float32)
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_delete_persist_reload_add_keeps_ids_and_results(vectors, tmp_path, kind):
    ids = [f"case-{i}" for i in range(len(vectors))]
    index = create_vector_index(vectors.shape[1], kind=kind)
    index.upsert(ids, vectors)
    assert index.kind == kind and len(index) == 2000
    queries = vectors[:20]
    assert FaissIndex(vectors.shape[1], kind=kind).search(queries, 10) == [[]] * 20  # empty: no hits
    before = index.search(queries, 10)
    assert [row[0][0] for row in before] == ids[:20]

    removed = ids[:5]
    assert index.delete(removed + ["no-such-case"]) == 5
    kept_int_ids = dict(index.int_of)
    files = index.save(tmp_path, "v1")
    reloaded = load_vector_index(tmp_path, files)
    assert reloaded.kind == kind and len(reloaded) == 1995 and reloaded.int_of == kept_int_ids
    after = reloaded.search(queries[5:], 10)
    assert [row[0][0] for row in after] == ids[5:20]
    assert all(hit[0] not in removed for row in reloaded.search(queries, 10) for hit in row)

    reloaded.upsert(removed, vectors[:5])
    assert [row[0][0] for row in reloaded.search(queries[:5], 1)] == removed
    assert len(set(reloaded.int_of.values())) == 2000  # no int id handed out twice
    # An update keeps the case's int id and replaces its vector.
    number = reloaded.int_of["case-100"]
    reloaded.upsert(["case-100"], vectors[7:8])
    assert reloaded.int_of["case-100"] == number and len(reloaded) == 2000
    assert np.allclose(reloaded.vectors(["case-100"])[0], vectors[7], atol=1e-6)


@pytest.mark.parametrize("kind", ["flat", "ivf"])
@pytest.mark.parametrize("allowed_size", [7, 300, 1500])
def test_filtered_search_returns_only_allowed_and_k_of_them(vectors, kind, allowed_size):
    ids = [f"case-{i}" for i in range(len(vectors))]
    index = FaissIndex(vectors.shape[1], kind=kind)
    index.upsert(ids, vectors)
    allowed = set(np.random.default_rng(allowed_size).choice(ids, allowed_size, replace=False))
    for row in index.search(vectors[:10], 10, allowed=allowed):
        assert len(row) == min(10, allowed_size)
        assert {i for i, _ in row} <= allowed
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
    # Exactness of the restricted search: the best allowed hit is the true best among the allowed.
    allowed_list = sorted(allowed)
    rows = np.array([int(i.split("-")[1]) for i in allowed_list])
    best = allowed_list[int(np.argmax(vectors[rows] @ vectors[0]))]
    if kind == "flat" or allowed_size <= 300:
        assert index.search(vectors[:1], 1, allowed=allowed)[0][0][0] == best


def test_auto_kind_switches_to_ivf_past_the_threshold(vectors):
    index = FaissIndex(vectors.shape[1], kind="auto", threshold=1800)
    ids = [f"case-{i}" for i in range(len(vectors))]
    index.upsert(ids[:1700], vectors[:1700])
    assert index.kind == "flat"
    index.upsert(ids[1700:], vectors[1700:])
    assert index.kind == "ivf" and len(index) == 2000
    assert index.search(vectors[1999:], 1)[0][0][0] == "case-1999"


def test_bm25_ranks_by_shared_terms_and_respects_allowed(sample):
    texts = sample[0]
    ids = [f"PMC-{i + 1:03d}" for i in range(len(texts))]
    index = BM25Index.build(ids, [tokenize(t) for t in texts])
    hits = index.top(tokenize("下岗待业，借款开小餐馆，出具欠条"), 5)
    assert hits[0][0] == "PMC-033"
    allowed = {"PMC-001", "PMC-002", "PMC-033"}
    restricted = index.top(tokenize("下岗待业，借款开小餐馆，出具欠条"), 5, allowed=allowed)
    assert {i for i, _ in restricted} <= allowed and restricted[0][0] == "PMC-033"
    assert index.top(["完全不存在的词"], 5) == []


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_cases_with_several_chunks_score_their_best_and_round_trip(vectors, tmp_path, kind):
    index = FaissIndex(vectors.shape[1], kind=kind)
    index.upsert([f"case-{i}" for i in range(1400)], vectors[:1400])
    # 100 long cases of three chunks each, made of the remaining vectors.
    long_ids = [f"long-{i}" for i in range(100)]
    index.upsert(long_ids, vectors[1400:1700], counts=[3] * 100)
    assert len(index) == 1500 and index.vector_count == 1700 and index.kind == kind
    third_chunk = vectors[1400 + 3 * 7 + 2]
    row = index.search(third_chunk[None, :], 10)[0]
    assert row[0][0] == "long-7" and row[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(row) == 10 and len({i for i, _ in row}) == 10  # one hit per case, never a case twice
    assert index.scores(["long-7", "case-3"], third_chunk) == pytest.approx([1.0, float(vectors[3] @ third_chunk)], abs=1e-5)
    assert np.allclose(index.vectors(["long-7"])[0], vectors[1400 + 3 * 7], atol=1e-6)  # the head vector
    # Inside a filter the long cases still fill k places with distinct cases.
    for hits in index.search(vectors[1400:1410], 25, allowed=set(long_ids[:30])):
        assert len(hits) == 25 and len({i for i, _ in hits}) == 25 and {i for i, _ in hits} <= set(long_ids[:30])

    assert index.delete(["long-7"]) == 1 and index.vector_count == 1697
    index.upsert(["long-8"], vectors[:1])  # now one chunk: its two old chunks must go
    assert index.vector_count == 1695
    files = index.save(tmp_path, "v1")
    reloaded = load_vector_index(tmp_path, files)
    assert reloaded.extra == index.extra and reloaded.int_of == index.int_of
    assert all(hit[0] != "long-7" for hit in reloaded.search(third_chunk[None, :], 10)[0])
    old_chunk = vectors[1400 + 3 * 8 + 1]
    assert reloaded.search(old_chunk[None, :], 1)[0][0][0] != "long-8"
    assert reloaded.search(vectors[1400 + 3 * 9 + 1][None, :], 1)[0][0][0] == "long-9"


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_segments_answer_like_one_index_through_saves_loads_merges_and_compaction(vectors, tmp_path, kind):
    """A saved index changed by delta segments answers exactly as an index never saved, after each reload."""
    rng = np.random.default_rng(11)
    dim = vectors.shape[1]
    reference = FaissIndex(dim, kind="flat")  # exact, changed in place, never saved
    index = FaissIndex(dim, kind=kind, nprobe=100_000)  # IVF probing every list is exact too
    pool = [f"case-{i}" for i in range(1700)]
    for target in (reference, index):
        target.upsert(pool[:1500], vectors[:1500])
    assert index.kind == kind
    files, segments = index.save(tmp_path, "g0"), []
    queries = vectors[rng.integers(0, 2000, 8)]
    for step in range(10):
        changed = [str(i) for i in rng.choice(pool, 60, replace=False)]
        counts = [int(c) for c in rng.integers(1, 4, len(changed))]
        fresh = vectors[rng.integers(0, 2000, sum(counts))] + rng.normal(0, 0.01, (sum(counts), dim)).astype(np.float32)
        fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)  # no two cases tie
        deleted = [str(i) for i in rng.choice(pool, 15, replace=False)]
        for target in (reference, index):
            target.upsert(changed, fresh, counts=counts)
            target.delete(deleted)
        if step == 6:  # the earlier deltas merged into one segment
            segments = [index.save_changes(tmp_path, f"m{step}", merged=True)]
        elif step == 8:  # the delta merged into a new main segment
            index.compact()
            files, segments = index.save(tmp_path, f"g{step}"), []
        else:
            segments.append(index.save_changes(tmp_path, f"d{step}"))
        index = FaissIndex.load(tmp_path, files, segments)
        index.nprobe = 100_000
        assert sorted(index.int_of) == sorted(reference.int_of) and index.vector_count == reference.vector_count
        for got, want in zip(index.search(queries, 10), reference.search(queries, 10)):
            assert [i for i, _ in got] == [i for i, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
        for size in (30, 900):
            allowed = {str(i) for i in rng.choice(sorted(reference.int_of), size, replace=False)}
            for got, want in zip(index.search(queries, 10, allowed=allowed), reference.search(queries, 10, allowed=allowed)):
                assert [i for i, _ in got] == [i for i, _ in want]
        sample = sorted(reference.int_of)[::37]
        assert index.scores(sample, queries[0]) == pytest.approx(reference.scores(sample, queries[0]), abs=1e-5)
        assert np.allclose(index.vectors(sample), reference.vectors(sample), atol=1e-6)
    assert index.kind == kind


def test_a_delta_segment_writes_in_proportion_to_the_change(vectors, tmp_path):
    index = FaissIndex(vectors.shape[1], kind="flat")
    index.upsert([f"case-{i}" for i in range(2000)], vectors)
    files = index.save(tmp_path, "g1")
    main_bytes = sum((tmp_path / f).stat().st_size for f in files)
    index.upsert(["new-case"], vectors[:1])
    index.delete(["case-7"])
    assert not index.needs_compaction()
    segment = index.save_changes(tmp_path, "g2.delta")
    assert (tmp_path / segment).stat().st_size < 4 * vectors.shape[1] + 500 < main_bytes / 1000
    assert not list(tmp_path.glob(".*.tmp"))


def test_bm25_scores_equal_bm25s_and_candidates_are_scored_alone(sample):
    import bm25s

    tokens = [tokenize(t) for t in sample[0]]
    ours = BM25Index.build([f"d{i}" for i in range(len(tokens))], tokens)
    reference = bm25s.BM25()
    reference.index(tokens, show_progress=False)
    for text in sample[0][:15]:
        query = [t for t in tokenize(text[:50]) if t in reference.vocab_dict]
        want = reference.get_scores(query)
        assert ours.scores(query) == pytest.approx(want, abs=1e-4)
        some = [f"d{i}" for i in range(0, len(tokens), 3)] + ["not-indexed"]
        assert ours.scores_for(query, some) == pytest.approx([*want[::3], 0.0], abs=1e-4)


def test_bm25_saved_with_bm25s_and_a_delta_ranks_like_a_fresh_build(sample, tmp_path):
    tokens = {f"d{i}": tokenize(t) for i, t in enumerate(sample[0])}
    index = BM25Index.build(list(tokens), list(tokens.values()))
    index.save(tmp_path, "bm25.1")
    assert {"data.csc.index.npy", "vocab.index.json", "params.index.json"} <= {p.name for p in (tmp_path / "bm25.1").iterdir()}
    assert not list(tmp_path.glob(".*.tmp"))
    loaded = BM25Index.load(tmp_path, "bm25.1")
    assert isinstance(loaded.model.scores["data"], np.memmap)
    # Delete two documents, rewrite one with another's text, add one.
    final = dict(tokens)
    del final["d3"], final["d4"]
    final["d5"] = tokens["d20"]
    final["new"] = tokenize("村民之间因宅基地边界发生争执，双方互不相让，多次发生口角")
    loaded.apply(deleted=["d3", "d4"], upserted={"d5": final["d5"], "new": final["new"]})
    fresh = BM25Index.build(list(final), list(final.values()))
    assert sorted(loaded.ids) == sorted(final) and len(loaded) == len(final)
    for text in [sample[0][i] for i in (3, 5, 20, 30)] + ["宅基地边界争执"]:
        query = tokenize(text[:60])
        got, want = loaded.top(query, 5), fresh.top(query, 5)
        assert {i for i, _ in got} <= set(final)
        assert got[0][0] == want[0][0] or got[0][0] in {"d5", "d20"} and want[0][0] in {"d5", "d20"}
        # The delta is scored with the statistics of both segments: close to a fresh build's scores.
        ids = [i for i, _ in want]
        assert loaded.scores_for(query, ids) == pytest.approx(fresh.scores_for(query, ids), rel=0.02)


def test_bm25_candidates_scored_from_the_search_pass_equal_their_own_scoring(sample, tmp_path):
    # A search scores every document once (top) and reads its candidates' scores back; an index that never
    # ran the pass scores the same candidates alone: the floats must be the same, delta and dead rows included.
    tokens = {f"d{i}": tokenize(t) for i, t in enumerate(sample[0])}
    BM25Index.build(list(tokens), list(tokens.values())).save(tmp_path, "bm25.1")
    searched, alone = BM25Index.load(tmp_path, "bm25.1"), BM25Index.load(tmp_path, "bm25.1")
    change = {"deleted": ["d3"], "upserted": {"d5": tokens["d20"], "new": tokenize("村民之间因宅基地边界发生争执，多次发生口角")}}
    searched.apply(**change)
    alone.apply(**change)
    ids = [*tokens, "new", "not-indexed"]
    for text in [sample[0][i] for i in (0, 5, 20, 30)] + ["宅基地边界争执"]:
        query = tokenize(text[:60])
        searched.top(query, 5)
        assert np.array_equal(searched.scores_for(query, ids), alone.scores_for(query, ids))
    # A change between the pass and the candidates' scores is not read from the pass.
    searched.top(query, 5)
    searched.apply(deleted=["new"])
    alone.apply(deleted=["new"])
    assert np.array_equal(searched.scores_for(query, ids), alone.scores_for(query, ids))
    assert searched.scores_for(query, ["new"])[0] == 0.0


def test_id_map_and_chunk_counts_over_a_saved_table_behave_as_plain_dicts(tmp_path):
    """Random adds, renumberings, deletions and re-adds over a table that is saved and mapped again now and then:
    the live maps answer every look-up (one by one, in batches, in order, number -> id) as plain dicts kept alongside."""
    import random

    from leian.search.ids import ChunkCounts, IdMap, IdTable

    rng = random.Random(7)
    numbers: dict[str, int] = {}
    extra: dict[int, int] = {}
    ids, counts, next_id = IdMap(), ChunkCounts(), 0
    names = [f"案{i}" if i % 3 else f"C-{i:04d}" for i in range(300)]  # ids of two widths, some not ASCII
    for step in range(2000):
        name = rng.choice(names)
        if name in numbers and rng.random() < 0.3:
            number = numbers.pop(name)
            del ids[name]
            extra.pop(number, None)
            counts.pop(number, None)
        else:
            number = numbers.get(name)
            if number is None or rng.random() < 0.1:  # new, or deleted and added again under a new number
                number, next_id = next_id, next_id + 1
            numbers[name] = ids[name] = number
            chunks = rng.choice([0, 0, 0, 1, 3])
            if chunks:
                extra[number] = counts[number] = chunks
            else:
                extra.pop(number, None)
                counts.pop(number, None)
        if step % 250 == 249:
            IdTable.build(ids, counts, next_id=next_id).write(tmp_path / "v.ids", {"dim": 4})
            table, _ = IdTable.read(tmp_path / "v.ids")
            ids, counts = IdMap(table), ChunkCounts(table)
        assert len(ids) == len(numbers)
        if step % 50 == 0:
            assert dict(ids.items()) == numbers and dict(counts.items()) == extra
            asked = rng.sample(names, 60) + ["missing", "案" * 40]
            assert ids.numbers_of(asked) == [numbers[n] for n in asked if n in numbers]
            held = [n for n in asked if n in numbers]
            assert ids.numbers_for(held) == [numbers[n] for n in held]
            with pytest.raises(KeyError):
                ids.numbers_for(held + ["missing"])
            assert [ids.get(n) for n in asked] == [numbers.get(n) for n in asked]
            assert {ids.name_of(number): number for number in numbers.values()} == numbers
            for number in set(range(next_id + 2)) - set(numbers.values()):
                with pytest.raises(KeyError):
                    ids.name_of(number)
            every = np.arange(next_id + 2)
            assert counts.counts(every).tolist() == [extra.get(int(n), 0) for n in every]


def test_a_main_segment_built_case_after_case_is_saved_with_the_lists_its_size_calls_for(vectors, tmp_path):
    """An index that turned IVF early and then grew fourfold in memory (a rebuild) is saved with the IVF lists its
    size calls for, so the first delta after it is a small segment, not a rewrite of the whole main segment."""
    import faiss

    from leian.search.faiss import _nlist

    rng = np.random.default_rng(5)
    grown = np.vstack([vectors + rng.normal(0, 0.01, vectors.shape).astype(np.float32) for _ in range(4)])
    grown /= np.linalg.norm(grown, axis=1, keepdims=True)
    ids = [f"case-{i}" for i in range(len(grown))]
    index = FaissIndex(grown.shape[1], kind="ivf")
    for start in range(0, len(grown), 100):
        index.upsert(ids[start : start + 100], grown[start : start + 100])
    first_lists = faiss.extract_index_ivf(index.main).nlist
    expected = index.search(grown[:30], 10)
    files = index.save(tmp_path, "v1")
    loaded = FaissIndex.load(tmp_path, files)
    assert first_lists < _nlist(len(grown)) / 2 == faiss.extract_index_ivf(loaded.main).nlist / 2
    loaded.upsert(["new"], -grown[:1])
    assert not loaded.needs_compaction(floor=1), "a delta of one case needs no rewrite"
    assert [row[0] for row in loaded.search(grown[:30], 10)] == [row[0] for row in expected]
