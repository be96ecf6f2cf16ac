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
import unicodedata
from collections.abc import Iterable
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
    "mask_numbers",
    "mask_address",
    "looks_like_person",
    "person_names",
    "surname",
    "strip_bidi",
    "xml_safe",
    "Pseudonyms",
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


@lru_cache(maxsize=1 << 16)
def _is_traditional(char: str) -> bool:
    return _t2s().convert(char) != char


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified (OpenCC ``t2s``).

    Text with no traditional character is returned as it is: t2s's phrase table also rewrites some simplified
    phrases (打坏了 -> 打坯了), which would put words nobody wrote into keywords and snippets.

    >>> to_simplified("樓上漏水"), to_simplified("打坏了")
    ('楼上漏水', '打坏了')
    """
    if not text:
        return text
    converted = _t2s().convert(text)
    if converted == text or not any(_is_traditional(char) for char in set(text)):
        return text
    return converted


_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """The form used for search: half-width, simplified, whitespace collapsed."""
    return _SPACES.sub(" ", to_simplified(to_halfwidth(text))).strip()


@lru_cache(maxsize=1 << 17)
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


#: Two-character surnames kept whole when a name is masked (欧阳娜娜 -> 欧阳某某).
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "端木", "司徒",
                     "长孙", "宇文", "轩辕", "呼延", "南宫", "西门", "独孤")
# The common single-character surnames (simplified): a short name starting with one of them is taken
# for a person even when it ends like an organisation (王小店, 刘大队).
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊"
    "葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉"
    "骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏"
    "宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝洪辜阎荆"
)
# Words only organisations (or places) carry, whatever their length. The trades are what a company's short
# name keeps (卓越物流, 华鑫化工 of 长治市卓越物流有限公司): two-character words no given name holds.
_ORG_WORDS = re.compile(
    r"公司|有限|集团|委员会|银行|医院|学校|中心|合作社|超市|物业|幼儿园|政府|街道|社区|协会|事务所|派出所|工地|项目部"
    r"|[中小大]学|酒店|饭店|商店|商行|门市|车队|村委|居委|管委|部门|[村镇区县市省街路组社]$"
    r"|物流|化工|劳务|建材|建筑|装饰|家具|家电|餐饮|科技|电子|机械|制品|食品|服装|养殖|运输|贸易|实业|置业|地产|工程|快递|配送"
)
# Single characters that end organisation names (厂, 店, 队 ...): decisive only for names
# too long to be a person's.
_ORG_HINT = re.compile(r"(公司|厂|局|所|院|校|中心|银行|协会|委员会|合作社|店|超市|集团|矿|队|站|部|处|办)$")
# "刘梦英等42人", "王建国、李强等": the persons named at the head of a group party.
_GROUP_HEAD = re.compile(r"^(?P<head>[^等]+?)\s*等")
_NAME_LIST = re.compile(r"[、，,;；/\s]+")
# "魏某（死者亲属)": the name is the part before any bracketed note.
_NOTE = re.compile(r"[（(\[【].*$")
_HAN = re.compile(r"[\u3400-\u9fff]+")


def _bare(name: str) -> str:
    return normalize_name(_NOTE.sub("", name))


def surname(name: str) -> str:
    """The surname a masked name keeps: a compound surname whole, else the first character.

    >>> surname("欧阳娜娜"), surname(" 陈 国 强")
    ('欧阳', '陈')
    """
    bare = _bare(name)
    return bare[:2] if bare[:2] in COMPOUND_SURNAMES else bare[:1]


def looks_like_person(name: str) -> bool:
    """Whether a party name reads as a person's: 2–4 汉字 led by a common surname, no organisation word.

    >>> [looks_like_person(n) for n in ("王小店", "刘大队", "陈 国 强", "欧阳娜娜", "恒达劳务有限公司", "海澄村", "五金店")]
    [True, True, True, True, False, False, False]
    >>> [looks_like_person(n) for n in ("卓越物流", "华鑫化工", "金辉建材")]  # short company names led by a surname character
    [False, False, False]
    """
    bare = _bare(name)
    if not _HAN.fullmatch(bare) or _ORG_WORDS.search(bare):
        return False
    lead = surname(bare)
    if len(lead) == 2:
        return 3 <= len(bare) <= 5
    return lead in _SURNAMES and 2 <= len(bare) <= 4


def person_names(name: str, kind: str) -> list[str]:
    """The names of persons a party name holds, as written: the name of a person, the persons at the head
    of a group (``刘梦英等42人``), an "organisation" whose name is a person's (``王小店``).

    >>> person_names("刘梦英等42人", "group"), person_names("王建国、李强等5户", "group")
    (['刘梦英'], ['王建国', '李强'])
    >>> person_names("海澄村村民", "group"), person_names("王小店", "organization"), person_names("魏某（亲属）", "person")
    ([], ['王小店'], ['魏某'])
    """
    name = name.strip()
    if kind == "person":
        bare = _NOTE.sub("", name).strip()
        return [bare] if bare else []
    if kind == "group":
        head = _GROUP_HEAD.match(name)
        return [part for part in _NAME_LIST.split(head.group("head")) if looks_like_person(part)] if head else []
    return [name] if looks_like_person(name) else []


def mask_name(name: str) -> str:
    """Mask a person's name the way published mediation cases do (no organisation check: the caller
    knows it is a person; see :func:`person_names`).

    >>> mask_name("王建国"), mask_name("欧阳娜娜"), mask_name("陈 国 强"), mask_name("王某")
    ('王某某', '欧阳某某', '陈某某', '王某')
    """
    name = name.strip()
    if not name or "某" in name:
        return name
    return surname(name) + "某某"


_ORDINALS = "甲乙丙丁戊己庚辛壬癸"


class Pseudonyms:
    """Masked names that keep different people apart within one page or export.

    A surname held by one person gives 王某某; two or more people of one surname in the same
    page give 梁某甲, 梁某乙 … in the order they were registered. The same person (any
    spelling: spaces, full-width, 繁體) always gets the same label, and a label once given
    never changes, so names registered late still get a label of their own.

    >>> names = Pseudonyms(["梁建国", "梁小红", "王建国"])
    >>> names.mask("梁小红"), names.mask("梁 建 國"), names.mask("王建国")
    ('梁某乙', '梁某甲', '王某某')
    >>> names.mask("王芳"), names.mask("王建国")
    ('王某乙', '王某某')
    """

    def __init__(self, names: Iterable[str] = ()):
        self._people: dict[str, list[str]] = {}  # surname -> people (bare names) in order
        self._labels: dict[str, str] = {}
        self.register(names)

    def register(self, names: Iterable[str]) -> None:
        """Make these people known before masking, so that a shared surname is seen from the start."""
        for name in names:
            bare = _bare(name)
            if bare and "某" not in bare:
                people = self._people.setdefault(surname(bare), [])
                if bare not in people:
                    people.append(bare)

    def mask(self, name: str) -> str:
        """The label of this person (registered on first sight)."""
        bare = _bare(name)
        if not bare or "某" in bare:
            return name.strip()
        label = self._labels.get(bare)
        if label is None:
            self.register([bare])
            lead = surname(bare)
            people = self._people[lead]
            index = people.index(bare)
            if len(people) == 1:
                label = lead + "某某"
            else:
                label = lead + "某" + (_ORDINALS[index] if index < len(_ORDINALS) else str(index + 1))
            self._labels[bare] = label
        return label


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits of a phone number."""
    digits = re.sub(r"\D", "", to_halfwidth(phone))
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str) -> str:
    """Keep the region code and the checksum of an ID number."""
    value = re.sub(r"[^0-9X*]", "", normalize_id_number(id_number))
    if len(value) < 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 7) + value[-1]


