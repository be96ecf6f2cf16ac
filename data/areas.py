"""Areas: the 区县 or 区县 › 镇街 subtree a user works in, and the cases inside it.

A web user may be given an area; every query made for them then sees only the
cases of that area (see :mod:`leian.web.queries`). An area is written
``区县`` or ``区县/镇街``, names as the store holds them.

Examples
--------
>>> Area.parse("金湾区/三灶镇")
Area(district='金湾区', town='三灶镇')
>>> str(Area.parse(" 金湾区 ")), Area.parse("") is None
('金湾区', True)
>>> Area.parse("金湾区/三灶镇").sql("c")
('c.district = ? AND c.town = ?', ['金湾区', '三灶镇'])
>>> Area.parse("金湾区/三灶镇/鱼月村")
Traceback (most recent call last):
...
ValueError: 区域须写作“区县”或“区县/镇街”：'金湾区/三灶镇/鱼月村'
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

from leian.data.normalize import normalize_name
from leian.data.store import Store

__all__ = ["Area", "area_choices"]


@dataclass(frozen=True)
class Area:
    district: str
    town: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Area | None:
        """The area written as ``区县`` or ``区县/镇街`` (None for an empty text: no area, every case)."""
        parts = [normalize_name(p) for p in (text or "").replace("›", "/").split("/")]
        parts = [p for p in parts if p]
        if not parts:
            return None
        if len(parts) > 2:
            raise ValueError(f"区域须写作“区县”或“区县/镇街”：{text!r}")
        return cls(parts[0], parts[1] if len(parts) > 1 else None)

    def __str__(self) -> str:
        return f"{self.district}/{self.town}" if self.town else self.district

    @property
    def label(self) -> str:
        """How a page names the area."""
        return f"{self.district} › {self.town}" if self.town else self.district

    def sql(self, table: str = "cases") -> tuple[str, list[str]]:
        """A condition on the cases table (as ``table``) holding for the cases of this area, and its parameters."""
        if self.town:
            return f"{table}.district = ? AND {table}.town = ?", [self.district, self.town]
        return f"{table}.district = ?", [self.district]

    def case_ids(self, store: Store) -> set[str]:
        """The ids of the store's cases in this area, read again only once the store has changed: every page an
        area's user opens asks for them (a search twice), and reading them costs ≈ 40 ms for 13,000 cases."""
        seq = store.last_change()
        kept = _case_ids.setdefault(store, {})
        seen = kept.get(self)
        if seen is None or seen[0] != seq:
            where, params = self.sql()
            seen = kept[self] = (seq, frozenset(row[0] for row in store.conn.execute(f"SELECT id FROM cases WHERE {where}", params)))
        return set(seen[1])

    def exists_in(self, store: Store) -> bool:
        """Whether the store has a case in this area (an area nobody's case is in is most likely a typo)."""
        where, params = self.sql()
        return store.conn.execute(f"SELECT 1 FROM cases WHERE {where} LIMIT 1", params).fetchone() is not None


#: Per open store, each area's case ids and the change seq they were read at.
_case_ids: weakref.WeakKeyDictionary[Store, dict[Area, tuple[int, frozenset[str]]]] = weakref.WeakKeyDictionary()


def area_choices(store: Store) -> list[dict[str, object]]:
    """The districts of the store, each with its towns and case counts, busiest first: what an admin picks from."""
    districts: dict[str, dict[str, object]] = {}
    for (district, town), n in store.value_counts("district", "town").items():
        entry = districts.setdefault(district, {"name": district, "count": 0, "towns": []})
        entry["count"] += n  # type: ignore[operator]
        if town:
            entry["towns"].append({"name": town, "count": n})  # type: ignore[union-attr]
    for entry in districts.values():
        entry["towns"].sort(key=lambda t: (-t["count"], t["name"]))  # type: ignore[union-attr]
    return sorted(districts.values(), key=lambda d: (-d["count"], d["name"]))  # type: ignore[operator]
