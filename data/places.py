"""Places: the administrative hierarchy of a case and parsing of free-text addresses.

Levels, from the top: 省 › 市 › 区县 › 镇街 › 村社 › 网格. A case records the
deepest levels it knows; an address string is split into them where it can be.

Examples
--------
>>> parse_address("广东省珠海市金湾区三灶镇海澄村第3网格东街12号")["grid"]
'海澄村第3网格'
>>> sorted(parse_address("重庆市永川区胜利路街道").items())
[('city', '重庆市'), ('district', '永川区'), ('province', '重庆市'), ('town', '胜利路街道')]
"""
from __future__ import annotations

import re

__all__ = ["LEVELS", "LEVEL_NAMES", "parse_address", "place_path", "place_label"]

LEVELS = ("province", "city", "district", "town", "community", "grid")
LEVEL_NAMES = {
    "province": "省",
    "city": "市",
    "district": "区县",
    "town": "镇街",
    "community": "村社",
    "grid": "网格",
}
_MUNICIPALITIES = ("北京市", "上海市", "天津市", "重庆市")
_CJK = r"[\u4e00-\u9fff\d]"
_PARTS = [
    ("province", rf"{_CJK}{{2,7}}?(?:省|自治区|特别行政区)"),
    ("city", rf"{_CJK}{{1,6}}?(?:市|自治州|地区|盟)"),
    ("district", rf"{_CJK}{{1,6}}?(?:区|县|旗|市)"),
    ("town", rf"{_CJK}{{1,8}}?(?:街道|镇|乡(?!街道)|苏木)"),
    ("community", rf"{_CJK}{{1,8}}?(?:社区|村|居委会|嘎查)"),
    ("grid", rf"{_CJK}{{0,10}}?网格"),
]


def parse_address(address: str) -> dict[str, str]:
    """Split an address into hierarchy levels; whatever is left is the street address.

    Levels are matched in order and each is optional, so partial addresses
    (``三灶镇海澄村东街12号``) parse too. The street remainder is returned under
    ``address`` only when nothing else matched (the caller keeps the original).
    """
    text = re.sub(r"\s+", "", address)
    found: dict[str, str] = {}
    for prefix in _MUNICIPALITIES:
        if text.startswith(prefix):
            found["province"] = found["city"] = prefix
            text = text[len(prefix):]
            break
    for level, pattern in _PARTS:
        if level in found:
            continue
        match = re.match(pattern, text)
        if match:
            name = match.group(0)
            # "第3网格" is only meaningful inside its village/community.
            if level == "grid" and name.startswith("第") and "community" in found:
                name = found["community"] + name
            found[level] = name
            text = text[match.end():]
    if not found:
        return {"address": address.strip()}
    return found


def place_path(location: dict[str, str | None]) -> list[tuple[str, str]]:
    """The (level, name) pairs a location names, from the top down.

    >>> place_path({"city": "珠海市", "town": "三灶镇"})
    [('city', '珠海市'), ('town', '三灶镇')]
    """
    return [(level, location[level]) for level in LEVELS if location.get(level)]


def place_label(location: dict[str, str | None], *, separator: str = "") -> str:
    """A readable place: the named levels joined (by ``separator``), province omitted unless alone.

    A name repeated at the start of the next one is said once: grids are named
    after their village (海澄村, 海澄村第3网格), and a municipality is its own city.

    >>> place_label({"province": "广东省", "city": "珠海市", "town": "三灶镇", "community": "海澄村", "grid": "海澄村第3网格"})
    '珠海市三灶镇海澄村第3网格'
    >>> place_label({"province": "重庆市", "city": "重庆市", "district": "永川区"}), place_label({"province": "广东省"})
    ('重庆市永川区', '广东省')
    >>> place_label({"district": "渝北区", "town": "两路街道", "community": "桂花社区", "grid": "桂花社区第1网格"}, separator=" › ")
    '渝北区 › 两路街道 › 桂花社区第1网格'
    """
    path = place_path(location)
    names = [name for level, name in path if level != "province" or len(path) == 1]
    return separator.join(name for name, after in zip(names, names[1:] + [""]) if not after.startswith(name))
