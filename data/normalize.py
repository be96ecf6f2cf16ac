"""Normalisation of the values people type into mediation registers.

Every function here is pure and returns a new value; callers keep the
original beside it (the store never overwrites what the user gave).

Examples
--------
>>> to_halfwidth("ＡＢＣ　１２３，")
'ABC 123,'
>>> to_simplified("樓上漏水糾紛")
'楼上漏水纠纷'
>>> normalize_phone("+86 138-0000-1111")
'13800001111'
>>> normalize_phone("138****1111")
'138****1111'
>>> id_number_is_valid("11010519491231002X")
True
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "to_halfwidth",
    "to_simplified",
    "normalize_text",
    "normalize_name",
    "normalize_phone",
    "phone_is_masked",
    "normalize_id_number",
    "id_number_is_valid",
    "mask_name",
    "mask_phone",
    "mask_id_number",
]

# U+FF01..U+FF5E are full-width forms of ASCII 0x21..0x7E; U+3000 is the
# ideographic space. A translate table is exact and faster than NFKC, which
# would also rewrite unrelated compatibility characters (①, ㈱ ...).
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII letters, digits, punctuation and spaces to half-width."""
    return text.translate(_HALFWIDTH)


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified (OpenCC ``t2s``)."""
    return _t2s().convert(text) if text else text


_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The form used for search: half-width, simplified, whitespace collapsed."""
    return _SPACES.sub(" ", to_simplified(to_halfwidth(text))).strip()


def normalize_name(name: str) -> str:
    """The form used to compare names: :func:`normalize_text` without any spaces.

    >>> normalize_name(" 王 建國 ")
    '王建国'
    """
    return _SPACES.sub("", normalize_text(name))


_PHONE_JUNK = re.compile(r"[\s\-()（）.]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{9,11}")
_MASKED_MOBILE = re.compile(r"1[3-9\*][\d\*]{9}")


def normalize_phone(phone: str) -> str | None:
    """Return one canonical form of a Chinese phone number, or None if it is not one.

    Mobiles become 11 digits; ``+86``/``0086`` prefixes are dropped; landlines
    keep their area code as digits (``0756-1234567`` -> ``07561234567``).
    Masked numbers (``138****1111``) keep their stars and stay masked.
    """
    digits = _PHONE_JUNK.sub("", to_halfwidth(phone))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if "*" in digits:
        return digits if _MASKED_MOBILE.fullmatch(digits) and digits.count("*") < 9 else None
    if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
        return digits
    return None


def phone_is_masked(phone: str | None) -> bool:
    """True for a normalised phone that hides some digits."""
    return bool(phone) and "*" in phone


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID18 = re.compile(r"\d{17}[\dX]")
_ID15 = re.compile(r"\d{15}")
_ID_MASKED = re.compile(r"[\d\*]{17}[\dX\*]")


def normalize_id_number(id_number: str) -> str:
    """Upper-case, half-width, no spaces: the form validated and compared."""
    return _SPACES.sub("", to_halfwidth(id_number)).upper()


def id_number_is_valid(id_number: str) -> bool:
    """Check a resident ID number: 18 digits with ISO 7064 checksum, legacy 15 digits,
    or a masked 18-character form (``110105********002X``), which cannot be checked.
    """
    value = normalize_id_number(id_number)
    if "*" in value:
        return bool(_ID_MASKED.fullmatch(value))
    if _ID15.fullmatch(value):
        return True
    if not _ID18.fullmatch(value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17]


_ORG_HINT = re.compile(r"(公司|厂|局|所|院|校|中心|银行|协会|委员会|合作社|店|超市|集团|矿|队|站|部|处|办)$")


def mask_name(name: str) -> str:
    """Mask a person's name the way published mediation cases do.

    >>> mask_name("王建国"), mask_name("欧阳娜娜"), mask_name("恒达劳务有限公司")
    ('王某某', '欧阳某某', '恒达劳务有限公司')
    """
    name = name.strip()
    if not name or _ORG_HINT.search(name) or "某" in name:
        return name
    compound = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐")
    surname = name[:2] if name[:2] in compound else name[:1]
    return surname + "某某"


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits of a phone number."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str) -> str:
    """Keep the region code and the checksum of an ID number."""
    value = normalize_id_number(id_number)
    if len(value) < 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 7) + value[-1]
