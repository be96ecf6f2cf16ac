"""Repeat disputes: cases linked through the same resolved parties, as chains in time.

Two cases are linked when they involve the same pair of resolved parties, or
the same party at the same street address. A chain is a maximal connected
group of linked cases, ordered by date. Links are kept as keys per case
(``pair:P1|P2``, ``addr:P1|东街12``) in ``graph_links``, so a new case finds
its chain with an index lookup and chains never need a full rebuild.

:func:`resolve_changes` applies the store's change log to resolution and
links, and flags each changed case that joins a chain (the notice is stored in
``graph_flags`` for search and the web page, and returned to be printed).
"""
from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field

from tqdm import tqdm

from leian.data.store import Store
from leian.graph.resolve import Mention, Resolver, address_key

__all__ = [
    "RESOLVE_SEQ",
    "Chain",
    "resolve_changes",
    "chain_of",
    "all_chains",
    "repeat_flag",
    "link_keys",
]

#: The ``graph_state`` key holding the last store change resolution has applied.
RESOLVE_SEQ = "resolve_seq"
_BATCH = 500


@dataclass
class Chain:
    """A repeat-dispute chain: case ids in time order, the parties and reasons that link them."""

    case_ids: list[str]
    parties: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"case_ids": self.case_ids, "parties": self.parties, "reasons": self.reasons}


def link_keys(mentions: list[Mention], case_address: str | None) -> set[str]:
    """The link keys of one case: each pair of distinct parties, each party with the case's street address.

    The address is where the dispute happened (the case's ``location.address``),
    not a party's home, so one person with two disputes elsewhere is not a
    repeat; only a case without an address of its own falls back to its
    parties' addresses.
    """
    entities = sorted({m.entity_id for m in mentions if m.entity_id})
    keys = {f"pair:{a}|{b}" for a, b in itertools.combinations(entities, 2)}
    street = address_key(case_address)
    if street:
        keys |= {f"addr:{entity}|{street}" for entity in entities}
    else:
        keys |= {f"addr:{m.entity_id}|{m.address_key}" for m in mentions if m.address_key}
    return keys


def resolve_changes(store: Store, *, progress: bool = False) -> list[str]:
    """Apply the change log to entity resolution and repeat links; returns notices to print."""
    resolver = Resolver(store)
    notices: list[str] = []
    seq = int(resolver.state(RESOLVE_SEQ))
    changes = store.changes_since(seq)
    bar = tqdm(total=len(changes), disable=not (progress and changes), desc="识别当事人", unit="件")
    for start in range(0, len(changes), _BATCH):
        batch = changes[start : start + _BATCH]
        latest = {c.case_id: c for c in batch}
        cases = store.get_many([cid for cid, c in latest.items() if c.op == "upsert"])
        with store.transaction() as conn:
            for case_id in latest:
                conn.execute("DELETE FROM graph_links WHERE case_id = ?", (case_id,))
                case = cases.get(case_id)
                if case is None:
                    resolver.remove_case(case_id)
                    conn.execute("DELETE FROM graph_flags WHERE case_id = ?", (case_id,))
                    continue
                mentions = resolver.resolve_case(case)
                conn.executemany("INSERT INTO graph_links VALUES (?, ?)", [(k, case_id) for k in link_keys(mentions, case.location.get("address"))])
                notice = _flag(resolver, case_id, batch[-1].seq)
                if notice:
                    notices.append(notice)
            resolver.set_state(RESOLVE_SEQ, str(batch[-1].seq))
        bar.update(len(batch))
    bar.close()
    return notices


