"""Curated lexicons matched on normalised text: 纠纷要素 (``elements.json``) and 调处方法 (``methods.json``).

A lexicon maps the many ways people say a thing onto one canonical entry:
天花板滴水 / 顶棚发霉 / 往下渗 → 漏水, 包工头跑路 → 包工头 + 跑路. Text is
normalised first (half-width, 繁→简, lower case), so 繁體 and full-width input
match the same forms. Dialect words are mapped first (咗 → 了, 屋头 → 家里, 俺 → 我; the
``dialect`` table of ``elements.json``). A form written ``A…B`` matches A followed by B in the
same clause, at most :data:`GAP` characters apart ("工资一直拖着没发" → 欠薪).
All forms are found in one pass of an Aho-Corasick automaton (pyahocorasick).

A short form can mean something else in another phrase (渗 in 血渗出, 撞 in 顶撞), so a form may
be written as an object with conditions instead of a plain string:

- ``{"form": "渗", "not_in": ["血渗", "渗血"]}``: a match inside one of these phrases does not
  count (each phrase contains the form; "not when preceded by 血" is the phrase 血渗);
- ``{"form": "事故", "only_with": ["机动车", "非机动车"]}``: the form counts only when the same
  text also names one of these entries through a form without ``only_with``.

A malformed file raises :class:`LexiconError` naming the file, the entry and the form.

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
from leian.errors import UserError

__all__ = ["Entry", "Found", "Lexicon", "LexiconError", "GAP", "normalise"]

#: Most characters allowed between the parts of a ``A…B`` form.
GAP = 10
_CLAUSE_END = set("。！？；;!?\n")


class LexiconError(UserError, ValueError):
    """A lexicon file (``elements.json``, ``methods.json``) has a malformed entry; the message names it."""


@dataclass(frozen=True)
class Entry:
    """One canonical entry: its name, role (要素 only), the 小类 it points to and its surface forms."""

    name: str
    role: str = ""
    subtypes: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Form:
    """One surface form of an entry, with the conditions under which a match counts."""

    entry: int
    text: str
    parts: tuple[str, ...]
    not_in: tuple[str, ...] = ()
    only_with: tuple[str, ...] = ()


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
        entries: mappings with ``name``, ``forms`` (strings, or objects with ``form`` and the
            conditions ``not_in`` / ``only_with``) and optionally ``role`` and ``subtypes``.
        source: the file the entries come from, named in the errors of a malformed entry.

    Raises:
        LexiconError: an entry or form is malformed (the message names the entry and the form).
    """

    def __init__(self, entries: list[dict[str, Any]], source: str = "词表"):
        self._forms = _parse(entries, source)
        self.entries = [
            Entry(e["name"], e.get("role", ""), tuple(e.get("subtypes", ())), tuple(f.text for f in self._forms if f.entry == i))
            for i, e in enumerate(entries)
        ]
        self.by_name = {entry.name: entry for entry in self.entries}
        self.version = hashlib.sha256(json.dumps(entries, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
        # key -> [(form index, part position, or -1 for a phrase the form does not count inside)]
        keys: dict[str, list[tuple[int, int]]] = {}
        for index, form in enumerate(self._forms):
            for position, part in enumerate(form.parts):
                keys.setdefault(part, []).append((index, position))
            for phrase in form.not_in:
                keys.setdefault(phrase, []).append((index, -1))
        self._automaton = ahocorasick.Automaton()
        for key, targets in keys.items():
            self._automaton.add_word(key, (len(key), targets))
        self._automaton.make_automaton()
        # The last texts' entries: a search's query is looked up by Query and again by the type model's features,
        # an ingested case by the dispute index and again by the graph.
        self._remembered = lru_cache(maxsize=64)(self._find)

    @classmethod
    @lru_cache(maxsize=1)
    def elements(cls) -> Lexicon:
        """The shipped 纠纷要素 lexicon (its version covers the dialect map too)."""
        lexicon = cls(_load("elements.json")["elements"], "elements.json")
        lexicon.version = hashlib.sha256(json.dumps(_load("elements.json"), ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
        return lexicon

    @classmethod
    @lru_cache(maxsize=1)
    def methods(cls) -> Lexicon:
        """The shipped 调处方法 lexicon."""
        return cls(_load("methods.json")["methods"], "methods.json")

    def find(self, text: str) -> list[Found]:
        """Every entry found in ``text``, once each (its first match), in order of first appearance."""
        return list(self._remembered(text))

    def _find(self, text: str) -> tuple[Found, ...]:
        normal = normalise(text)
        spans: dict[int, list[list[tuple[int, int]]]] = {}
        excluded: dict[int, list[tuple[int, int]]] = {}
        for end, (length, targets) in self._automaton.iter(normal):
            span = (end + 1 - length, end + 1)
            for index, position in targets:
                if position < 0:
                    excluded.setdefault(index, []).append(span)
                else:
                    spans.setdefault(index, [[] for _ in self._forms[index].parts])[position].append(span)
        matched: dict[int, tuple[int, int]] = {}
        for index, occurrences in spans.items():
            inside = excluded.get(index)
            if inside:
                occurrences = [[s for s in spots if not any(a <= s[0] and s[1] <= b for a, b in inside)] for spots in occurrences]
            # Each list is in text order (one key, one length), so a single part's first occurrence is its match.
            span = _in_order(normal, occurrences) if len(occurrences) > 1 else next(iter(occurrences[0]), None)
            if span:
                matched[index] = span
        named = {self.entries[self._forms[i].entry].name for i in matched if not self._forms[i].only_with}
        found: dict[int, Found] = {}
        for index, (start, end) in sorted(matched.items(), key=lambda item: item[1]):
            form = self._forms[index]
            if form.entry in found or (form.only_with and named.isdisjoint(form.only_with)):
                continue
            entry = self.entries[form.entry]
            found[form.entry] = Found(entry.name, entry.role, form.text, start, end)
        return tuple(sorted(found.values(), key=lambda f: (f.start, f.end)))

    def names(self, text: str) -> list[str]:
        """The names of the entries found in ``text``, in order of first appearance."""
        return [f.name for f in self.find(text)]


_ENTRY_KEYS = {"name", "role", "subtypes", "forms"}
_FORM_KEYS = {"form", "not_in", "only_with"}


def _parse(entries: Any, source: str) -> list[_Form]:
    """Every form of ``entries``, checked; a malformed entry raises :class:`LexiconError` naming it."""
    if not isinstance(entries, list) or not entries:
        raise LexiconError(f"{source}：词条须为非空列表")
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    forms: list[_Form] = []
    for number, entry in enumerate(entries, 1):
        where = f"{source} 第 {number} 条"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise LexiconError(f"{where}：须为带非空 name 的对象")
        where += f"「{entry['name']}」"
        if entry["name"] in names[: number - 1]:
            raise LexiconError(f"{where}：名称与前面的词条重复")
        if set(entry) - _ENTRY_KEYS:
            raise LexiconError(f"{where}：未知字段 {'、'.join(sorted(set(entry) - _ENTRY_KEYS))}（可用：{'、'.join(sorted(_ENTRY_KEYS))}）")
        if not isinstance(entry.get("role", ""), str) or not _strings(entry.get("subtypes", [])):
            raise LexiconError(f"{where}：role 须为字符串，subtypes 须为字符串列表")
        if not isinstance(entry.get("forms"), list) or not entry["forms"]:
            raise LexiconError(f"{where}：forms 须为非空列表")
        for raw in entry["forms"]:
            forms.append(_parse_form(raw, number - 1, where, names))
    return forms


def _parse_form(raw: Any, entry: int, where: str, names: list[Any]) -> _Form:
    """One form: a string, or an object with ``form`` and optional ``not_in`` / ``only_with``."""
    spec = raw if isinstance(raw, dict) else {"form": raw}
    text = spec.get("form")
    parts = tuple(normalise(p) for p in text.split("…") if p) if isinstance(text, str) else ()
    if not parts:
        raise LexiconError(f"{where}：说法 {json.dumps(raw, ensure_ascii=False)} 须为非空字符串，或带 form 的对象")
    where += f"说法「{text}」"
    if set(spec) - _FORM_KEYS:
        raise LexiconError(f"{where}：未知字段 {'、'.join(sorted(set(spec) - _FORM_KEYS))}（可用：{'、'.join(sorted(_FORM_KEYS))}）")
    not_in, only_with = spec.get("not_in", []), spec.get("only_with", [])
    if not _strings(not_in) or not _strings(only_with):
        raise LexiconError(f"{where}：not_in 与 only_with 须为非空字符串列表")
    for phrase in not_in:
        if not any(part in normalise(phrase) for part in parts):
            raise LexiconError(f"{where}：not_in 短语「{phrase}」不含该说法，永远不会起作用")
    for name in only_with:
        if name not in names or name == names[entry]:
            raise LexiconError(f"{where}：only_with 中的「{name}」不是本词表中另一个词条的名称")
    return _Form(entry, text, parts, tuple(normalise(p) for p in not_in), tuple(only_with))


def _strings(value: Any) -> bool:
    """Whether ``value`` is a list of non-empty strings."""
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


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
