"""Curated lexicons matched on normalised text: 纠纷要素 (``elements.json``) and 调处方法 (``methods.json``).

A lexicon maps the many ways people say a thing onto one canonical entry:
天花板滴水 / 顶棚发霉 / 往下渗 → 漏水, 包工头跑路 → 包工头 + 跑路. Text is
normalised first (half-width, 繁→简, lower case), so 繁體 and full-width input
match the same forms. Dialect words are mapped first (咗 → 了, 屋头 → 家里, 俺 → 我; the
``dialect`` table of ``elements.json``). A form written ``A…B`` matches A followed by B in the
same clause, at most :data:`GAP` characters apart ("工资一直拖着没发" → 欠薪).
All forms are found in one pass of an Aho-Corasick automaton (pyahocorasick).

Examples
--------
>>> lexicon = Lexicon.elements()
>>> lexicon.names("樓上衛生間漏水，我家天花板都發霉了，要求賠償")
['邻居', '卫生间', '漏水', '天花板', '发霉', '赔偿']
>>> lexicon.names("包工头跑路了，工资一直拖着没发")
['包工头', '跑路', '工资', '欠薪']
>>> [m.name for m in Lexicon.methods().find("调解员到现场查看，双方签订调解协议，分三期支付")]
['现场查看', '签订调解协议', '分期付款']
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import ahocorasick

from leian.data.normalize import normalize_text

__all__ = ["Entry", "Found", "Lexicon", "GAP", "normalise"]

#: Most characters allowed between the parts of a ``A…B`` form.
GAP = 10
_CLAUSE_END = set("。！？；;!?\n")


@dataclass(frozen=True)
class Entry:
    """One canonical entry: its name, role (要素 only) and the 小类 it points to."""

    name: str
    role: str = ""
    subtypes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Found:
    """An entry found in a text, with the form that matched and where (on the normalised text)."""

    name: str
    role: str
    form: str
    start: int
    end: int


def normalise(text: str) -> str:
    """The form lexicons match on: half-width, simplified, lower case, dialect words in their common form.

    >>> normalise("我屋企嘅天花板濕咗")
    '我家里的天花板湿了'
    """
    normal = normalize_text(text or "").lower()
    dialect = _dialect()
    return dialect[0].sub(lambda m: dialect[1][m.group(0)], normal) if dialect[1] else normal


@lru_cache(maxsize=1)
def _dialect() -> tuple[re.Pattern[str], dict[str, str]]:
    """``elements.json``'s dialect map (咗 → 了, 屋头 → 家里, 俺 → 我 ...), longest words first."""
    table = {normalize_text(k).lower(): v for k, v in _load("elements.json").get("dialect", {}).items()}
    return re.compile("|".join(sorted(map(re.escape, table), key=len, reverse=True)) or "(?!)"), table


class Lexicon:
    """Entries with surface forms, compiled into one automaton.

    Args:
        entries: mappings with ``name``, ``forms`` and optionally ``role`` and ``subtypes``.
    """

    def __init__(self, entries: list[dict[str, Any]]):
        self.entries = [Entry(e["name"], e.get("role", ""), tuple(e.get("subtypes", ()))) for e in entries]
        self.by_name = {entry.name: entry for entry in self.entries}
        self.version = hashlib.sha256(json.dumps(entries, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
        # key -> [(entry index, form, part index, part count)]
        keys: dict[str, list[tuple[int, str, int, int]]] = {}
        self._gapped: dict[tuple[int, str], int] = {}
        for index, entry in enumerate(entries):
            for form in entry["forms"]:
                parts = [normalise(p) for p in form.split("…") if p]
                if len(parts) > 1:
                    self._gapped[(index, form)] = len(parts)
                for position, part in enumerate(parts):
                    keys.setdefault(part, []).append((index, form, position, len(parts)))
        self._automaton = ahocorasick.Automaton()
        for key, targets in keys.items():
            self._automaton.add_word(key, (len(key), targets))
        self._automaton.make_automaton()

    @classmethod
    @lru_cache(maxsize=1)
    def elements(cls) -> Lexicon:
        """The shipped 纠纷要素 lexicon (its version covers the dialect map too)."""
        lexicon = cls(_load("elements.json")["elements"])
        lexicon.version = hashlib.sha256(json.dumps(_load("elements.json"), ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
        return lexicon

    @classmethod
    @lru_cache(maxsize=1)
    def methods(cls) -> Lexicon:
        """The shipped 调处方法 lexicon."""
        return cls(_load("methods.json")["methods"])

    def find(self, text: str) -> list[Found]:
        """Every entry found in ``text``, once each, in order of first appearance."""
        normal = normalise(text)
        found: dict[int, Found] = {}
        parts: dict[tuple[int, str], list[list[tuple[int, int]]]] = {}
        for end, (length, targets) in self._automaton.iter(normal):
            start = end + 1 - length
            for index, form, position, count in targets:
                if count == 1:
                    if index not in found:
                        entry = self.entries[index]
                        found[index] = Found(entry.name, entry.role, form, start, end + 1)
                else:
                    parts.setdefault((index, form), [[] for _ in range(count)])[position].append((start, end + 1))
        for (index, form), spans in parts.items():
            if index in found:
                continue
            span = _in_order(normal, spans)
            if span:
                entry = self.entries[index]
                found[index] = Found(entry.name, entry.role, form, *span)
        return sorted(found.values(), key=lambda f: (f.start, f.end))

    def names(self, text: str) -> list[str]:
        """The names of the entries found in ``text``, in order of first appearance."""
        return [f.name for f in self.find(text)]


def _in_order(text: str, spans: list[list[tuple[int, int]]]) -> tuple[int, int] | None:
    """The first (start, end) where every part follows the one before in one clause, at most GAP apart."""
    for first_start, first_end in spans[0]:
        end = first_end
        for occurrences in spans[1:]:
            following = [(s, e) for s, e in occurrences if 0 <= s - end <= GAP and not _CLAUSE_END & set(text[end:s])]
            if not following:
                break
            end = following[0][1]
        else:
            return first_start, end
    return None


@lru_cache(maxsize=None)
def _load(name: str) -> dict[str, Any]:
    return json.loads((resources.files("leian.disputes") / name).read_text(encoding="utf-8"))
