"""Reads of the core tables (``cases``, ``case_parties``, ``case_mediators``) that other packages need.

The store owns its tables: search, the graph, analytics and the libraries ask
these functions (or :class:`~leian.data.store.Store` methods) instead of
writing SQL against them, so a change of the schema stays inside ``data/``.
Ids are sent in chunks of 500 (SQLite's bound-parameter limit is far above;
the chunk keeps each statement small).

Where another package's rows meet the cases (the graph's party mentions and
places), the owner gives its rows as a query of its own tables (``rows_sql``,
with a ``case_id`` column) and the join with the cases is written here, once:
the two tables are joined in SQLite, not in Python, so a 300k-case store is
counted in one statement.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from leian.data.areas import Area
from leian.data.places import LEVELS
from leian.data.store import Store

__all__ = [
    "CASE_COLUMNS",
    "CANDIDATE_INDEX",
    "IDS_PER_STATEMENT",
    "case_columns",
    "case_dates",
    "case_ids_matching",
    "case_ids_with_party_names",
    "any_untyped",
    "cases_at_level",
    "monthly_category_counts",
    "cell_day_counts",
    "party_names_in",
    "search_texts",
    "date_range",
    "well_documented_cases",
    "latest_ingest_runs",
    "IDENTIFIED_PARTIES_SQL",
    "cell_case_rows",
    "party_case_dates",
    "party_case_totals",
    "repeat_parties",
    "repeat_places",
    "ordered_by_date",
    "type_place_counts",
]

#: Columns of ``cases`` other packages may read (through :func:`case_columns` and friends).
CASE_COLUMNS = frozenset({"id", "category", "subtype", "type_raw", "case_date", "outcome", "channel", "search_text", *LEVELS})
#: Ids per ``IN (...)`` statement: a read of more is split. The rows of one statement come in the order SQLite walks
#: the id index (the same for the same ids, whatever order they are given in).
IDS_PER_STATEMENT = 500
#: The index of ``cases`` (core schema v2) holding the columns a search reads of its candidates
#: (``leian.search.engine.CANDIDATE_COLUMNS``; ``tests/test_search.py`` checks it still holds them all).
CANDIDATE_INDEX = "cases_candidate"


def _checked(columns: Iterable[str]) -> list[str]:
    columns = list(columns)
    unknown = set(columns) - CASE_COLUMNS
    if unknown:
        raise ValueError(f"not a readable case column: {', '.join(sorted(unknown))}")
    return columns


def _marks(n: int) -> str:
    return ",".join("?" * n)


def case_columns(store: Store, case_ids: Sequence[str], columns: Sequence[str], *, index: str | None = None) -> Iterator[sqlite3.Row]:
    """Rows of ``columns`` for the stored cases among ``case_ids`` (unknown ids skipped), 500 ids per statement.

    ``index``: read through this index of ``cases``, one holding every column asked for (SQLite's planner takes the
    primary key's own, then each case's row, read past its record JSON).
    """
    names = ", ".join(_checked(columns))
    source = f"cases INDEXED BY {index}" if index else "cases"
    ids = list(case_ids)
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        part = ids[start : start + IDS_PER_STATEMENT]
        yield from store.conn.execute(f"SELECT {names} FROM {source} WHERE id IN ({_marks(len(part))})", part)


def case_dates(store: Store, case_ids: Iterable[str]) -> dict[str, str | None]:
    """Case id -> its date (None when it has none), for the stored cases among ``case_ids``."""
    return {row[0]: row[1] for row in case_columns(store, list(case_ids), ("id", "case_date"))}


def case_ids_matching(store: Store, *, category: str | None = None, subtype: str | None = None,
                      type_name: tuple[str, str] | None = None, place: str | None = None, since: str | None = None,
                      until: str | None = None, outcome: str | None = None, channel: str | None = None,
                      mediator: tuple[str, str] | None = None) -> set[str]:
    """Ids of the cases meeting every criterion given (values already normalised by the caller).

    Args:
        category, subtype: the 大类 (and 小类) the taxonomy mapped a type filter to.
        type_name: ``(as typed, normalised)`` of a type the taxonomy does not know: the registered type,
            or a 大类 or 小类 of that name.
        place: a place name at any level (province … grid).
        since, until: inclusive bounds on the case date (YYYY-MM-DD).
        outcome, channel: exact values.
        mediator: ``(as typed, normalised)``: a mediator of that name, or an organisation whose name contains it.
    """
    clauses: list[str] = []
    params: list[str] = []
    if category is not None:
        if subtype is not None:
            clauses.append("(category = ? AND subtype = ?)")
            params += [category, subtype]
        else:
            clauses.append("category = ?")
            params.append(category)
    if type_name is not None:
        clauses.append("(type_raw = ? OR category = ? OR subtype = ?)")
        params += [type_name[0], type_name[1], type_name[1]]
    if place is not None:
        clauses.append("(" + " OR ".join(f"{level} = ?" for level in LEVELS) + ")")
        params += [place] * len(LEVELS)
    if since is not None:
        clauses.append("case_date >= ?")
        params.append(since)
    if until is not None:
        clauses.append("case_date <= ?")
        params.append(until)
    for column, value in (("outcome", outcome), ("channel", channel)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if mediator is not None:
        clauses.append("id IN (SELECT case_id FROM case_mediators WHERE name = ? OR name = ? OR org LIKE ?)")
        params += [mediator[0], mediator[1], f"%{mediator[1]}%"]
    where = " AND ".join(clauses) or "1"
    return {row[0] for row in store.conn.execute(f"SELECT id FROM cases WHERE {where}", params)}


def case_ids_with_party_names(store: Store, names: Sequence[str]) -> list[str]:
    """Ids of the cases a party of one of these (normalised) names is a party to."""
    if not names:
        return []
    rows = store.conn.execute(f"SELECT DISTINCT case_id FROM case_parties WHERE name_norm IN ({_marks(len(names))})", list(names))
    return [row[0] for row in rows]


def any_untyped(store: Store, case_ids: Sequence[str]) -> bool:
    """Whether any of the stored ``case_ids`` has no 小类 (its type is guessed)."""
    ids = list(case_ids)
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        part = ids[start : start + IDS_PER_STATEMENT]
        if store.conn.execute(f"SELECT 1 FROM cases WHERE id IN ({_marks(len(part))}) AND (subtype IS NULL OR subtype = '') LIMIT 1",
                              part).fetchone():
            return True
    return False


def party_names_in(store: Store, names: Sequence[str], case_ids: Sequence[str]) -> Iterator[tuple[str, str]]:
    """``(case id, name as written)`` of the parties of these cases whose normalised name is one of ``names``."""
    if not names:
        return
    ids = list(case_ids)
    for start in range(0, len(ids), IDS_PER_STATEMENT):
        part = ids[start : start + IDS_PER_STATEMENT]
        yield from store.conn.execute(
            f"SELECT case_id, name FROM case_parties WHERE name_norm IN ({_marks(len(names))}) AND case_id IN ({_marks(len(part))})",
            [*names, *part],
        )


def cases_at_level(store: Store, level: str, name: str, limit: int = 1000) -> list[str]:
    """Ids of the cases at place ``name`` of ``level`` (district, town …), newest first."""
    (level,) = _checked([level])
    rows = store.conn.execute(f"SELECT id FROM cases WHERE {level} = ? ORDER BY case_date DESC, id LIMIT ?", (name, limit))
    return [row[0] for row in rows]


def search_texts(store: Store) -> Iterator[str]:
    """The search text of every stored case."""
    for (text,) in store.conn.execute("SELECT search_text FROM cases"):
        yield text


def date_range(store: Store, *, typed_only: bool = False) -> tuple[str | None, str | None]:
    """The earliest and latest case date (None, None without dated cases); of the cases with a 大类 with ``typed_only``."""
    where = " WHERE category IS NOT NULL" if typed_only else ""
    first, last = store.conn.execute(f"SELECT MIN(case_date), MAX(case_date) FROM cases{where}").fetchone()
    return first, last


def monthly_category_counts(store: Store) -> list[tuple[str, str, int]]:
    """``(YYYY-MM, 大类, cases)`` for the dated cases with a 大类."""
    return [tuple(row) for row in store.conn.execute(
        "SELECT substr(case_date, 1, 7) AS month, category, COUNT(*) FROM cases "
        "WHERE case_date IS NOT NULL AND category IS NOT NULL GROUP BY month, category"
    )]


def cell_day_counts(store: Store, path_columns: Sequence[str], type_columns: Sequence[str], *,
                    area: Area | None = None) -> list[sqlite3.Row]:
    """Cases per place path, type and day: rows of ``*path_columns, *type_columns, case_date, count``.

    Cases without a date, without the deepest place level or without one of the type columns are left out,
    and with ``area`` the cases outside it.
    """
    path_columns, type_columns = _checked(path_columns), _checked(type_columns)
    columns = ", ".join([*path_columns, *type_columns])
    in_area, params = area.sql() if area else ("1", [])
    return store.conn.execute(
        f"SELECT {columns}, case_date, COUNT(*) FROM cases "
        f"WHERE {path_columns[-1]} IS NOT NULL AND case_date IS NOT NULL AND {in_area} "
        + " ".join(f"AND {c} IS NOT NULL" for c in type_columns)
        + f" GROUP BY {columns}, case_date",
        params,
    ).fetchall()


def well_documented_cases(store: Store, category: str, subtype: str | None, outcomes: Collection[str],
                          exclude: Collection[str], limit: int, *, within: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Cases of a 大类 (and 小类) with one of ``outcomes``, not in ``exclude`` (and in ``within``, if given), the best
    documented first: longer texts (up to 1000 characters) and a recorded handling and agreement."""
    rows = store.conn.execute(
        "SELECT id, outcome, length(search_text) AS chars,"
        " json_extract(record, '$.handling') IS NOT NULL AS has_handling,"
        " json_extract(record, '$.agreement') IS NOT NULL AS has_agreement"
        f" FROM cases WHERE category = ? AND (? IS NULL OR subtype = ?) AND outcome IN ({_marks(len(outcomes))})"
        " ORDER BY MIN(length(search_text), 1000) / 1000.0 + 0.5 * (has_handling + has_agreement) DESC, id",
        (category, subtype, subtype, *outcomes),
    )
    found = []
    for row in rows:
        if row["id"] in exclude or (within is not None and row["id"] not in within):
            continue
        found.append({"id": row["id"], "outcome": row["outcome"], "chars": row["chars"],
                      "has_handling": bool(row["has_handling"]), "has_agreement": bool(row["has_agreement"])})
        if len(found) >= limit:
            break
    return found


