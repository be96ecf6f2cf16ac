"""Repeat disputes: cases linked through the same resolved parties, as chains in time.

Three kinds of chain (``Chain.kind``):

``same_parties``
    cases that involve the same pair of resolved parties;
``same_address``
    cases where the same party comes back at the same street address;
``respondent``
    the same organisation or person as 被申请人 in ``respondent_min_cases`` or
    more cases within ``respondent_window_days``, against two or more
    different claimants (重点关注对象). When ``group_min_claimants`` or more
    claimants (a group party such as 陈志强等20人 counts its people) come within
    ``group_window_days``, the chain is flagged 群体性纠纷 (``group_dispute``).

Pair and address links are kept as keys per case (``pair:P1|P2``,
``addr:P1|东街12``) in ``graph_links``; a ``same_parties`` / ``same_address``
chain is a maximal connected group of linked cases, ordered by date (its kind
is ``same_parties`` when any pair links it). Respondent chains are read from
the resolved mentions. The numbers come from ``[repeats]`` in
``<home>/config.toml`` (:class:`leian.settings.RepeatSettings`, ``home.settings.repeats``).

:func:`resolve_changes` applies the store's change log to resolution and
links and returns one notice per chain that a changed case joined, so an
ingest says as many chains as ``leian repeats`` lists for them.

Every repeat count LeiAn shows (dashboard, search alert, case timeline,
ingest notices, ``leian repeats``) comes from :func:`party_cases`,
:func:`place_cases` and the chains here.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leian.data.areas import Area
from leian.data.normalize import normalize_name
from leian.data.places import parse_address
from leian.data.queries import case_dates, ordered_by_date, repeat_places
from leian.data.store import Store
from leian.graph.resolve import Resolver, address_key
from leian.progress import progress_bar
from leian.settings import RepeatSettings

__all__ = [
    "RESOLVE_SEQ",
    "RESOLVED_PARTIES_SQL",
    "KINDS",
    "Chain",
    "RepeatSettings",
    "resolve_changes",
    "resolution_is_current",
    "chain_of",
    "chains_of",
    "all_chains",
    "respondent_chains",
    "party_cases",
    "place_cases",
    "address_counts",
    "repeat_flag",
    "link_keys",
]

#: The ``graph_state`` key holding the last store change resolution has applied.
RESOLVE_SEQ = "resolve_seq"
#: Chain kinds and how they are said.
KINDS = {"same_parties": "同一对当事人", "same_address": "同一当事人同一地址", "respondent": "同一被申请人"}
_BATCH = 500
_RECONCILE_CHUNK = 2000
_GROUP_SIZE = re.compile(r"等\s*(\d+)\s*(?:人|户|名)")


@dataclass
class Chain:
    """A repeat-dispute chain: case ids in time order, the parties and reasons that link them."""

    case_ids: list[str]
    parties: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    kind: str = "same_parties"
    party_ids: list[str] = field(default_factory=list)
    group_dispute: bool = False
    claimants: int = 0

    @property
    def chain_id(self) -> str:
        """A name for the chain: its kind and first case (``respondent:G0000123``)."""
        return f"{self.kind}:{self.case_ids[0]}"

    def to_dict(self) -> dict:
        data = {"case_ids": self.case_ids, "kind": self.kind, "kind_name": KINDS[self.kind], "chain_id": self.chain_id,
                "parties": self.parties, "party_ids": self.party_ids, "reasons": self.reasons}
        if self.kind == "respondent":
            data.update(group_dispute=self.group_dispute, claimants=self.claimants)
        return data


def link_keys(parties: Iterable[tuple[str | None, str | None]], street: str | None) -> set[str]:
    """The link keys of one case from its parties' ``(entity id, address key)``: each pair of distinct
    parties, each party with the case's street address.

    The address is where the dispute happened (the case's ``location.address``,
    as :func:`~leian.graph.resolve.address_key`), not a party's home, so one
    person with two disputes elsewhere is not a repeat; only a case without an
    address of its own falls back to its parties' addresses.

    >>> sorted(link_keys([("P1", "东街12"), ("P2", None)], None))
    ['addr:P1|东街12', 'pair:P1|P2']
    """
    parties = list(parties)
    entities = sorted({e for e, _ in parties if e})
    keys = {f"pair:{a}|{b}" for a, b in itertools.combinations(entities, 2)}
    if street:
        keys |= {f"addr:{entity}|{street}" for entity in entities}
    else:
        keys |= {f"addr:{e}|{address}" for e, address in parties if address and e}
    return keys


#: ``(case_id, name, identity)`` of every resolved party mention, for queries that count parties by who they are.
RESOLVED_PARTIES_SQL = "SELECT case_id, name, entity_id AS identity FROM graph_mentions"


def resolution_is_current(store: Store) -> bool:
    """Whether party resolution has applied every change of the store (asks a read-only store too: creates nothing)."""
    has_state = store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'graph_state'").fetchone()
    if not has_state:
        return False
    seen = store.conn.execute("SELECT value FROM graph_state WHERE key = ?", (RESOLVE_SEQ,)).fetchone()
    return seen is not None and int(seen[0]) >= store.last_change()


def resolve_changes(store: Store, *, progress: bool = False, settings: RepeatSettings | None = None) -> list[str]:
    """Apply the change log to entity resolution and repeat links; returns one notice per chain a changed case joined.

    Changed cases are staged batch by batch (each batch one transaction), then
    resolved together (:meth:`~leian.graph.resolve.Resolver.reconcile`), so the
    result does not depend on the order or the batches they came in. A run
    killed half-way leaves its staged cases in ``graph_pending``; the next run
    finishes them.
    """
    resolver = Resolver(store)
    seq = int(resolver.state(RESOLVE_SEQ))
    changes = store.changes_since(seq)
    bar = progress_bar(len(changes), "读取当事人", enabled=progress)
    for start in range(0, len(changes), _BATCH):
        batch = changes[start : start + _BATCH]
        latest = {c.case_id: c for c in batch}
        cases = store.get_many([cid for cid, c in latest.items() if c.op == "upsert"])
        ids = list(latest)
        with store.transaction() as conn:
            conn.execute(f"DELETE FROM graph_links WHERE case_id IN ({','.join('?' * len(ids))})", ids)
            conn.executemany("DELETE FROM graph_flags WHERE case_id = ?", [(c,) for c in ids if c not in cases])
            pending = [f"e:{e}" for e in resolver.remove_cases(ids)] + [f"c:{c}" for c in ids if c in cases]
            resolver.stage_cases([cases[c] for c in ids if c in cases])
            conn.executemany("INSERT OR IGNORE INTO graph_pending VALUES (?)", [(p,) for p in pending])
            resolver.set_state("staged_seq", str(batch[-1].seq))
        bar.update(len(batch))
    bar.close()
    items = [r[0] for r in store.conn.execute("SELECT item FROM graph_pending ORDER BY item")]
    if not items:
        return []
    last = store.last_change()
    touched = _reconcile(store, resolver, items, last, progress=progress)
    with store.transaction():
        resolver.set_state(RESOLVE_SEQ, str(max(last, int(resolver.state("staged_seq")))))
    changed = [c.case_id for c in changes if c.op == "upsert"]
    return _notices(store, list(dict.fromkeys(changed)), settings or RepeatSettings(), touched)


def _reconcile(store: Store, resolver: Resolver, items: list[str], seq: int, *, progress: bool) -> set[str]:
    """Resolve the pending cases and entities, rewrite the links of every case that changed; returns those cases."""
    case_ids = [i[2:] for i in items if i.startswith("c:")]
    entity_ids = [i[2:] for i in items if i.startswith("e:")]
    chunks = [case_ids[i : i + _RECONCILE_CHUNK] for i in range(0, len(case_ids), _RECONCILE_CHUNK)] or [[]]
    done: set[int] = set()
    touched: set[str] = set()
    bar = progress_bar(len(case_ids), "识别当事人", enabled=progress and len(case_ids) > _RECONCILE_CHUNK)
    for number, chunk in enumerate(chunks):
        seeds = entity_ids if number == len(chunks) - 1 else []
        with store.transaction() as conn:
            changed = resolver.reconcile(chunk, seeds, done=done)
            _rewrite_links(store, changed)
            moved = changed - set(case_ids)
            conn.executemany("INSERT INTO graph_moved VALUES (?, ?) ON CONFLICT(case_id) DO UPDATE SET seq = excluded.seq",
                             [(c, seq) for c in moved])
            conn.executemany("DELETE FROM graph_pending WHERE item = ?", [(f"c:{c}",) for c in chunk] + [(f"e:{e}",) for e in seeds])
        touched |= changed
        bar.update(len(chunk))
    bar.close()
    return touched


def _rewrite_links(store: Store, case_ids: Iterable[str]) -> None:
    ids = list(case_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        streets = dict(store.conn.execute(f"SELECT case_id, street FROM graph_places WHERE case_id IN ({marks})", chunk).fetchall())
        parties: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for case_id, entity_id, address in store.conn.execute(
                f"SELECT case_id, entity_id, address_key FROM graph_mentions WHERE case_id IN ({marks})", chunk):
            parties[case_id].append((entity_id, address))
        store.conn.execute(f"DELETE FROM graph_links WHERE case_id IN ({marks})", chunk)
        store.conn.executemany(
            "INSERT INTO graph_links VALUES (?, ?)",
            [(key, case_id) for case_id in chunk for key in link_keys(parties[case_id], streets.get(case_id))],
        )


def _notices(store: Store, changed: list[str], settings: RepeatSettings, touched: set[str]) -> list[str]:
    """One line per chain a changed case is part of; the flags of every touched case rewritten."""
    if not changed and not touched:
        return []
    chains = chains_of(store, changed, settings) if len(changed) < 5000 else all_chains(store, settings)
    new = set(changed)
    notices = []
    flags: dict[str, tuple[list[str], str]] = {}
    for chain in chains:
        joined = [c for c in chain.case_ids if c in new]
        if not joined:
            continue
        notice = _describe_chain(chain, joined)
        notices.append(notice)
        for case_id in joined:
            related, first = flags.get(case_id, ([], notice))
            flags[case_id] = (related + [c for c in chain.case_ids if c != case_id and c not in related], first)
    with store.transaction() as conn:
        conn.executemany("DELETE FROM graph_flags WHERE case_id = ?", [(c,) for c in changed])
        conn.executemany("INSERT INTO graph_flags VALUES (?, ?, ?, ?)",
                         [(c, json.dumps(r), n, store.last_change()) for c, (r, n) in flags.items()])
    return notices


def _describe_chain(chain: Chain, joined: list[str]) -> str:
    ids = chain.case_ids
    shown = " → ".join(ids) if len(ids) <= 6 else " → ".join(ids[:3]) + f" → …（共{len(ids)}件）… → " + " → ".join(ids[-2:])
    group = "，群体性纠纷" if chain.group_dispute else ""
    return (f"重复纠纷链（{KINDS[chain.kind]}{group}，{len(ids)}件）：{shown}；当事人 {'/'.join(chain.parties)}；"
            f"本次新增 {'、'.join(joined[:10])}{'等' if len(joined) > 10 else ''}")


def _describe(resolver: Resolver, keys: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Party names, party ids and readable reasons for a set of link keys."""
    entity_ids: list[str] = []
    reasons: list[str] = []
    for key in sorted(keys):
        kind, _, rest = key.partition(":")
        if kind == "pair":
            entity_ids.extend(rest.split("|"))
            reasons.append(KINDS["same_parties"])
        else:
            entity_id, _, address = rest.partition("|")
            entity_ids.append(entity_id)
            reasons.append(f"同一当事人同一地址（{address}）")
    entities = resolver.entities(entity_ids)
    ids = [e for e in dict.fromkeys(entity_ids) if e in entities]
    return [entities[e].name for e in ids], ids, list(dict.fromkeys(reasons))


