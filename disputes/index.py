"""The dispute index kept in step with the store: each case's 纠纷要素 and, for a case with no type, its predicted type.

Tables of component ``disputes`` (:meth:`Store.migrate_component`):
``case_elements(case_id, element, role)``, ``case_type_guess(case_id, category,
subtype, probability, category_probability)`` and ``disputes_state`` (the change-log
seq applied and the lexicon/model versions it was built with). :func:`sync` is
an indexer (``leian.indexers``): it applies the change log since its seq, and
re-extracts every case when the lexicon or the type model changed.

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> from leian.data.record import validate
>>> home = Home.resolve(tempfile.mkdtemp())
>>> store = home.open_store()
>>> _ = store.upsert_batch([validate({"id": "A1", "text": "楼上卫生间漏水，天花板发霉", "type": "邻里/漏水"})])
>>> sync(home, store)
[]
>>> case_elements(store, ["A1"])["A1"]
['邻居', '卫生间', '漏水', '天花板', '发霉']
>>> store.close()
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from leian.data.queries import any_untyped
from leian.data.record import Case
from leian.data.store import Store
from leian.disputes.lexicon import Lexicon
from leian.disputes.types import model_version
from leian.home import Home
from leian.progress import progress_bar

__all__ = ["MIGRATIONS", "ensure_tables", "sync", "case_elements", "type_guesses", "element_counts", "models_dir", "type_model"]

MIGRATIONS = [
    """
    CREATE TABLE case_elements (
        case_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        element TEXT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (case_id, element)
    );
    CREATE INDEX case_elements_element ON case_elements(element);
    CREATE TABLE case_type_guess (
        case_id TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        subtype TEXT NOT NULL,
        probability REAL NOT NULL,
        category_probability REAL NOT NULL
    );
    CREATE TABLE disputes_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    # A search reads its candidates' elements in text order: from this index alone, without a sort.
    "CREATE INDEX IF NOT EXISTS case_elements_in_order ON case_elements(case_id, position, element)",
]
_CHUNK = 500


def ensure_tables(store: Store) -> None:
    store.migrate_component("disputes", MIGRATIONS)


def models_dir(home: Home):
    """Where trained models are cached (never committed)."""
    return home.root / "models"


def type_model(home: Home | None = None):
    """The type model, cached under the home when there is one."""
    from leian.disputes.types import TypeModel

    return TypeModel.default(models_dir(home) if home is not None else None)


def _state(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT key, value FROM disputes_state").fetchall())


def sync(home: Home, store: Store, *, progress: bool = False) -> list[str]:
    """Bring the case elements and type guesses up to date with the store's change log."""
    ensure_tables(store)
    state = _state(store)
    lexicon = Lexicon.elements()
    versions = {"lexicon": lexicon.version, "types": model_version()}
    last = store.last_change()
    if any(state.get(key) != value for key, value in versions.items()):
        touched = None  # every case
    else:
        seq = int(state.get("seq", 0))
        if seq >= last:
            return []
        touched = list(dict.fromkeys(c.case_id for c in store.changes_since(seq)))
    # Loaded (trained, seconds, once per home) before the write transaction, not inside it; and only when a case
    # needs a guess: loading it imports scikit-learn and SciPy, about 1.3 s of CPU an ingest of typed cases never uses.
    model = type_model(home) if touched is None or any_untyped(store, touched) else None
    with store.transaction() as conn:
        if touched is None:
            conn.execute("DELETE FROM case_elements")
            conn.execute("DELETE FROM case_type_guess")
            batches = _pages(store)
        else:
            for start in range(0, len(touched), _CHUNK):
                part = touched[start : start + _CHUNK]
                marks = ",".join("?" * len(part))
                conn.execute(f"DELETE FROM case_elements WHERE case_id IN ({marks})", part)
                conn.execute(f"DELETE FROM case_type_guess WHERE case_id IN ({marks})", part)
            batches = (list(store.get_many(touched[s : s + _CHUNK]).values()) for s in range(0, len(touched), _CHUNK))
        bar = progress_bar(store.count() if touched is None else len(touched), "纠纷要素与类型", enabled=progress)
        for cases in batches:
            rows = [(case.id, i, f.name, f.role) for case in cases for i, f in enumerate(lexicon.find(case.search_text))]
            conn.executemany("INSERT OR IGNORE INTO case_elements VALUES (?, ?, ?, ?)", rows)
            untyped = [case for case in cases if not case.subtype]
            if untyped:
                model = model or type_model(home)  # a case lost its type since any_untyped looked
                guesses = model.predict([case.search_text for case in untyped])
                conn.executemany("INSERT INTO case_type_guess VALUES (?, ?, ?, ?, ?)", [
                    (case.id, g.category, g.subtype, g.probability, g.category_probability) for case, g in zip(untyped, guesses)
                ])
            bar.update(len(cases))
        conn.executemany("INSERT OR REPLACE INTO disputes_state VALUES (?, ?)", [("seq", str(last)), *versions.items()])
        bar.close()
    return []


def _pages(store: Store):
    batch: list[Case] = []
    for case in store.iter_cases():
        batch.append(case)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def case_elements(store: Store, case_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each case's elements in text order (cases without any are absent)."""
    ensure_tables(store)
    found: dict[str, list[str]] = {}
    for start in range(0, len(case_ids), _CHUNK):
        part = list(case_ids[start : start + _CHUNK])
        rows = store.conn.execute(
            f"SELECT case_id, element FROM case_elements WHERE case_id IN ({','.join('?' * len(part))}) ORDER BY case_id, position", part)
        for case_id, element in rows:
            found.setdefault(case_id, []).append(element)
    return found


def type_guesses(store: Store, case_ids: Sequence[str]) -> dict[str, tuple[str, str, float, float]]:
    """``(大类, 小类, P(小类), P(大类))`` predicted for the given cases that carry no 小类."""
    ensure_tables(store)
    found: dict[str, tuple[str, str, float, float]] = {}
    for start in range(0, len(case_ids), _CHUNK):
        part = list(case_ids[start : start + _CHUNK])
        for row in store.conn.execute(
            f"SELECT case_id, category, subtype, probability, category_probability FROM case_type_guess "
            f"WHERE case_id IN ({','.join('?' * len(part))})", part):
            found[row[0]] = (row[1], row[2], row[3], row[4])
    return found


def element_counts(store: Store) -> tuple[Counter, int]:
    """How many cases have each element, and how many cases there are (for IDF weights)."""
    ensure_tables(store)
    counts = Counter(dict(store.conn.execute("SELECT element, COUNT(*) FROM case_elements GROUP BY element").fetchall()))
    return counts, store.count()
