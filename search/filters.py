"""Filters applied inside retrieval, and facet counts of a result set.

A filter becomes one SQL query over the store's indexed columns that yields
the set of allowed case ids; the vector index and BM25 then only score those
ids (never a top-k cut afterwards), so a filtered search returns ``k`` hits
whenever ``k`` cases match.

Examples
--------
>>> Filters(type="邻里", where="三灶镇").is_empty()
False
>>> Filters.from_dict({"since": "2024-01-01", "until": None}).since
'2024-01-01'
>>> Filters(since="2024-13-01").check()
Traceback (most recent call last):
...
leian.errors.InvalidInput: since（起始日期）：不是有效日期（YYYY-MM-DD）：'2024-13-01'
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from leian.data.normalize import normalize_name, normalize_text
from leian.data.places import LEVELS
from leian.data.queries import case_columns, case_ids_matching
from leian.data.store import Store
from leian.data.taxonomy import Taxonomy
from leian.errors import InvalidInput

__all__ = ["FACETS", "FACET_COLUMNS", "FILTER_NAMES", "TREE_LEVELS", "Filters", "allowed_ids", "facets"]

#: Facet name -> cases column it counts.
FACETS = {"type": "category", "subtype": "subtype", "outcome": "outcome", "channel": "channel", "district": "district", "town": "town"}
#: Levels of the ``place`` facet tree, from the top (the province is left out: one per deployment).
TREE_LEVELS = LEVELS[1:]
#: The ``cases`` columns :func:`facets` counts.
FACET_COLUMNS = list(dict.fromkeys([*FACETS.values(), *TREE_LEVELS, "case_date"]))


#: What each filter is called where a person reads it (the CLI's answer, the web page's chips, errors).
FILTER_NAMES = {"type": "类型", "where": "地点", "since": "起始日期", "until": "截止日期", "outcome": "调解结果",
                "channel": "来源渠道", "mediator": "调解员"}


@dataclass(frozen=True)
class Filters:
    """Restrictions on the cases a search may return (all given ones must hold).

    Attributes:
        type: 大类 or 小类 (any spelling the taxonomy knows, or the type as registered).
        where: a place at any level (province ... grid), e.g. 金湾区, 三灶镇, a grid name.
        since, until: inclusive date range on the case date (YYYY-MM-DD).
        outcome, channel: exact values (调解成功, 12345热线 ...).
        mediator: a mediator's name or (part of) their organisation.
    """

    type: str | None = None
    where: str | None = None
    since: str | None = None
    until: str | None = None
    outcome: str | None = None
    channel: str | None = None
    mediator: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Filters:
        """Filters from a mapping with the attribute names (unknown keys are an error)."""
        data = {k: v for k, v in (data or {}).items() if v not in (None, "")}
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidInput(f"未知的筛选条件：{'、'.join(sorted(unknown))}")
        return cls(**{k: str(v) for k, v in data.items()}).check()

    def check(self) -> Filters:
        """Raise ValueError naming the field when a date is malformed; returns self."""
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                try:
                    dt.date.fromisoformat(value)
                except ValueError:
                    raise InvalidInput(f"{name}（{FILTER_NAMES[name]}）：不是有效日期（YYYY-MM-DD）：{value!r}") from None
        return self

    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


def _criteria(filters: Filters) -> dict[str, Any]:
    """The filters as the store's criteria (:func:`leian.data.queries.case_ids_matching`): types through the
    taxonomy, names and values normalised."""
    criteria: dict[str, Any] = {}
    if filters.type:
        match = Taxonomy.default().classify(filters.type)
        if match:
            criteria.update(category=match.category, subtype=match.subtype or None)
        else:
            criteria["type_name"] = (filters.type, normalize_name(filters.type))
    if filters.where:
        criteria["place"] = normalize_name(filters.where)
    criteria.update({name: getattr(filters, name) for name in ("since", "until") if getattr(filters, name)})
    criteria.update({name: normalize_text(getattr(filters, name)) for name in ("outcome", "channel") if getattr(filters, name)})
    if filters.mediator:
        criteria["mediator"] = (filters.mediator.strip(), normalize_name(filters.mediator))
    return criteria


def allowed_ids(store: Store, filters: Filters | None) -> set[str] | None:
    """Ids of the cases that pass ``filters`` (None when there is nothing to filter)."""
    if filters is None or filters.is_empty():
        return None
    return case_ids_matching(store, **_criteria(filters))


def facets(store: Store, ids: Collection[str], rows: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Counts over ``ids``: flat ones by type, subtype, outcome, channel, district and town (largest first, ties in the
    order the rows are read), ``place`` as a tree 市 › 区县 › 镇街 › 村社 › 网格 and ``date`` as a tree year › month
    (newest first).

    ``rows``: the cases' :data:`FACET_COLUMNS` read already, as :func:`~leian.data.queries.case_columns` reads
    them for ``ids`` (a search has them from its candidates), instead of reading them again.
    """
    counts = {name: Counter() for name in FACETS}
    places: Counter[tuple[tuple[str, str], ...]] = Counter()
    months: Counter[tuple[tuple[str, str], ...]] = Counter()
    for row in case_columns(store, list(ids), FACET_COLUMNS) if rows is None else rows:
        for name, column in FACETS.items():
            value = row[column]
            if value:
                counts[name][value] += 1
        path = tuple((level, row[level]) for level in TREE_LEVELS if row[level])
        if path:
            places[path] += 1
        date = row["case_date"]
        if date:
            months[(("year", date[:4]), ("month", date[:7]))] += 1
    found: dict[str, Any] = {name: dict(counter.most_common()) for name, counter in counts.items() if counter}
    if places:
        found["place"] = _tree(places, lambda node: (-node["count"], node["name"]))
    if months:
        found["date"] = _tree(months, lambda node: node["name"], reverse=True)
    return found


def _tree(paths: Counter[tuple[tuple[str, str], ...]], order: Callable[[dict[str, Any]], Any], reverse: bool = False) -> list[dict[str, Any]]:
    """Nested ``{name, level, count, children}`` nodes from counted root-to-leaf ``(level, name)`` paths.

    A node counts every path through it, so its children sum to its count less
    the cases recorded no deeper than it.

    >>> _tree(Counter({(("city", "珠海市"), ("district", "金湾区")): 2, (("city", "珠海市"),): 1}), lambda n: n["name"])
    [{'name': '珠海市', 'level': 'city', 'count': 3, 'children': [{'name': '金湾区', 'level': 'district', 'count': 2, 'children': []}]}]
    """
    roots: dict[tuple[str, str], dict[str, Any]] = {}
    for path, count in paths.items():
        level = roots
        for key in path:
            node = level.get(key)
            if node is None:
                node = level[key] = {"name": key[1], "level": key[0], "count": 0, "children": {}}
            node["count"] += count
            level = node["children"]

    def listed(nodes: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
        for node in nodes.values():  # built here, so changed in place: a search's facets are one call
            node["children"] = listed(node["children"])
        return sorted(nodes.values(), key=order, reverse=reverse)

    return listed(roots)
