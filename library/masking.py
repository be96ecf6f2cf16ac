"""Masking personal data in texts before they leave LeiAn (library exports, and the web's roles
that do not see names).

People named as parties become 王某某 (:class:`~leian.data.normalize.Pseudonyms`: two people of
one surname become 梁某甲 and 梁某乙) wherever their name appears, not only in the party list:
persons, the persons at the head of a group (``刘梦英等42人``), and "organisations" whose name
is a person's (``王小店``); a name written with spaces between its characters is found too.
Organisations keep their names. Phone, resident ID and account numbers are masked wherever they
appear, however they are written (:func:`~leian.data.normalize.mask_numbers`), and the parties'
and the case's addresses lose their house numbers.

Limits: a person referred to only by given name or nickname (佳莉, 老王) that is not the party
name in the record is not recognised.

Examples
--------
>>> from leian.data.record import validate
>>> case = validate({"id": "A", "text": "x", "parties": [
...     {"name": "王建国", "phone": "138-0000-1111"}, {"name": "恒达劳务有限公司"}, {"name": "王芳"}]})
>>> masker = Masker.for_case(case)
>>> masker.mask("王建国（电话138-0000-1111）拖欠恒达劳务有限公司货款，王 芳作证，身份证11010519491231002X")
'王某甲（电话138****1111）拖欠恒达劳务有限公司货款，王某乙作证，身份证110105***********X'
>>> masker.party_names()
['王某甲', '恒达劳务有限公司', '王某乙']
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from leian.data.normalize import Pseudonyms, mask_address, mask_numbers, normalize_name, person_names
from leian.data.record import Case

__all__ = ["Masker", "mask_numbers"]

_MIN_ADDRESS_CHARS = 4


class Masker:
    """Replaces the parties' names of the cases it knows, and any phone/ID numbers, in texts.

    One masker can know several cases (a page, an export): every name of every case it
    knows is masked in every text, with one :class:`Pseudonyms` so labels stay apart.
    """

    def __init__(self, names: Pseudonyms | None = None):
        self.names = names or Pseudonyms()
        self.cases: dict[str, Case] = {}
        self._spellings: dict[str, str] = {}  # spelling as written -> the person it names
        self._addresses: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    @classmethod
    def for_case(cls, case: Case, names: Pseudonyms | None = None) -> Masker:
        return cls.for_cases([case], names)

    @classmethod
    def for_cases(cls, cases: Iterable[Case], names: Pseudonyms | None = None) -> Masker:
        masker = cls(names)
        masker.add(cases)
        return masker

    def add(self, cases: Iterable[Case]) -> None:
        """Know these cases too (their people are registered in order, before any is masked)."""
        new = [case for case in cases if case.id not in self.cases]
        for case in new:
            self.cases[case.id] = case
            self.add_parties((party.name, party.kind) for party in case.parties)
            addresses = [party.address for party in case.parties] + [case.location.get("address")]
            self._addresses.update(a.strip() for a in addresses if a and len(a.strip()) >= _MIN_ADDRESS_CHARS)
        if new:
            self._pattern = None

    def add_parties(self, parties: Iterable[tuple[str, str]]) -> None:
        """Know these ``(name, kind)`` parties too (names found in a text built from several cases)."""
        for name, kind in parties:
            people = person_names(name, kind)
            self.names.register(people)
            for person in people:
                for spelling in {person, normalize_name(person)}:
                    # A lone surname would blank that character all through the text.
                    if len(spelling.replace(" ", "")) >= 2 and spelling not in self._spellings:
                        self._spellings[spelling] = person
                        self._pattern = None

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and (self._spellings or self._addresses):
            # Longest first, so "王建国" is replaced before a party called "王建"; spaces may sit
            # between the characters of a name ("陈 国 强").
            names = [r"\s*".join(map(re.escape, s.replace(" ", ""))) for s in sorted(self._spellings, key=len, reverse=True)]
            addresses = [re.escape(a) for a in sorted(self._addresses, key=len, reverse=True)]
            self._pattern = re.compile("|".join(f"(?P<a{i}>{a})" for i, a in enumerate(addresses)) +
                                       ("|" if addresses and names else "") + "|".join(names))
            self._lookup = {re.sub(r"\s+", "", s): person for s, person in self._spellings.items()}
        return self._pattern

    def _replace(self, match: re.Match[str]) -> str:
        if match.lastgroup is not None:
            return mask_address(match.group(0))
        return self.names.mask(self._lookup.get(re.sub(r"\s+", "", match.group(0)), match.group(0)))

    def mask(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(self._replace, text)
        return mask_numbers(text)

    def party_name(self, name: str, kind: str) -> str:
        """A party's name as it may be shown: the persons in it masked, organisations kept."""
        people = person_names(name, kind)
        if not people:
            return name
        masked = self.mask(name)
        for person in people:  # a one-character name is not replaced inside texts, but is here
            masked = masked.replace(person, self.names.mask(person))
        return masked

    def party_names(self, case: Case | None = None) -> list[str]:
        """The parties' names (of ``case``, else of the only case known) as they may be shown."""
        case = case or next(iter(self.cases.values()))
        return [self.party_name(p.name, p.kind) for p in case.parties]