def _linked(store: Store, case_ids: Sequence[str]) -> list[tuple[set[str], set[str]]]:
    """The link components holding these cases: (cases, linking keys) each."""
    conn = store.conn
    found: list[tuple[set[str], set[str]]] = []
    seen: set[str] = set()
    for case_id in case_ids:
        if case_id in seen:
            continue
        members, keys, frontier = {case_id}, set(), [case_id]
        while frontier:
            new_keys: set[str] = set()
            for start in range(0, len(frontier), 500):
                part = frontier[start : start + 500]
                new_keys |= {r[0] for r in conn.execute(f"SELECT key FROM graph_links WHERE case_id IN ({','.join('?' * len(part))})", part)}
            new_keys -= keys
            if not new_keys:
                break
            shared: dict[str, set[str]] = defaultdict(set)
            key_list = sorted(new_keys)
            for start in range(0, len(key_list), 500):
                part = key_list[start : start + 500]
                for key, member in conn.execute(f"SELECT key, case_id FROM graph_links WHERE key IN ({','.join('?' * len(part))})", part):
                    shared[key].add(member)
            linking = {k for k, v in shared.items() if len(v) > 1}
            keys |= linking
            frontier = sorted({m for k in linking for m in shared[k]} - members)
            members.update(frontier)
        seen |= members
        if len(members) > 1:
            found.append((members, keys))
    return found


