"""回访 (follow-up visits) to parties of the risk register: recorded, kept, listed.

A revisit is stored in ``graph_followups`` (component ``graph``) with who
recorded it, when (UTC) and from where (``cli`` or ``web``): the table is its
own audit trail, and the web app also writes its audit log. A revisit is
anchored on the party's earliest mention as well as its entity id, so it stays
with the party when resolution later merges it with another spelling.

Examples
--------
>>> to_local("2026-03-01T16:30:00+00:00")
'2026-03-02 00:30'
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from leian.data.store import Store
from leian.errors import InvalidInput, NotFound
from leian.clock import local_time, timezone
from leian.graph.resolve import Resolver

__all__ = ["local_today", "to_local", "record_followup", "followups_of", "revisit_parties", "last_revisit", "find_party"]

MAX_NOTE_CHARS = 2000


def local_today() -> dt.date:
    """Today where the people who read LeiAn are (:mod:`leian.clock`'s zone)."""
    return dt.datetime.now(timezone()).date()


def to_local(stamp: str) -> str:
    """A stored UTC time as the local ``YYYY-MM-DD HH:MM``."""
    return local_time(stamp)


def find_party(store: Store, text: str) -> str:
    """The party id a user means: a party id (P0000012), or a name that only one resolved party has."""
    from leian.graph.signals import entities_named

    text = (text or "").strip()
    if not text:
        raise InvalidInput("请给出当事人编号或姓名")
    resolver = Resolver(store)
    if resolver.entities([text]):
        return text
    found = entities_named(store, text)
    if not found:
        raise NotFound(f"没有名为或编号为 {text!r} 的当事人")
    if len(found) > 1:
        raise InvalidInput(f"{text} 对应 {len(found)} 位当事人（{'、'.join(found[:8])}），请用当事人编号")
    return found[0]


def record_followup(store: Store, party_id: str, note: str, *, by: str, source: str = "cli",
                    now: dt.datetime | None = None) -> dict[str, Any]:
    """Record one revisit to a party; returns it as listed by :func:`followups_of`."""
    note, by = (note or "").strip(), (by or "").strip()
    if not note:
        raise InvalidInput("回访记录不能为空（--note）")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"回访记录最多 {MAX_NOTE_CHARS} 字，实为 {len(note)} 字")
    if not by:
        raise InvalidInput("请写明回访人（--by）")
    resolver = Resolver(store)
    entity = resolver.entities([party_id]).get(party_id)
    if entity is None:
        raise NotFound(f"没有编号为 {party_id} 的当事人")
    anchor = min(entity.mentions, key=lambda m: (m.case_date or "", m.case_id, m.position))
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO graph_followups (entity_id, anchor_case, anchor_position, note, recorded_by, recorded_at, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (party_id, anchor.case_id, anchor.position, note, by, stamp, source))
    return _item(cursor.lastrowid, note, by, stamp, source)


def _item(number: int, note: str, by: str, stamp: str, source: str) -> dict[str, Any]:
    local = to_local(stamp)
    return {"id": number, "note": note, "by": by, "recorded_at": stamp, "local_time": local, "local_date": local[:10],
            "source": source}


def followups_of(store: Store, entity_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every revisit of these parties (by entity id or anchored on one of their mentions), oldest first."""
    Resolver(store)
    found: dict[str, list[dict[str, Any]]] = {e: [] for e in entity_ids}
    if not found:
        return found
    # The anchor's entity now, when the party was merged or split since; else the entity it was recorded for.
    rows = store.conn.execute(
        "SELECT f.id, f.entity_id, m.entity_id, f.note, f.recorded_by, f.recorded_at, f.source FROM graph_followups f "
        "LEFT JOIN graph_mentions m ON m.case_id = f.anchor_case AND m.position = f.anchor_position "
        "ORDER BY f.recorded_at, f.id")
    for number, entity_id, owner, note, by, stamp, source in rows:
        target = owner if owner in found else entity_id if entity_id in found else None
        if target is not None:
            found[target].append(_item(number, note, by, stamp, source))
    return found



def revisit_parties(store: Store, after: int = 0) -> list[tuple[int, str, str | None]]:
    """Each revisit recorded after revisit number ``after``: its number, the party it was recorded for, and the
    party its anchor belongs to now (None once the anchor case is gone); :func:`followups_of` counts it for one of the two."""
    Resolver(store)
    return store.conn.execute(
        "SELECT f.id, f.entity_id, m.entity_id FROM graph_followups f "
        "LEFT JOIN graph_mentions m ON m.case_id = f.anchor_case AND m.position = f.anchor_position WHERE f.id > ? ORDER BY f.id",
        (after,)).fetchall()


def last_revisit(store: Store) -> int:
    """The number of the last revisit recorded (0: none)."""
    Resolver(store)
    return store.conn.execute("SELECT COALESCE(MAX(id), 0) FROM graph_followups").fetchone()[0]