@lru_cache(maxsize=1)
def _digit_table() -> dict[int, int]:
    """Every Unicode decimal digit (full-width, Arabic-Indic, mathematical ...) -> its ASCII digit."""
    table: dict[int, int] = dict(_HALFWIDTH)
    for cp in (*range(0x10000), *range(0x1D7CE, 0x1D800)):
        char = chr(cp)
        if unicodedata.category(char) == "Nd" and not "0" <= char <= "9":
            table[cp] = ord("0") + unicodedata.decimal(char)
    return table


# What people put between the digit groups of one number: spaces, dashes, dots, brackets round an area code.
_SEPARATOR = r"[ \t\u00a0\u2000-\u200b\u202f\u3000\-.·•–—_()（）\[\]【】]"
_NUMBER_RUN = re.compile(rf"(?<![0-9])(?:[(（]\s*)?\+?[0-9](?:{_SEPARATOR}{{0,3}}[0-9])*(?:{_SEPARATOR}{{0,3}}[Xx])?(?![0-9])")
_GROUP = re.compile(r"\+?[0-9Xx]+")
_MOBILE_DIGITS = re.compile(r"(?:0?86)?(1[3-9][0-9]{9})|0086(1[3-9][0-9]{9})")
_LANDLINE_DIGITS = re.compile(r"0[1-9][0-9]{8,10}")
_MAX_GROUPS = 8


