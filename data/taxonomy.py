"""The two-level dispute taxonomy (大类 › 小类) and the mapping of free-text types onto it.

The taxonomy lives in ``taxonomy.json`` beside this module so that centres can
extend it without touching code.

Examples
--------
>>> tax = Taxonomy.default()
>>> tax.classify("家庭婚姻纠纷")
TypeMatch(category='婚姻家庭', subtype=None)
>>> tax.classify("遗产继承纠纷")
TypeMatch(category='婚姻家庭', subtype='继承')
>>> tax.classify("邻里/漏水")
TypeMatch(category='邻里', subtype='漏水')
>>> tax.classify("外星人纠纷") is None
True
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from leian.data.normalize import normalize_name

__all__ = ["Taxonomy", "TypeMatch"]

_SUFFIX = re.compile(r"(纠纷|矛盾|争议|问题|类)$")
_SEPARATOR = re.compile(r"\s*(?:›|>|/|-|－|—|、|\|)\s*")


class TypeMatch(NamedTuple):
    category: str
    subtype: str | None


@dataclass(frozen=True)
class Taxonomy:
    """Categories with their subtypes, plus a lookup from every known spelling."""

    categories: dict[str, tuple[str, ...]]
    lookup: dict[str, TypeMatch]

    @classmethod
    def from_file(cls, path: str | Path) -> Taxonomy:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        categories: dict[str, tuple[str, ...]] = {}
        lookup: dict[str, TypeMatch] = {}
        for cat in spec["categories"]:
            name = cat["name"]
            categories[name] = tuple(s["name"] for s in cat["subtypes"])
            for spelling in [name, *cat.get("synonyms", [])]:
                lookup.setdefault(_key(spelling), TypeMatch(name, None))
        # Subtype spellings come second so that a category name that is also a
        # subtype name elsewhere ("其他") keeps meaning the category.
        for cat in spec["categories"]:
            for sub in cat["subtypes"]:
                for spelling in [sub["name"], *sub.get("synonyms", [])]:
                    lookup.setdefault(_key(spelling), TypeMatch(cat["name"], sub["name"]))
        return cls(categories, lookup)

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> Taxonomy:
        return cls.from_file(Path(__file__).with_name("taxonomy.json"))

    def classify(self, free_text: str | None) -> TypeMatch | None:
        """Map a type as written in a register onto (大类, 小类), or None if unknown."""
        if not free_text or not free_text.strip():
            return None
        parts = [p for p in _SEPARATOR.split(free_text.strip()) if p]
        if len(parts) == 2:
            outer = self.lookup.get(_key(parts[0]))
            inner = self.lookup.get(_key(parts[1]))
            if outer and inner and inner.category == outer.category:
                return inner
            if outer and outer.subtype is None:
                return outer
        return self.lookup.get(_key(free_text))

    def is_category(self, name: str) -> bool:
        return name in self.categories

    def parent_of(self, subtype: str) -> str | None:
        for category, subtypes in self.categories.items():
            if subtype in subtypes:
                return category
        return None


def _key(spelling: str) -> str:
    key = normalize_name(spelling)
    stripped = _SUFFIX.sub("", key)
    return stripped or key
