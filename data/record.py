"""The case record: validation of user input and the normalised :class:`Case`.

A record arrives as a mapping (from JSON Lines, CSV or Excel). :func:`validate`
either returns a :class:`Case` or raises :class:`RecordError` listing every
problem with its field path. The user's values are kept as given (``Case.raw``);
normalised forms (simplified text, canonical phone, taxonomy type) sit beside
them.

Examples
--------
>>> case = validate({"id": "A1", "text": "樓上漏水", "type": "社区邻里纠纷",
...                  "parties": [{"name": "王建国", "phone": "138-0000-1111"}]})
>>> case.search_text, case.category, case.parties[0].phone_norm
('楼上漏水', '邻里', '13800001111')
>>> try:
...     validate({"id": "A2", "text": "x", "amount": "abc", "parties": [{"name": "李", "phone": "call me"}]})
... except RecordError as exc:
...     print(exc)
parties[0].phone（第1位当事人的电话）：不是电话号码：'call me'；amount（金额）：不是数字：'abc'
"""
from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

from leian.data.normalize import (
    id_number_is_valid,
    looks_like_person,
    normalize_id_number,
    normalize_name,
    normalize_phone,
    normalize_text,
)
from leian.data.places import LEVELS, parse_address
from leian.data.taxonomy import Taxonomy

__all__ = [
    "guess_kind",
    "Case",
    "Party",
    "Mediator",
    "RecordError",
    "FieldError",
    "FIELD_NAMES",
    "field_label",
    "misnamed_fields",
    "validate",
    "ROLES",
    "KINDS",
    "KIND_NAMES",
    "OUTCOMES",
    "RESOLVED_OUTCOMES",
    "UNRESOLVED",
    "CHANNELS",
    "MAX_TEXT_CHARS",
    "MAX_PARTIES",
    "MAX_DEPTH",
]

MAX_TEXT_CHARS = 20_000
MAX_SHORT_CHARS = 200
MAX_ID_CHARS = 64
#: A record with more parties is refused: a register lists a crowd as one group party
#: (``刘梦英等42人``), and every party is resolved against every other.
MAX_PARTIES = 200
MAX_MEDIATORS = 50
MAX_TAGS = 100
#: Objects and lists nested deeper than this (in any field) are refused.
MAX_DEPTH = 20

#: Canonical party roles, with the spellings registers use for them.
ROLES = {
    "申请人": ("申请人", "申请方", "投诉人", "求助人", "applicant"),
    "被申请人": ("被申请人", "被申请方", "被投诉人", "respondent"),
    "第三人": ("第三人", "利害关系人", "third_party"),
    "当事人": ("当事人", "纠纷当事人", "party"),
    "代理人": ("代理人", "委托代理人", "agent"),
    "其他": ("其他", "other"),
}
KINDS = {
    "person": ("person", "个人", "自然人"),
    "organization": ("organization", "organisation", "单位", "组织", "企业", "法人"),
    "group": ("group", "群体", "多人"),
}
#: Party kind -> how it reads in Chinese output.
KIND_NAMES = {"person": "个人", "organization": "单位", "group": "群体"}
OUTCOMES = {
    "调解成功": ("调解成功", "成功", "达成协议", "已调解", "调处成功", "化解"),
    "调解失败": ("调解失败", "失败", "未达成协议", "调解不成"),
    "司法确认": ("司法确认",),
    "转诉讼": ("转诉讼", "引导诉讼", "诉讼"),
    "转仲裁": ("转仲裁", "仲裁"),
    "撤回": ("撤回", "撤销申请", "当事人撤回"),
    "终止调解": ("终止调解", "终止"),
    "处理中": ("处理中", "调解中", "受理", "在办"),
}
#: Outcomes that settle the dispute (counted as resolved in summaries, worth teaching from in libraries).
RESOLVED_OUTCOMES = ("调解成功", "司法确认")
#: The outcome of a case still being handled.
UNRESOLVED = "处理中"
CHANNELS = {
    "网格员排查": ("网格员排查", "网格排查", "网格员上报"),
    "12345热线": ("12345热线", "12345", "市民热线"),
    "110非警务警情": ("110非警务警情", "110", "110转办", "非警务警情"),
    "来信来访": ("来信来访", "信访", "来访"),
    "当事人申请": ("当事人申请", "自行申请", "申请"),
    "法院委派": ("法院委派", "诉前委派", "法院委托"),
    "部门移交": ("部门移交", "移交", "转办"),
    "主动排查": ("主动排查", "排查"),
}
_KNOWN_FIELDS = {
    "id", "text", "title", "type", "occurred_on", "reported_on", "closed_on",
    "location", "parties", "mediators", "channel", "handling", "outcome",
    "agreement", "amount", "tags",
}
_MISSING = "缺少或为空"
_ID_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f]{1,%d}" % MAX_ID_CHARS)
_GROUP_NAME = re.compile(r"等\s*\d+\s*(人|户|名)|村民|居民|业主|职工|工人们|家族")
_ORG_NAME = re.compile(r"(公司|厂|局|医院|学校|中心|银行|合作社|超市|集团|矿|队|店|委员会|物业|幼儿园)$|有限")


