"""Records holding personal data in every written form the masking must catch, and a scanner that
finds any of it in a page, an answer or a file.

Phones and ID numbers appear in the free text (full-width digits, spaces and dots between groups,
``(0756)1234567``, ``0756 1234567``, ``075612345678``, 15-digit and space-split 18-digit IDs);
persons hide in group parties (``刘梦英等42人``), in organisation-like names (``王小店``,
``刘大队``), in spaced names (``陈 国 强``); two people share the surname 梁; the case addresses
carry house numbers; bidirectional controls (RLO …), which no page may render, hide in a title,
a text and a mediator.
"""
from __future__ import annotations

import re

__all__ = ["BIDI", "ID_NUMBERS", "NAMES", "ADDRESSES", "PARTY_PHONES", "TEXT_PHONES", "records", "leaks"]

#: Phones written only inside free text: no role may see them whole.
TEXT_PHONES = {
    "13822224444": "１３８２２２２４４４４",
    "13912345678": "139 1234 5678",
    "13700003333": "137.0000.3333",
    "07561234567": "(0756)1234567",
    "07567654321": "0756 7654321",
    "075612345678": "075612345678",
    "15912340000": "+86 159-1234-0000",
}
#: Phones of parties (given in the party list): mediators see them there, nobody else does.
PARTY_PHONES = ["13600001111", "13500002222"]
#: ID numbers (every role sees them masked), as written in the records.
ID_NUMBERS = {
    "11010519491231002X": "110105 19491231 002X",
    "110105491231002": "110105491231002",
    "440402198001010010": "４４０４０２１９８００１０１００１０",
}
#: Persons' names (only mediators may see them), with the fragments that would give them away.
NAMES = ["刘梦英", "梦英", "王小店", "刘大队", "陈国强", "陈 国 强", "梁建业", "梁小红"]
#: Addresses with house numbers (only mediators may see them).
ADDRESSES = ["丽景华庭22-2802", "海澄村东街18号"]
#: Characters that reorder displayed text: shown to no role.
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def records() -> list[dict]:
    """Five cases in one town, each month of 2025 H1, holding the data above."""
    base = {"type": "邻里/漏水", "channel": "网格员排查", "outcome": "调解成功",
            "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "海澄村",
                         "address": ADDRESSES[0]}}
    phones = list(TEXT_PHONES.values())
    ids = list(ID_NUMBERS.values())
    return [
        {**base, "id": "P1", "occurred_on": "2025-01-05", "title": "刘梦英等42人与物业漏水纠纷",
         "text": f"刘梦英等42人反映楼上漏水，联系电话{phones[0]}，身份证{ids[0]}。",
         "parties": [{"name": "刘梦英等42人", "role": "申请人"}, {"name": "恒达物业有限公司", "role": "被申请人"}],
         "handling": f"调解员电话 {phones[1]} 联系双方", "agreement": f"物业赔偿，收款人身份证 {ids[1]}"},
        {**base, "id": "P2", "occurred_on": "2025-02-05", "title": "王小店与刘大队漏水纠纷",
         "text": f"王小店称刘大队家卫生间漏水，王小店电话{phones[2]}，刘大队座机{phones[3]}。",
         "parties": [{"name": "王小店", "role": "申请人", "phone": PARTY_PHONES[0], "address": ADDRESSES[1]},
                     {"name": "刘大队", "role": "被申请人", "id_number": "11010519491231002X"}]},
        {**base, "id": "P3", "occurred_on": "2025-03-05", "title": "陈 国 强漏水纠纷",
         "text": f"陈 国 强（电话{phones[4]}）与邻居因漏水争执，陈国强要求赔偿，备用电话{phones[5]}。",
         "parties": [{"name": "陈 国 强", "role": "申请人", "phone": PARTY_PHONES[1]}, {"name": "孙邻居", "role": "被申请人"}]},
        {**base, "id": "P4", "occurred_on": "2025-04-05", "title": "梁氏兄妹漏水纠纷",
         "text": f"梁建业与梁小红因楼上漏水争执，梁小红身份证{ids[2]}，电话{phones[6]}，住{ADDRESSES[0]}。",
         "parties": [{"name": "梁建业", "role": "申请人"}, {"name": "梁小红", "role": "被申请人"}]},
        {**base, "id": "P5", "occurred_on": "2025-05-05", "title": "梁建业再次反映漏水\u202e修已",
         "text": "梁建业再次反映楼上漏水未修复，\u2066与刘大队协商未果\u2069。\u202e",
         "parties": [{"name": "梁建业", "role": "申请人"}, {"name": "刘大队", "role": "被申请人"}],
         "mediators": [{"name": "周\u202e平", "org": "三灶镇人民调解委员会\u200f"}]},
    ]


_SEPARATORS = re.compile(r"(?<=\d)[\s\-.·()（）+]+(?=\d)")
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _digits_joined(text: str) -> str:
    return _SEPARATORS.sub("", text.translate(_FULLWIDTH)).upper()


def leaks(text: str, *, sees_names: bool, home: str | None = None) -> list[str]:
    """What ``text`` shows that a role may not see (empty when nothing)."""
    found = []
    joined = _digits_joined(text)
    for digits in (*TEXT_PHONES, *ID_NUMBERS):
        if digits in joined:
            found.append(digits)
    if not sees_names:
        found += [phone for phone in PARTY_PHONES if phone in joined]
        found += [name for name in NAMES if name in text]
        found += [address for address in ADDRESSES if address in text or address.replace("号", "") in text]
    if home and home in text:
        found.append(home)
    found += [f"U+{ord(m.group(0)):04X}" for m in BIDI.finditer(text)]
    return found
