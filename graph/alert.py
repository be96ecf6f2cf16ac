"""The repeat alert: known parties and addresses mentioned in a new dispute's own words.

:class:`PartyIndex` holds an Aho-Corasick automaton (pyahocorasick) over the
store's party names (every spelling, normalised) and its case addresses (the
village, community or town with the street part, as
:func:`~leian.graph.resolve.address_key` writes it). It is built once and
catches up by adding only the mentions and places written since, then
re-making the automaton, so a search after an ingest does not rebuild it.

:func:`repeat_alert` finds them in a query's text (and in the parties and
address a user typed separately) and says, for each party once, every
spelling it goes by, its cases, the chains they form and its risk level; for
each address, its cases. The counts are those of
:func:`~leian.graph.repeats.party_cases` and :func:`~leian.graph.repeats.place_cases`.
Names are personal data: callers show the alert only to roles that see names.

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> from leian.data.record import validate
>>> from leian.graph.repeats import resolve_changes
>>> store = Home.resolve(tempfile.mkdtemp()).open_store()
>>> place = {"town": "三灶镇", "community": "中心村", "address": "三灶镇中心村西街75号"}
>>> _ = store.upsert_batch([validate({"id": f"A{i}", "text": "拉闸断电", "occurred_on": f"2025-0{i}-01", "location": place,
...     "parties": [{"name": "梁颖", "phone": "13800001111"}, {"name": "陈刚"}]}) for i in (1, 2)])
>>> _ = resolve_changes(store)
>>> alert = repeat_alert(store, "邻居梁颖又拉闸断电，住在三灶镇中心村西街75号")
>>> [(p["name"], p["case_ids"]) for p in alert["parties"]], alert["addresses"][0]["case_ids"]
([('梁颖', ['A1', 'A2'])], ['A1', 'A2'])
>>> store.close()
"""
from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import ahocorasick

from leian.data.normalize import normalize_name
from leian.data.store import Store
from leian.embeddings.text import word_starts
from leian.graph.repeats import RepeatSettings, chains_of, party_cases, place_cases
from leian.graph.resolve import _HOUSE, Resolver, is_anonymous

__all__ = ["PartyIndex", "repeat_alert"]

#: Shortest names looked for: two characters (梁颖) for people, four for organisations (恒达劳务).
_MIN_PERSON, _MIN_ORG = 2, 4
#: A common name found with more people than this, and no place in the text to tell them apart, is not named.
_MAX_NAMESAKES = 3
_DIGIT_AFTER = re.compile(r"\d")
#: A nickname's first character (老钱, 小王, 阿强) also ends common words (养老, 从小, 大小), so such a name counts only
#: where jieba starts a word: 老钱 in 我去找老钱要账, not in 不给老娘养老钱.
_NICKNAME_PREFIXES = frozenset("老小阿")


def _searchable(text: str) -> str:
    """A text as the automaton reads it: normalised like names, house words as ``-`` like address keys."""
    return _HOUSE.sub("-", normalize_name(text or ""))