def latest_ingest_runs(store: Store, limit: int = 20) -> list[sqlite3.Row]:
    """The latest ingest runs, newest first: ``started_at``, ``finished_at``, ``files`` and ``summary`` (JSON text)."""
    return store.conn.execute(
        "SELECT started_at, finished_at, files, summary FROM ingest_runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()


#: ``(case_id, name, identity)`` of every party with an ID number or phone: name + that number (a stand-in for the
#: graph's resolved entities while its resolution lags behind the store).
IDENTIFIED_PARTIES_SQL = (
    "SELECT case_id, name, name_norm || '|' || COALESCE(id_number_norm, phone_norm) AS identity "
    "FROM case_parties WHERE COALESCE(id_number_norm, phone_norm) IS NOT NULL"
)


def cell_case_rows(store: Store, path_columns: Sequence[str], first: str, last: str,
                   area: Area | None = None) -> list[sqlite3.Row]:
    """The typed cases placed down to ``path_columns[-1]`` and dated in [first, last] (``last`` a day or a prefix
    of one), of ``area`` only if given, by id: ``*path_columns, category, subtype, id, case_date, outcome`` and
    ``has_group`` (a group party)."""
    path_columns = _checked(path_columns)
    in_area, params = area.sql("cases") if area else ("1", [])
    return store.conn.execute(
        f"SELECT {', '.join(path_columns)}, category, subtype, id, case_date, outcome, "
        "EXISTS (SELECT 1 FROM case_parties p WHERE p.case_id = cases.id AND p.kind = 'group') AS has_group "
        f"FROM cases WHERE {path_columns[-1]} IS NOT NULL AND category IS NOT NULL "
        f"AND case_date >= ? AND case_date <= ? AND {in_area} ORDER BY id",
        (first, last + "\uffff", *params),
    ).fetchall()


def party_case_dates(store: Store, parties_sql: str, first: str, last: str) -> list[tuple[str, str, str]]:
    """``(case id, identity, case date)``, once each, of the parties of ``parties_sql`` (rows of ``case_id, name,
    identity``) in the cases dated in [first, last]."""
    return store.conn.execute(
        f"SELECT DISTINCT p.case_id, p.identity, c.case_date FROM ({parties_sql}) p JOIN cases c ON c.id = p.case_id "
        "WHERE c.case_date >= ? AND c.case_date <= ?",
        (first, last + "\uffff"),
    ).fetchall()


def party_case_totals(store: Store, parties_sql: str, last: str, area: Area | None = None) -> list[tuple[str, str, int]]:
    """``(identity, a name it goes by, its cases)`` of every party of ``parties_sql``, counting the cases up to
    ``last`` and the undated ones (of ``area`` only, if given)."""
    in_area, params = area.sql("c") if area else ("1", [])
    return store.conn.execute(
        f"SELECT p.identity, MIN(p.name), COUNT(DISTINCT p.case_id) FROM ({parties_sql}) p "
        f"JOIN cases c ON c.id = p.case_id WHERE (c.case_date IS NULL OR c.case_date <= ?) AND {in_area} GROUP BY p.identity",
        (last + "\uffff", *params),
    ).fetchall()


def repeat_parties(store: Store, parties_sql: str, min_cases: int, limit: int,
                   area: Area | None = None) -> list[tuple[str, str, int, str, str | None, str | None]]:
    """Parties of ``parties_sql`` with ``min_cases`` or more cases (of ``area`` only, if given), most first:
    ``(a name, identity, cases, comma-joined case ids, first date, last date)``."""
    in_area, params = area.sql("c") if area else ("1", [])
    return store.conn.execute(
        "SELECT MIN(p.name) AS name, p.identity, COUNT(DISTINCT p.case_id) AS n, "
        "GROUP_CONCAT(DISTINCT p.case_id) AS ids, MIN(c.case_date), MAX(c.case_date) "
        f"FROM ({parties_sql}) p JOIN cases c ON c.id = p.case_id WHERE {in_area} "
        "GROUP BY p.identity HAVING n >= ? ORDER BY n DESC, name LIMIT ?",
        (*params, min_cases, limit),
    ).fetchall()


def repeat_places(store: Store, places_sql: str, min_cases: int, limit: int,
                  area: Area | None = None) -> list[tuple[str | None, str | None, str, int, str, str | None, str | None]]:
    """Addresses of ``places_sql`` (rows of ``case_id, town, community, street``) with ``min_cases`` or more cases
    (of ``area`` only, if given), most first: ``(town, community, street, cases, case ids, first date, last date)``."""
    in_area, params = area.sql("c") if area else ("1", [])
    return store.conn.execute(
        "SELECT p.town, p.community, p.street, COUNT(*) AS n, GROUP_CONCAT(p.case_id), MIN(c.case_date), MAX(c.case_date) "
        f"FROM ({places_sql}) p JOIN cases c ON c.id = p.case_id WHERE p.street IS NOT NULL AND {in_area} "
        "GROUP BY p.town, p.community, p.street HAVING n >= ? ORDER BY n DESC, p.town, p.community, p.street LIMIT ?",
        (*params, min_cases, limit),
    ).fetchall()


def ordered_by_date(store: Store, case_ids: Iterable[str]) -> list[str]:
    """The stored cases among ``case_ids`` in time order (undated first, then by id)."""
    dates = case_dates(store, case_ids)
    return sorted(dates, key=lambda case_id: (dates[case_id] or "", case_id))


def type_place_counts(store: Store, case_ids: Iterable[str]) -> list[tuple[str | None, str | None, str | None, int]]:
    """``(大类, 小类, district, cases)`` of the stored cases among ``case_ids``, by 大类, 小类 and district (unknown first)."""
    counts: dict[tuple[str | None, str | None, str | None], int] = {}
    for row in case_columns(store, list(dict.fromkeys(case_ids)), ("category", "subtype", "district")):
        key = (row[0], row[1], row[2])
        counts[key] = counts.get(key, 0) + 1
    return [(*key, n) for key, n in sorted(counts.items(), key=lambda item: [(v is not None, v or "") for v in item[0]])]
