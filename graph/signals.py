"""Graph signals for search: cases sharing a party or a place, and a party's earlier cases.

They read the resolution tables in the case store, so they work the same
whichever graph store is configured.

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> from leian.data.record import validate
>>> from leian.graph.sync import sync
>>> home = Home.resolve(tempfile.mkdtemp())
>>> store = home.open_store()
>>> _ = store.upsert_batch([
...     validate({"id": "A1", "text": "欠薪", "occurred_on": "2024-01-05", "location": {"town": "平沙镇"},
...               "parties": [{"name": "珠海市恒达建筑劳务有限公司"}]}),
...     validate({"id": "A2", "text": "又欠薪", "occurred_on": "2024-06-01", "location": {"town": "平沙镇"},
...               "parties": [{"name": "恒达劳务", "kind": "organization"}]})])
>>> _ = sync(home, store)
>>> cases_sharing_parties(store, ["珠海恒达建筑劳务公司"])
{'A1': ['当事人：珠海恒达建筑劳务公司'], 'A2': ['当事人：珠海恒达建筑劳务公司']}
>>> earlier_case_counts(store, "A2")
{0: 1}
>>> store.close()
"""
from __future__ import annotations

from collections.abc import Iterable

from leian.data.normalize import normalize_name
from leian.data.places import LEVELS
from leian.data.queries import cases_at_level
from leian.data.store import Store
from leian.graph.resolve import Mention, Resolver, conflicts, is_anonymous, name_features

__all__ = ["entities_named", "cases_sharing_parties", "cases_at_place", "earlier_case_counts", "earlier_case_count"]


def entities_named(store: Store, name: str, place: dict[str, str] | None = None, *, anonymous: bool = False) -> list[str]:
    """Resolved entity ids this name may stand for, optionally only those seen at a place (town/district/city).

    The name is compared as resolution compares it (恒达劳务 finds 珠海市恒达建筑劳务有限公司,
    not 恒达物业). An anonymised name (魏某) names no one in particular: none, unless ``anonymous``.
    """
    if not anonymous and is_anonymous(normalize_name(name)):
        return []
    resolver = Resolver(store)
    found: list[str] = []
    for kind in ("person", "organization", "group"):
        name_key, industries, named_city = name_features(name, kind)
        probe = Mention("", -1, name, kind, name_key, industries=industries, named_city=named_city)
        sql = "SELECT DISTINCT entity_id FROM graph_mentions WHERE name_key = ?"
        params: list[str] = [name_key]
        for level in ("town", "district", "city"):
            if place and place.get(level):
                sql += f" AND {level} = ?"
                params.append(place[level])
        ids = [row[0] for row in store.conn.execute(sql, params)]
        found.extend(e for e, entity in resolver.entities(ids).items() if not conflicts(probe, entity))
    return list(dict.fromkeys(found))


def cases_sharing_parties(store: Store, names: Iterable[str], place: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Cases involving a party with one of these names (at ``place`` if given), with the reason."""
    found: dict[str, list[str]] = {}
    for name in names:
        entity_ids = entities_named(store, name, place)
        if not entity_ids:
            continue
        rows = store.conn.execute(
            f"SELECT DISTINCT case_id FROM graph_mentions WHERE entity_id IN ({','.join('?' * len(entity_ids))}) ORDER BY case_id",
            entity_ids,
        )
        for (case_id,) in rows:
            found.setdefault(case_id, []).append(f"当事人：{name}")
    return found


def cases_at_place(store: Store, place: dict[str, str], limit: int = 1000) -> list[str]:
    """Cases at the deepest level ``place`` names, newest first."""
    named = [level for level in LEVELS if place.get(level)]
    if not named:
        return []
    level = named[-1]
    return cases_at_level(store, level, place[level], limit)


def earlier_case_count(store: Store, entity_id: str, before: str | None) -> int:
    """How many cases of this resolved party are dated before ``before`` (all of them if None)."""
    Resolver(store)
    sql = "SELECT COUNT(DISTINCT case_id) FROM graph_mentions WHERE entity_id = ?"
    params: list[str] = [entity_id]
    if before:
        sql += " AND case_date < ?"
        params.append(before)
    return store.conn.execute(sql, params).fetchone()[0]


def earlier_case_counts(store: Store, case_id: str) -> dict[int, int]:
    """For each party of a stored case (by position), how many earlier cases the same party has."""
    resolver = Resolver(store)
    mentions = resolver.case_mentions(case_id)
    return {m.position: earlier_case_count(store, m.entity_id, m.case_date) for m in mentions if m.case_date}
