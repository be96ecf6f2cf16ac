"""Scenario generator: realistic mediation records at any scale, with planted truth.

Records are written one by one (constant memory) in LeiAn's JSON Lines record
format, ids ``G0000001`` upwards. A few of them are planted, and what was
planted is returned as the ground truth (see ``docs/generator.md``):

- repeat chains: the same pair of parties, or the same party at the same
  address, coming back 2-5 times over months, written with realistic variants
  of names, phones, organisation names and addresses;
- decoys: people who share a common name (王伟, 李娜 ...) but live in
  different places and have different phones;
- hotspot spikes: a grid × 小类 × month cell far above its own baseline;
- respondent chains: one company or property manager against many claimants
  in two towns of a district (some of them 群体性纠纷), and decoys (two
  companies of one trade name in two cities, written short);
- escalating families: a couple's quarrel turning violent over three cases.

The mix of types, channels and outcomes follows a :class:`Profile` (by default
the proportions of the 武威 2022 report). The same seed gives the same bytes.

Examples
--------
>>> from leian.data.record import validate
>>> gen = Generator(20, seed=3)
>>> cases = [validate(r) for r in gen.records()]
>>> [c.id for c in cases[:2]], all(c.category for c in cases)
(['G0000001', 'G0000002'], True)
>>> sorted(gen.truth)  # doctest: +NORMALIZE_WHITESPACE
['date_range', 'decoys', 'entities', 'families', 'generator_version', 'n', 'repeat_chains', 'respondent_chains',
 'respondent_decoys', 'seed', 'spikes']
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import random
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from leian.data import generate_text as words
from leian.data.normalize import normalize_name, to_simplified
from leian.data.record import RESOLVED_OUTCOMES
from leian.data.taxonomy import Taxonomy

__all__ = ["GENERATOR_VERSION", "GenerateReport", "Generator", "Profile", "RespondentScore", "generate_to_file",
           "score_respondent_chains"]

GENERATOR_VERSION = 3

#: 武威 2022: 婚姻家庭 16.9%, 邻里 23.1%, 劳资 16.3%, 土地 11.3%; the other
#: 32.4% is spread over the remaining 大类 with these relative weights.
_REPORTED = {"婚姻家庭": 16.9, "邻里": 23.1, "劳动": 16.3, "土地": 11.3}
_OTHERS = {"物业": 5, "征地拆迁": 2, "道路交通": 4, "医疗": 1.5, "消费": 3, "借贷": 4, "合同": 3,
           "环境污染": 1.5, "校园": 1, "公司经营": 1, "治安": 2.5, "房屋": 2, "山林水利": 1, "其他": 1.5}
_DEFAULT_CATEGORIES = {**_REPORTED, **{k: round(32.4 * w / sum(_OTHERS.values()), 3) for k, w in _OTHERS.items()}}
#: Subtypes more common than their siblings (others weigh 1).
_DEFAULT_SUBTYPES = {"离婚": 3, "赡养": 2, "家庭成员矛盾": 2, "噪音": 3, "漏水": 3, "邻里口角": 2, "相邻关系": 2,
                     "欠薪": 5, "工伤": 2, "物业费": 3, "停车": 2, "宅基地": 3, "承包地": 3, "地界": 2,
                     "机动车事故": 2, "民间借贷": 3, "打架斗殴": 2, "口角冲突": 2, "房屋租赁": 2}
_DEFAULT_CHANNELS = {"网格员排查": 30, "当事人申请": 25, "12345热线": 12, "110非警务警情": 10,
                     "来信来访": 8, "法院委派": 8, "部门移交": 7}
_DISTRICT_WEIGHTS = {"宝安区": 3, "金湾区": 2, "凉州区": 2, "渝北区": 2, "江北区": 1.5, "潞州区": 1.5}
#: Subtypes that hotspots are planted in (common, place-bound disputes).
_SPIKE_SUBTYPES = ("漏水", "噪音", "欠薪", "物业费", "停车", "占用公共空间", "宠物伤人", "公共设施",
                   "大气污染", "噪声污染", "预付卡", "宅基地", "非机动车事故")
#: Subtypes whose chains can recur between the same pair / at the same address.
_PAIR_SUBTYPES = ("漏水", "噪音", "相邻关系", "通行", "邻里口角", "宅基地", "地界", "赡养", "家庭成员矛盾",
                  "民间借贷", "欠款", "房屋租赁", "欠薪", "物业费", "打架斗殴")
_ADDRESS_SUBTYPES = ("漏水", "噪音", "占用公共空间", "装修", "宠物伤人", "大气污染", "噪声污染")


@dataclass(frozen=True)
class Profile:
    """What the generated population looks like. Load overrides from JSON or TOML.

    Shares are relative weights (they need not sum to 1). A profile file holds
    any of these keys, e.g. ``{"categories": {"邻里": 40}, "success_rate": 0.97}``;
    ``categories`` and ``channels`` given in a file replace the defaults for
    the names they list.
    """

    categories: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_CATEGORIES))
    subtypes: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_SUBTYPES))
    channels: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_CHANNELS))
    success_rate: float = 0.975  # (调解成功 + 司法确认) / closed cases
    judicial_share: float = 0.08  # successes confirmed by a court (司法确认)
    category_only_types: float = 0.2  # records whose `type` names only the 大类
    start: str = "2024-11-01"
    end: str = "2026-10-31"
    chain_every: int = 250  # one repeat chain per this many records
    decoy_every: int = 1000  # one decoy group per this many records
    respondent_every: int = 500  # one respondent chain (欠薪企业, 物业公司 ...) per this many records
    family_every: int = 1000  # one escalating family (家暴) per this many records
    spikes: int | None = None  # hotspot spikes; None scales with n

    @classmethod
    def from_file(cls, path: str | Path) -> Profile:
        """Read a ``.json`` or ``.toml`` profile; unknown keys are an error."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("配置须是一组“配置项 = 值”（JSON 对象或 TOML 表），不是单个值或列表")
        return cls().replace(**data)

    def replace(self, **overrides: Any) -> Profile:
        """A copy with some values changed; mappings are merged into the defaults."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"未知的配置项：{'、'.join(unknown)}（可用：{'、'.join(sorted(known))}）")
        for name in ("categories", "subtypes", "channels"):
            if name in overrides:
                if not isinstance(overrides[name], dict):
                    raise ValueError(f"配置项 {name} 须是“名称 = 比例”的表（如 {name} = {{ 邻里 = 0.3 }}），不是 {overrides[name]!r}")
                overrides[name] = {**getattr(self, name), **overrides[name]}
        profile = dataclasses.replace(self, **overrides)
        profile.check()
        return profile

    def check(self) -> None:
        """Raise TypeError for values of the wrong type, ValueError for unknown names or impossible values."""
        taxonomy = Taxonomy.default()
        for table in ("categories", "subtypes", "channels"):
            for name, weight in getattr(self, table).items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                    raise TypeError(f"{table}.{name}：权重须为不小于 0 的数，实为 {weight!r}")
            if table != "subtypes" and not any(getattr(self, table).values()):
                raise ValueError(f"{table}：至少要有一个权重大于 0")
        for name in ("success_rate", "judicial_share", "category_only_types"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}：须为数字，实为 {value!r}")
        for name in ("chain_every", "decoy_every", "respondent_every", "family_every", "spikes"):
            value = getattr(self, name)
            if not (value is None and name == "spikes") and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name}：须为整数，实为 {value!r}")
        for name in self.categories:
            if name not in taxonomy.categories:
                raise ValueError(f"categories：{name!r} 不是分类体系中的大类")
        for name in self.subtypes:
            if taxonomy.parent_of(name) is None:
                raise ValueError(f"subtypes：{name!r} 不是分类体系中的小类")
        for name in self.channels:
            if name not in words.OPENINGS:
                raise ValueError(f"channels：{name!r} 不是已知的来源渠道（可用：{'、'.join(words.OPENINGS)}）")
        if not 0 < self.success_rate <= 1 or not 0 <= self.judicial_share <= 1 or not 0 <= self.category_only_types <= 1:
            raise ValueError("success_rate、judicial_share 和 category_only_types 须在 0 到 1 之间")
        try:
            start, end = dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end)
        except (TypeError, ValueError):
            raise ValueError(f"start、end：须为 YYYY-MM-DD 日期，实为 {self.start!r}、{self.end!r}") from None
        if end < start + dt.timedelta(days=59):
            raise ValueError("start 到 end 至少要跨两个月")
        if min(self.chain_every, self.decoy_every, self.respondent_every, self.family_every) < 1:
            raise ValueError("chain_every、decoy_every、respondent_every 和 family_every 至少为 1")


@dataclass
class GenerateReport:
    """What :func:`generate_to_file` wrote."""

    path: str
    records: int
    seconds: float
    truth_path: str | None
    chains: int
    decoys: int
    spikes: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@cache
def _compiled(template: str) -> tuple:
    return words.compile_template(template)


class _Slots(dict):
    """Slot values for one record; word slots are drawn only when a template uses them."""

    def __init__(self, rng: random.Random, values: dict[str, str]):
        super().__init__(values)
        self.rng = rng

    def __missing__(self, key: str) -> str:
        value = self.rng.choice(words.SLOT_WORDS[key])
        self[key] = value
        return value


def _cumulative(weights: list[float]) -> list[float]:
    return list(accumulate(weights))


@dataclass
class _Place:
    province: str
    city: str
    district: str
    town: str
    community: str
    grid: str
    village: bool

    def location(self) -> dict[str, str]:
        return {"province": self.province, "city": self.city, "district": self.district,
                "town": self.town, "community": self.community, "grid": self.grid}


@dataclass
class _Identity:
    """A real-world party; each appearance in a case is written as a variant of it."""

    name: str
    kind: str  # person | organization | group
    phone: str | None = None
    id_number: str | None = None
    address: tuple[str, ...] | None = None  # (street, number[, room]) inside the place
    org: tuple[str, str, str, str] | None = None  # city, brand, industry, suffix
    surname: str = ""


class Generator:
    """Streams ``n`` records for ``seed``; :attr:`truth` is complete once they are all drawn."""

    def __init__(self, n: int, seed: int, profile: Profile | None = None):
        if n < 1:
            raise ValueError("n 至少为 1")
        self.n = n
        self.seed = seed
        self.profile = profile or Profile()
        self.profile.check()
        self.rng = random.Random(seed)
        self.taxonomy = Taxonomy.default()
        self._build_calendar()
        self._build_places()
        self._build_types()
        self._build_mediators()
        self._people = 0
        self._phone_offset = self.rng.randrange(10**8)
        self._id_offset = self.rng.randrange(_ID_SPACE)
        self._later_rng = random.Random(f"leian-later-{seed}")
        self._later_people = _LATER_PEOPLE
        #: (city, trade name) of every planted organisation so far: each names one company.
        self._planted_brands: set[tuple[str, str]] = set()
        self._plan()

    # --- set-up ---------------------------------------------------------------
    def _build_calendar(self) -> None:
        start = dt.date.fromisoformat(self.profile.start)
        end = dt.date.fromisoformat(self.profile.end)
        self.days = [(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)]
        self.iso = [d.isoformat() for d in self.days]
        self.month_keys = sorted({d.strftime("%Y-%m") for d in self.days})
        month_index = {m: i for i, m in enumerate(self.month_keys)}
        self.month_of = [month_index[d.strftime("%Y-%m")] for d in self.days]
        self.month_days: list[list[int]] = [[] for _ in self.month_keys]
        for i, m in enumerate(self.month_of):
            self.month_days[m].append(i)
        self.when = [self._when_forms(d) for d in self.days]

    @staticmethod
    def _when_forms(day: dt.date) -> tuple[str, ...]:
        part = "上旬" if day.day <= 10 else "中旬" if day.day <= 20 else "下旬"
        return (f"{day.year}年{day.month}月{day.day}日", f"{day.month}月{day.day}日", f"{day.year}年{day.month}月",
                f"{day.month}月{part}", f"{day.year}年{day.month}月{day.day}日[上午|下午|晚上]")

    def _build_places(self) -> None:
        # The geography is the same for every seed: grids per community are fixed.
        shape = random.Random("leian-places-v1")
        self.places: list[_Place] = []
        weights: list[float] = []
        for (province, city, district), towns in words.PLACES.items():
            district_weight = _DISTRICT_WEIGHTS.get(district, 1.0)
            for town, communities in towns.items():
                for community in communities:
                    grids = shape.randint(2, 6)
                    for g in range(1, grids + 1):
                        self.places.append(_Place(province, city, district, town, community, f"{community}第{g}网格",
                                                  community.endswith("村")))
                        weights.append(district_weight / len(towns) / len(communities) / grids)
        self.place_cum = _cumulative(weights)
        self.place_weight = {p.grid: w / self.place_cum[-1] for p, w in zip(self.places, weights)}

    def _build_types(self) -> None:
        profile = self.profile
        cats = [c for c in self.taxonomy.categories if profile.categories.get(c, 0) > 0]
        self.categories = cats
        self.category_cum = _cumulative([profile.categories[c] for c in cats])
        self.subtype_choices = {}
        self.subtype_share: dict[str, float] = {}
        total = self.category_cum[-1]
        for cat in cats:
            subs = self.taxonomy.categories[cat]
            sub_weights = [profile.subtypes.get(s, 1.0) for s in subs]
            self.subtype_choices[cat] = (subs, _cumulative(sub_weights))
            for s, w in zip(subs, sub_weights):
                self.subtype_share[s] = profile.categories[cat] / total * w / sum(sub_weights)
        # Each subtype's `type` spellings: those naming the 小类, and those naming only the 大类.
        self.type_spellings: dict[str, tuple[list[str], list[str]]] = {}
        category_spellings = {cat: self._category_spellings(cat) for cat in self.taxonomy.categories}
        for cat, subs in self.taxonomy.categories.items():
            for sub in subs:
                candidates = [f"{sub}纠纷", f"{cat}/{sub}", f"{cat}纠纷/{sub}", f"{cat} › {sub}", sub,
                              f"{cat}-{sub}纠纷", *(f"{s}纠纷" for s in self._synonyms(sub))]
                exact = [t for t in dict.fromkeys(candidates) if self.taxonomy.classify(t) == (cat, sub)]
                self.type_spellings[sub] = (exact, category_spellings[cat])
        self.channels = list(profile.channels)
        self.channel_cum = _cumulative([profile.channels[c] for c in self.channels])

    def _category_spellings(self, cat: str) -> list[str]:
        candidates = [f"{cat}纠纷", f"{cat}类纠纷", *(f"{s}纠纷" for s in self._synonyms(cat))]
        return [t for t in dict.fromkeys(candidates) if self.taxonomy.classify(t) == (cat, None)]

    @staticmethod
    @cache
    def _taxonomy_synonyms() -> dict[str, tuple[str, ...]]:
        spec = json.loads((Path(__file__).with_name("taxonomy.json")).read_text(encoding="utf-8"))
        found: dict[str, tuple[str, ...]] = {}
        for cat in spec["categories"]:
            found[cat["name"]] = tuple(cat.get("synonyms", []))
            for sub in cat["subtypes"]:
                found.setdefault(sub["name"], tuple(sub.get("synonyms", [])))
        return found

    def _synonyms(self, name: str) -> tuple[str, ...]:
        return self._taxonomy_synonyms().get(name, ())

    def _build_mediators(self) -> None:
        rng = self.rng
        self.town_orgs: dict[str, tuple[str, list[str]]] = {}
        self.community_orgs: dict[str, tuple[str, list[str]]] = {}
        self.district_orgs: dict[str, dict[str, tuple[str, list[str]]]] = {}
        for (_, _, district), towns in words.PLACES.items():
            rooms = {
                "道路交通": (f"{district}交通事故纠纷人民调解室", [self._person_name(rng)[0] for _ in range(3)]),
                "医疗": (f"{district}医疗纠纷人民调解委员会", [self._person_name(rng)[0] for _ in range(3)]),
                "劳动": (f"{district}劳动争议调解室", [self._person_name(rng)[0] for _ in range(3)]),
                "物业": (f"{district}物业纠纷人民调解室", [self._person_name(rng)[0] for _ in range(2)]),
                "法院": (f"{district}人民法院诉前调解工作室", [self._person_name(rng)[0] for _ in range(3)]),
            }
            founder, surname = self._person_name(rng)
            studio = rng.choice((f"老{surname}说理室", f"{founder}调解工作室", f"老{surname}调解室", f"{surname}大姐说事室"))
            rooms["studio"] = (studio, [founder])
            self.district_orgs[district] = rooms
            for town, communities in towns.items():
                self.town_orgs[town] = (f"{town}人民调解委员会", [self._person_name(rng)[0] for _ in range(4)])
                for community in communities:
                    kind = "村" if community.endswith("村") else "社区"
                    org = f"{community}人民调解委员会" if kind == "村" else f"{community}居民调解委员会"
                    self.community_orgs[(town, community)] = (org, [self._person_name(rng)[0] for _ in range(2)])

    # --- people and organisations ---------------------------------------------
    @staticmethod
    def _person_name(rng: random.Random, male: bool | None = None) -> tuple[str, str]:
        surname = rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
        male = rng.random() < 0.5 if male is None else male
        if rng.random() < 0.25:
            given = rng.choice(words.SINGLE_MALE if male else words.SINGLE_FEMALE)
        else:
            first, second = words.GIVEN_MALE if male else words.GIVEN_FEMALE
            given = rng.choice(first) + rng.choice(second)
        return surname + given, surname

    def _new_person(self, place: _Place, with_id: float = 0.12) -> _Identity:
        """A new person: unique phone and ID number (from a counter, so never shared by chance)."""
        rng = self.rng
        self._people += 1
        code = (self._people * 7919 + self._id_offset) % _ID_SPACE
        birth, seq = _BIRTH_START + dt.timedelta(days=code // 1000), code % 1000
        name, surname = self._person_name(rng, male=seq % 2 == 1)
        phone = rng.choice(words.MOBILE_PREFIXES) + f"{(self._people * 48271 + self._phone_offset) % 10**8:08d}"
        id_number = None
        if rng.random() < with_id:
            body = f"{words.ID_REGIONS[place.district]}{birth:%Y%m%d}{seq:03d}"
            id_number = body + _id_check(body)
        return _Identity(name, "person", phone=phone, id_number=id_number, address=self._new_address(place),
                         surname=surname)

    def _new_address(self, place: _Place) -> tuple[str, ...]:
        rng = self.rng
        if place.village:
            return (rng.choice(words.STREETS), str(rng.randint(1, 88)))
        return (rng.choice(words.ESTATES), str(rng.randint(1, 30)), f"{rng.randint(1, 32)}0{rng.randint(1, 6)}")

    def _new_org(self, kind: str, place: _Place, brands: tuple[str, ...] = words.BRANDS) -> _Identity:
        """A new organisation; planted ones draw their trade name from ``words.PLANTED_BRANDS``, which no
        background organisation uses: a registered name (珠海市恒达建筑劳务有限公司) is one company in its city."""
        rng = self.rng
        industries, full_suffix, _ = words.ORG_KINDS[kind]
        industry = rng.choice(industries)
        if kind == "hospital":
            name = rng.choice((f"{place.district}{industry}", f"{place.town}卫生院", f"{place.city}{industry}"))
        elif kind == "school":
            name = rng.choice((f"{place.town}{industry}", f"{place.district}{industry}", f"{place.community}小学"))
        elif kind == "village":
            name = f"{place.community}{'村民' if place.village else '居民'}委员会"
        elif kind == "gov":
            name = rng.choice((f"{place.town}人民政府", f"{place.district}{industry}"))
        elif kind == "insurer":
            name = f"{rng.choice(('人寿', '平安', '太平洋', '人民'))}{industry}{place.city}中心支公司"
        else:
            brand = rng.choice(brands)
            if brands is words.PLANTED_BRANDS:
                brand = self._unused_planted_brand(brand, (place.city,))
            identity = _Identity(f"{place.city}{brand}{industry}{full_suffix}", "organization",
                                 org=(place.city, brand, industry, kind))
            if rng.random() < 0.4:
                identity.phone = f"0{rng.randint(100, 999)}-{rng.randint(2000000, 8999999)}"
            return identity
        return _Identity(name, "organization")

    def _unused_planted_brand(self, brand: str, cities: tuple[str, ...]) -> str:
        """``brand``, or when a planted organisation of one of ``cities`` has it, a trade name none there has.

        A registered name is one company in its city, so two planted companies sharing a city and a trade
        name would be one in the data and two in the truth. The 36 planted names run out past a few hundred
        planted organisations (100k records); two of them joined (鼎盛瑞祥) give 1,260 more per city, and
        three (1M records need some) 42,840. Drawing only on a clash keeps the bytes of a generation without one.
        """
        parts, misses = 2, 0
        while any((city, brand) in self._planted_brands for city in cities):
            misses += 1
            if misses > 100:  # the names of this length are nearly all taken in these cities: join one more
                parts, misses = parts + 1, 0
            brand = "".join(self.rng.sample(words.PLANTED_BRANDS, parts))
        self._planted_brands.update((city, brand) for city in cities)
        return brand

    def _new_group(self, place: _Place, unit: str) -> _Identity:
        leader = self._new_person(place, with_id=0)
        count = self.rng.randint(3, 60)
        return _Identity(f"{leader.name}等{count}{unit}", "group", phone=leader.phone, surname=leader.surname)

    def _new_party(self, kind: str, place: _Place, subtype: str, brands: tuple[str, ...] = words.BRANDS) -> _Identity:
        if kind == "person":
            return self._new_person(place)
        if kind == "group":
            return self._new_group(place, "户" if subtype in ("土地流转", "水污染", "矿山开采") else "人")
        return self._new_org(kind, place, brands)

    # --- variants ---------------------------------------------------------------
    def _name_variant(self, identity: _Identity) -> str:
        rng = self.rng
        if identity.kind == "organization" and identity.org:
            city, brand, industry, kind = identity.org
            _, full_suffix, short_suffix = words.ORG_KINDS[kind]
            return rng.choice((
                identity.name,
                f"{city.removesuffix('市')}{brand}{industry}{short_suffix}",
                f"{brand}{industry}{full_suffix}",
                _short_org(brand, industry),
            ))
        if identity.kind != "person":
            return identity.name
        name, cut = identity.name, len(identity.surname)
        spaced = f"{name[:cut]} {name[cut:]}"
        traditional = _to_traditional(name)
        if traditional == name or to_simplified(traditional) != name:
            traditional = spaced  # only a 繁體 form that converts back to the same name
        forms = (name, spaced, f"{name[:cut]}\u3000{name[cut:]}", f" {name} ", traditional)
        return rng.choices(forms, cum_weights=_NAME_FORM_CUM)[0]

    def _phone_variant(self, phone: str | None) -> str | None:
        if phone is None or not phone.startswith("1"):
            return phone
        forms = (phone, f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"{phone[:3]} {phone[3:7]} {phone[7:]}",
                 f"+86{phone}", f"{phone[:3]}****{phone[7:]}", None)
        return self.rng.choices(forms, cum_weights=_PHONE_FORM_CUM)[0]

    def _address_text(self, address: tuple[str, ...], place: _Place, variant: bool) -> str:
        """The street address inside the place, with the place prefix at the town.

        Variants add or drop the city/district prefix and write the house
        number as 号/号院 or building/room as 栋/号楼/室.
        """
        rng = self.rng
        form = rng.randrange(4) if variant else 0
        if len(address) == 2:
            street, number = address
            local = f"{street}{number}号" + ("院" if form == 1 else "")
        else:
            estate, building, room = address
            local = (f"{estate}{building}栋{room}室", f"{estate}{building}号楼{room}室",
                     f"{estate}{building}栋{room}", f"{estate}{building}-{room}")[form]
        prefix = rng.choice(("", place.district, place.city.removesuffix("市") + place.district, place.city + place.district)) if variant else ""
        return f"{prefix}{place.town}{place.community}{local}"

    def _party(self, identity: _Identity, role: str, place: _Place, variant: bool) -> dict[str, Any]:
        party: dict[str, Any] = {"name": self._name_variant(identity) if variant else identity.name,
                                 "role": role, "kind": identity.kind}
        phone = self._phone_variant(identity.phone) if variant else identity.phone
        if phone and (variant or self.rng.random() < 0.85):
            party["phone"] = phone
        if identity.id_number and (not variant or self.rng.random() < 0.5):
            party["id_number"] = identity.id_number
        if identity.address and (variant or self.rng.random() < 0.4):
            party["address"] = self._address_text(identity.address, place, variant)
        return party

    def _short(self, identity: _Identity, written: str) -> str:
        if identity.kind == "person":
            return f"{identity.surname}某"
        if identity.kind == "group":
            return f"{identity.surname}某等人"
        if identity.org:
            return _short_org(identity.org[1], identity.org[2])
        return normalize_name(written)

    # --- planting ------------------------------------------------------------------
    def _plan(self) -> None:
        """Decide the planted cases up front; only they are held in memory."""
        n, profile = self.n, self.profile
        budget = n // 3
        spike_total = 0
        spikes = []
        want_spikes = profile.spikes if profile.spikes is not None else min(20, 3 + n // 5000)
        self.spike_cells: dict[tuple[str, str], int] = {}
        for _ in range(want_spikes if n >= 60 else 0):
            spike = self._plan_spike()
            if spike is None or spike_total + len(spike["days"]) > budget // 2:
                break
            spike_total += len(spike["days"])
            spikes.append(spike)
        planted: list[dict[str, Any]] = []
        for spike in spikes:
            for day in spike["days"]:
                planted.append({"kind": "spike", "spike": spike, "day": day, "place": spike["place"],
                                "subtype": spike["subtype"]})
        self.entities: dict[str, dict[str, Any]] = {}
        self.chains: list[dict[str, Any]] = []
        self.decoys: list[dict[str, Any]] = []
        chain_count = n // profile.chain_every if n >= 50 else 0
        decoy_count = n // profile.decoy_every if n >= 200 else 0
        for _ in range(chain_count):
            if len(planted) >= budget:
                break
            planted.extend(self._plan_chain())
        for _ in range(max(decoy_count, 1 if n >= 200 else 0)):
            if len(planted) >= budget:
                break
            planted.extend(self._plan_decoy())
        slots = self.rng.sample(range(n), len(planted))
        self.planted = dict(zip(slots, planted))
        for index, spec in self.planted.items():
            spec["id"] = _case_id(index)
        self.spikes = spikes
        self.baseline = {(s["place"].grid, s["subtype"]): 0 for s in spikes}
        self._plan_later_scenarios()

    def _plan_later_scenarios(self) -> None:
        """Respondent chains, their decoys and escalating families (generator version 2).

        They draw from a random stream of their own and replace background records
        whose randomness is still drawn, so every other record keeps its bytes.
        """
        n, profile = self.n, self.profile
        self.respondents: list[dict[str, Any]] = []
        self.respondent_decoys: list[dict[str, Any]] = []
        self.families: list[dict[str, Any]] = []
        specs: list[dict[str, Any]] = []
        drawn = {s for s, share in self.subtype_share.items() if share > 0}
        self._respondent_subtypes = [(s, k) for s, k in (("欠薪", "company"), ("服务质量", "property"), ("公共设施", "property"))
                                     if s in drawn]
        with self._later():
            if n >= 200 and self._respondent_subtypes:
                for _ in range(max(1, n // profile.respondent_every)):
                    specs += self._plan_respondent()
            if n >= 200 and "欠薪" in drawn:
                for _ in range(max(1, n // (profile.respondent_every * 2))):
                    specs += self._plan_respondent_decoy()
            if n >= 200 and {"家庭成员矛盾", "家庭暴力"} <= drawn:
                for _ in range(max(1, n // profile.family_every)):
                    specs += self._plan_family()
            free = [i for i in range(n) if i not in self.planted]
            specs = specs[: len(free) // 3]
            slots = self.rng.sample(free, len(specs))
        self.later = dict(zip(slots, specs))
        for index, spec in self.later.items():
            spec["id"] = _case_id(index)

    @contextlib.contextmanager
    def _later(self) -> Iterator[None]:
        """Draw from the later scenarios' random stream and people counter (restored afterwards)."""
        saved = self.rng, self._people
        self.rng, self._people = self._later_rng, self._later_people
        try:
            yield
        finally:
            self._later_rng, self._later_people = self.rng, self._people
            self.rng, self._people = saved

    def _district_places(self, towns: int) -> list[_Place]:
        """Places in ``towns`` different towns of one district."""
        while True:
            first = self._pick_place()
            others = {p.town: p for p in self.places if p.district == first.district and p.town != first.town}
            if len(others) >= towns - 1:
                picked = [first] + [others[t] for t in self.rng.sample(sorted(others), towns - 1)]
                return picked

    def _spread(self, count: int, low: int, high: int, *, recent: bool = False) -> list[int]:
        """``count`` day indices with gaps of ``low``..``high`` days (ending near the last day when ``recent``)."""
        gaps = [self.rng.randint(low, high) for _ in range(count - 1)]
        last = len(self.days) - 1
        span = sum(gaps)
        start = last - span - self.rng.randint(0, 20) if recent else self.rng.randint(0, max(0, last - span))
        return [min(last, max(0, d)) for d in accumulate([max(0, start), *gaps])]

    def _plan_respondent(self) -> list[dict[str, Any]]:
        """One company (欠薪) or property manager against many claimants, in two towns of one district."""
        rng = self.rng
        group = rng.random() < 0.4
        subtype, kind = rng.choice(self._respondent_subtypes)
        places = self._district_places(2)
        while any((p.grid, subtype) in self.spike_cells for p in places):  # spike cells hold planted cases only
            places = self._district_places(2)
        home = places[0]
        respondent = self._new_org(kind, home, words.PLANTED_BRANDS)
        if kind == "company":
            brand = respondent.org[1]
            respondent = _Identity(f"{home.city}{brand}建筑劳务有限公司", "organization", phone=respondent.phone,
                                   org=(home.city, brand, "建筑劳务", "company"))
        entity_id = self._entity(respondent)
        count = rng.randint(5, 7) if group else rng.randint(3, 4)
        days = sorted(self._spread(count, 2, 5) if group else self._spread(count, 31, 55))
        chain = {"entity_id": entity_id, "name": respondent.name, "subtype": subtype, "case_ids": [],
                 "group_dispute": group, "claimants": count}
        self.respondents.append(chain)
        specs = []
        for number, day in enumerate(days):
            place = places[number % 2]
            claimant = self._new_person(place)
            # Where the company is not at home a registered name is needed; at home people also say 恒达劳务.
            spec = {"kind": "respondent", "group": chain, "day": day, "place": place, "subtype": subtype,
                    "parties": [(claimant, None), (respondent, entity_id)], "full_name": place is not home or number < 2}
            specs.append(spec)
        return specs

    def _plan_respondent_decoy(self) -> list[dict[str, Any]]:
        """Two companies of one trade name in two cities, each a respondent twice, written short: never one chain."""
        rng = self.rng
        brand = rng.choice(words.PLANTED_BRANDS)
        places: list[_Place] = []
        for _ in range(2):
            place = self._pick_place()
            while place.city in {p.city for p in places} or (place.grid, "欠薪") in self.spike_cells:
                place = self._pick_place()
            places.append(place)
        brand = self._unused_planted_brand(brand, tuple(p.city for p in places))
        group = {"name": f"{brand}劳务", "entity_ids": [], "case_ids": []}
        self.respondent_decoys.append(group)
        specs = []
        for place in places:
            company = _Identity(f"{place.city}{brand}建筑劳务有限公司", "organization", org=(place.city, brand, "建筑劳务", "company"))
            entity_id = self._entity(company)
            group["entity_ids"].append(entity_id)
            for day in self._spread(2, 20, 60):
                specs.append({"kind": "respondent_decoy", "group": group, "day": day, "place": place, "subtype": "欠薪",
                              "parties": [(self._new_person(place), None), (company, entity_id)], "short_name": True})
        return specs

    def _plan_family(self) -> list[dict[str, Any]]:
        """A couple whose quarrels turn violent: three cases in about five months, the last one recent."""
        rng = self.rng
        place = self._pick_place()
        wife = self._new_person(place, with_id=0)
        wife.name, wife.surname = self._person_name(rng, male=False)
        husband = self._new_person(place, with_id=0)
        husband.address = wife.address
        entity_ids = [self._entity(wife), self._entity(husband)]
        family = {"entity_ids": entity_ids, "case_ids": [], "expected_level": "高"}
        self.families.append(family)
        days = self._spread(3, 40, 70, recent=True)
        steps = ("家庭成员矛盾", "家庭暴力", "家庭暴力")
        return [{"kind": "family", "group": family, "day": day, "place": place, "subtype": subtype, "step": number,
                 "parties": [(wife, entity_ids[0]), (husband, entity_ids[1])]}
                for number, (day, subtype) in enumerate(zip(days, steps))]

    def _plan_spike(self) -> dict[str, Any] | None:
        rng = self.rng
        # Spikes need a 小类 that the written `type` can name (其他 cannot).
        drawn = [s for s, share in self.subtype_share.items() if share > 0 and self.type_spellings[s][0]]
        candidates = [s for s in _SPIKE_SUBTYPES if s in drawn] or drawn
        for _ in range(20 if candidates else 0):
            place = self._pick_place()
            subtype = rng.choice(candidates)
            if (place.grid, subtype) in self.spike_cells:
                continue
            month = rng.randrange(1, len(self.month_keys))
            expected = self.n * self.place_weight[place.grid] * self.subtype_share[subtype] / len(self.month_keys)
            count = max(8, math.ceil(4 * expected + 8))
            days = sorted(rng.choice(self.month_days[month]) for _ in range(count))
            self.spike_cells[(place.grid, subtype)] = month
            return {"place": place, "subtype": subtype, "month": month, "days": days}
        return None

    def _entity(self, identity: _Identity) -> str:
        entity_id = f"E{len(self.entities) + 1:06d}"
        self.entities[entity_id] = {"name": identity.name, "kind": identity.kind, "mentions": []}
        return entity_id

    def _chain_days(self, length: int) -> list[int]:
        rng = self.rng
        gaps = [rng.randint(20, 120) for _ in range(length - 1)]
        last = len(self.days) - 1
        start = rng.randint(0, max(0, last - sum(gaps)))
        days = list(accumulate([start, *gaps]))
        return days if days[-1] <= last else list(range(start, start + length))

    def _free_subtype(self, place: _Place, choices: tuple[str, ...]) -> str:
        """A subtype for a planted case that stays out of the spike cells."""
        allowed = [s for s, share in self.subtype_share.items() if share > 0 and (place.grid, s) not in self.spike_cells]
        return self.rng.choice([s for s in choices if s in allowed] or allowed)

    def _plan_chain(self) -> list[dict[str, Any]]:
        rng = self.rng
        place = self._pick_place()
        length = rng.choices((2, 3, 4, 5), weights=(45, 30, 15, 10))[0]
        days = self._chain_days(length)
        if rng.random() < 0.6:
            subtype = self._free_subtype(place, _PAIR_SUBTYPES)
            applicant_kind, respondent_kind = words.SUBTYPES[subtype].parties.split(">")
            first = self._new_party("person" if applicant_kind == "group" else applicant_kind, place, subtype,
                                    words.PLANTED_BRANDS)
            second = self._new_party(respondent_kind, place, subtype, words.PLANTED_BRANDS)
            if first.kind == second.kind == "person" and rng.random() < 0.3:
                second.address = first.address  # family members or co-tenants at one address
            members = [first, second]
            chain = {"kind": "same_pair", "address": None}
        else:
            subtype = self._free_subtype(place, _ADDRESS_SUBTYPES)
            respondent_kind = words.SUBTYPES[subtype].parties.split(">")[1]
            kind = respondent_kind if respondent_kind == "factory" else "person"
            first = self._new_party(kind, place, subtype, words.PLANTED_BRANDS)
            if first.address is None:
                first.address = self._new_address(place)
            members = [first]
            chain = {"kind": "same_party_same_address", "address": self._address_text(first.address, place, False)}
        entity_ids = [self._entity(m) for m in members]
        chain.update(case_ids=[], entity_ids=entity_ids)
        self.chains.append(chain)
        specs = []
        for number, day in enumerate(days):
            if chain["kind"] == "same_pair":
                pair = [(members[0], entity_ids[0]), (members[1], entity_ids[1])]
                if members[1].kind == "person" and rng.random() < 0.3:
                    pair.reverse()  # the other side comes first this time
                parties = pair
            else:
                counter = self._new_person(place)
                parties = [(counter, None), (members[0], entity_ids[0])]
            specs.append({"kind": "chain", "chain": chain, "day": day, "place": place, "subtype": subtype,
                          "parties": parties, "address_of": members[0] if chain["kind"] != "same_pair" else None,
                          "repeat": number})
        return specs

    def _plan_decoy(self) -> list[dict[str, Any]]:
        rng = self.rng
        name = rng.choice(words.COMMON_NAMES)
        people = rng.randint(2, 3)
        districts: list[str] = []
        group = {"name": name, "entity_ids": [], "case_ids": []}
        self.decoys.append(group)
        specs = []
        for _ in range(people):
            place = self._pick_place()
            while place.district in districts:
                place = self._pick_place()
            districts.append(place.district)
            person = self._new_person(place, with_id=0)
            person.name, person.surname = name, name[:2] if name.startswith("欧阳") else name[:1]
            entity_id = self._entity(person)
            group["entity_ids"].append(entity_id)
            for day in sorted(rng.sample(range(len(self.days)), 2)):
                subtype = self._free_subtype(place, tuple(s for s, spec in words.SUBTYPES.items()
                                                          if spec.parties == "person>person"))
                counter = self._new_person(place)
                parties = [(person, entity_id), (counter, None)]
                if rng.random() < 0.5:
                    parties.reverse()
                specs.append({"kind": "decoy", "decoy": group, "day": day, "place": place, "subtype": subtype,
                              "parties": parties, "address_of": None, "repeat": 0})
        return specs

    # --- drawing ----------------------------------------------------------------------
    def _pick_place(self) -> _Place:
        return self.rng.choices(self.places, cum_weights=self.place_cum)[0]

    def _pick_subtype(self) -> str:
        rng = self.rng
        cat = rng.choices(self.categories, cum_weights=self.category_cum)[0]
        subs, cum = self.subtype_choices[cat]
        return rng.choices(subs, cum_weights=cum)[0]

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield the ``n`` records in id order; fills :attr:`truth` as it goes."""
        for index in range(self.n):
            spec = self.planted.get(index)
            later = self.later.get(index)
            if later is not None:
                self._background_record(index, count=False)  # drawn and dropped: later records keep their bytes
                with self._later():
                    yield self._later_record(index, later)
                continue
            yield self._planted_record(index, spec) if spec else self._background_record(index)

    def _later_record(self, index: int, spec: dict[str, Any]) -> dict[str, Any]:
        """A record of a respondent chain, a respondent decoy or an escalating family."""
        rng = self.rng
        kind, place = spec["kind"], spec["place"]
        record, _ = self._compose(index, place, spec["subtype"], spec["day"], spec["parties"], None, variant=True,
                                  repeat=spec.get("step", 0))
        respondent = spec["parties"][1][0]
        if kind in ("respondent", "respondent_decoy") and respondent.org:
            city, brand, industry, org_kind = respondent.org
            if spec.get("full_name"):
                record["parties"][1]["name"] = respondent.name
            elif kind == "respondent_decoy" or spec.get("short_name"):
                record["parties"][1]["name"] = _short_org(brand, industry)
        if kind == "family":
            husband, wife = record["parties"][1]["name"].strip(), record["parties"][0]["name"].strip()
            step = spec["step"]
            if step >= 1:
                record["text"] += rng.choice(_ESCALATIONS[step]).format(b=husband, a=wife)
                record["channel"] = "110非警务警情"
            if step == 2:
                record["handling"] += rng.choice(("派出所已向{b}出具家庭暴力告诫书。", "法院已发出人身安全保护令，禁止{b}骚扰{a}。")).format(b=husband, a=wife)
                record["outcome"] = "处理中"
                record.pop("closed_on", None)
                record.pop("agreement", None)
        for position, (_, entity_id) in enumerate(spec["parties"]):
            if entity_id:
                self.entities[entity_id]["mentions"].append([record["id"], position])
        spec["group"]["case_ids"].append(record["id"])
        return record

    def _background_record(self, index: int, *, count: bool = True) -> dict[str, Any]:
        rng = self.rng
        place = self._pick_place()
        day = rng.randrange(len(self.days))
        subtype = self._pick_subtype()
        while self.spike_cells.get((place.grid, subtype)) == self.month_of[day]:
            subtype = self._pick_subtype()
        applicant_kind, respondent_kind = words.SUBTYPES[subtype].parties.split(">")
        if applicant_kind == "group" and rng.random() < 0.5:
            applicant_kind = "person"
        if subtype in ("欠薪", "经济补偿") and rng.random() < 0.3:
            applicant_kind = "group"
        parties = [(self._new_party(applicant_kind, place, subtype), None),
                   (self._new_party(respondent_kind, place, subtype), None)]
        record, reveals = self._compose(index, place, subtype, day, parties, None, variant=False, repeat=0)
        cell = (place.grid, subtype)
        if count and reveals and cell in self.baseline:
            self.baseline[cell] += 1
        return record

    def _planted_record(self, index: int, spec: dict[str, Any]) -> dict[str, Any]:
        place, subtype, day = spec["place"], spec["subtype"], spec["day"]
        if spec["kind"] == "spike":
            applicant_kind, respondent_kind = words.SUBTYPES[subtype].parties.split(">")
            parties = [(self._new_party(applicant_kind, place, subtype), None),
                       (self._new_party(respondent_kind, place, subtype), None)]
            record, _ = self._compose(index, place, subtype, day, parties, None, variant=False, repeat=0,
                                      subtype_type=True)
            spec["spike"].setdefault("case_ids", []).append(record["id"])
            return record
        record, _ = self._compose(index, place, subtype, day, spec["parties"], spec["address_of"], variant=True,
                                  repeat=spec["repeat"])
        for position, (_, entity_id) in enumerate(spec["parties"]):
            if entity_id:
                self.entities[entity_id]["mentions"].append([record["id"], position])
        group = spec.get("chain") or spec.get("decoy")
        group["case_ids"].append(record["id"])
        return record

    # --- one record ------------------------------------------------------------------------
    def _compose(self, index: int, place: _Place, subtype: str, day: int, parties: list, address_of: _Identity | None,
                 variant: bool, repeat: int, subtype_type: bool = False) -> tuple[dict[str, Any], bool]:
        """Write one record; returns it and whether its ``type`` names the 小类."""
        rng = self.rng
        spec = words.SUBTYPES[subtype]
        category = self.taxonomy.parent_of(subtype)
        channel = rng.choices(self.channels, cum_weights=self.channel_cum)[0]
        last = len(self.days) - 1
        lag = rng.choices((0, 1, rng.randint(2, 7), rng.randint(8, 30)), weights=(40, 20, 25, 15))[0]
        if channel == "法院委派":
            lag += rng.randint(10, 40)
        reported = min(day + lag, last)
        closed: int | None = reported + rng.choices((rng.randint(0, 3), rng.randint(4, 20), rng.randint(21, 90)),
                                                    weights=(30, 50, 20))[0]
        outcome = self._outcome(category) if closed <= last else "处理中"
        if outcome == "处理中":
            closed = None
        claim = agreed = None
        if spec.amount:
            low, high = spec.amount
            claim = _round_amount(math.exp(rng.uniform(math.log(low), math.log(high))))
            agreed = _round_amount(claim * rng.uniform(0.45, 1.0))
        written = [self._party(identity, role, place, variant) for (identity, _), role in zip(parties, ("申请人", "被申请人"))]
        if subtype == "机动车事故" and rng.random() < 0.3:
            insurer = self._new_org("insurer", place)
            written.append({"name": insurer.name, "role": "第三人", "kind": "organization"})
        first, second = parties[0][0], parties[1][0]
        address = self._address_text(address_of.address, place, True) if address_of else \
            self._address_text(first.address, place, False) if first.address and rng.random() < 0.5 else None
        slots = _Slots(rng, {
            "A": written[0]["name"].strip(), "B": written[1]["name"].strip(),
            "a": self._short(first, written[0]["name"]), "b": self._short(second, written[1]["name"]),
            "community": place.community, "town": place.town, "district": place.district, "grid": place.grid,
            "addr": address or f"{place.town}{place.community}",
            "when": words.render(_compiled(rng.choice(self.when[day])), rng, {}),
            "rwhen": words.render(_compiled(rng.choice(self.when[reported])), rng, {}) if reported != day
            else rng.choice(("近日", "日前", "当天")),
            "n": str(rng.randint(2, 9)), "m": str(rng.randint(2, 12)), "yrs": str(rng.randint(2, 25)),
            "age": str(rng.randint(62, 93)), "days": str(rng.randint(3, 30)), "rent": str(rng.choice((300, 500, 600, 800, 1000))),
            "claim": str(claim or rng.randint(2, 50) * 100),
        })
        text = self._text(channel, spec, category, slots, repeat)
        title = self._title(spec, place, slots)
        exact, category_only = self.type_spellings[subtype]
        reveals = subtype_type or not category_only or rng.random() >= self.profile.category_only_types
        type_text = rng.choice(exact if reveals and exact else category_only)
        reveals = reveals and bool(exact)
        mediators = self._mediators(place, category, channel)
        slots["med"] = mediators[0]["name"]
        slots["org"] = mediators[0]["org"]
        amount = agreed if outcome in RESOLVED_OUTCOMES else claim
        location = place.location()
        if address:
            location["address"] = address
        record: dict[str, Any] = {"id": _case_id(index), "title": title, "type": type_text, "text": text,
                                  "occurred_on": self.iso[day], "reported_on": self.iso[reported]}
        if closed is not None:
            record["closed_on"] = self.iso[closed]
        record.update(location=location, parties=written, mediators=mediators, channel=channel,
                      handling=self._handling(category, outcome, slots), outcome=outcome)
        agreement = self._agreement(outcome, amount, slots, place, closed)
        if agreement:
            record["agreement"] = agreement
        if amount is not None:
            record["amount"] = amount
        tags = []
        if any(p["kind"] == "group" for p in written):
            tags.append("群体性纠纷")
        if channel == "法院委派":
            tags.append("诉前调解")
        if rng.random() < 0.01:
            tags.append("典型案例")
        if tags:
            record["tags"] = tags
        return record, reveals

    def _outcome(self, category: str) -> str:
        rng = self.rng
        if rng.random() < self.profile.success_rate:
            return "司法确认" if rng.random() < self.profile.judicial_share else "调解成功"
        failures = ("调解失败", "转诉讼", "撤回", "转仲裁") if category == "劳动" else ("调解失败", "转诉讼", "撤回")
        return rng.choice(failures)

    def _text(self, channel: str, spec: words.Subtype, category: str, slots: _Slots, repeat: int) -> str:
        rng = self.rng
        opening = words.render(_compiled(rng.choice(words.OPENINGS[channel])), rng, slots)
        fact = words.render(_compiled(rng.choice(spec.facts)), rng, slots)
        if slots["a"] in opening:
            # "王某来访反映：王某称，……" reads as a copy-paste slip: say who only once.
            for said in (f"{slots['a']}称，", f"{slots['a']}反映，"):
                fact = fact.removeprefix(said)
        pieces = [
            opening,
            fact,
            words.render(_compiled(rng.choice(words.CATEGORY_DETAILS[category])), rng, slots),
            words.render(_compiled(rng.choice(words.CONTEXT_NOTES)), rng, slots) if rng.random() < 0.6 else "",
            words.render(_compiled(rng.choice(words.CATEGORY_DEMANDS[category])), rng, slots),
        ]
        if repeat and rng.random() < 0.6:
            pieces.insert(1, words.render(_compiled(rng.choice(_REPEAT_NOTES)), rng, slots))
        return "".join(pieces)

    def _title(self, spec: words.Subtype, place: _Place, slots: _Slots) -> str:
        rng = self.rng
        phrase = rng.choice(spec.titles).removesuffix("纠纷")
        form = rng.random()
        if form < 0.5:
            return f"{place.town}{place.community}{phrase}纠纷"
        if form < 0.7:
            return f"{place.community}{phrase}纠纷"
        if form < 0.9:
            return f"{slots['a']}与{slots['b']}{phrase}纠纷"
        return f"关于{place.community}{slots['a']}{phrase}问题的纠纷"

    def _mediators(self, place: _Place, category: str, channel: str) -> list[dict[str, str]]:
        rng = self.rng
        rooms = self.district_orgs[place.district]
        roll = rng.random()
        if channel == "法院委派" and roll < 0.5:
            org, names = rooms["法院"]
        elif category in rooms and roll < 0.7:
            org, names = rooms[category]
        elif roll < 0.12:
            org, names = rooms["studio"]
        elif roll < 0.5:
            org, names = self.community_orgs[(place.town, place.community)]
        else:
            org, names = self.town_orgs[place.town]
        chosen = rng.sample(names, 2 if len(names) > 1 and rng.random() < 0.3 else 1)
        return [{"name": name, "org": org} for name in chosen]

    def _handling(self, category: str, outcome: str, slots: _Slots) -> str:
        rng = self.rng
        pool = words.METHODS + words.CATEGORY_METHODS[category]
        methods = [words.render(_compiled(m), rng, slots) for m in rng.sample(pool, rng.randint(2, 3))]
        opening = rng.choice(("{org}受理后，调解员{med}", "调解员{med}", "{org}调解员{med}[接案后|受理后]", "[受理后|接到纠纷后]，{med}"))
        closing = words.render(_compiled(rng.choice(words.HANDLING_CLOSINGS[outcome])), rng, slots)
        return words.render(_compiled(opening), rng, slots) + "，".join(methods) + "。" + closing

    def _agreement(self, outcome: str, amount: int | None, slots: _Slots, place: _Place, closed: int | None) -> str | None:
        if outcome not in RESOLVED_OUTCOMES:
            return None
        rng = self.rng
        if amount:
            k = rng.randint(2, 6)
            due = self.days[min(len(self.days) - 1, (closed or 0) + rng.randint(7, 60))]
            slots.update(amount=str(amount), k=str(k), per=str(_round_amount(amount / k)), day=str(rng.randint(1, 28)),
                         due=f"{due.year}年{due.month}月{due.day}日")
            text = words.render(_compiled(rng.choice(words.AGREEMENTS["paid"])), rng, slots)
        else:
            slots["fix"] = words.render(_compiled(rng.choice(words.FIXES)), rng, slots)
            text = words.render(_compiled(rng.choice(words.AGREEMENTS["plain"])), rng, slots)
        if outcome == "司法确认":
            text += f"本协议已经{place.district}人民法院司法确认。"
        return text

    # --- truth --------------------------------------------------------------------------------
    @property
    def truth(self) -> dict[str, Any]:
        """The ground truth, as written to the truth file."""
        months = len(self.month_keys)
        spikes = []
        for spike in self.spikes:
            place = spike["place"]
            spikes.append({
                "level": "grid", "place": place.grid,
                "path": {"city": place.city, "district": place.district, "town": place.town,
                         "community": place.community, "grid": place.grid},
                "category": self.taxonomy.parent_of(spike["subtype"]), "subtype": spike["subtype"],
                "period": self.month_keys[spike["month"]], "count": len(spike["days"]),
                "baseline_per_month": round(self.baseline[(place.grid, spike["subtype"])] / (months - 1), 3),
                "case_ids": list(spike.get("case_ids", [])),
            })
        day_of = {spec["id"]: spec["day"] for spec in [*self.planted.values(), *self.later.values()]}

        def by_date(items: list) -> list:
            return sorted(items, key=lambda item: (day_of[item[0]], item[0]) if isinstance(item, list) else (day_of[item], item))

        return {
            "seed": self.seed, "n": self.n, "generator_version": GENERATOR_VERSION,
            "date_range": [self.iso[0], self.iso[-1]],
            "entities": {eid: {**e, "mentions": by_date(e["mentions"])} for eid, e in self.entities.items()},
            "repeat_chains": [{"case_ids": by_date(c["case_ids"]), "entity_ids": c["entity_ids"], "kind": c["kind"],
                               "address": c["address"]} for c in self.chains],
            "decoys": [{**d, "case_ids": by_date(d["case_ids"])} for d in self.decoys],
            "spikes": spikes,
            "respondent_chains": [{**r, "case_ids": by_date(r["case_ids"])} for r in self.respondents],
            "respondent_decoys": [{**d, "case_ids": by_date(d["case_ids"])} for d in self.respondent_decoys],
            "families": [{**f, "case_ids": by_date(f["case_ids"])} for f in self.families],
        }


_REPEAT_NOTES = (
    "[此前|之前]双方曾因[类似问题|同样的事情][发生过纠纷|调解过一次]，[此次|这次]矛盾再起。",
    "[这已是双方第二次|双方不是第一次]因此事[到调委会|找调解员]。",
    "[据了解|经查]，[上次|前次]调解后[问题没有根本解决|{b}未完全履行协议]。",
)
#: Industry words whose second half says little: 物业管理 is called 物业, 五金制品 五金.
_GENERIC_INDUSTRY_ENDINGS = ("管理", "服务", "制品", "材料", "配件", "加工", "工程", "培训", "维修")
#: How often a planted mention writes a name as is, spaced, with a full-width space, padded, in 繁體.
_NAME_FORM_CUM = _cumulative([45, 15, 12, 10, 18])
#: ... and a mobile number plain, 3-4-4 with dashes, with spaces, +86, masked, or not at all.
_PHONE_FORM_CUM = _cumulative([35, 15, 15, 12, 13, 10])
_SURNAMES = tuple(words.SURNAMES)
_SURNAME_CUM = _cumulative(list(words.SURNAMES.values()))
_BIRTH_START = dt.date(1945, 1, 1)
#: Where the later scenarios' people counter starts: far above any background person, so phones never collide.
_LATER_PEOPLE = 60_000_000
#: How a planted family's quarrel escalates (step 1, step 2), with the husband {b} and the wife {a}.
_ESCALATIONS = {
    1: ("{b}扬言要让{a}不得好过，还砸东西。", "{b}当着孩子的面砸东西，扬言要同归于尽。"),
    2: ("{b}再次动刀威胁{a}，{a}称想喝农药一了百了。", "{b}拿菜刀威胁{a}，扬言要报复其娘家人。"),
}
_ID_SPACE = 22_000 * 1000  # birth days × sequence numbers: each person gets a distinct pair
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _id_check(body: str) -> str:
    """The ISO 7064 check character of a 17-digit ID number body."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS)) % 11]


