"""Party entity resolution: which party mentions across cases are the same person or body.

Each party mention (a case id and a position in its ``parties`` list) is
resolved on ingest, incrementally, to an entity id (``P0000001`` ...). Blocking
uses the normalised name key, the phone and the ID number; a candidate entity
is accepted only with evidence beyond the name, and every accepted mention
keeps the reasons it was merged and its own spelling.

Rules, strongest first (persons):

- the same resident ID number;
- the same name and the same phone (any format);
- the same name and the same street address (with or without the
  city/district/town prefix, 号/号楼/室 variants);
- the same name and a masked phone (``138****1111``) that fits the entity's
  phone, in the same town;
- the same name, twice, against the same other party (a repeated pair) in the
  same town (or district, where a town is not given).

A common name alone never merges, nor does an anonymised one (魏某, 未提及); two different unmasked phones or ID numbers
never merge. Organisations compare their trade name with the city prefix and
legal/industry suffixes stripped (``珠海市恒达建筑劳务有限公司`` =
``恒达劳务``) and need the same evidence as persons, or the same town;
named cities that differ never merge. A short name that fits two
organisations whose own names clash (``华辉物业`` for ``华辉物业服务`` and
``华辉物业管理`` in one town) joins neither, unless stronger evidence (ID,
phone, address, the same counterpart) points at one of them only. Group
placeholders (``陈志强等20人``) compare their lead name, and merge like
organisations.

Examples
--------
>>> org_name_key("珠海市恒达建筑劳务有限公司"), org_name_key("恒达劳务")
(('恒达', ('劳务', '建筑'), '珠海'), ('恒达', ('劳务',), None))
>>> address_key("珠海市金湾区三灶镇海澄村东街12号楼"), address_key("三灶镇海澄村东街12号")
('东街12', '东街12')
>>> group_lead("陈志强等20人")
'陈志强'
"""
from __future__ import annotations

import itertools
import json
import re
import sqlite3
import uuid
from collections import Counter
from functools import lru_cache
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from leian.data.normalize import mask_phone, normalize_name, phone_is_masked
from leian.data.places import LEVELS, parse_address
from leian.data.record import Case, Party
from leian.data.store import Store

__all__ = [
    "MIGRATIONS",
    "Mention",
    "Entity",
    "Resolver",
    "mention_of",
    "org_name_key",
    "address_key",
    "group_lead",
    "registered_name_key",
    "ensure_schema",
    "is_anonymous",
    "name_features",
    "conflicts",
    "preferred_name",
]

