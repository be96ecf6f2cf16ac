"""The 风险台账 (risk register): 五级分类 · 四色预警 for every resolved party, with revisits (回访).

Each party (a resolved entity: a person, household or organisation) gets a
level 平安 / 微 / 低 / 中 / 高 (颜色: 微 蓝, 低 黄, 中 橙, 高 红) from its cases
within the lookback window, by the rules in ``risk_rules.toml`` (a data file:
points per rule, thresholds per level, each level with its reasons). Levels
fall again as time passes without new cases and as revisits are recorded
(``[decay]``). The revisit cadence (跟踪观察 / 每月 / 每半月 / 每周 / 每周两次) and
the responsible level (村 / 镇街 / 区) follow the level.

Dates a person reads are local (Asia/Shanghai); revisits are stored in UTC.

Examples
--------
>>> rules = RiskRules.load()
>>> rules.level_for(0), rules.level_for(3), rules.level_for(9)
('平安', '低', '高')
>>> COLOURS["高"], rules.revisit["高"]["cadence"], rules.revisit["中"]["responsible"]
('红', '每周两次', '镇街')
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
import tomllib
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from leian.data.normalize import normalize_name, normalize_text
from leian.data.places import LEVELS as PLACE_LEVELS
from leian.data.record import Case
from leian.data.store import Store
from leian.errors import InvalidInput
from leian.graph.followups import followups_of, last_revisit, local_today, revisit_parties
from leian.graph.repeats import RESOLVE_SEQ
from leian.graph.resolve import Resolver, preferred_name
from leian.progress import progress_bar

__all__ = ["LEVELS", "COLOURS", "LEVEL_NAMES", "RULES_FILE", "RiskRules", "Assessment", "KeptRegister", "assess", "register",
           "refresh_facts"]

#: The five levels, lowest first.
LEVELS = ("平安", "微", "低", "中", "高")
LEVEL_NAMES = {"平安": "平安", "微": "微风险", "低": "低风险", "中": "中风险", "高": "高风险"}
#: The four warning colours (平安 has none).
COLOURS = {"微": "蓝", "低": "黄", "中": "橙", "高": "红"}
RULES_FILE = Path(__file__).with_name("risk_rules.toml")
_KINDS = ("cases", "type", "words", "outcome", "channel")


@dataclass(frozen=True)
class RiskRules:
    """The rules of ``risk_rules.toml``: scoring, thresholds, decay, revisit cadence and responsibility."""

    lookback_days: int
    thresholds: dict[str, int]
    quiet_days_per_level: int
    revisits_per_level: int
    revisit: dict[str, dict[str, Any]]
    rules: tuple[dict[str, Any], ...]

    @classmethod
    @cache
    def load(cls, path: Path = RULES_FILE) -> RiskRules:
        """Read and check a rules file (raises ValueError naming what is wrong)."""
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        thresholds = {level: int(data["levels"][level]) for level in LEVELS[1:]}
        if list(thresholds.values()) != sorted(thresholds.values()):
            raise ValueError(f"{path}: [levels] thresholds must rise from 微 to 高")
        revisit = {level: dict(data["revisit"][level]) for level in LEVELS}
        rules = tuple(data["rules"])
        for rule in rules:
            if rule.get("kind") not in _KINDS:
                raise ValueError(f"{path}: rule {rule.get('name')!r}: kind must be one of {', '.join(_KINDS)}")
        return cls(int(data["lookback_days"]), thresholds, int(data["decay"]["quiet_days_per_level"]),
                   int(data["decay"]["revisits_per_level"]), revisit, rules)

    def level_for(self, points: int) -> str:
        level = LEVELS[0]
        for name, threshold in self.thresholds.items():
            if points >= threshold:
                level = name
        return level

    @property
    def words(self) -> tuple[str, ...]:
        # Longest first (so a longer word wins where two start together), then by the word: the same order in every process.
        return tuple(sorted({w for rule in self.rules for w in rule.get("words", ())}, key=lambda w: (-len(w), w)))


@dataclass
class _CaseFacts:
    case_id: str
    date: str
    category: str | None
    subtype: str | None
    outcome: str | None
    channel: str | None
    words: frozenset[str]
    places: tuple[str, ...] = ()


@dataclass
class Assessment:
    """One party's place in the register on a day."""

    party_id: str
    name: str
    kind: str
    level: str
    points: int
    reasons: list[str]
    case_ids: list[str]
    every_days: int | None
    due: str | None
    cadence: str
    responsible: str
    body: str
    places: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)

    @property
    def colour(self) -> str | None:
        return COLOURS.get(self.level)

    def to_dict(self) -> dict[str, Any]:
        return {
            "party_id": self.party_id, "name": self.name, "kind": self.kind, "level": self.level,
            "level_name": LEVEL_NAMES[self.level], "colour": self.colour, "points": self.points, "reasons": self.reasons,
            "revisit": {"every_days": self.every_days, "due": self.due, "cadence": self.cadence},
            "responsible": self.responsible, "responsible_body": self.body, "case_ids": self.case_ids,
            "places": self.places, "history": self.history,
        }


