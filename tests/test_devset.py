"""Integrity of the hand-written mediation dev set in ``data/devsets/tellings/``.

Each scenario is one dispute told four ways (short query, grid/12345 report, spoken
complaint, long 调解笔录); search is tuned on ``tune.jsonl`` and reported on
``heldout.jsonl``. These checks keep the files usable for that protocol: the lines parse,
every scenario has its four tellings in their length ranges, the labels exist in the
taxonomy, siblings pair up inside one half, the 繁體 share holds, and no text was made by
copying another scenario's sentences.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import opencc
import pytest

from leian.data.taxonomy import Taxonomy

FOLDER = Path(__file__).resolve().parent.parent / "data" / "devsets" / "tellings"
HALVES = ("tune", "heldout")
TELLINGS = ("short", "report", "spoken", "record")
LENGTHS = {"short": (12, 30), "report": (60, 150), "spoken": (60, 150), "record": (250, 500)}
FIELDS = {"id", "scenario", "telling", "text", "category", "subtype", "script", "siblings", "gist"}
SHARED_SPAN = 12  # characters two different scenarios' texts may not have in common


def _read(half: str) -> list[dict]:
    path = FOLDER / f"{half}.jsonl"
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            pytest.fail(f"{path.name}:{number}: not JSON: {error}")
        assert set(row) == FIELDS, f"{path.name}:{number}: fields {sorted(set(row) ^ FIELDS)}"
        row["half"] = half
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [row for half in HALVES for row in _read(half)]


@pytest.fixture(scope="module")
def scenarios(rows) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["scenario"]].append(row)
    return dict(grouped)


def _sibling_pairs(scenarios, half=None) -> set[frozenset]:
    return {frozenset((sid, sib)) for sid, lines in scenarios.items()
            if half is None or lines[0]["half"] == half for sib in lines[0]["siblings"]}


def test_ids_are_unique_and_name_scenario_and_telling(rows):
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    for row in rows:
        assert row["telling"] in TELLINGS, row["id"]
        assert row["id"] == f"{row['scenario']}-{row['telling']}"
        assert row["script"] in ("simplified", "traditional"), row["id"]
        assert isinstance(row["siblings"], list) and row["gist"].strip(), row["id"]


def test_every_scenario_is_told_four_ways_with_one_label(scenarios):
    for sid, lines in scenarios.items():
        assert sorted(line["telling"] for line in lines) == sorted(TELLINGS), sid
        for field in ("category", "subtype", "siblings", "gist", "half"):
            assert len({json.dumps(line[field], ensure_ascii=False) for line in lines}) == 1, (sid, field)


@pytest.mark.parametrize("telling", TELLINGS)
def test_each_telling_stays_in_its_length_range(rows, telling):
    low, high = LENGTHS[telling]
    outside = {row["id"]: len(row["text"]) for row in rows
               if row["telling"] == telling and not low <= len(row["text"]) <= high}
    assert not outside, outside


def test_labels_are_taxonomy_names(rows):
    categories = Taxonomy.default().categories
    for row in rows:
        assert row["category"] in categories, row["id"]
        assert row["subtype"] in categories[row["category"]], row["id"]


def test_siblings_exist_point_back_and_share_a_half(scenarios):
    for sid, lines in scenarios.items():
        for sibling in lines[0]["siblings"]:
            assert sibling != sid and sibling in scenarios, (sid, sibling)
            assert sid in scenarios[sibling][0]["siblings"], (sid, sibling)
            assert scenarios[sibling][0]["half"] == lines[0]["half"], (sid, sibling)


def test_halves_share_no_scenario(rows):
    by_half = defaultdict(set)
    for row in rows:
        by_half[row["half"]].add(row["scenario"])
    assert set(by_half) == set(HALVES)
    assert not by_half["tune"] & by_half["heldout"]


def test_each_half_is_big_and_covers_every_category(scenarios):
    categories = set(Taxonomy.default().categories)
    for half in HALVES:
        own = [lines[0] for lines in scenarios.values() if lines[0]["half"] == half]
        assert len(own) >= 24, half
        assert {row["category"] for row in own} == categories, half
        assert len(_sibling_pairs(scenarios, half)) >= 4, half


def test_traditional_texts_are_traditional_and_simplified_ones_are_not(rows):
    to_simplified = opencc.OpenCC("t2s")
    for row in rows:
        changed = to_simplified.convert(row["text"]) != row["text"]
        assert changed == (row["script"] == "traditional"), row["id"]
    for half in HALVES:
        own = [row for row in rows if row["half"] == half]
        traditional = [row for row in own if row["script"] == "traditional"]
        assert len(traditional) * 8 >= len(own), half
        assert {row["telling"] for row in traditional} == set(TELLINGS), half


def test_no_two_scenarios_share_a_long_span(rows):
    owner: dict[str, str] = {}
    for row in rows:
        text = row["text"]
        for start in range(len(text) - SHARED_SPAN + 1):
            span = text[start:start + SHARED_SPAN]
            first = owner.setdefault(span, row["scenario"])
            assert first == row["scenario"], f"{row['id']} repeats {span!r} from {first}"


def test_whole_set_size_and_spread(scenarios):
    heads = [lines[0] for lines in scenarios.values()]
    assert len(heads) >= 48
    assert len(_sibling_pairs(scenarios)) >= 8
    assert len({(row["category"], row["subtype"]) for row in heads}) >= 40