def _flag(resolver: Resolver, case_id: str, seq: int) -> str | None:
    """Store and return the notice for a case that joins a chain, or None."""
    conn = resolver.conn
    rows = conn.execute(
        "SELECT l2.case_id, l1.key FROM graph_links l1 JOIN graph_links l2 ON l1.key = l2.key "
        "WHERE l1.case_id = ? AND l2.case_id != ?",
        (case_id, case_id),
    ).fetchall()
    if not rows:
        conn.execute("DELETE FROM graph_flags WHERE case_id = ?", (case_id,))
        return None
    dates = _dates(resolver, {r[0] for r in rows} | {case_id})
    own_date = dates.get(case_id) or ""
    earlier = [r for r in rows if (dates.get(r[0]) or "", r[0]) < (own_date, case_id)]
    # The most recent earlier case says most to the mediator; else the nearest later one.
    related_row = max(earlier, key=lambda r: dates.get(r[0]) or "") if earlier else min(rows, key=lambda r: dates.get(r[0]) or "")
    related = related_row[0]
    keys = [r[1] for r in rows if r[0] == related]
    names, reasons = _describe(resolver, keys)
    notice = f"重复纠纷: {case_id} 与 {related} ({'/'.join(names)}, {'、'.join(reasons)}) 相关"
    related_ids = sorted({r[0] for r in rows}, key=lambda c: (dates.get(c) or "", c))
    conn.execute(
        "INSERT INTO graph_flags VALUES (?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET "
        "related = excluded.related, notice = excluded.notice, flagged_at_seq = excluded.flagged_at_seq",
        (case_id, json.dumps(related_ids), notice, seq),
    )
    return notice


def _dates(resolver: Resolver, case_ids: set[str]) -> dict[str, str | None]:
    ids = list(case_ids)
    dates: dict[str, str | None] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = resolver.conn.execute(
            f"SELECT id, case_date FROM cases WHERE id IN ({','.join('?' * len(chunk))})", chunk
        )
        dates.update((r[0], r[1]) for r in rows)
    return dates


def _describe(resolver: Resolver, keys: list[str]) -> tuple[list[str], list[str]]:
    """Party names and readable reasons for a set of link keys."""
    entity_ids: list[str] = []
    reasons: list[str] = []
    for key in sorted(keys):
        kind, _, rest = key.partition(":")
        if kind == "pair":
            entity_ids.extend(rest.split("|"))
            reasons.append("同一对当事人")
        else:
            entity_id, _, address = rest.partition("|")
            entity_ids.append(entity_id)
            reasons.append(f"同一当事人同一地址（{address}）")
    entities = resolver.entities(entity_ids)
    names = [entities[e].name for e in dict.fromkeys(entity_ids) if e in entities]
    return names, list(dict.fromkeys(reasons))


def chain_of(store: Store, case_id: str) -> Chain | None:
    """The chain a case belongs to, or None when it is linked to no other case."""
    resolver = Resolver(store)
    conn = store.conn
    members = {case_id}
    keys: set[str] = set()
    frontier = [case_id]
    while frontier:
        marks = ",".join("?" * len(frontier))
        new_keys = {r[0] for r in conn.execute(f"SELECT key FROM graph_links WHERE case_id IN ({marks})", frontier)}
        new_keys -= keys
        keys |= new_keys
        if not new_keys:
            break
        key_list = list(new_keys)
        rows = conn.execute(
            f"SELECT key, case_id FROM graph_links WHERE key IN ({','.join('?' * len(key_list))})", key_list
        ).fetchall()
        shared = defaultdict(set)
        for key, member in rows:
            shared[key].add(member)
        linking = {k for k, v in shared.items() if len(v) > 1}
        frontier = [m for k in linking for m in shared[k] if m not in members]
        members.update(frontier)
    if len(members) < 2:
        return None
    return _chain(resolver, members, [k for k in keys if _shared(conn, k)])


def _shared(conn, key: str) -> bool:
    return conn.execute("SELECT COUNT(*) FROM graph_links WHERE key = ?", (key,)).fetchone()[0] > 1


def all_chains(store: Store) -> list[Chain]:
    """Every repeat chain (maximal groups of linked cases), earliest chain first."""
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
    chains = [_chain(resolver, members, keys_of[head]) for head, members in groups.items()]
    return sorted(chains, key=lambda c: c.case_ids[0])


def _chain(resolver: Resolver, members: set[str], keys: list[str]) -> Chain:
    dates = _dates(resolver, members)
    ordered = sorted(members, key=lambda c: (dates.get(c) or "", c))
    names, reasons = _describe(resolver, keys)
    return Chain(ordered, names, reasons)


def repeat_flag(store: Store, case_id: str) -> dict | None:
    """The repeat flag stored for a case at ingest (for search and the web page), or None."""
    Resolver(store)
    row = store.conn.execute("SELECT related, notice FROM graph_flags WHERE case_id = ?", (case_id,)).fetchone()
    if row is None:
        return None
    return {"case_id": case_id, "related": json.loads(row[0]), "notice": row[1]}