def _score(rules: RiskRules, facts: Sequence[_CaseFacts], today: dt.date) -> tuple[int, list[str]]:
    """Points and reasons of the rules the cases (already within the lookback window) meet."""
    best: dict[str, tuple[int, str]] = {}
    latest = max(facts, key=lambda f: (f.date, f.case_id)) if facts else None
    for rule in rules.rules:
        kind, found = rule["kind"], None
        if kind == "cases":
            since = (today - dt.timedelta(days=int(rule["window_days"]))).isoformat()
            count = sum(1 for f in facts if f.date >= since)
            if count >= int(rule["min"]):
                found = {"count": count, "window_days": rule["window_days"]}
        elif kind == "type":
            types = set(rule["types"])
            matched = [f for f in facts if types & {f.category, f.subtype}]
            if matched and rule.get("words"):
                words = sorted({w for f in matched for w in f.words if w in rule["words"]})
                found = {"words": "、".join(words), "types": "、".join(types)} if words else None
            elif matched:
                found = {"types": "、".join(sorted(types))}
        elif kind == "words":
            words = sorted({w for f in facts for w in f.words if w in rule["words"]})
            if words:
                found = {"words": "、".join(words[:4])}
        elif kind == "outcome":
            if latest and latest.outcome in rule["outcomes"]:
                found = {"outcome": latest.outcome}
        elif kind == "channel":
            channels = sorted({f.channel for f in facts if f.channel in rule["channels"]})
            if channels:
                found = {"channel": "、".join(channels)}
        if found is not None:
            group = rule.get("group", rule["name"])
            points = int(rule["points"])
            if group not in best or points > best[group][0]:
                best[group] = (points, rule["reason"].format_map(defaultdict(str, found)))
    return sum(p for p, _ in best.values()), [reason for _, reason in best.values()]


class _Standing(NamedTuple):
    """A level on a day, with what it came from."""

    level: str
    points: int
    reasons: list[str]
    #: The day of the last case in the window, where the level falls with the quiet days since it (else None).
    decays_from: dt.date | None
    #: Where the reason counting those quiet days is among ``reasons`` (None: the level has not fallen for them).
    quiet_reason: int | None


def _quiet_reason(quiet: int, steps: int) -> str:
    return f"已{quiet}天无新纠纷，降{steps}级"


def _level_on(rules: RiskRules, facts: Sequence[_CaseFacts], revisit_dates: Sequence[str], today: dt.date) -> _Standing:
    """Level, points and reasons on ``today`` from the cases and revisits up to that day."""
    since = (today - dt.timedelta(days=rules.lookback_days)).isoformat()
    day = today.isoformat()
    window = [f for f in facts if since <= f.date <= day]
    if not window:
        return _Standing(LEVELS[0], 0, [], None, None)
    points, reasons = _score(rules, window, today)
    level = rules.level_for(points)
    index = LEVELS.index(level)
    if index == 0:
        return _Standing(level, points, reasons, None, None)
    latest = max(f.date for f in window)
    quiet = (today - dt.date.fromisoformat(latest)).days
    revisits = sum(1 for d in revisit_dates if latest <= d <= day)
    steps_quiet = quiet // rules.quiet_days_per_level if rules.quiet_days_per_level else 0
    steps_visits = revisits // rules.revisits_per_level if rules.revisits_per_level else 0
    reasons.insert(0, f"计{points}分，初评{LEVEL_NAMES[level]}")
    quiet_reason = None
    if steps_quiet:
        quiet_reason = len(reasons)
        reasons.append(_quiet_reason(quiet, steps_quiet))
    if steps_visits:
        reasons.append(f"最近一件后已回访{revisits}次，降{steps_visits}级")
    return _Standing(LEVELS[max(0, index - steps_quiet - steps_visits)], points, reasons, dt.date.fromisoformat(latest),
                     quiet_reason)