def _masked_number(digits: str, groups: list[str]) -> str | None:
    """The masked form of one number written as ``groups``, or None when it is not a phone, ID or account."""
    if len(digits) in (15, 18) and digits[0] != "0" and digits[:-1].isdigit():
        return mask_id_number(digits)
    if not digits.isdigit():
        return None
    mobile = _MOBILE_DIGITS.fullmatch(digits)
    if mobile:
        return mask_phone(mobile.group(1) or mobile.group(2))
    if _LANDLINE_DIGITS.fullmatch(digits):
        return mask_phone(digits)
    if 16 <= len(digits) <= 19 and (len(groups) == 1 or all(len(g) == 4 for g in groups[:-1])):
        return mask_phone(digits)  # a bank account
    return None


def _mask_run(run: str) -> str:
    """Mask the numbers inside one run of digit groups (a date and a phone may share a run)."""
    spans = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
    plain = [run[a:b].lstrip("+") for a, b in spans]
    pieces, position, i = [], 0, 0
    while i < len(spans):
        for j in range(min(len(spans), i + _MAX_GROUPS) - 1, i - 1, -1):
            candidate, tail = "".join(plain[i : j + 1]).upper(), ""
            masked = _masked_number(candidate, plain[i : j + 1])
            if masked is None and candidate.endswith("X"):  # "13800001111x": the letter is not part of it
                masked, tail = _masked_number(candidate[:-1], plain[i : j + 1]), run[spans[j][1] - 1]
            if masked is not None:
                # A number that opens the run takes its opening bracket with it: "(0756)1234567".
                pieces.append(run[position : spans[i][0] if i else 0] + masked + tail)
                position, i = spans[j][1], j + 1
                break
        else:
            i += 1
    return "".join(pieces) + run[position:]


def mask_numbers(text: str) -> str:
    """Mask every resident ID number, phone number and bank account in ``text``, however it is written:
    full-width digits, spaces, dots or dashes between digit groups, ``(0756)1234567``, ``+86``.

    Amounts and dates stay as they are.

    >>> mask_numbers("电话 0756-1234567 或 +86 139 1234 5678，借款 13800 元，2024-03-11")
    '电话 075****4567 或 139****5678，借款 13800 元，2024-03-11'
    >>> mask_numbers("（0756）1234567、０７５６ １２３４５６７、１３８．００００．１１１１、110105 19491231 002X")
    '075****4567、075****4567、138****1111、110105***********X'
    """
    probe = text.translate(_digit_table())  # same length: each character maps to one
    pieces, position = [], 0
    for match in _NUMBER_RUN.finditer(probe):
        masked = _mask_run(probe[match.start() : match.end()])
        if masked != probe[match.start() : match.end()]:
            pieces.append(text[position : match.start()] + masked)
            position = match.end()
    return "".join(pieces) + text[position:] if pieces else text


_HOUSE_NUMBER = re.compile(r"[0-9０-９]+")


def mask_address(address: str) -> str:
    """An address without its house, building and room numbers.

    >>> mask_address("丽景华庭22-2802"), mask_address("三灶镇海澄村东街12号")
    ('丽景华庭**-**', '三灶镇海澄村东街**号')
    """
    return _HOUSE_NUMBER.sub("**", address)


#: Characters that reorder displayed text (RLO, LRI …): stripped from what is shown, so a record
#: cannot make one text look like another.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    r"""``text`` with the characters XML 1.0 cannot hold (control characters, lone surrogates)
    written as ``\xHH`` / ``\uHHHH``, for GraphML and Word files.

    >>> print(xml_safe("王\x01建国"))
    王\x01建国
    """
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else f"\\u{ord(m.group(0)):04x}", text)


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional control characters.

    >>> strip_bidi("王\u202e建国")
    '王建国'
    """
    return _BIDI.sub("", text)