#: Tables the graph package owns in the case store (``component_schema`` "graph").
MIGRATIONS = [
    """
    CREATE TABLE graph_mentions (
        case_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        entity_id TEXT NOT NULL,
        case_date TEXT,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        role TEXT,
        phone TEXT,
        masked_phone TEXT,
        id_number TEXT,
        address_key TEXT,
        town TEXT, district TEXT, city TEXT,
        details TEXT NOT NULL,
        PRIMARY KEY (case_id, position)
    );
    CREATE INDEX graph_mentions_entity ON graph_mentions(entity_id);
    CREATE INDEX graph_mentions_name ON graph_mentions(name_key);
    CREATE INDEX graph_mentions_phone ON graph_mentions(phone);
    CREATE INDEX graph_mentions_id_number ON graph_mentions(id_number);
    CREATE TABLE graph_links (
        key TEXT NOT NULL,
        case_id TEXT NOT NULL,
        PRIMARY KEY (key, case_id)
    );
    CREATE INDEX graph_links_case ON graph_links(case_id);
    CREATE TABLE graph_flags (
        case_id TEXT PRIMARY KEY,
        related TEXT NOT NULL,
        notice TEXT NOT NULL,
        flagged_at_seq INTEGER NOT NULL
    );
    CREATE TABLE graph_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    "CREATE INDEX graph_mentions_name_district ON graph_mentions(name_key, district)",
    """
    DROP INDEX graph_mentions_name_district;
    CREATE INDEX graph_mentions_name_town ON graph_mentions(name_key, town)
    """,
    # Registered names, the places cases happened at, and resolution that no longer depends on arrival
    # order: everything is resolved again (and the graph rebuilt, as the store id changes).
    """
    ALTER TABLE graph_mentions ADD COLUMN reg_key TEXT;
    CREATE INDEX graph_mentions_reg_key ON graph_mentions(reg_key);
    CREATE TABLE graph_places (
        case_id TEXT PRIMARY KEY,
        street TEXT,
        town TEXT,
        community TEXT
    );
    CREATE INDEX graph_places_street ON graph_places(street);
    CREATE TABLE graph_pending (item TEXT PRIMARY KEY);
    CREATE TABLE graph_moved (case_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    CREATE INDEX graph_moved_seq ON graph_moved(seq);
    DELETE FROM graph_mentions;
    DELETE FROM graph_links;
    DELETE FROM graph_flags;
    DELETE FROM graph_state WHERE key IN ('resolve_seq', 'store_id')
    """,
    """
    CREATE TABLE graph_followups (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entity_id TEXT NOT NULL,
        anchor_case TEXT NOT NULL,
        anchor_position INTEGER NOT NULL,
        note TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        source TEXT NOT NULL
    );
    CREATE INDEX graph_followups_entity ON graph_followups(entity_id)
    """,
    # What the 风险台账 reads of each dated case (graph/risk.py), kept in step with the change log.
    """
    CREATE TABLE graph_risk_facts (
        case_id TEXT PRIMARY KEY,
        case_date TEXT NOT NULL,
        category TEXT, subtype TEXT, outcome TEXT, channel TEXT,
        words TEXT NOT NULL,
        places TEXT NOT NULL
    );
    CREATE INDEX graph_risk_facts_date ON graph_risk_facts(case_date)
    """,
]

_CITY_SHORT = (
    "北京 上海 天津 重庆 广州 深圳 珠海 佛山 东莞 中山 江门 惠州 汕头 湛江 肇庆 清远 韶关 梅州 茂名 阳江 "
    "河源 汕尾 潮州 揭阳 云浮 南京 苏州 无锡 杭州 宁波 温州 绍兴 诸暨 成都 武汉 长沙 西安 郑州 济南 青岛 "
    "福州 厦门 泉州 南昌 合肥 昆明 贵阳 南宁 海口 沈阳 大连 长春 哈尔滨 石家庄 太原 呼和浩特 兰州 银川 "
    "西宁 乌鲁木齐 拉萨 永川 江北 渝北 九龙坡 沙坪坝 南岸 巴南 北碚 万州 涪陵 广东 江苏 浙江 四川 湖北 湖南"
).split()
_ADMIN_PREFIX = re.compile(r"^(?:[\u4e00-\u9fff]{2,3}(?:省|自治区))?(?P<city>" + "|".join(_CITY_SHORT) + r")(?:市|区|县)?")
_LEGAL_FORM = re.compile(r"(?:股份有限公司|有限责任公司|有限公司)$")
_LEGAL_SUFFIX = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|集团公司|分公司|公司|集团|商行|工作室|配送站|厂|店)$")
_INDUSTRY = sorted(
    (
        "建筑 劳务 派遣 物业 服务 管理 科技 贸易 商贸 装饰 装修 工程 建设 实业 发展 投资 置业 开发 房地产 地产 "
        "餐饮 运输 物流 快递 配送 同城 家政 保安 制衣 服装 电子 五金 制品 汽车 配件 维修 机械 加工 塑料 塑胶 "
        "食品 酒店 网络 信息 技术 咨询 文化 传媒 农业 养殖 种植 环保 清洁 医药 教育 培训 电器 家电 家具 建材 "
        "钢材 印刷 包装 材料 化工 砖瓦 石材 水泥 采石 健身 美容"
    ).split(),
    key=len,
    reverse=True,
)
_ADMIN_SUFFIX = re.compile(r"(?:省|市|自治区|区|县)$")
_INDUSTRY_SUFFIX = re.compile("(?:" + "|".join(_INDUSTRY) + ")$")
_GROUP_LEAD = re.compile(r"^(?P<lead>.+?)等\s*[\d一二三四五六七八九十百]+\s*(?:人|户|名)")
_ANONYMOUS = re.compile(r"某|未提及|不详|未知|匿名|无名")
_HOUSE = re.compile(r"(?<=\d)(?:号楼|号房|号院|号|室|栋|幢|座|单元|楼|#)")


def org_name_key(name: str, places: Iterable[str] = ()) -> tuple[str, tuple[str, ...], str | None]:
    """(trade name, industry words, named city) of an organisation name.

    ``places`` are the case's province/city/district names, also stripped
    from the front with or without their 省/市/区/县.
    """
    text = normalize_name(name)
    city = None
    match = _ADMIN_PREFIX.match(text)
    if match and len(text) - match.end() >= 2:
        city = match.group("city")
        text = text[match.end():]
    for place in places:
        short = _ADMIN_SUFFIX.sub("", place)
        for prefix in (place, short):
            if len(short) >= 2 and text.startswith(prefix) and len(text) - len(prefix) >= 2:
                city = city or short
                text = text[len(prefix):]
                break
    industries: list[str] = []
    while True:
        stripped = _LEGAL_SUFFIX.sub("", text)
        match = _INDUSTRY_SUFFIX.search(stripped)
        if match and match.start() >= 2:
            industries.append(match.group(0))
            stripped = stripped[: match.start()]
        if stripped == text:
            break
        text = stripped
    return text, tuple(sorted(set(industries))), city


def registered_name_key(name: str, places: Iterable[str] = ()) -> str | None:
    """The key of a full registered organisation name (place prefix + trade name + industry + legal form), else None.

    A registered name is unique where it is registered, so it names one company
    in every town and district; a short or partial name does not.

    >>> registered_name_key("珠海市恒达建筑劳务有限公司") == registered_name_key("珠海恒达建筑劳务有限责任公司")
    True
    >>> registered_name_key("恒达建筑劳务有限公司"), registered_name_key("珠海恒达劳务公司")
    (None, None)
    """
    text = normalize_name(name)
    form = _LEGAL_FORM.search(text)
    if form is None:
        return None
    core, industries, city = org_name_key(name, places)
    if not city or not industries:
        return None
    return f"{city}|{core}|{'+'.join(industries)}|{'股份' if '股份' in form.group(0) else '有限'}"


def group_lead(name: str) -> str | None:
    """The named lead of a group placeholder (``陈志强等20人`` -> ``陈志强``)."""
    match = _GROUP_LEAD.match(normalize_name(name))
    return match.group("lead") if match else None


@lru_cache(maxsize=1 << 16)
def address_key(address: str | None) -> str | None:
    """The street part of an address, without the administrative prefix, house words as ``-``."""
    if not address:
        return None
    text = normalize_name(address)
    levels = parse_address(text)
    for level in LEVELS:
        name = levels.get(level)
        if name and text.startswith(name):
            text = text[len(name):]
    text = _HOUSE.sub("-", text).strip("-")
    text = re.sub(r"-+", "-", text)
    return text if re.search(r"\d", text) else None


@dataclass
class Mention:
    """One party of one case, with the features resolution compares."""

    case_id: str
    position: int
    name: str
    kind: str
    name_key: str
    role: str | None = None
    case_date: str | None = None
    phone: str | None = None
    masked_phone: str | None = None
    id_number: str | None = None
    address_key: str | None = None
    town: str | None = None
    district: str | None = None
    city: str | None = None
    industries: tuple[str, ...] = ()
    named_city: str | None = None
    reg_key: str | None = None
    entity_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    #: (name key, phone, ID number, name as written) of the case's other parties.
    partners: list[tuple] = field(default_factory=list)


def name_features(name: str, kind: str, places: Iterable[str] = ()) -> tuple[str, tuple[str, ...], str | None]:
    """(name key, industry words, named city) of a party name of a kind (person, organization, group).

    >>> name_features("珠海恒达建筑劳务公司", "organization")
    ('organization:恒达', ('劳务', '建筑'), '珠海')
    """
    if kind == "organization":
        core, industries, named_city = org_name_key(name, places)
        return f"{kind}:{core}", industries, named_city
    if kind == "group":
        return f"{kind}:{group_lead(name) or normalize_name(name)}", (), None
    return f"{kind}:{normalize_name(name)}", (), None


def mention_of(case: Case, position: int, party: Party | None = None) -> Mention:
    """The comparable features of ``case.parties[position]`` (or of a given party)."""
    party = party or case.parties[position]
    places_of_case = [case.location[level] for level in ("province", "city", "district") if case.location.get(level)]
    name_key, industries, named_city = name_features(party.name, party.kind, places_of_case)
    address = party.address or case.location.get("address")
    places = parse_address(party.address) if party.address else {}
    phone = party.phone_norm
    return Mention(
        case_id=case.id,
        position=position,
        name=party.name,
        kind=party.kind,
        name_key=name_key,
        role=party.role,
        case_date=case.date,
        phone=None if phone_is_masked(phone) else phone,
        masked_phone=phone if phone_is_masked(phone) else None,
        id_number=None if party.id_number_norm and "*" in party.id_number_norm else party.id_number_norm,
        address_key=address_key(address),
        town=case.location.get("town") or places.get("town"),
        district=case.location.get("district") or places.get("district"),
        city=case.location.get("city") or places.get("city"),
        industries=industries,
        named_city=named_city,
        reg_key=registered_name_key(party.name, places_of_case) if party.kind == "organization" else None,
    )


def preferred_name(spellings: Iterable[str]) -> str:
    """The name a party goes by: its most used spelling, normalised (ties: the longest, the fullest organisation name).

    >>> preferred_name(["梁穎", "梁颖", "梁　颖", "梁颖（邻居）"])
    '梁颖'
    """
    counts = Counter(normalize_name(name) for name in spellings)
    return max(counts, key=lambda name: (counts[name], len(name), name))


@dataclass
class Entity:
    """A resolved party: its mentions and what they say together."""

    entity_id: str
    mentions: list[Mention]
    _values: dict[str, set] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.mentions[0].kind

    @property
    def name(self) -> str:
        """The most used spelling, normalised (ties: the longest, the fullest organisation name)."""
        return preferred_name(m.name for m in self.mentions)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(m.name for m in self.mentions))

    @property
    def reasons(self) -> list[str]:
        return list(dict.fromkeys(r for m in self.mentions for r in m.reasons))

    @property
    def case_ids(self) -> list[str]:
        ordered = sorted(self.mentions, key=lambda m: (m.case_date or "", m.case_id))
        return list(dict.fromkeys(m.case_id for m in ordered))

    def values(self, attribute: str) -> set:
        """The distinct non-empty values of a mention attribute (computed once, kept up to date by :meth:`add`)."""
        found = self._values.get(attribute)
        if found is None:
            found = self._values[attribute] = {getattr(m, attribute) for m in self.mentions if getattr(m, attribute)}
        return found

    def add(self, mention: Mention) -> None:
        """Add a mention, updating the value sets already computed."""
        self.mentions.append(mention)
        for attribute, found in self._values.items():
            value = getattr(mention, attribute)
            if value:
                found.add(value)


def _phone_fits(masked: str, phone: str) -> bool:
    return len(masked) == len(phone) and all(a == "*" or a == b for a, b in zip(masked, phone))


def conflicts(m: Mention, entity: Entity) -> bool:
    """Hard evidence that ``m`` is someone else: a different ID number or phone, another named city."""
    ids = entity.values("id_number")
    if m.id_number and ids and m.id_number not in ids:
        return True
    phones = entity.values("phone")
    if m.phone and phones and m.phone not in phones:
        return True
    if m.masked_phone and phones and not any(_phone_fits(m.masked_phone, p) for p in phones):
        return True
    if m.phone and not phones and any(not _phone_fits(x, m.phone) for x in entity.values("masked_phone")):
        return True
    return _names_clash([m.industries], {m.named_city} - {None}, entity)


def _names_clash(industries: Iterable[tuple[str, ...]], cities: set[str], entity: Entity) -> bool:
    """Whether organisation names with these industry words and named cities cannot be ``entity``'s.

    Industry words must nest (恒达劳务 fits 恒达建筑劳务; 华辉物业服务 and 华辉物业管理 clash)
    and named cities agree where both name one.
    """
    theirs = entity.values("named_city")
    if cities and theirs and not cities & theirs:
        return True
    return any(not (set(a) <= set(b) or set(b) <= set(a)) for a in industries for b in entity.values("industries"))


def _ambiguous(entities: Iterable[Entity]) -> bool:
    """Whether two of these entities are organisations whose own names clash: a name fitting both picks neither."""
    distinct = {e.entity_id: e for e in entities}.values()
    return any(
        _names_clash(a.values("industries"), a.values("named_city"), b) for a, b in itertools.combinations(distinct, 2)
    )


def _solo_evidence(m: Mention, entity: Entity) -> list[str] | None:
    """Reasons ``m`` is ``entity`` without looking at the other parties, or None."""
    if m.id_number and m.id_number in entity.values("id_number"):
        return ["身份证号相同"]
    ids = entity.values("id_number")
    if m.reg_key and m.reg_key in entity.values("reg_key") and not (m.id_number and ids and m.id_number not in ids):
        # A registered name names one company wherever it appears; a company has many phone lines.
        return [f"登记名称相同（{normalize_name(m.name)}）"]
    if _anonymous(m) or conflicts(m, entity) or m.name_key not in entity.values("name_key"):
        return None
    same_name = "单位名称相同（去除地名与公司后缀）" if m.kind == "organization" else "同名"
    if m.phone and m.phone in entity.values("phone"):
        return [same_name, f"电话相同（{mask_phone(m.phone)}）"]
    towns = entity.values("town")
    if m.kind in ("organization", "group") and m.town and m.town in towns:
        return [same_name, f"同一镇街（{m.town}）"]
    same_place = not (m.town and towns and m.town not in towns)
    if m.address_key and m.address_key in entity.values("address_key") and same_place:
        return [same_name, f"地址相同（{m.address_key}）"]
    if m.masked_phone and m.town and m.town in towns:
        return ["同名", f"隐藏号码相符（{m.masked_phone}）", f"同一镇街（{m.town}）"]
    return None


def _name_candidate(m: Mention, entity: Entity) -> bool:
    """Same name, nothing against it, and seen in the same district or town: enough for the pair rule."""
    if _anonymous(m) or m.name_key not in entity.values("name_key") or conflicts(m, entity):
        return False
    return bool((m.district and m.district in entity.values("district")) or (m.town and m.town in entity.values("town")))


def _anonymous(m: Mention) -> bool:
    return is_anonymous(m.name_key)


def is_anonymous(name: str) -> bool:
    """Published cases hide names (魏某, 未提及): such a name says nothing about who it is."""
    return bool(_ANONYMOUS.search(name))


class Resolver:
    """Entity resolution over the store's change log, independent of the order cases arrive in.

    A changed case's mentions are first *staged*: their features are written
    with no entity yet. :meth:`reconcile` then takes every mention that shares
    a blocking key with a staged one (name in the same town, phone, ID number,
    registered name), transitively: a *component*, which no evidence leaves.
    The component is resolved afresh in memory, its cases in date order
    (ties by case id), so the result depends on which cases the store holds,
    never on when they came. Entity ids already given are kept where the
    same mentions still form the entity. State lives in tables the graph
    package owns inside the case store, so a step commits with its watermark.
    """

    def __init__(self, store: Store):
        self.store = store
        ensure_schema(store)

    @property
    def conn(self) -> sqlite3.Connection:
        """The store's connection for the calling thread (the writer inside a transaction)."""
        return self.store.conn

    # -- state ---------------------------------------------------------------

    def state(self, key: str, default: str = "0") -> str:
        row = self.conn.execute("SELECT value FROM graph_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_state(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO graph_state VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
        )

    def store_id(self) -> str:
        """A random id given to this case store once: which store a graph was built from."""
        value = self.state("store_id", "")
        if not value:
            value = uuid.uuid4().hex
            with self.store.transaction():
                self.set_state("store_id", value)
        return value

    def _new_entity_id(self, counter: list[int]) -> str:
        """The next entity id from ``counter`` (``[next number]``, written back by :meth:`reconcile`)."""
        counter[0] += 1
        return f"P{counter[0] - 1:07d}"

    # -- reading -------------------------------------------------------------

    def entities(self, entity_ids: Iterable[str]) -> dict[str, Entity]:
        found: dict[str, Entity] = {}
        ids = [i for i in dict.fromkeys(entity_ids) if i]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.conn.execute(
                f"SELECT * FROM graph_mentions WHERE entity_id IN ({','.join('?' * len(chunk))})", chunk
            )
            for row in rows:
                mention = _mention_from_row(row)
                found.setdefault(mention.entity_id, Entity(mention.entity_id, [])).add(mention)
        return found

    def case_mentions(self, case_id: str) -> list[Mention]:
        rows = self.conn.execute("SELECT * FROM graph_mentions WHERE case_id = ? ORDER BY position", (case_id,))
        return [_mention_from_row(r) for r in rows]

    # -- writing -------------------------------------------------------------

    def stage_cases(self, cases: Sequence[Case]) -> None:
        """Replace these cases' mentions with unresolved ones (call inside a transaction after
        :meth:`remove_cases`; then :meth:`reconcile`)."""
        rows, places = [], []
        for case in cases:
            mentions = [mention_of(case, i) for i in range(len(case.parties))]
            for m in mentions:
                m.entity_id = ""
                m.partners = [(o.name_key, o.phone, o.id_number, o.name.strip()) for o in mentions if o is not m]
            rows += [_mention_row(m) for m in mentions]
            places.append((case.id, address_key(case.location.get("address")), case.location.get("town"), case.location.get("community")))
        self.conn.executemany(f"INSERT INTO graph_mentions VALUES ({','.join('?' * _COLUMNS)})", rows)
        self.conn.executemany(
            "INSERT INTO graph_places VALUES (?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET "
            "street = excluded.street, town = excluded.town, community = excluded.community", places)

    def remove_cases(self, case_ids: Sequence[str]) -> set[str]:
        """Delete these cases' mentions; returns the entities they belonged to (to reconcile what is left of them)."""
        former: set[str] = set()
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            former |= {r[0] for r in self.conn.execute(f"SELECT entity_id FROM graph_mentions WHERE case_id IN ({marks})", chunk) if r[0]}
            self.conn.execute(f"DELETE FROM graph_mentions WHERE case_id IN ({marks})", chunk)
            self.conn.execute(f"DELETE FROM graph_places WHERE case_id IN ({marks})", chunk)
        return former

    def reconcile(self, case_ids: Iterable[str], entity_ids: Iterable[str] = (), *, done: set[int] | None = None) -> set[str]:
        """Resolve the components of these cases' mentions (and of these entities) afresh; returns the cases whose
        parties changed entity, the given ones included. ``done`` (rowids) skips components already resolved."""
        done = set() if done is None else done
        case_ids = list(dict.fromkeys(case_ids))
        seeds = []
        for start in range(0, len(case_ids), 500):
            chunk = case_ids[start : start + 500]
            seeds += self.conn.execute(
                f"SELECT rowid, * FROM graph_mentions WHERE case_id IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
        entity_ids = [e for e in entity_ids if e]
        for start in range(0, len(entity_ids), 500):
            chunk = entity_ids[start : start + 500]
            seeds += self.conn.execute(
                f"SELECT rowid, * FROM graph_mentions WHERE entity_id IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
        changed = set(case_ids)
        first = int(self.state("next_entity", "1"))
        counter = [first]
        for row in sorted(seeds, key=lambda r: r["rowid"]):
            if row["rowid"] in done:
                continue
            component = self._component(row)
            done.update(component)
            changed |= self._resolve_component(list(component.values()), counter)
        if counter[0] != first:
            self.set_state("next_entity", str(counter[0]))
        return changed

    def _component(self, seed: sqlite3.Row) -> dict[int, sqlite3.Row]:
        """Every mention reachable from ``seed`` through blocking keys or a shared entity (rowid -> row)."""
        found = {seed["rowid"]: seed}
        frontier = [seed]
        seen: set[tuple] = set()
        while frontier:
            keys = {k for row in frontier for k in _block_keys(row)} - seen
            seen |= keys
            frontier = []
            for key in sorted(keys, key=repr):
                for row in self.conn.execute(*_key_query(key)):
                    if row["rowid"] not in found:
                        found[row["rowid"]] = row
                        frontier.append(row)
            if len(found) > _COMPONENT_LIMIT:
                break
        return found

    def _resolve_component(self, rows: list[sqlite3.Row], counter: list[int]) -> set[str]:
        """Resolve one component's mentions in date order and write what changed; returns the cases touched."""
        mentions = [_mention_from_row(r) for r in rows]
        by_case: dict[str, list[Mention]] = {}
        for m in sorted(mentions, key=lambda m: (m.case_date or "", m.case_id, m.position)):
            by_case.setdefault(m.case_id, []).append(m)
        memory = _Memory()
        for case_mentions in by_case.values():
            for m, (cluster, reasons) in zip(case_mentions, memory.find(case_mentions)):
                memory.add(m, cluster, reasons)
        used: set[str] = set()
        touched: set[str] = set()
        updates = []
        for entity in sorted(memory.entities.values(), key=lambda e: min((m.case_date or "", m.case_id) for m in e.mentions)):
            counts = Counter(m.entity_id for m in entity.mentions if m.entity_id)
            reusable = [e for e, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if e not in used]
            entity_id = reusable[0] if reusable else self._new_entity_id(counter)
            used.add(entity_id)
            for m in entity.mentions:
                reasons = memory.reasons[(m.case_id, m.position)]
                if m.entity_id != entity_id or m.reasons != reasons:
                    if m.entity_id != entity_id:
                        touched.add(m.case_id)
                    updates.append((entity_id, _details(m, reasons), m.case_id, m.position))
        self.conn.executemany("UPDATE graph_mentions SET entity_id = ?, details = ? WHERE case_id = ? AND position = ?", updates)
        return touched


class _Memory:
    """Entities of one component being resolved in memory, found again by their blocking keys."""

    def __init__(self) -> None:
        self.entities: dict[int, Entity] = {}
        self.by_key: dict[tuple, list[int]] = {}
        self.merged: dict[int, int] = {}
        self.reasons: dict[tuple[str, int], list[str]] = {}
        self._next = 0

    def add(self, m: Mention, cluster: int | None, reasons: list[str]) -> int:
        self.reasons[(m.case_id, m.position)] = reasons
        if cluster is None:
            cluster = self._next
            self._next += 1
            self.entities[cluster] = Entity(str(cluster), [])
        cluster = self.cluster_of(cluster)
        entity = self.entities[cluster]
        entity.add(m)
        for key in _memory_keys(m):
            members = self.by_key.setdefault(key, [])
            if cluster not in members:
                members.append(cluster)
        return cluster

    def mergeable(self, a: int, b: int) -> bool:
        """Whether entity ``b`` may join ``a``: no case in both, no mention of ``b`` at odds with ``a``."""
        first, second = self.entities[a], self.entities[b]
        if {m.case_id for m in first.mentions} & {m.case_id for m in second.mentions} or _ambiguous([first, second]):
            return False
        return not any(conflicts(m, first) for m in second.mentions)

    def merge(self, a: int, b: int, reasons: list[str]) -> None:
        """Move entity ``b``'s mentions into ``a``; ``b``'s first mention says why."""
        entity, gone = self.entities[a], self.entities.pop(b)
        for number, m in enumerate(gone.mentions):
            if number == 0 and not self.reasons.get((m.case_id, m.position)):
                self.reasons[(m.case_id, m.position)] = reasons
            entity.add(m)
        for members in self.by_key.values():
            if b in members:
                members.remove(b)
                if a not in members:
                    members.append(a)
        self.merged[b] = a

    def cluster_of(self, cluster: int) -> int:
        while cluster in self.merged:
            cluster = self.merged[cluster]
        return cluster

    def candidates(self, m: Mention) -> dict[int, Entity]:
        """Entities sharing a blocking key with ``m``: the name in its town (or anywhere if it has none),
        its phone, ID number or registered name."""
        keys = [("phone", m.phone), ("id", m.id_number), ("reg", m.reg_key)]
        if m.town is None:
            keys.append(("name-any", m.name_key))
        else:
            keys += [("name", m.name_key, m.town), ("name", m.name_key, None)]
        ids = sorted({c for key in keys if key[1] for c in self.by_key.get(key, ())})
        return {c: self.entities[c] for c in ids}

    def find(self, mentions: Sequence[Mention]) -> list[tuple[int | None, list[str]]]:
        """Resolve mentions of one case against the entities so far: (cluster or None, reasons) each."""
        assigned: list[tuple[int | None, list[str]]] = [(None, []) for _ in mentions]
        candidates = [self.candidates(m) for m in mentions]
        taken: set[int] = set()

        def scored_all(i: int) -> list[tuple[int, Entity, list[str]]]:
            found = [(c, self.entities[c], _solo_evidence(mentions[i], self.entities[c]))
                     for c in candidates[i] if c in self.entities]
            return [(c, e, r) for c, e, r in found if r is not None]

        for i, m in enumerate(mentions):
            scored = [(c, e, _solo_evidence(m, e)) for c, e in candidates[i].items() if c not in taken and c in self.entities]
            scored = [(c, e, r) for c, e, r in scored if r is not None]
            if not scored:
                continue
            # The strongest evidence (ID, registered name, phone, address ...) decides; among equals, the
            # busiest entity, unless the equals are different companies (华辉物业 for 华辉物业服务 and 华辉物业管理).
            best = min(_strength(r) for _, _, r in scored)
            scored = [(c, e, r) for c, e, r in scored if _strength(r) == best]
            if _ambiguous(e for _, e, _ in scored):
                continue
            cluster, _, reasons = max(scored, key=lambda item: len(item[1].mentions))
            assigned[i] = (cluster, reasons)
            taken.add(cluster)
            # Evidence for other entities too joins them through this mention (A and C share a phone,
            # B and C an address: one person), unless something says they are two.
            for other, entity, evidence in scored_all(i):
                # Not on a bare name in one town: 华辉物业 may fit two companies; evidence that names one may join.
                if other != cluster and other not in taken and _strength(evidence) < _BARE_NAME \
                        and self.mergeable(cluster, other):
                    self.merge(cluster, other, evidence)
        for i, m in enumerate(mentions):
            if assigned[i][0] is not None:
                continue
            # The same name against the same other party again (rule 6), told from each side on its own.
            options = [(c, e, p) for c, e in candidates[i].items() if c not in taken and _name_candidate(m, e)
                       for p in [_shared_partner(m, e)] if p]
            if not options or _ambiguous(e for _, e, _ in options):
                continue
            cluster, _, partner = max(options, key=lambda item: len(item[1].mentions))
            assigned[i] = (cluster, ["同名", f"再次与同一对方（{partner}）发生纠纷"])
            taken.add(cluster)
        return assigned


def _shared_partner(m: Mention, entity: Entity) -> str | None:
    """The name of an other party ``m`` shares with one of ``entity``'s cases, or None.

    Their names must match and nothing may say they are two people (phones, ID numbers).
    """
    for name_key, phone, id_number, name in m.partners:
        if is_anonymous(name_key):
            continue
        for other in entity.mentions:
            for other_key, other_phone, other_id, _ in other.partners:
                if other_key == name_key and not (phone and other_phone and phone != other_phone) \
                        and not (id_number and other_id and id_number != other_id):
                    return name
    return None


def _memory_keys(m: Mention) -> list[tuple]:
    keys = [("phone", m.phone), ("id", m.id_number), ("reg", m.reg_key), ("name-any", m.name_key), ("name", m.name_key, m.town)]
    return [k for k in keys if k[1]]


def _block_keys(row: sqlite3.Row) -> list[tuple]:
    """The keys that find a stored mention's possible matches (an anonymous name finds none)."""
    keys: list[tuple] = [("entity", row["entity_id"]), ("phone", row["phone"]), ("id", row["id_number"]), ("reg", row["reg_key"])]
    if not is_anonymous(row["name_key"]):
        keys.append(("name", row["name_key"], row["town"]))
    return [k for k in keys if k[1]]


def _key_query(key: tuple) -> tuple[str, tuple]:
    """SQL for the stored mentions a blocking key finds: a name finds its town and mentions without a town;
    a name without a town finds the name anywhere."""
    select = "SELECT rowid, * FROM graph_mentions WHERE "
    kind = key[0]
    if kind == "name":
        if key[2] is None:
            return select + "name_key = ?", (key[1],)
        return select + "name_key = ? AND town = ? UNION ALL " + select + "name_key = ? AND town IS NULL", (key[1], key[2], key[1])
    column = {"entity": "entity_id", "phone": "phone", "id": "id_number", "reg": "reg_key"}[kind]
    return select + f"{column} = ?", (key[1],)


#: Mentions one component may hold; beyond it the component is resolved as far as it was read.
_COMPONENT_LIMIT = 50_000
_STRENGTH = ("身份证号相同", "登记名称相同", "电话相同", "地址相同", "隐藏号码相符", "同一镇街")
_BARE_NAME = _STRENGTH.index("同一镇街")


def _strength(reasons: list[str]) -> int:
    text = " ".join(reasons)
    return next((i for i, word in enumerate(_STRENGTH) if word in text), len(_STRENGTH))


def ensure_schema(store: Store) -> None:
    """Create or upgrade the graph package's tables in the store (a read when they are current)."""
    store.migrate_component("graph", MIGRATIONS)


#: Columns of ``graph_mentions``.
_COLUMNS = 17


def _details(m: Mention, reasons: list[str]) -> str:
    extra = {"industries": m.industries, "named_city": m.named_city, "reasons": reasons, "partners": m.partners}
    return json.dumps(extra, ensure_ascii=False)


def _mention_row(m: Mention) -> tuple:
    return (
        m.case_id, m.position, m.entity_id, m.case_date, m.name, m.name_key, m.kind, m.role, m.phone,
        m.masked_phone, m.id_number, m.address_key, m.town, m.district, m.city, _details(m, m.reasons), m.reg_key,
    )


def _mention_from_row(row: sqlite3.Row) -> Mention:
    extra = json.loads(row["details"])
    return Mention(
        case_id=row["case_id"],
        position=row["position"],
        name=row["name"],
        kind=row["kind"],
        name_key=row["name_key"],
        role=row["role"],
        case_date=row["case_date"],
        phone=row["phone"],
        masked_phone=row["masked_phone"],
        id_number=row["id_number"],
        address_key=row["address_key"],
        town=row["town"],
        district=row["district"],
        city=row["city"],
        industries=tuple(extra["industries"]),
        named_city=extra["named_city"],
        reg_key=row["reg_key"],
        entity_id=row["entity_id"],
        reasons=extra["reasons"],
        partners=[tuple(p) for p in extra.get("partners", [])],
    )