def _link_chain(resolver: Resolver, members: set[str], keys: Iterable[str]) -> Chain:
    dates = case_dates(resolver.store, members)
    ordered = sorted(members, key=lambda c: (dates.get(c) or "", c))
    keys = list(keys)
    names, ids, reasons = _describe(resolver, keys)
    kind = "same_parties" if any(k.startswith("pair:") for k in keys) else "same_address"
    return Chain(ordered, names, reasons, kind, ids)


def chain_of(store: Store, case_id: str) -> Chain | None:
    """The ``same_parties`` / ``same_address`` chain a case belongs to, or None when it is linked to no other case."""
    found = _linked(store, [case_id])
    return _link_chain(Resolver(store), *found[0]) if found else None


def chains_of(store: Store, case_ids: Sequence[str], settings: RepeatSettings | None = None) -> list[Chain]:
    """Every chain (of any kind) that holds one of these cases, earliest first."""
    resolver = Resolver(store)
    chains = [_link_chain(resolver, members, keys) for members, keys in _linked(store, list(case_ids))]
    respondents = set()
    ids = list(case_ids)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        respondents |= {r[0] for r in store.conn.execute(
            f"SELECT entity_id FROM graph_mentions WHERE role = '被申请人' AND case_id IN ({','.join('?' * len(part))})", part)}
    wanted = set(ids)
    chains += [c for c in respondent_chains(store, settings, entity_ids=sorted(respondents)) if wanted & set(c.case_ids)]
    return sorted(chains, key=lambda c: (c.case_ids[0], c.kind))


