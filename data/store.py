"""The case store: one SQLite file (WAL) under the LeiAn home, with versioned migrations.

Cases are upserted in batches, one transaction per batch, so a crash leaves
every committed batch intact and no half-written record. Every change is
appended to the ``changes`` log; indexes built from the store (search, graph)
remember the last sequence number they applied and catch up from there.

Examples
--------
>>> import tempfile, pathlib
>>> from leian.data.record import validate
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite")
>>> store.upsert_batch([validate({"id": "A1", "text": "楼上漏水"})], ["demo:1"])
BatchResult(inserted=1, updated=0, unchanged=0)
>>> store.upsert_batch([validate({"id": "A1", "text": "楼上漏水"})], ["demo:1"])
BatchResult(inserted=0, updated=0, unchanged=1)
>>> store.get("A1").text, store.count()
('楼上漏水', 1)
>>> store.close()
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from leian.data.party_names import PartyNames
from leian.data.places import LEVELS
from leian.data.private import create_private
from leian.data.record import Case, content_hash

__all__ = ["Store", "BatchResult", "Change", "CHOICE_COLUMNS", "MIGRATIONS", "SCHEMA_VERSION"]

#: Schema migrations; entry ``i`` takes the schema from version ``i`` to ``i + 1``.
#: Append new entries, never edit applied ones.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        raw TEXT NOT NULL,
        search_text TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        type_raw TEXT, category TEXT, subtype TEXT,
        case_date TEXT, occurred_on TEXT, reported_on TEXT, closed_on TEXT,
        province TEXT, city TEXT, district TEXT, town TEXT, community TEXT, grid TEXT,
        channel TEXT, outcome TEXT, amount REAL,
        source TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX cases_type ON cases(category, subtype);
    CREATE INDEX cases_date ON cases(case_date);
    CREATE INDEX cases_district ON cases(district);
    CREATE INDEX cases_town ON cases(town);
    CREATE INDEX cases_grid ON cases(grid);
    CREATE INDEX cases_outcome ON cases(outcome);
    CREATE TABLE case_parties (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL, name_norm TEXT NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL,
        phone_norm TEXT, id_number_norm TEXT, address TEXT,
        PRIMARY KEY (case_id, position)
    );
    CREATE INDEX case_parties_name ON case_parties(name_norm);
    CREATE INDEX case_parties_phone ON case_parties(phone_norm);
    CREATE INDEX case_parties_id_number ON case_parties(id_number_norm);
    CREATE TABLE case_mediators (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL, org TEXT,
        PRIMARY KEY (case_id, position)
    );
    CREATE INDEX case_mediators_name ON case_mediators(name);
    CREATE TABLE case_tags (
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (case_id, tag)
    );
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id TEXT NOT NULL,
        op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
        at TEXT NOT NULL
    );
    CREATE TABLE component_schema (
        component TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    );
    CREATE TABLE ingest_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        files TEXT NOT NULL,
        summary TEXT
    );
    """,
    # v2: what a search reads of its candidates (data.queries.CANDIDATE_INDEX), read from the index alone instead of
    # each case's row past its record JSON. IF NOT EXISTS: a re-run finds it done.
    """
    CREATE INDEX IF NOT EXISTS cases_candidate ON cases(
        id, category, subtype, province, city, district, town, community, grid, outcome, channel, case_date);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
#: Columns of ``cases`` whose values people pick from (:meth:`Store.value_counts`).
CHOICE_COLUMNS = ("category", "subtype", "outcome", "channel", *LEVELS)


class BatchResult(NamedTuple):
    inserted: int
    updated: int
    unchanged: int


class Change(NamedTuple):
    seq: int
    case_id: str
    op: str


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


class _Connection(sqlite3.Connection):
    """A connection the store can keep a weak reference to (plain ones allow none)."""


class Store:
    """The SQLite case store: one writer connection and a read connection per thread.

    As in datasette, every thread reads through a connection of its own, which
    sees committed transactions only; writes go through the one writer
    connection inside :meth:`transaction`, and a thread inside its transaction
    reads through the writer, so it sees its own uncommitted writes. ``conn``
    hands each caller the right one.

    Args:
        path: the database file; created with the current schema if missing.
        readonly: open without migrating or writing (for inspection).
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        #: Serialises the writer within this process (other processes wait on SQLite's lock).
        self.lock = threading.RLock()
        self._writer_thread: int | None = None
        self._depth = 0
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        #: Component -> schema version checked since this store was opened.
        self._components: dict[str, int] = {}
        #: Built on the first :meth:`party_names_in`, caught up on each.
        self._party_names = PartyNames(self)
        self._writer: sqlite3.Connection | None = None
        if readonly:
            return
        # SQLite gives its -wal and -shm files the mode of the database file: 0600 for all three.
        create_private(self.path)
        self._writer = self._connect(f"file:{self.path}")
        self._writer.execute("PRAGMA foreign_keys = ON")
        self._writer.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a killed process; only an OS crash
        # can lose the last transactions, never corrupt the file.
        self._writer.execute("PRAGMA synchronous = NORMAL")
        self.migrate()

    def _connect(self, uri: str) -> sqlite3.Connection:
        # check_same_thread=False: close() may run on another thread than the one a reader belongs to.
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30, factory=_Connection)
        conn.row_factory = sqlite3.Row
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection: the writer inside its :meth:`transaction`, else its own reader."""
        if self._writer_thread == threading.get_ident():
            return self._writer
        reader = getattr(self._local, "reader", None)
        if reader is None:
            if self.readonly:
                reader = self._connect(f"file:{self.path}?mode=ro")
            else:
                reader = self._connect(f"file:{self.path}")
                reader.execute("PRAGMA query_only = ON")  # writes belong in transaction()
            reader.execute("PRAGMA foreign_keys = ON")
            self._local.reader = reader
            with self._readers_lock:
                self._readers.add(reader)
        return reader

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the writer and every thread's reader."""
        with self._readers_lock:
            readers = list(self._readers)
            self._readers.clear()
        for reader in readers:
            reader.close()
        if self._writer is not None:
            self._writer.close()

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Apply the migrations this file has not seen yet, each in its own transaction."""
        with self.lock:
            version = self._writer.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}：数据结构 v{version} 比当前 LeiAn（v{SCHEMA_VERSION}）新，请升级 LeiAn"
                )
            for number in range(version, SCHEMA_VERSION):
                with self.transaction() as conn:
                    for statement in _statements(MIGRATIONS[number]):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number + 1}")

    def migrate_component(self, component: str, migrations: Sequence[str]) -> None:
        """Bring the tables another package owns (embedding cache, libraries ...) up to date.

        Each package keeps its own list of migrations, applied like the core
        ones: entry ``i`` takes ``component`` from version ``i`` to ``i + 1``.
        Checked once per component while the store is open: later calls cost nothing,
        and a current component is only read, never locked for writing.
        """
        if self._components.get(component) == len(migrations):
            return
        version = self._component_version(self.conn, component)
        if version != len(migrations):
            with self.transaction() as conn:
                version = self._component_version(conn, component)
                if version > len(migrations):
                    raise RuntimeError(f"{self.path}：{component} 的数据结构 v{version} 比当前 LeiAn 新，请升级 LeiAn")
                for number in range(version, len(migrations)):
                    for statement in _statements(migrations[number]):
                        conn.execute(statement)
                if version < len(migrations):
                    conn.execute(
                        "INSERT INTO component_schema VALUES (?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                        (component, len(migrations)),
                    )
        self._components[component] = len(migrations)

    @staticmethod
    def _component_version(conn: sqlite3.Connection, component: str) -> int:
        row = conn.execute("SELECT version FROM component_schema WHERE component = ?", (component,)).fetchone()
        return row[0] if row else 0

    def transaction(self) -> _Transaction:
        """``with store.transaction():`` runs the block as one write transaction."""
        return _Transaction(self)

    # -- writing -------------------------------------------------------------

    def upsert_batch(self, cases: Sequence[Case], sources: Sequence[str | None] | None = None) -> BatchResult:
        """Insert or update cases in one transaction.

        A case whose normalised content is unchanged is left alone (its
        ``updated_at`` stays); a changed one keeps its ``created_at``.
        """
        sources = sources or [None] * len(cases)
        inserted = updated = unchanged = 0
        now = _now()
        with self.transaction():
            for case, source in zip(cases, sources):
                row = self.conn.execute("SELECT content_hash FROM cases WHERE id = ?", (case.id,)).fetchone()
                record_json = case.to_json()
                digest = content_hash(record_json)
                if row is not None and row["content_hash"] == digest:
                    unchanged += 1
                    continue
                self._write_case(case, record_json, digest, source, now, exists=row is not None)
                self.conn.execute(
                    "INSERT INTO changes (case_id, op, at) VALUES (?, 'upsert', ?)", (case.id, now)
                )
                if row is None:
                    inserted += 1
                else:
                    updated += 1
        return BatchResult(inserted, updated, unchanged)

    def _write_case(self, case: Case, record_json: str, digest: str, source: str | None, now: str, *, exists: bool) -> None:
        loc = case.location
        values = {
            "id": case.id,
            "record": record_json,
            "raw": json.dumps(case.raw, ensure_ascii=False, default=str),
            "search_text": case.search_text,
            "content_hash": digest,
            "type_raw": case.type,
            "category": case.category,
            "subtype": case.subtype,
            "case_date": case.date,
            "occurred_on": case.occurred_on,
            "reported_on": case.reported_on,
            "closed_on": case.closed_on,
            **{level: loc.get(level) for level in LEVELS},
            "channel": case.channel,
            "outcome": case.outcome,
            "amount": case.amount,
            "source": source,
            "updated_at": now,
        }
        if exists:
            assignments = ", ".join(f"{k} = :{k}" for k in values if k != "id")
            self.conn.execute(f"UPDATE cases SET {assignments} WHERE id = :id", values)
            for table in ("case_parties", "case_mediators", "case_tags"):
                self.conn.execute(f"DELETE FROM {table} WHERE case_id = ?", (case.id,))
        else:
            values["created_at"] = now
            columns = ", ".join(values)
            self.conn.execute(
                f"INSERT INTO cases ({columns}) VALUES ({', '.join(':' + k for k in values)})", values
            )
        self.conn.executemany(
            "INSERT INTO case_parties VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (case.id, i, p.name, p.name_norm, p.role, p.kind, p.phone_norm, p.id_number_norm, p.address)
                for i, p in enumerate(case.parties)
            ],
        )
        self.conn.executemany(
            "INSERT INTO case_mediators VALUES (?, ?, ?, ?)",
            [(case.id, i, m.name, m.org) for i, m in enumerate(case.mediators)],
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO case_tags VALUES (?, ?)", [(case.id, tag) for tag in case.tags]
        )

    def delete(self, case_ids: Iterable[str]) -> int:
        """Delete cases (with their parties, mediators and tags); returns how many existed."""
        deleted = 0
        now = _now()
        with self.transaction():
            for case_id in case_ids:
                cursor = self.conn.execute("DELETE FROM cases WHERE id = ?", (case_id,))
                if cursor.rowcount:
                    deleted += 1
                    self.conn.execute("INSERT INTO changes (case_id, op, at) VALUES (?, 'delete', ?)", (case_id, now))
        return deleted

    # -- reading -------------------------------------------------------------

    def get(self, case_id: str) -> Case | None:
        row = self.conn.execute("SELECT record, raw FROM cases WHERE id = ?", (case_id,)).fetchone()
        return _case(row) if row else None

    def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]:
        """Cases by id (missing ids are absent from the result)."""
        found: dict[str, Case] = {}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(f"SELECT id, record, raw FROM cases WHERE id IN ({marks})", chunk):
                found[row["id"]] = _case(row)
        return found

    def iter_cases(self, batch_size: int = 1000) -> Iterator[Case]:
        """All cases in id order, read in pages so memory stays flat."""
        last = ""
        while True:
            rows = self.conn.execute(
                "SELECT id, record, raw FROM cases WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size)
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _case(row)
            last = rows[-1]["id"]

    def party_names_in(self, text: str) -> list[tuple[str, str]]:
        """``(name, kind)`` of every distinct party whose name occurs in ``text`` — as written, normalised, or
        the person heading a group (``刘梦英`` of ``刘梦英等42人``) — or, for a short text (a keyword),
        whose name holds it: for masking texts that engines build from names (repeat reasons, cluster labels). Each
        once, in the order of its first row (see :mod:`leian.data.party_names`)."""
        return self._party_names.find(text)

    def ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM cases ORDER BY id")]

    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]

    def is_empty(self) -> bool:
        """Whether the store holds no case (one row read, where :meth:`count` reads them all)."""
        return self.conn.execute("SELECT 1 FROM cases LIMIT 1").fetchone() is None

    def changes_since(self, seq: int, limit: int | None = None) -> list[Change]:
        """Changes after ``seq``, oldest first: how indexes catch up with the store."""
        sql = "SELECT seq, case_id, op FROM changes WHERE seq > ? ORDER BY seq"
        params: tuple[Any, ...] = (seq,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [Change(*row) for row in self.conn.execute(sql, params)]

    def changed_count(self, seq: int) -> int:
        """How many distinct cases changed after ``seq`` (how far a derived index has drifted)."""
        return self.conn.execute("SELECT COUNT(DISTINCT case_id) FROM changes WHERE seq > ?", (seq,)).fetchone()[0]

    def search_texts(self, case_ids: Sequence[str]) -> dict[str, str]:
        """The search text (what the indexes read) of each stored case among ``case_ids``."""
        found: dict[str, str] = {}
        for start in range(0, len(case_ids), 500):
            chunk = list(case_ids[start : start + 500])
            rows = self.conn.execute(f"SELECT id, search_text FROM cases WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            found.update((row[0], row[1]) for row in rows)
        return found

    def iter_search_texts(self, batch_size: int = 5000) -> Iterator[list[tuple[str, str]]]:
        """Every case's ``(id, search text)`` in id order, a page at a time."""
        last = ""
        while True:
            rows = self.conn.execute(
                "SELECT id, search_text FROM cases WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size)
            ).fetchall()
            if not rows:
                return
            yield [(row[0], row[1]) for row in rows]
            last = rows[-1][0]

    def last_change(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]

    def value_counts(self, *columns: str, area: Any = None) -> dict[tuple[str | None, ...], int]:
        """How many cases have each combination of values in ``columns`` (e.g. ``outcome`` or
        ``category, subtype``), for choices people pick from; cases lacking the first column are left out.
        With ``area`` (a :class:`leian.data.areas.Area`), only the cases of that area are counted."""
        unknown = [c for c in columns if c not in CHOICE_COLUMNS]
        if unknown or not columns:
            raise ValueError(f"not a column to choose by: {', '.join(unknown) or '(none)'}")
        names = ", ".join(columns)
        in_area, params = area.sql("cases") if area is not None else ("1", [])
        rows = self.conn.execute(
            f"SELECT {names}, COUNT(*) FROM cases WHERE {columns[0]} IS NOT NULL AND {in_area} GROUP BY {names}", params)
        return {tuple(row[:-1]): row[-1] for row in rows}

    def newest_first(self, case_ids: Iterable[str] | None = None) -> list[str]:
        """``case_ids`` (or every case) ordered by case date, newest first; undated cases last, then by id."""
        if case_ids is None:
            rows = self.conn.execute("SELECT id, case_date FROM cases").fetchall()
        else:
            wanted = list(case_ids)
            rows = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows += self.conn.execute(
                    f"SELECT id, case_date FROM cases WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
        dated = sorted((r for r in rows if r[1]), key=lambda r: (r[1], r[0]), reverse=True)
        return [r[0] for r in dated] + sorted(r[0] for r in rows if not r[1])

    def stats(self) -> dict[str, Any]:
        """Counts a person wants at a glance: cases, types, places, outcomes, channels, dates."""

        def grouped(column: str, limit: int = 20) -> dict[str, int]:
            rows = self.conn.execute(
                f"SELECT COALESCE({column}, '(未填)') AS k, COUNT(*) AS n FROM cases GROUP BY k ORDER BY n DESC, k LIMIT ?",
                (limit,),
            )
            return {r["k"]: r["n"] for r in rows}

        first, last = self.conn.execute("SELECT MIN(case_date), MAX(case_date) FROM cases").fetchone()
        unmapped = self.conn.execute(
            "SELECT type_raw, COUNT(*) FROM cases WHERE category IS NULL AND type_raw IS NOT NULL GROUP BY type_raw ORDER BY 2 DESC"
        ).fetchall()
        return {
            "cases": self.count(),
            "parties": self.conn.execute("SELECT COUNT(*) FROM case_parties").fetchone()[0],
            "schema_version": self.schema_version,
            "date_range": [first, last],
            "by_category": grouped("category"),
            "by_outcome": grouped("outcome"),
            "by_channel": grouped("channel"),
            "by_district": grouped("district"),
            "unmapped_types": {t: n for t, n in unmapped},
        }


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT on the writer, or ROLLBACK on any exception; re-entrant."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        if store._writer is None:
            raise RuntimeError(f"{store.path}: opened read-only")
        store.lock.acquire()
        try:
            if store._depth == 0:
                store._writer.execute("BEGIN IMMEDIATE")
                store._writer_thread = threading.get_ident()
            store._depth += 1
        except BaseException:
            store.lock.release()
            raise
        return store._writer

    def __exit__(self, exc_type: object, *rest: object) -> None:
        store = self.store
        try:
            store._depth -= 1
            if store._depth == 0:
                try:
                    store._writer.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    store._writer_thread = None
        finally:
            store.lock.release()


def _case(row: sqlite3.Row) -> Case:
    return Case.from_dict(json.loads(row["record"]), raw=json.loads(row["raw"]))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
