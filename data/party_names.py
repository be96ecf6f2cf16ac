"""Which stored parties a text names, at the cost of the text rather than of the store.

:class:`PartyNames` answers :meth:`leian.data.store.Store.party_names_in`. A party row (a name of at least two
characters once normalised) is named by a text that holds its name as written, its normalised name or, for a group
(``刘梦英等42人``), the person heading it; a short text (a keyword of two to six characters) also names every party
whose normalised name holds it. The answer is each ``(name, kind)`` once, in the order of its first such row in the
table (its smallest rowid): the order maskers number names by.

An Aho-Corasick automaton (pyahocorasick) over every stored spelling and group head finds the normalised names a
text can name; a short text is looked for in all normalised names joined into one string. Only rows of those names
are then read (through the ``name_norm`` index) and tested exactly; a text that may name a large share of them
(a keyword such as 有限公司) is answered by one pass over all rows instead. The automaton is built on first use and catches
up with the cases changed since (the ``changes`` log); spellings of deleted cases stay in it, which costs a look-up,
never a wrong answer, since every row is tested again.

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> from leian.data.record import validate
>>> store = Home.resolve(tempfile.mkdtemp()).open_store()
>>> _ = store.upsert_batch([validate({"id": "A1", "text": "噪音扰民", "parties": [{"name": "刘梦英等42人"}, {"name": "陈 刚"}]})])
>>> store.party_names_in("刘梦英又来了，陈刚也在")
[('刘梦英等42人', 'group'), ('陈 刚', 'person')]
>>> store.party_names_in("梦英")
[('刘梦英等42人', 'group')]
>>> store.close()
"""
from __future__ import annotations

import threading
from bisect import bisect_right
from typing import TYPE_CHECKING

import ahocorasick

if TYPE_CHECKING:
    from leian.data.store import Store

__all__ = ["PartyNames", "scan"]

#: Texts this long (in characters) also name the parties whose normalised name holds them.
SHORT_TEXT = (2, 6)
#: Normalised names per ``IN (...)`` query.
_CHUNK = 500
#: A text that may name more than this share of all normalised names (a keyword such as 有限公司) is answered by
#: :func:`scan`, which then costs less than reading their rows one name at a time (≈ 1/30 at 100k cases).
_SCAN_SHARE = 1 / 30


def _names(text: str, name: str, norm: str, kind: str) -> bool:
    """Whether ``text`` names a party row: the SQL this module replaced, as Python."""
    if len(norm) < 2:
        return False
    head = norm.find("等")
    return (name in text or norm in text or (kind == "group" and head >= 2 and norm[:head] in text)
            or (SHORT_TEXT[0] <= len(text) <= SHORT_TEXT[1] and text in norm))


def scan(store: Store, text: str) -> list[tuple[str, str]]:
    """The same answer by one pass over every party row (SQLite's plan: a scan in rowid order, each pair kept at
    its first row by a DISTINCT b-tree): for texts that may name a large share of names, and the reference the
    tests and ``bench/party_names.py`` hold the automaton to (it was the whole look-up before)."""
    rows = store.conn.execute(
        "SELECT DISTINCT name, kind FROM case_parties WHERE length(name_norm) >= 2 AND ("
        " instr(?1, name) > 0 OR instr(?1, name_norm) > 0"
        " OR (kind = 'group' AND instr(name_norm, '等') > 2 AND instr(?1, substr(name_norm, 1, instr(name_norm, '等') - 1)) > 0)"
        " OR (length(?1) BETWEEN 2 AND 6 AND instr(name_norm, ?1) > 0))",
        (text,),
    )
    return [(row[0], row[1]) for row in rows]


class PartyNames:
    """The store's party names, found in free text (thread-safe; catches up with the store on use)."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._automaton = ahocorasick.Automaton()
        self._seq = -1  # the last change read; -1 before the first build
        self._norms: list[str] = []
        self._known: set[str] = set()
        self._joined = "\x00"
        self._starts: list[int] = []

    def catch_up(self) -> None:
        """Add the spellings of the cases changed since the last look (all of them the first time)."""
        latest = self.store.last_change()
        with self._lock:
            if latest == self._seq:
                return
            conn = self.store.conn
            if self._seq < 0:
                rows = conn.execute("SELECT DISTINCT name, name_norm, kind FROM case_parties WHERE length(name_norm) >= 2")
            else:
                rows = conn.execute(
                    "SELECT name, name_norm, kind FROM case_parties WHERE length(name_norm) >= 2 AND case_id IN "
                    "(SELECT case_id FROM changes WHERE seq > ?)", (self._seq,))
            before = len(self._norms)
            added = sum(self._add(name, norm, kind) for name, norm, kind in rows)
            self._seq = latest
            if added:
                self._automaton.make_automaton()
            if len(self._norms) > before:
                for norm in self._norms[before:]:
                    self._starts.append(len(self._joined))
                    self._joined += norm + "\x00"

    def _add(self, name: str, norm: str, kind: str) -> int:
        if norm not in self._known:
            self._known.add(norm)
            self._norms.append(norm)
        head = norm.find("等")
        patterns = {name, norm} | ({norm[:head]} if kind == "group" and head >= 2 else set())
        added = 0
        for pattern in patterns - {""}:
            norms = self._automaton.get(pattern, ())
            if norm not in norms:
                self._automaton.add_word(pattern, (*norms, norm))
                added += 1
        return added

    def _candidates(self, text: str) -> set[str]:
        """Normalised names whose rows ``text`` may name (a superset)."""
        with self._lock:
            found = set()
            if self._automaton.kind == ahocorasick.AHOCORASICK:
                found.update(norm for _, norms in self._automaton.iter(text) for norm in norms)
            if SHORT_TEXT[0] <= len(text) <= SHORT_TEXT[1]:
                at = self._joined.find(text)
                while at >= 0:
                    number = bisect_right(self._starts, at) - 1
                    found.add(self._norms[number])
                    following = self._starts[number + 1] if number + 1 < len(self._starts) else len(self._joined)
                    at = self._joined.find(text, following)
        return found

    def find(self, text: str) -> list[tuple[str, str]]:
        """``(name, kind)`` of every party ``text`` names, each once, in the order of its first row."""
        self.catch_up()
        norms = sorted(self._candidates(text))
        if len(norms) > _SCAN_SHARE * len(self._norms):
            return scan(self.store, text)
        first: dict[tuple[str, str], int] = {}
        for start in range(0, len(norms), _CHUNK):
            chunk = norms[start : start + _CHUNK]
            rows = self.store.conn.execute(
                "SELECT name, name_norm, kind, MIN(rowid) FROM case_parties "
                f"WHERE name_norm IN ({','.join('?' * len(chunk))}) GROUP BY name, name_norm, kind", chunk)
            for name, norm, kind, rowid in rows:
                if _names(text, name, norm, kind) and rowid < first.get((name, kind), rowid + 1):
                    first[(name, kind)] = rowid
        return sorted(first, key=first.__getitem__)