def all_chains(store: Store, settings: RepeatSettings | None = None) -> list[Chain]:
    """Every repeat chain of every kind, earliest chain first."""
    resolver = Resolver(store)
    rows = store.conn.execute(
        "SELECT key, case_id FROM graph_links WHERE key IN "
        "(SELECT key FROM graph_links GROUP BY key HAVING COUNT(*) > 1) ORDER BY key"
    ).fetchall()
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_key: dict[str, list[str]] = defaultdict(list)
    for key, case_id in rows:
        by_key[key].append(case_id)
    for members in by_key.values():
        for other in members[1:]:
            parent[root(other)] = root(members[0])
    groups: dict[str, set[str]] = defaultdict(set)
    keys_of: dict[str, list[str]] = defaultdict(list)
    for key, members in by_key.items():
        head = root(members[0])
        groups[head].update(members)
        keys_of[head].append(key)
    chains = [_link_chain(resolver, members, keys_of[head]) for head, members in groups.items()]
    chains += respondent_chains(store, settings)
    return sorted(chains, key=lambda c: (c.case_ids[0], c.kind))


def respondent_chains(store: Store, settings: RepeatSettings | None = None, *, entity_ids: Sequence[str] | None = None) -> list[Chain]:
    """Parties that are 被申请人 in many cases against different claimants within the window (kind ``respondent``).

    Cases are grouped into episodes (no gap longer than the window); an episode
    is a chain when some ``respondent_min_cases`` of its cases fall within
    ``respondent_window_days`` and two or more claimants brought them.
    Undated cases are left out (a window needs dates).
    """
    settings = settings or RepeatSettings()
    Resolver(store)
    sql = "SELECT entity_id, case_id, case_date, name FROM graph_mentions WHERE role = '被申请人' AND case_date IS NOT NULL"
    params: list[str] = []
    if entity_ids is not None:
        if not entity_ids:
            return []
        sql += f" AND entity_id IN ({','.join('?' * len(entity_ids))})"
        params = list(entity_ids)
    by_entity: dict[str, dict[str, str]] = defaultdict(dict)
    for entity_id, case_id, date, _ in store.conn.execute(sql, params):
        by_entity[entity_id][case_id] = date[:10]
    episodes: list[tuple[str, list[tuple[str, str]]]] = []
    window = dt.timedelta(days=settings.respondent_window_days)
    for entity_id, cases in by_entity.items():
        if len(cases) < settings.respondent_min_cases:
            continue
        ordered = sorted(((d, c) for c, d in cases.items()))
        current = [ordered[0]]
        for item in ordered[1:]:
            if _day(item[0]) - _day(current[-1][0]) > window:
                episodes.append((entity_id, current))
                current = []
            current.append(item)
        episodes.append((entity_id, current))
    dense = [(e, ep) for e, ep in episodes if len(ep) >= settings.respondent_min_cases and any(
        _day(ep[i + settings.respondent_min_cases - 1][0]) - _day(ep[i][0]) <= window
        for i in range(len(ep) - settings.respondent_min_cases + 1))]
    if not dense:
        return []
    claimants = _claimants(store, sorted({c for _, ep in dense for _, c in ep}))
    resolver = Resolver(store)
    names = {e: entity.name for e, entity in resolver.entities({e for e, _ in dense}).items()}
    chains = []
    group_window = dt.timedelta(days=settings.group_window_days)
    for entity_id, episode in dense:
        people = {cid: claimants.get(cid, {}) for _, cid in episode}
        distinct = {e for found in people.values() for e in found}
        if len(distinct) < 2:
            continue
        most = 0
        for i, (start_day, _) in enumerate(episode):
            inside: dict[str, int] = {}
            for day, cid in episode[i:]:
                if _day(day) - _day(start_day) > group_window:
                    break
                inside.update(people[cid])
            most = max(most, sum(inside.values()))
        name = names.get(entity_id, "")
        days = (_day(episode[-1][0]) - _day(episode[0][0])).days
        reasons = [f"同一被申请人（{name}）{days}天内被{len(distinct)}方申请人提起{len(episode)}件纠纷"]
        group = most >= settings.group_min_claimants
        if group:
            reasons.append(f"群体性纠纷：{settings.group_window_days}天内{most}名申请人")
        chains.append(Chain([cid for _, cid in episode], [name], reasons, "respondent", [entity_id], group, len(distinct)))
    return chains