@dataclass(frozen=True)
class _Dating:
    """How an assessment made on one day reads on the days after it: the same until ``until``, but for the two
    things in it that name the day itself (the quiet days a reason counts, and the history's last date where the
    level fell since the last case or revisit)."""

    until: dt.date
    decays_from: dt.date | None
    quiet_reason: int | None
    dated_history: bool

    def on(self, assessment: Assessment, day: dt.date, rules: RiskRules) -> Assessment:
        """``assessment`` as an assessment on ``day`` (before ``until``) reads."""
        if self.quiet_reason is None and not self.dated_history:
            return assessment
        reasons, history = assessment.reasons, assessment.history
        if self.quiet_reason is not None:
            quiet = (day - self.decays_from).days
            reasons = list(reasons)
            reasons[self.quiet_reason] = _quiet_reason(quiet, quiet // rules.quiet_days_per_level)
        if self.dated_history:
            history = [*history[:-1], {"date": day.isoformat(), "level": assessment.level}]
        return replace(assessment, reasons=reasons, history=history)


def _until(rules: RiskRules, facts: Sequence[_CaseFacts], revisit_dates: Sequence[str], today: dt.date,
           decays_from: dt.date | None) -> dt.date:
    """The first day after ``today`` on which the assessment of a party with these cases (those of the look-back
    year up to ``today``, and any of later days) and revisits may differ from :meth:`_Dating.on`'s: every term of
    the rules that moves with the date, each at the day it next moves."""
    day = today.isoformat()
    dates = sorted({dt.date.fromisoformat(f.date) for f in facts})
    # A revisit of a later day comes to count against the level and into the history.
    changes = [dt.date.fromisoformat(d) for d in revisit_dates if d > day]
    if dates:
        # The oldest case leaves the look-back year (the window, the case list, the history and the due date).
        changes.append(dates[0] + dt.timedelta(days=rules.lookback_days + 1))
        # A case of a later day (a register asked for a past day, or a case dated ahead) comes into the window.
        changes += [d for d in dates if d > today][:1]
        for rule in rules.rules:
            if rule["kind"] == "cases":  # the oldest case a count counts leaves its window
                width = dt.timedelta(days=int(rule["window_days"]))
                changes += [d + width + dt.timedelta(days=1) for d in dates if today - width <= d <= today][:1]
    if decays_from is not None and rules.quiet_days_per_level:
        # The quiet days since the last case reach one more level down.
        quiet = (today - decays_from).days
        changes.append(decays_from + dt.timedelta(days=(quiet // rules.quiet_days_per_level + 1) * rules.quiet_days_per_level))
    return min(changes, default=dt.date.max)


def _assessment(rules: RiskRules, party_id: str, name: str, kind: str, facts: list[_CaseFacts],
                visits: list[dict[str, Any]], today: dt.date) -> tuple[Assessment, _Dating]:
    """The party's assessment on ``today`` and how it reads on the days after."""
    visit_dates = sorted(v["local_date"] for v in visits)
    level, points, reasons, decays_from, quiet_reason = _level_on(rules, facts, visit_dates, today)
    plan = rules.revisit[level]
    every = int(plan["every_days"]) or None
    due = None
    if every:
        since = (today - dt.timedelta(days=rules.lookback_days)).isoformat()
        base = max([f.date for f in facts if f.date >= since] + visit_dates)
        due = (dt.date.fromisoformat(base) + dt.timedelta(days=every)).isoformat()
    history: list[dict[str, str]] = []
    for day in sorted({f.date for f in facts} | set(visit_dates)):
        if day > today.isoformat():
            continue
        on = _level_on(rules, facts, visit_dates, dt.date.fromisoformat(day)).level
        if not history or history[-1]["level"] != on:
            history.append({"date": day, "level": on})
    dated_history = bool(history) and history[-1]["level"] != level
    if dated_history:
        history.append({"date": today.isoformat(), "level": level})
    ordered = sorted(facts, key=lambda f: (f.date, f.case_id))
    places = list(dict.fromkeys(p for f in ordered for p in f.places))
    assessment = Assessment(party_id, name, kind, level, points, reasons, [f.case_id for f in ordered], every, due,
                            plan["cadence"], plan["responsible"], plan["body"], places, history)
    return assessment, _Dating(_until(rules, facts, visit_dates, today, decays_from), decays_from, quiet_reason,
                               dated_history)


#: ``graph_state`` keys: the last store change the facts table has applied, and the rule words it was read with.
RISK_SEQ = "risk_seq"
RISK_WORDS = "risk_words"


def _case_facts(case: Case, pattern: re.Pattern, normal: dict[str, str]) -> tuple:
    """The ``graph_risk_facts`` row of a dated case: its facts and the rule words its texts say
    (the account, and the handling and agreement, where 告诫书 and 保护令 are issued)."""
    texts = normalize_text("\n".join(t for t in (case.handling, case.agreement) if t))
    words = sorted({normal[m] for text in (case.search_text, texts) for m in pattern.findall(text)})
    places = [case.location[level] for level in PLACE_LEVELS if case.location.get(level)]
    return (case.id, case.date[:10], case.category, case.subtype, case.outcome, case.channel,
            json.dumps(words, ensure_ascii=False), json.dumps(places, ensure_ascii=False))


def refresh_facts(store: Store, rules: RiskRules | None = None, *, full: bool = False, progress: bool = False) -> int:
    """Bring ``graph_risk_facts`` up to date with the store's change log; returns how many cases were read.

    Only the cases changed since the watermark are read (all of them with ``full``,
    or when the rules' words changed since the table was filled), so the register
    costs a join of the graph's own tables, not a pass over every case text.
    """
    rules = rules or RiskRules.load()
    resolver = Resolver(store)
    signature = json.dumps(rules.words, ensure_ascii=False)
    last = store.last_change()
    seq = 0 if full or resolver.state(RISK_WORDS, "") != signature else int(resolver.state(RISK_SEQ))
    if seq >= last and not full:
        return 0
    latest = {c.case_id: c.op for c in store.changes_since(seq) if c.seq <= last}
    pattern = re.compile("|".join(re.escape(normalize_text(w)) for w in rules.words))
    normal = {normalize_text(w): w for w in rules.words}
    ids = list(latest)
    bar = progress_bar(len(ids), "风险台账", enabled=progress)
    if seq == 0:
        with store.transaction() as conn:
            conn.execute("DELETE FROM graph_risk_facts")
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        cases = store.get_many([c for c in chunk if latest[c] == "upsert"])
        with store.transaction() as conn:
            conn.executemany("DELETE FROM graph_risk_facts WHERE case_id = ?", [(c,) for c in chunk])
            conn.executemany("INSERT INTO graph_risk_facts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [_case_facts(case, pattern, normal) for case in cases.values() if case.date])
        bar.update(len(chunk))
    bar.close()
    with store.transaction():
        resolver.set_state(RISK_SEQ, str(last))
        resolver.set_state(RISK_WORDS, signature)
    return len(ids)


def _scoring(rules: RiskRules) -> tuple[str, list[Any]]:
    """A condition on one entity's facts (grouped) and its parameters, true where ``rules`` may give it points: as
    many cases as the least a count rule asks for, or one case another rule looks at (a rule word, a type, an
    outcome or a channel a rule names)."""
    terms, params = ["MAX(f.words != '[]')"], []
    counts = [int(rule["min"]) for rule in rules.rules if rule["kind"] == "cases"]
    if counts:
        terms.append("COUNT(*) >= ?")
        params.append(min(counts))
    for kind, key, columns in (("type", "types", ("f.category", "f.subtype")), ("outcome", "outcomes", ("f.outcome",)),
                               ("channel", "channels", ("f.channel",))):
        values = sorted({v for rule in rules.rules if rule["kind"] == kind for v in rule[key]})
        if values:
            marks = ",".join("?" * len(values))
            terms += [f"MAX({column} IN ({marks}))" for column in columns]
            params += values * len(columns)
    return " OR ".join(terms), params


def _facts(store: Store, since: str | None, entity_ids: Sequence[str] | None,
           within: Collection[str] | None = None, *, scoring: RiskRules | None = None) -> dict[str, list[_CaseFacts]]:
    """Per entity, its dated cases (since ``since``, among ``within`` if given) with their rule words: of these
    entities (every entity when None); with ``scoring``, only of those these rules may score (:func:`_scoring`)."""
    rows = "SELECT m.entity_id, f.* FROM graph_mentions m JOIN graph_risk_facts f ON f.case_id = m.case_id"
    where, params = [], []
    if since:
        where.append("f.case_date >= ?")
        params.append(since)
    if entity_ids is not None:
        where.append(f"m.entity_id IN ({','.join('?' * len(entity_ids))})")
        params += list(entity_ids)
    if scoring is not None:
        # The same conditions again inside, so the grouping reads only the entities asked for.
        condition, condition_params = _scoring(scoring)
        where.append(f"m.entity_id IN (SELECT m.entity_id FROM graph_mentions m JOIN graph_risk_facts f ON f.case_id = m.case_id "
                     f"WHERE {' AND '.join(where) or '1'} GROUP BY m.entity_id HAVING {condition})")
        params = params * 2 + condition_params
    found: dict[str, list[_CaseFacts]] = defaultdict(list)
    for row in store.conn.execute(rows + (" WHERE " + " AND ".join(where) if where else ""), params):
        if within is not None and row[1] not in within:
            continue
        found[row[0]].append(_CaseFacts(row[1], row[2], row[3], row[4], row[5], row[6],
                                        frozenset(json.loads(row[7])), tuple(json.loads(row[8]))))
    return found


def _names(store: Store, entity_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(name, kind) of each resolved party among ``entity_ids``."""
    spellings: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for start in range(0, len(entity_ids), 500):
        chunk = list(entity_ids[start : start + 500])
        for entity_id, name, kind in store.conn.execute(
                f"SELECT entity_id, name, kind FROM graph_mentions WHERE entity_id IN ({','.join('?' * len(chunk))}) "
                "ORDER BY rowid", chunk):
            spellings[entity_id].append(name)
            kinds.setdefault(entity_id, kind)
    return {e: (preferred_name(names), kinds[e]) for e, names in spellings.items()}


def assess(store: Store, party_id: str, *, today: dt.date | None = None, rules: RiskRules | None = None,
           within: Collection[str] | None = None) -> Assessment:
    """One party's level, reasons, revisit plan, level history and cases (all its dated cases, not only recent;
    with ``within``, the case ids of an area, only those: the level an area's user sees weighs the area's cases)."""
    rules = rules or RiskRules.load()
    today = today or local_today()
    refresh_facts(store, rules)
    named = _names(store, [party_id])
    if party_id not in named:
        raise KeyError(party_id)
    facts = _facts(store, None, [party_id], within).get(party_id, [])
    visits = followups_of(store, [party_id])[party_id]
    return _assessment(rules, party_id, *named[party_id], facts, visits, today)[0]


def register(store: Store, *, today: dt.date | None = None, level: str | None = None, where: str | None = None,
             rules: RiskRules | None = None, include_safe: bool = False,
             within: Collection[str] | None = None, kept: KeptRegister | None = None) -> list[Assessment]:
    """The register on ``today`` (default: today, Asia/Shanghai): every party above 平安 (or all with
    ``include_safe``, of those that can score), optionally one level or colour and one place (any level:
    区县, 镇街, 村社 ...). With ``within`` (the case ids of an area), parties are assessed on those cases alone.

    Due revisits first (earliest due first), then the highest levels. The cases' facts are read from
    ``graph_risk_facts``, brought up to date first (:func:`refresh_facts`). With ``kept``, the parties above
    平安 come from the assessments it keeps, assessed again only where something changed since its last call
    or the day has come on which their assessment may differ (``include_safe`` assesses every party).
    """
    rules = rules or RiskRules.load()
    today = today or local_today()
    if level in COLOURS.values():
        level = next(k for k, v in COLOURS.items() if v == level)
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"未知风险等级 {level}（可选：{'、'.join(LEVELS)} 或 {'、'.join(COLOURS.values())}）")
    refresh_facts(store, rules)
    if kept is not None and not include_safe:
        assessed = kept.listed(store, rules, today, within)
    else:
        assessed = [a for a, _ in _assess(store, rules, today, None, within)[0].values()]
    place = normalize_name(where) if where else ""  # 三竈鎮 finds 三灶镇, as a search's place filter does
    found = [a for a in assessed if (include_safe or a.level != LEVELS[0]) and (level is None or a.level == level)
             and (not place or any(place in normalize_name(p) for p in a.places))]
    day = today.isoformat()
    found.sort(key=lambda a: (not (a.due and a.due <= day), a.due or "9999", -LEVELS.index(a.level), a.party_id))
    return found


def _assess(store: Store, rules: RiskRules, today: dt.date, entity_ids: Sequence[str] | None,
            within: Collection[str] | None) -> tuple[dict[str, tuple[Assessment, _Dating]], dict[str, list[int]]]:
    """The assessments of these parties (every party when None) among those that can score, by party id, with how
    each reads on later days, and the revisits each one counted (their ids)."""
    since = (today - dt.timedelta(days=rules.lookback_days)).isoformat()
    # Every dated case of the party in the look-back year, so the list and history show more than the window.
    if entity_ids is None:
        facts = _facts(store, since, None, within, scoring=rules)
    else:
        facts = {}
        for start in range(0, len(entity_ids), 500):
            facts.update(_facts(store, since, entity_ids[start : start + 500], within, scoring=rules))
    candidates = sorted(facts)
    named = _names(store, candidates)
    visits = followups_of(store, candidates)
    assessed = {e: _assessment(rules, e, *named[e], facts[e], visits[e], today) for e in candidates if e in named}
    return assessed, {e: [v["id"] for v in visits[e]] for e in assessed}


@dataclass
class _Kept:
    """What one area's register (every case's when ``within`` is None) holds on ``day``, for one set of rules, as of
    ``versions``: the assessments above 平安, and of every party that can score (平安 too) until when its
    assessment holds and which cases and revisits it counts."""

    day: dt.date
    rules: RiskRules
    versions: tuple[str, int, int, int]
    parties: dict[str, Assessment] = field(default_factory=dict)
    dating: dict[str, _Dating] = field(default_factory=dict)
    case_ids: dict[str, list[str]] = field(default_factory=dict)
    #: Case id -> the parties it counts for (whose entry goes when the case changes or moves).
    by_case: dict[str, set[str]] = field(default_factory=dict)
    #: Revisit id -> the party it counts for.
    by_visit: dict[int, str] = field(default_factory=dict)

    def put(self, assessed: dict[str, tuple[Assessment, _Dating]], visits: dict[str, list[int]]) -> None:
        for party_id, (a, dating) in assessed.items():
            if a.level != LEVELS[0]:
                self.parties[party_id] = a
            self.dating[party_id], self.case_ids[party_id] = dating, a.case_ids
            for case_id in a.case_ids:
                self.by_case.setdefault(case_id, set()).add(party_id)
            self.by_visit.update((number, party_id) for number in visits[party_id])

    def drop(self, party_ids: Collection[str]) -> None:
        for party_id in party_ids:
            self.parties.pop(party_id, None)
            self.dating.pop(party_id, None)
            for case_id in self.case_ids.pop(party_id, ()):
                self.by_case[case_id].discard(party_id)
        self.by_visit = {number: p for number, p in self.by_visit.items() if p not in party_ids}

    def expired(self, day: dt.date) -> set[str]:
        """The parties whose assessment may differ on ``day`` (a later day than the kept one)."""
        return {party_id for party_id, dating in self.dating.items() if dating.until <= day}

    def move_to(self, day: dt.date) -> None:
        """The kept assessments as they read on ``day``, those that may differ on it already dropped."""
        self.parties = {p: self.dating[p].on(a, day, self.rules) for p, a in self.parties.items()}
        self.day = day


class KeptRegister:
    """The register kept between calls of :func:`register` (one per process, e.g. a web server's): the parties
    above 平安, each assessed again only when one of its cases changed or moved to another party, a revisit of
    it was recorded (or went to another party), or the date moved past the day its assessment holds until.

    What has changed since the last call is read from the change log (from the register facts' and the party
    resolution's watermarks, the older of the two), the cases resolution moved (``graph_moved``) and the
    revisits. Each area (``within``) is kept apart, the last ``areas`` of them; an area whose cases differ from
    a kept one's only by cases changed since (a case of the area added, edited out of it or deleted) is that
    area brought up to date, assessed again only for the parties of those cases.

    **A new day.** Every assessment records the first later day on which it may differ (:func:`_until`): the
    day its oldest case leaves the look-back year, a case or revisit of a later day comes to count, the oldest
    case a count rule counts leaves that rule's window, or its quiet days since the last case reach one more
    level down. On a later day only the parties whose day has come are assessed again; the others only move on
    the two things that name the day itself (the quiet days a reason counts, the history's last date), which
    need no assessment. Every party that can score is watched so, 平安 ones too, although with these kinds of
    rules a 平安 party rises with time only when a case of a later day comes into its window (every other term
    that moves with the date takes cases out or lowers the level). A party that cannot score cannot on a later
    day either: time only takes cases out of the look-back year. An earlier day than the kept one, or other
    rules, assess every party again.
    """

    def __init__(self, areas: int = 8):
        self._lock = threading.Lock()
        self._areas = areas
        self._kept: OrderedDict[frozenset[str] | None, _Kept] = OrderedDict()
        #: How many parties the last call assessed (every one that can score when nothing was kept).
        self.assessed = 0

    def listed(self, store: Store, rules: RiskRules, today: dt.date, within: Collection[str] | None) -> list[Assessment]:
        """The parties above 平安 on ``today`` (the register facts are current)."""
        key = None if within is None else frozenset(within)
        versions = _versions(store)  # read before the assessments: a change that lands meanwhile is seen next time
        with self._lock:
            kept = self._kept.pop(key, None) or self._grown_area(store, key, versions)
            if kept is None or kept.rules != rules or kept.versions[0] != versions[0] or today < kept.day:
                kept = _Kept(today, rules, versions)
                assessed, visits = _assess(store, rules, today, None, within)
            else:
                again = _touched(store, kept) if kept.versions != versions else set()
                if today != kept.day:
                    again |= kept.expired(today)
                assessed, visits = _assess(store, rules, today, sorted(again), within) if again else ({}, {})
                kept.drop(again)
                if today != kept.day:
                    kept.move_to(today)
                kept.versions = versions
            kept.put(assessed, visits)
            self.assessed = len(assessed)
            self._kept[key] = kept
            while len(self._kept) > self._areas:
                self._kept.popitem(last=False)
            return list(kept.parties.values())

    def _grown_area(self, store: Store, key: frozenset[str] | None, versions: tuple[str, int, int, int]) -> _Kept | None:
        """The kept area whose cases differ from ``key`` only by cases changed since it was kept (taken out, to be
        kept under ``key``): its parties of those cases are among those :func:`_touched` assesses again."""
        if key is None:
            return None
        last = store.last_change()
        for old_key, kept in self._kept.items():
            if old_key is None or kept.versions[0] != versions[0]:
                continue
            since = _since(kept)
            differ = key ^ old_key
            if len(differ) <= last - since and differ <= {c.case_id for c in store.changes_since(since)}:
                return self._kept.pop(old_key)
        return None


def _versions(store: Store) -> tuple[str, int, int, int]:
    """The store's id, the register facts' and the party resolution's watermarks, the last revisit recorded."""
    resolver = Resolver(store)
    return (resolver.store_id(), int(resolver.state(RISK_SEQ)), int(resolver.state(RESOLVE_SEQ)), last_revisit(store))


def _since(kept: _Kept) -> int:
    """The change-log entry the kept register has seen every change up to (the older of its two watermarks)."""
    return min(kept.versions[1], kept.versions[2])


def _touched(store: Store, kept: _Kept) -> set[str]:
    """The parties whose entry may differ from the kept one: of every case changed or moved since, before (kept)
    and now (resolved); those revisited since; and every party a revisit of theirs may go to or come from."""
    since, last_visit = _since(kept), kept.versions[3]
    cases = {c.case_id for c in store.changes_since(since)}
    cases.update(r[0] for r in store.conn.execute("SELECT case_id FROM graph_moved WHERE seq > ?", (since,)))
    parties = {p for case_id in cases for p in kept.by_case.get(case_id, ())}
    ids = sorted(cases)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        parties.update(r[0] for r in store.conn.execute(
            f"SELECT DISTINCT entity_id FROM graph_mentions WHERE case_id IN ({','.join('?' * len(chunk))})", chunk))
    revisits = revisit_parties(store)
    parties.update(p for number, *ends in revisits if number > last_visit for p in ends if p)
    # A revisit counts for its anchor's party now if that one can score, else for the party it was recorded for:
    # when a party is assessed again, so is every party one of its revisits was, is or may be counted for.
    groups = [{p for p in (recorded, owner, kept.by_visit.get(number)) if p} for number, recorded, owner in revisits]
    grown = True
    while grown:
        grown = False
        for group in groups:
            if group & parties and not group <= parties:
                parties |= group
                grown = True
    return parties


def counts(assessments: Iterable[Assessment]) -> dict[str, int]:
    """Parties per level, highest first."""
    found = {level: 0 for level in reversed(LEVELS)}
    for a in assessments:
        found[a.level] += 1
    return found