class PartyIndex:
    """Names and addresses of the store's parties, found in free text (thread-safe; catches up on use)."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._automaton = ahocorasick.Automaton()
        self._mention_rowid = 0
        self._places_rowid = 0
        self._size = 0

    def catch_up(self) -> None:
        """Add what was written since the last look (new spellings, new addresses), then re-make the automaton."""
        Resolver(self.store)
        with self._lock:
            conn = self.store.conn
            added = 0
            for rowid, name, kind in conn.execute(
                    "SELECT rowid, name, kind FROM graph_mentions WHERE rowid > ? ORDER BY rowid", (self._mention_rowid,)):
                self._mention_rowid = rowid
                key = normalize_name(name)
                if len(key) < (_MIN_ORG if kind == "organization" else _MIN_PERSON) or is_anonymous(key):
                    continue
                added += self._add(key, ("name", key, len(key)))
            for rowid, street, town, community in conn.execute(
                    "SELECT rowid, street, town, community FROM graph_places WHERE rowid > ? AND street IS NOT NULL ORDER BY rowid",
                    (self._places_rowid,)):
                self._places_rowid = rowid
                for where in {town, community} - {None, ""}:
                    pattern = f"{normalize_name(where)}{street}"
                    added += self._add(pattern, ("place", f"{where}{street}", len(pattern)))
            if added:
                self._automaton.make_automaton()

    def _add(self, pattern: str, value: tuple[str, str, int]) -> int:
        if pattern in self._automaton:
            return 0
        self._automaton.add_word(pattern, value)
        self._size += 1
        return 1

    def __len__(self) -> int:
        return self._size

    def find(self, text: str) -> tuple[list[str], list[str]]:
        """(names, addresses) of the store found in ``text``, each once, longest matches only."""
        self.catch_up()
        searchable = _searchable(text)
        with self._lock:
            if self._automaton.kind != ahocorasick.AHOCORASICK:
                return [], []
            hits = [(end - value[2] + 1, end, value[:2]) for end, value in self._automaton.iter(searchable)]
        # A name inside a longer one found at the same place (王建 in 王建国) is the longer one.
        hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
        names: list[str] = []
        places: list[str] = []
        covered_to = -1
        for start, end, (kind, value) in hits:
            if kind == "place":
                if end + 1 < len(searchable) and _DIGIT_AFTER.match(searchable[end + 1]):
                    continue  # 西街75 inside 西街750号
                places.append(value)
                continue
            if end <= covered_to:
                continue
            if start > 0 and searchable[start] in _NICKNAME_PREFIXES and start not in word_starts(searchable):
                continue
            covered_to = end
            names.append(value)
        return list(dict.fromkeys(names)), list(dict.fromkeys(places))


def repeat_alert(store: Store, text: str, *, parties: Sequence[str] = (), address: str | None = None,
                 index: PartyIndex | None = None, settings: RepeatSettings | None = None,
                 within: Collection[str] | None = None) -> dict[str, Any]:
    """Known parties and addresses in a new dispute: ``{"parties": [...], "addresses": [...], "text": ...}``.

    Each party appears once with ``names`` (its spellings), ``case_ids``, the
    ``chains`` its cases form and its ``level`` in the risk register. With ``within``
    (the case ids of a user's area) only those cases count: a party or address known
    only elsewhere is not named, the counts, chains and levels are the area's.
    """
    from leian.graph.risk import LEVEL_NAMES, assess
    from leian.graph.signals import entities_named

    if index is None:  # not `index or …`: an index not caught up yet is empty, hence falsy, and would never be used
        index = PartyIndex(store)
    names, places = index.find(text)
    names = list(dict.fromkeys([*names, *(normalize_name(p) for p in parties if p and p.strip())]))
    address_texts = list(dict.fromkeys([*places, *([address.strip()] if address and address.strip() else [])]))
    addresses = []
    towns: set[str] = set()
    for where in address_texts:
        case_ids = _within(place_cases(store, where), within)
        if case_ids:
            addresses.append({"address": where, "case_ids": case_ids, "cases": len(case_ids)})
    resolver = Resolver(store)
    place_cases_found = {c for a in addresses for c in a["case_ids"]}
    for case_id in place_cases_found:
        towns |= {m.town for m in resolver.case_mentions(case_id) if m.town}
    found: dict[str, str] = {}
    for name in names:
        entity_ids = entities_named(store, name)
        if len(entity_ids) > 1 and towns:
            narrowed = [e for e in entity_ids if towns & resolver.entities([e])[e].values("town")]
            entity_ids = narrowed or entity_ids
        if len(entity_ids) > _MAX_NAMESAKES:
            continue  # a common name alone says nothing about who it is
        for entity_id in entity_ids:
            found.setdefault(entity_id, name)
    entities = resolver.entities(found)
    cases = party_cases(store, entities)
    people = []
    for entity_id, matched in found.items():
        entity = entities.get(entity_id)
        if entity is None:
            continue
        case_ids = _within(cases.get(entity_id, []), within)
        if not case_ids:
            continue
        chains = [{**c, "case_ids": _within(c["case_ids"], within)} for c in (c.to_dict() for c in chains_of(store, case_ids, settings))]
        chains = [c for c in chains if len(c["case_ids"]) >= 2]  # a repeat within the area
        try:
            assessment = assess(store, entity_id, within=within)
            level = {"level": assessment.level, "level_name": LEVEL_NAMES[assessment.level], "colour": assessment.colour}
        except KeyError:
            level = {}
        people.append({"party_id": entity_id, "name": entity.name, "kind": entity.kind, "names": _spellings(entity.names),
                       "matched": matched, "case_ids": case_ids, "cases": len(case_ids), "chains": chains, **level})
    people.sort(key=lambda p: (-p["cases"], p["party_id"]))
    return {"parties": people, "addresses": addresses, "text": _say(people, addresses)}


def _within(case_ids: list[str], within: Collection[str] | None) -> list[str]:
    return case_ids if within is None else [c for c in case_ids if c in within]


def _spellings(names: Iterable[str]) -> list[str]:
    """Each way a party was written, once (the same spelling with stray spaces is the same spelling)."""
    return list(dict.fromkeys(" ".join(n.split()) for n in names))


def _say(people: list[dict[str, Any]], addresses: list[dict[str, Any]]) -> str:
    parts = [f"{p['name']}（{'、'.join(p['names'])}）已有{p['cases']}件纠纷" for p in people]
    parts += [f"{a['address']}已有{a['cases']}件纠纷" for a in addresses]
    return "重复纠纷提示：" + "；".join(parts) if parts else ""