def _short_org(brand: str, industry: str) -> str:
    """What people call a company: 恒达劳务, 恒达物业, 恒达五金."""
    if len(industry) == 4:
        industry = industry[:2] if industry.endswith(_GENERIC_INDUSTRY_ENDINGS) else industry[2:]
    return brand + industry


def _case_id(index: int) -> str:
    return f"G{index + 1:07d}"


def _round_amount(value: float) -> int:
    step = 10 if value < 1000 else 100 if value < 50_000 else 1000
    return max(step, round(value / step) * step)


@lru_cache(maxsize=4096)
def _to_traditional(text: str) -> str:
    return _s2t().convert(text)


@lru_cache(maxsize=1)
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


def generate_to_file(path: str | Path, n: int, seed: int, truth_path: str | Path | None = None,
                     profile: Profile | None = None, progress: bool = False,
                     on_chunk: Callable[[int], None] | None = None) -> GenerateReport:
    """Write ``n`` generated records to ``path`` (JSON Lines) and the truth to ``truth_path``.

    Memory stays flat: records are written as they are drawn, in chunks;
    ``on_chunk`` is called with the number written so far after each chunk.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    generator = Generator(n, seed, profile)
    dumps = json.dumps
    with open(path, "w", encoding="utf-8", newline="\n") as out, \
            tqdm(total=n, unit="条", disable=not progress, desc="生成") as bar:
        chunk: list[str] = []
        written = 0
        for record in generator.records():
            chunk.append(dumps(record, ensure_ascii=False))
            if len(chunk) == 2000 or written + len(chunk) == n:
                out.write("\n".join(chunk) + "\n")
                written += len(chunk)
                bar.update(len(chunk))
                chunk.clear()
                if on_chunk:
                    on_chunk(written)
    truth = generator.truth
    if truth_path is not None:
        Path(truth_path).write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return GenerateReport(str(path), n, round(time.perf_counter() - started, 3),
                          str(truth_path) if truth_path is not None else None,
                          len(truth["repeat_chains"]), len(truth["decoys"]), len(truth["spikes"]))


@dataclass(frozen=True)
class RespondentScore:
    """Respondent chains found against the planted ones (see :func:`score_respondent_chains`)."""

    planted: int
    recovered: int
    touching: int
    exact: int
    group_flag_right: int
    decoys_linked: int
    background: int

    @property
    def recall(self) -> float:
        return self.recovered / max(1, self.planted)

    @property
    def precision(self) -> float:
        return self.exact / max(1, self.touching)

    def line(self) -> str:
        return (f"recall {self.recall:.3f} ({self.recovered}/{self.planted}), precision {self.precision:.3f} "
                f"({self.exact}/{self.touching} found chains touching planted cases are planted ones); "
                f"群体性纠纷 flag right {self.group_flag_right}/{self.recovered}; decoys linked {self.decoys_linked}; "
                f"{self.background} other respondent chains among background cases")


def score_respondent_chains(found: list[tuple[list[str], bool]], truth: dict[str, Any]) -> RespondentScore:
    """Score found respondent chains, each ``(case_ids, group_dispute)``, against a generator truth.

    A planted chain is recovered when a found chain has exactly its cases; precision counts, among found
    chains touching a planted or decoy case, those that are exactly a planted chain; a decoy is linked when
    any found chain holds one of its cases. Chains among background cases are counted apart (the background
    may hold real repeat respondents the generator did not plan).
    """
    planted = {tuple(c["case_ids"]): c["group_dispute"] for c in truth["respondent_chains"]}
    decoy_cases = {c for d in truth["respondent_decoys"] for c in d["case_ids"]}
    watched = {c for ids in planted for c in ids} | decoy_cases
    found_flags = {tuple(ids): flag for ids, flag in found}
    recovered = [ids for ids in planted if ids in found_flags]
    touching = [ids for ids in found_flags if set(ids) & watched]
    return RespondentScore(
        planted=len(planted), recovered=len(recovered), touching=len(touching),
        exact=sum(ids in planted for ids in touching),
        group_flag_right=sum(found_flags[ids] == planted[ids] for ids in recovered),
        decoys_linked=sum(bool(set(ids) & decoy_cases) for ids in found_flags),
        background=len(found_flags) - len(touching))
