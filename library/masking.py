"""Masking personal data in library write-ups before they leave LeiAn.

People named as parties become 王某某 (:func:`~leian.data.normalize.mask_name`)
wherever their name appears in the write-up, not only in the party list;
organisations and groups keep their names. Phone and resident ID numbers are
masked wherever they appear, whether or not the record lists them.

Limits: a person referred to only by given name or nickname (佳莉, 老王) that
is not the party name in the record is not recognised.

Examples
--------
>>> from leian.data.record import validate
>>> case = validate({"id": "A", "text": "x", "parties": [
...     {"name": "王建国", "phone": "138-0000-1111"}, {"name": "恒达劳务有限公司"}]})
>>> masker = Masker.for_case(case)
>>> masker.mask("王建国（电话138-0000-1111）拖欠恒达劳务有限公司货款，身份证11010519491231002X")
'王某某（电话138****1111）拖欠恒达劳务有限公司货款，身份证110105***********X'
>>> masker.party_names()
['王某某', '恒达劳务有限公司']
"""
from __future__ import annotations

import re

from leian.data.normalize import mask_id_number, mask_name, mask_phone
from leian.data.record import Case

__all__ = ["Masker", "mask_numbers"]

# Digits must not continue on either side, so amounts and dates stay intact.
_ID_NUMBER = re.compile(r"(?<![\dA-Za-z])\d{6}(?:19|20)\d{2}[01]\d[0-3]\d\d{3}[\dXx](?![\dA-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")
# "魏某（死者亲属)": the name is the part before any bracketed note.
_NOTE = re.compile(r"[（(].*$")


def mask_numbers(text: str) -> str:
    """Mask every resident ID number and phone number in ``text``.

    >>> mask_numbers("电话 0756-1234567 或 +86 139 1234 5678，借款 13800 元，2024-03-11")
    '电话 075****4567 或 139****5678，借款 13800 元，2024-03-11'
    """
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    # The last 11 digits are the mobile number without any +86 prefix.
    text = _MOBILE.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group(0))[-11:]), text)
    return _LANDLINE.sub(lambda m: mask_phone(m.group(0)), text)


class Masker:
    """Replaces one case's party names (persons only) and any phone/ID numbers in texts."""

    def __init__(self, case: Case, replacements: dict[str, str]):
        self.case = case
        # Longest first, so "王建国" is replaced before a party called "王建".
        self.replacements = dict(sorted(replacements.items(), key=lambda kv: -len(kv[0])))

    @classmethod
    def for_case(cls, case: Case) -> Masker:
        replacements: dict[str, str] = {}
        for party in case.parties:
            if party.kind != "person":
                continue
            for spelling in {party.name, party.name_norm}:
                name = _NOTE.sub("", spelling).strip()
                masked = mask_name(name)
                # A lone surname would blank that character all through the text.
                if len(name) >= 2 and masked != name:
                    replacements[name] = masked
        return cls(case, replacements)

    def mask(self, text: str) -> str:
        for name, masked in self.replacements.items():
            text = text.replace(name, masked)
        return mask_numbers(text)

    def party_names(self) -> list[str]:
        """The parties' names as they may be shown (masked)."""
        return [self.mask(p.name) for p in self.case.parties]