def _claimants(store: Store, case_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per case, the claimants (entity id -> people: a group party counts its members)."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for start in range(0, len(case_ids), 500):
        part = case_ids[start : start + 500]
        rows = store.conn.execute(
            f"SELECT case_id, entity_id, kind, name FROM graph_mentions WHERE role != '被申请人' AND role != '第三人' "
            f"AND role != '代理人' AND case_id IN ({','.join('?' * len(part))})", part)
        for case_id, entity_id, kind, name in rows:
            size = _GROUP_SIZE.search(normalize_name(name)) if kind == "group" else None
            found[case_id][entity_id] = int(size.group(1)) if size else 1
    return found


def _day(date: str) -> dt.date:
    return dt.date.fromisoformat(date[:10])


def party_cases(store: Store, entity_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each resolved party's cases in time order: the one count of a party's cases LeiAn shows."""
    ids = list(dict.fromkeys(entity_ids))
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        rows = store.conn.execute(
            f"SELECT DISTINCT entity_id, case_id, COALESCE(case_date, '') FROM graph_mentions WHERE entity_id IN ({','.join('?' * len(part))})",
            part)
        for entity_id, case_id, date in rows:
            found[entity_id].append((date, case_id))
    return {e: [c for _, c in sorted(found[e])] for e in ids if e in found}


def place_cases(store: Store, address: str | None) -> list[str]:
    """The cases that happened at an address, in time order: the one count of an address's cases LeiAn shows.

    Addresses are compared by their street part (:func:`~leian.graph.resolve.address_key`:
    东街12号 = 东街12号院, 3栋502室 = 3-502) in the village, community or town the
    address names, so 平塘社区东街12号 finds 广东省珠海市金湾区平沙镇平塘社区东街12号 and
    not 东街12号 of another village. An address that names no place (东街12号) finds that street
    part wherever it is.
    """
    street = address_key(address)
    if not street:
        return []
    Resolver(store)
    text = normalize_name(address or "")
    at = {row[0]: row for row in store.conn.execute("SELECT case_id, town, community FROM graph_places WHERE street = ?", (street,))}
    rows = [at[case_id] for case_id in ordered_by_date(store, at)]
    if not set(parse_address(text)) - {"address"}:
        return [r[0] for r in rows]
    return [case_id for case_id, town, community in rows if (community and community in text) or (town and town in text)]


def address_counts(store: Store, min_cases: int, limit: int, area: Area | None = None) -> list[dict[str, Any]]:
    """Addresses (street in village/community or town) with ``min_cases`` or more cases (of ``area`` only, if given), most first."""
    Resolver(store)
    rows = repeat_places(store, "SELECT case_id, town, community, street FROM graph_places", min_cases, limit, area)
    return [{"address": f"{town or ''}{community or ''}{street}", "cases": n, "case_ids": sorted(ids.split(",")),
             "first": first, "last": last} for town, community, street, n, ids, first, last in rows]


def repeat_flag(store: Store, case_id: str) -> dict | None:
    """The repeat flag stored for a case at ingest (for search and the web page), or None."""
    Resolver(store)
    row = store.conn.execute("SELECT related, notice FROM graph_flags WHERE case_id = ?", (case_id,)).fetchone()
    if row is None:
        return None
    return {"case_id": case_id, "related": json.loads(row[0]), "notice": row[1]}
