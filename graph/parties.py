"""A party's history and the revisits due: what ``leian party``, ``leian followups`` and the web's party pages show."""
from __future__ import annotations

import datetime as dt
from typing import Any

from leian.data.store import Store
from leian.graph.followups import followups_of
from leian.graph.resolve import Entity, Resolver
from leian.graph.risk import KeptRegister, register
from leian.graph.signals import entities_named

__all__ = ["party_history", "case_parties", "due_followups"]


def party_history(store: Store, name_or_id: str) -> list[dict[str, Any]]:
    """Every resolved party with this id (or name, anonymous parties included): spellings, merge reasons,
    cases oldest first and revisits; the party with the most cases first. Resolution must be caught up."""
    resolver = Resolver(store)
    entity_ids = [name_or_id] if resolver.entities([name_or_id]) else entities_named(store, name_or_id, anonymous=True)
    entities = resolver.entities(entity_ids)
    records = _records(store, entities)
    return [records[e.entity_id] for e in sorted(entities.values(), key=lambda e: (-len(e.mentions), e.entity_id))]


def case_parties(store: Store, case_id: str) -> list[dict[str, Any]]:
    """The parties of a case, each once in the order the case names them, with their whole history (as
    :func:`party_history` gives it). Resolution must be caught up."""
    resolver = Resolver(store)
    entity_ids = list(dict.fromkeys(m.entity_id for m in resolver.case_mentions(case_id)))
    records = _records(store, resolver.entities(entity_ids))
    return [records[e] for e in entity_ids if e in records]


def _records(store: Store, entities: dict[str, Entity]) -> dict[str, dict[str, Any]]:
    """Each party's spellings, merge reasons, cases oldest first and revisits, by id."""
    titles = {case_id: case.title for e in entities.values() for case_id, case in store.get_many(e.case_ids).items()}
    visits = followups_of(store, entities)
    return {
        e.entity_id: {
            "party_id": e.entity_id,
            "name": e.name,
            "kind": e.kind,
            "names": e.names,
            "reasons": e.reasons,
            "cases": [
                {"case_id": m.case_id, "date": m.case_date, "role": m.role, "name_as_written": m.name, "title": titles.get(m.case_id)}
                for m in sorted(e.mentions, key=lambda m: (m.case_date or "", m.case_id))
            ],
            "followups": visits[e.entity_id],
        }
        for e in entities.values()
    }


def due_followups(store: Store, today: dt.date, *, due_only: bool = False, kept: KeptRegister | None = None) -> list[dict[str, Any]]:
    """The parties of the 风险台账 with a revisit due (only those due by ``today`` with ``due_only``),
    earliest first, each with its last revisit (``kept``: as :func:`~leian.graph.risk.register`)."""
    found = [a for a in register(store, today=today, kept=kept) if a.due and (not due_only or a.due <= today.isoformat())]
    visits = followups_of(store, [a.party_id for a in found])
    return [{"party_id": a.party_id, "name": a.name, "level": a.level, "colour": a.colour, "due": a.due,
             "overdue": a.due <= today.isoformat(), "every_days": a.every_days, "cadence": a.cadence,
             "responsible": a.responsible, "responsible_body": a.body,
             "last_visit": visits[a.party_id][-1] if visits[a.party_id] else None} for a in found]