def _reverse(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {normalize_name(alias).lower(): canonical for canonical, aliases in table.items() for alias in aliases}


_ROLE_OF = _reverse(ROLES)
_KIND_OF = _reverse(KINDS)
_OUTCOME_OF = _reverse(OUTCOMES)
_CHANNEL_OF = _reverse(CHANNELS)


#: Field of a record -> how a person calls it (the messages name both, so a CSV column is found either way).
FIELD_NAMES = {
    "record": "记录", "id": "编号", "text": "纠纷经过", "title": "标题", "type": "类型", "occurred_on": "发生日期",
    "reported_on": "受理日期", "closed_on": "结案日期", "location": "地点", "parties": "当事人", "mediators": "调解员",
    "name": "姓名", "role": "身份", "kind": "类别", "phone": "电话", "id_number": "身份证号", "address": "地址",
    "org": "调解组织", "channel": "来源渠道", "handling": "调解过程", "outcome": "调解结果", "agreement": "协议内容",
    "amount": "金额", "tags": "标签", "province": "省", "city": "市", "district": "区县", "town": "镇街",
    "community": "村社", "grid": "网格",
}
_ITEM = re.compile(r"(\w+)\[(\d+)\]")


def field_label(path: str) -> str:
    """A field path as a person reads it.

    >>> field_label("parties[1].phone"), field_label("closed_on"), field_label("location.town"), field_label("tags[0]")
    ('第2位当事人的电话', '结案日期', '地点的镇街', '第1个标签')
    """
    parts = []
    for part in path.split("."):
        item = _ITEM.fullmatch(part)
        if item:
            name, index = item.groups()
            counter = "位" if name in ("parties", "mediators") else "个"
            parts.append(f"第{int(index) + 1}{counter}{FIELD_NAMES.get(name, name)}")
        else:
            parts.append(FIELD_NAMES.get(part, part))
    return "的".join(parts)


_KNOWN_FIELD_ORDER = tuple(sorted(_KNOWN_FIELDS))  # a fixed order: equally close spellings resolve the same way every run
_LOCATION_FIELDS = (*LEVELS, "address")


@functools.lru_cache(maxsize=4096)  # a file repeats its keys on every record: compare each once
def _meant_field(key: Any, known: tuple[str, ...]) -> str | None:
    """The field of ``known`` that ``key`` was meant to be: its Chinese name, another case, or a close spelling.

    Only a short printable key is compared: one with a lone surrogate or a control character is
    the record's own problem (validation names it), and must never reach a message or the ingest log.
    """
    if not isinstance(key, str) or len(key) > 40 or not key.isprintable():
        return None
    by_label = {FIELD_NAMES[name]: name for name in known}
    if key.strip() in by_label:
        return by_label[key.strip()]
    close = difflib.get_close_matches(key.strip().lower(), known, n=1, cutoff=0.75)
    return close[0] if close else None


def _meant_top_level(key: Any) -> str | None:
    """The field a top-level ``key`` was meant to be: a field of the record, else a place level under ``location``."""
    meant = _meant_field(key, _KNOWN_FIELD_ORDER)
    if meant is None and (level := _meant_field(key, _LOCATION_FIELDS)):
        meant = f"location.{level}"
    return meant


def misnamed_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Keys of ``record`` that LeiAn does not read but that look meant for a field it does, with that field.

    Such a key is kept as given, like any other extra key, so a misspelt column would otherwise lose its
    values without a word. Keys that resemble no field (a register's own columns) are not named.

    A place level given at the top (a flat register's 镇街 or ``town`` column) is named with its place under ``location``.

    >>> misnamed_fields({"id": "A1", "text": "漏水", "occured_on": "2024-03-11", "调解结果": "调解成功", "备注": "无",
    ...                  "镇街": "三灶镇", "location": {"twon": "三灶镇", "grid": "海澄村第3网格"}})
    [('occured_on', 'occurred_on'), ('调解结果', 'outcome'), ('镇街', 'location.town'), ('location.twon', 'location.town')]
    """
    found = [(key, meant) for key in record if key not in _KNOWN_FIELDS if (meant := _meant_top_level(key))]
    location = record.get("location")
    if isinstance(location, dict):
        found += [(f"location.{key}", f"location.{meant}") for key in location
                  if key not in _LOCATION_FIELDS if (meant := _meant_field(key, _LOCATION_FIELDS))]
    return found


class FieldError(Exception):
    """One problem with one field; ``path`` is like ``parties[1].phone``, ``message`` says what is wrong (简体中文)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}（{field_label(path)}）：{message}")
        self.path = path
        self.message = message


class RecordError(ValueError):
    """A record failed validation; ``errors`` lists every field problem found."""

    def __init__(self, errors: list[FieldError], record_id: str | None = None):
        super().__init__("；".join(str(e) for e in errors))
        self.errors = errors
        self.record_id = record_id


class _FieldErrors(Exception):
    """Several field problems at once, from a part of a record (a party, the tags) checked field by field."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("；".join(str(e) for e in errors))
        self.errors = errors


class _Checks:
    """Runs field checks and keeps every problem instead of stopping at the first one.

    ``check(fn, *args)`` returns ``fn``'s value, or None after noting its problems;
    :meth:`done` raises them all together (from a part of a record) if there are any.
    """

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def __call__(self, fn, *args):
        try:
            return fn(*args)
        except FieldError as exc:
            self.errors.append(exc)
        except _FieldErrors as exc:
            self.errors.extend(exc.errors)
        return None

    def done(self) -> None:
        if self.errors:
            raise _FieldErrors(self.errors)


@dataclass
class Party:
    name: str
    role: str = "当事人"
    kind: str = "person"
    phone: str | None = None
    id_number: str | None = None
    address: str | None = None
    name_norm: str = ""
    phone_norm: str | None = None
    id_number_norm: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mediator:
    name: str
    org: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """A validated, normalised case. ``raw`` is the record exactly as given."""

    id: str
    text: str
    title: str | None = None
    type: str | None = None
    category: str | None = None
    subtype: str | None = None
    occurred_on: str | None = None
    reported_on: str | None = None
    closed_on: str | None = None
    location: dict[str, str] = field(default_factory=dict)
    parties: list[Party] = field(default_factory=list)
    mediators: list[Mediator] = field(default_factory=list)
    channel: str | None = None
    handling: str | None = None
    outcome: str | None = None
    agreement: str | None = None
    amount: float | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def search_text(self) -> str:
        """Title and text, normalised (half-width, simplified): what search indexes."""
        return normalize_text("\n".join(p for p in (self.title, self.text) if p))

    @property
    def heading(self) -> str:
        """What a list or a page names the case by: its title, else its opening words (… where cut)."""
        return self.title or (self.text[:30] + ("…" if len(self.text) > 30 else ""))

    @property
    def date(self) -> str | None:
        """The date a case is placed in time by: occurred, else reported, else closed."""
        return self.occurred_on or self.reported_on or self.closed_on

    def to_dict(self) -> dict[str, Any]:
        """The normalised record as plain JSON-able data (without ``raw``).

        Containers are copied one level deep; values inside ``extra`` are shared.
        (``dataclasses.asdict`` deep-copies everything and dominated ingest time.)
        """
        data = {name: getattr(self, name) for name in _CASE_FIELDS}
        data["location"] = dict(self.location)
        data["parties"] = [dict(vars(p), extra=dict(p.extra)) for p in self.parties]
        data["mediators"] = [dict(vars(m), extra=dict(m.extra)) for m in self.mediators]
        data["tags"] = list(self.tags)
        data["extra"] = dict(self.extra)
        return data

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict` (sorted keys): what is stored and hashed."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], raw: dict[str, Any] | None = None) -> Case:
        values = dict(data)
        values["parties"] = [Party(**p) for p in values.get("parties", [])]
        values["mediators"] = [Mediator(**m) for m in values.get("mediators", [])]
        return cls(**values, raw=raw or {})

    def content_hash(self) -> str:
        """Stable hash of the normalised record: unchanged input, unchanged hash."""
        return content_hash(self.to_json())


def content_hash(record_json: str) -> str:
    """The hash :meth:`Case.content_hash` gives for a record's canonical JSON."""
    return hashlib.sha256(record_json.encode("utf-8")).hexdigest()


_CASE_FIELDS = tuple(f.name for f in fields(Case) if f.name != "raw")


def validate(record: Any, taxonomy: Taxonomy | None = None) -> Case:
    """Validate one record and return the normalised :class:`Case`.

    Raises:
        RecordError: with every problem found, each naming its field.
    """
    if not isinstance(record, dict):
        raise RecordError([FieldError("record", f"须为 JSON 对象，实为{_type_name(record)}")])
    unusable = _unusable_values(record)
    if unusable:  # checked first: nothing below may meet a lone surrogate or an endless nesting
        raise RecordError(unusable, _printable(_id_for_message(record)))
    taxonomy = taxonomy or Taxonomy.default()
    check = _Checks()
    errors = check.errors

    record_id = check(_id, record.get("id"))
    text = check(_required_text, "text", record.get("text"), MAX_TEXT_CHARS)
    title = check(_optional_text, "title", record.get("title"), MAX_SHORT_CHARS)
    type_raw = check(_optional_text, "type", record.get("type"), MAX_SHORT_CHARS)
    dates = {name: check(_date, name, record.get(name)) for name in ("occurred_on", "reported_on", "closed_on")}
    location = check(_location, record.get("location"))
    parties = check(_parties, record.get("parties"))
    mediators = check(_mediators, record.get("mediators"))
    channel = check(_optional_text, "channel", record.get("channel"), MAX_SHORT_CHARS)
    handling = check(_optional_text, "handling", record.get("handling"), MAX_TEXT_CHARS)
    outcome = check(_optional_text, "outcome", record.get("outcome"), MAX_SHORT_CHARS)
    agreement = check(_optional_text, "agreement", record.get("agreement"), MAX_TEXT_CHARS)
    amount = check(_amount, record.get("amount"))
    tags = check(_tags, record.get("tags"))

    occurred, reported, closed = dates["occurred_on"], dates["reported_on"], dates["closed_on"]
    if occurred and closed and closed < occurred:
        errors.append(FieldError("closed_on", f"{closed} 早于发生日期（occurred_on）{occurred}"))
    if occurred and reported and reported < occurred:
        errors.append(FieldError("reported_on", f"{reported} 早于发生日期（occurred_on）{occurred}"))
    if reported and closed and closed < reported:
        errors.append(FieldError("closed_on", f"{closed} 早于受理日期（reported_on）{reported}"))
    if errors:
        raise RecordError(errors, record_id if isinstance(record_id, str) else _id_for_message(record))

    match = taxonomy.classify(type_raw)
    return Case(
        id=record_id,
        text=text,
        title=title,
        type=type_raw,
        category=match.category if match else None,
        subtype=match.subtype if match else None,
        occurred_on=occurred,
        reported_on=reported,
        closed_on=closed,
        location=location or {},
        parties=parties or [],
        mediators=mediators or [],
        channel=_canonical(_CHANNEL_OF, channel),
        handling=handling,
        outcome=_canonical(_OUTCOME_OF, outcome),
        agreement=agreement,
        amount=amount,
        tags=tags or [],
        extra={k: v for k, v in record.items() if k not in _KNOWN_FIELDS},
        raw=record,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(value: str | None) -> str | None:
    """``value`` with lone surrogates written as ``\\udXXX`` (they cannot be stored or printed)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if value and _SURROGATE.search(value) else value


def _unusable_values(record: dict[str, Any]) -> list[FieldError]:
    """Problems no field check can survive: lone UTF-16 surrogates (in any key or string) and
    nesting deeper than :data:`MAX_DEPTH`. Walked without recursion."""
    errors: list[FieldError] = []
    stack: list[tuple[Any, str, int]] = [(record, "", 1)]
    while stack and len(errors) < 20:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                errors.append(FieldError(path or "record", "含有无效字符（孤立的 UTF-16 代理项，如 \\ud800），无法保存"))
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            errors.append(FieldError(path or "record", f"嵌套超过 {MAX_DEPTH} 层"))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{_printable(str(key))}" if path else _printable(str(key))
                if isinstance(key, str) and _SURROGATE.search(key):
                    errors.append(FieldError(where, "字段名含有无效字符（孤立的 UTF-16 代理项），无法保存"))
                stack.append((item, where, depth + 1))
        else:
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
    return sorted(errors, key=lambda e: e.path)


def _id_for_message(record: dict[str, Any]) -> str | None:
    value = record.get("id")
    return str(value) if value not in (None, "") else None


def _type_name(value: Any) -> str:
    return {dict: "对象", list: "列表", str: "字符串", bool: "是/否值（true/false）",
            int: "数字", float: "数字", type(None): "空值（null）"}.get(type(value), type(value).__name__)


def _canonical(table: dict[str, str], value: str | None) -> str | None:
    """Map a known spelling onto its canonical value; unknown values are kept."""
    if value is None:
        return None
    return table.get(normalize_name(value).lower(), value)


def _id(value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldError("id", _MISSING)
    if not isinstance(value, str):
        raise FieldError("id", f"须为字符串，实为{_type_name(value)}")
    if not _ID_PATTERN.fullmatch(value):
        raise FieldError("id", f"须为 1–{MAX_ID_CHARS} 个字符，不含空格或控制字符")
    if "/" in value or "\\" in value or value in (".", ".."):
        # The id is part of the case's web address (/cases/<id>): a slash or a dot segment would change it.
        raise FieldError("id", "不能含有 / 或 \\，也不能是 . 或 ..（编号是案件网址的一部分）")
    return value


def _required_text(name: str, value: Any, limit: int) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise FieldError(name, _MISSING)
    return _optional_text(name, value, limit)


def _optional_text(name: str, value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FieldError(name, f"须为字符串，实为{_type_name(value)}")
    value = value.strip()
    if "\x00" in value:
        raise FieldError(name, "含有 NUL 字符")
    if len(value) > limit:
        raise FieldError(name, f"过长：{len(value)} 个字符（上限 {limit}）")
    return value or None


_DATE_FORMS = [
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+Z?)?"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
]


def _date(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise FieldError(name, f"须为 YYYY-MM-DD 格式的日期，实为{_type_name(value)}")
    for form in _DATE_FORMS:
        match = form.fullmatch(value.strip())
        if match:
            try:
                return dt.date(*map(int, match.groups())).isoformat()
            except ValueError:
                break
    raise FieldError(name, f"不是有效日期（YYYY-MM-DD）：{value!r}")


def _amount(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FieldError("amount", f"须为数字，实为{_type_name(value)}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            raise FieldError("amount", f"数值过大（{len(str(value))} 位）") from None
    elif isinstance(value, str):
        cleaned = re.sub(r"[,，\s]|元$|¥|￥", "", value.strip())
        try:
            number = float(cleaned)
        except ValueError:
            raise FieldError("amount", f"不是数字：{value!r}") from None
    else:
        raise FieldError("amount", f"须为数字，实为{_type_name(value)}")
    if math.isnan(number) or math.isinf(number):
        raise FieldError("amount", f"不是有限的数字：{value!r}")
    if number < 0:
        raise FieldError("amount", f"金额不能为负数：{value!r}")
    return number


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [t for t in re.split(r"[;；,，]", value)]
    if not isinstance(value, list):
        raise FieldError("tags", f"须为字符串列表，实为{_type_name(value)}")
    if len(value) > MAX_TAGS:
        raise FieldError("tags", f"标签过多：{len(value)} 个（上限 {MAX_TAGS} 个）")
    check = _Checks()
    tags = [check(_tag, i, tag) for i, tag in enumerate(value)]
    check.done()
    return [tag for tag in tags if tag]


def _tag(index: int, tag: Any) -> str:
    if not isinstance(tag, str):
        raise FieldError(f"tags[{index}]", f"须为字符串，实为{_type_name(tag)}")
    return tag.strip()


def _location(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        parsed = parse_address(value)
        parsed["address"] = value.strip()
        return parsed
    if not isinstance(value, dict):
        raise FieldError("location", f"须为对象或地址字符串，实为{_type_name(value)}")
    location: dict[str, str] = {}
    wrong = [FieldError(f"location.{key}", f"须为字符串，实为{_type_name(part)}")
             for key, part in value.items() if part not in (None, "") and not isinstance(part, str)]
    if wrong:
        raise _FieldErrors(wrong)
    for key, part in value.items():
        if part:
            location[key] = part.strip()
    if location.get("address"):
        # Fill levels the user left out from the address; never overwrite given ones.
        for level, name in parse_address(location["address"]).items():
            if level in LEVELS:
                location.setdefault(level, name)
    return location


def _parties(value: Any) -> list[Party]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise FieldError("parties", f"须为列表，实为{_type_name(value)}")
    if len(value) > MAX_PARTIES:
        raise FieldError("parties", f"当事人过多：{len(value)} 个（上限 {MAX_PARTIES} 个；人数众多的一方请写作一个群体当事人，如“刘某某等42人”）")
    check = _Checks()
    parties = [check(_party, i, item) for i, item in enumerate(value)]
    check.done()
    return parties


def _list_item(where: str, item: Any) -> dict[str, Any]:
    """A party or mediator given as an object, or just as a name."""
    if isinstance(item, str):
        return {"name": item}
    if not isinstance(item, dict):
        raise FieldError(where, f"须为对象，实为{_type_name(item)}")
    return item


def _party(index: int, item: Any) -> Party:
    """One party, every field checked: all of its problems are reported together."""
    where = f"parties[{index}]"
    item = _list_item(where, item)
    check = _Checks()
    name = check(_required_text, f"{where}.name", item.get("name"), MAX_SHORT_CHARS)
    role = check(_role, where, item.get("role"))
    kind = check(_kind, where, item.get("kind"))
    phone, phone_norm = check(_phone, where, item.get("phone")) or (None, None)
    id_number, id_norm = check(_id_number, where, item.get("id_number")) or (None, None)
    address = check(_optional_text, f"{where}.address", item.get("address"), MAX_SHORT_CHARS)
    check.done()
    known = {"name", "role", "kind", "phone", "id_number", "address"}
    return Party(
        name=name,
        role=role,
        kind=kind or guess_kind(name),
        phone=phone,
        id_number=id_number,
        address=address,
        name_norm=normalize_name(name),
        phone_norm=phone_norm,
        id_number_norm=id_norm,
        extra={k: v for k, v in item.items() if k not in known},
    )


def _role(where: str, value: Any) -> str:
    role_raw = _optional_text(f"{where}.role", value, MAX_SHORT_CHARS)
    if not role_raw:
        return "当事人"
    role = _ROLE_OF.get(normalize_name(role_raw).lower())
    if role is None:
        raise FieldError(f"{where}.role", f"未知身份 {role_raw!r}（可选：{'、'.join(ROLES)}）")
    return role


def _kind(where: str, value: Any) -> str | None:
    """The party's kind as given, or None to guess it from the name."""
    kind_raw = _optional_text(f"{where}.kind", value, MAX_SHORT_CHARS)
    if not kind_raw:
        return None
    kind = _KIND_OF.get(normalize_name(kind_raw).lower())
    if kind is None:
        raise FieldError(f"{where}.kind", f"未知类别 {kind_raw!r}（可选：{'、'.join(f'{k}（{n}）' for k, n in KIND_NAMES.items())}）")
    return kind


def _phone(where: str, phone: Any) -> tuple[str, str] | None:
    """The phone as given and its canonical form, or None when there is none."""
    if phone in (None, ""):
        return None
    if isinstance(phone, int) and not isinstance(phone, bool):
        phone = str(phone)
    if not isinstance(phone, str):
        raise FieldError(f"{where}.phone", f"须为字符串，实为{_type_name(phone)}")
    phone_norm = normalize_phone(phone)
    if phone_norm is None:
        raise FieldError(f"{where}.phone", f"不是电话号码：{phone!r}")
    return phone, phone_norm


def _id_number(where: str, id_number: Any) -> tuple[str, str] | None:
    """The ID number as given and its canonical form, or None when there is none."""
    if id_number in (None, ""):
        return None
    if not isinstance(id_number, str):
        raise FieldError(f"{where}.id_number", f"须为字符串，实为{_type_name(id_number)}")
    if not id_number_is_valid(id_number):
        raise FieldError(f"{where}.id_number", f"不是有效的居民身份证号（位数或校验位不符）：{id_number!r}")
    return id_number, normalize_id_number(id_number)


def guess_kind(name: str) -> str:
    """A party's kind (person, group, organization) from its name, when the record does not say."""
    simplified = normalize_name(name)
    if _GROUP_NAME.search(simplified):
        return "group"
    # A short name led by a surname is a person's even when it ends like an organisation (王小店, 刘大队).
    if _ORG_NAME.search(simplified) and not looks_like_person(simplified):
        return "organization"
    return "person"


def _mediators(value: Any) -> list[Mediator]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise FieldError("mediators", f"须为列表，实为{_type_name(value)}")
    if len(value) > MAX_MEDIATORS:
        raise FieldError("mediators", f"调解员过多：{len(value)} 个（上限 {MAX_MEDIATORS} 个）")
    check = _Checks()
    mediators = [check(_mediator, i, item) for i, item in enumerate(value)]
    check.done()
    return mediators


def _mediator(index: int, item: Any) -> Mediator:
    where = f"mediators[{index}]"
    item = _list_item(where, item)
    check = _Checks()
    name = check(_required_text, f"{where}.name", item.get("name"), MAX_SHORT_CHARS)
    org = check(_optional_text, f"{where}.org", item.get("org"), MAX_SHORT_CHARS)
    check.done()
    return Mediator(name=name, org=org, extra={k: v for k, v in item.items() if k not in ("name", "org")})
