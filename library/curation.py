"""Curation help: near-duplicate warnings, a coverage report and cases suggested for the gaps.

Near-duplicates are found with the search engine's sentence vectors (the
embedding cache in the store, so an indexed case is never encoded again): a
case whose cosine with one already in the library reaches
:data:`NEAR_DUPLICATE_THRESHOLD` is reported. The threshold was calibrated on
the bundled sample (:mod:`leian.library.calibrate`, numbers in docs/library.md).

Examples
--------
>>> import tempfile, pathlib
>>> from leian.data.record import validate
>>> from leian.data.store import Store
>>> from leian.library.store import Libraries
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite")
>>> _ = store.upsert_batch([
...     validate({"id": "A1", "text": "楼上漏水", "type": "漏水", "location": {"district": "金湾区"}}),
...     validate({"id": "B1", "text": "拖欠工资三个月，工人讨薪", "type": "欠薪", "outcome": "调解成功",
...               "handling": "约谈老板", "agreement": "月底前付清"})])
>>> libs = Libraries(store)
>>> _ = libs.create("样例"); _ = libs.add_cases("样例", ["A1"])
>>> report = coverage(libs, "样例")
>>> report["cells"]
[{'category': '邻里', 'subtype': '漏水', 'district': '金湾区', 'entries': 1}]
>>> "劳动" in report["missing_categories"], "噪音" in report["missing_subtypes"]["邻里"]
(True, True)
>>> [(s["case_id"], s["gap"]) for s in suggest(libs, "样例")]
[('B1', '劳动')]
>>> store.close()
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from leian.data.queries import type_place_counts, well_documented_cases
from leian.data.record import RESOLVED_OUTCOMES
from leian.data.taxonomy import Taxonomy
from leian.library.store import Libraries

__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "NearDuplicate",
    "near_duplicates",
    "coverage",
    "suggest",
    "UNKNOWN",
]

#: Cosine (m3e-small) at or above which two cases are taken for the same dispute.
#: On the sample: retellings and duplicates score >= 0.938, different cases of
#: one type <= 0.912 (docs/library.md).
NEAR_DUPLICATE_THRESHOLD = 0.925
#: Label of an unknown type or place in the coverage report.
UNKNOWN = "(未填)"


@dataclass(frozen=True)
class NearDuplicate:
    """``case_id`` (being added) looks like ``similar_to`` (already in the library)."""

    case_id: str
    similar_to: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "similar_to": self.similar_to, "score": round(self.score, 4)}


def near_duplicates(
    libs: Libraries,
    name: str,
    case_ids: Sequence[str],
    *,
    encoder: Any,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> list[NearDuplicate]:
    """Cases among ``case_ids`` that are near-duplicates of entries of ``name`` or of each other.

    Each new case is compared with the library's entries and with the new cases
    before it; the closest match at or above ``threshold`` is reported. Cases
    already in the library are skipped (adding them changes nothing).
    """
    from leian.embeddings.cache import cached_vectors
    from leian.embeddings.text import head, prepare

    existing = libs.case_ids(name)
    present = set(existing)
    new = [i for i in dict.fromkeys(case_ids) if i not in present]
    cases = libs.store.get_many(existing + new)
    ids = [i for i in existing + new if i in cases]
    if not new or len(ids) < 2:
        return []
    vectors = cached_vectors(libs.store, encoder, [head(prepare(cases[i])) for i in ids])
    row_of = {case_id: row for row, case_id in enumerate(ids)}
    found = []
    for case_id in new:
        row = row_of.get(case_id)
        if row is None:
            continue
        earlier = [row_of[i] for i in ids[:row]]
        if not earlier:
            continue
        scores = vectors[earlier] @ vectors[row]
        best = int(scores.argmax())
        if scores[best] >= threshold:
            found.append(NearDuplicate(case_id, ids[earlier[best]], float(scores[best])))
    return found


def coverage(libs: Libraries, name: str, *, taxonomy: Taxonomy | None = None,
             within: Collection[str] | None = None) -> dict[str, Any]:
    """Entries by 大类/小类 × district, and the taxonomy types with no entry.

    ``missing_categories`` lists the 大类 with no entry at all;
    ``missing_subtypes`` lists, for every 大类 that has entries, its 小类 without one.
    With ``within`` (the case ids of a user's area), only the entries of those cases count.
    """
    taxonomy = taxonomy or Taxonomy.default()
    rows = type_place_counts(libs.store, [e.case_id for e in libs.entries(name) if within is None or e.case_id in within])
    cells = [
        {"category": category or UNKNOWN, "subtype": subtype or UNKNOWN, "district": district or UNKNOWN, "entries": n}
        for category, subtype, district, n in rows
    ]
    by_category: dict[str, int] = {}
    for cell in cells:
        by_category[cell["category"]] = by_category.get(cell["category"], 0) + cell["entries"]
    covered_subtypes = {(category, subtype) for category, subtype, _, _ in rows}
    missing_subtypes = {
        category: [s for s in subtypes if (category, s) not in covered_subtypes]
        for category, subtypes in taxonomy.categories.items()
        if category in by_category
    }
    return {
        "library": name,
        "entries": sum(by_category.values()),
        "by_category": by_category,
        "districts": sorted({cell["district"] for cell in cells}),
        "cells": cells,
        "missing_categories": [c for c in taxonomy.categories if c not in by_category],
        "missing_subtypes": {c: subs for c, subs in missing_subtypes.items() if subs},
    }


def suggest(
    libs: Libraries,
    name: str,
    *,
    per_gap: int = 3,
    taxonomy: Taxonomy | None = None,
    within: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Cases from the store that would fill the library's gaps, best documented first.

    A gap is a 大类 with no entry, or a 小类 with no entry in a 大类 that has
    some. Candidates are resolved (:data:`~leian.data.record.RESOLVED_OUTCOMES`) and not in the
    library yet; they are ranked by how well they are documented: the length
    of the text (up to 1000 characters counts), and whether the handling and
    the agreement are recorded (each counts as much as 500 characters). With ``within``, the gaps are
    those of the entries among ``within`` and the candidates are taken from ``within`` only.
    """
    report = coverage(libs, name, taxonomy=taxonomy, within=within)
    gaps = [(category, None) for category in report["missing_categories"]]
    gaps += [(category, subtype) for category, subtypes in report["missing_subtypes"].items() for subtype in subtypes]
    present = {entry.case_id for entry in libs.entries(name)}
    suggestions = []
    for category, subtype in gaps:
        for row in well_documented_cases(libs.store, category, subtype, RESOLVED_OUTCOMES, present, per_gap, within=within):
            suggestions.append({
                "gap": " › ".join(p for p in (category, subtype) if p),
                "case_id": row["id"],
                "outcome": row["outcome"],
                "text_chars": row["chars"],
                "has_handling": row["has_handling"],
                "has_agreement": row["has_agreement"],
            })
    return suggestions
