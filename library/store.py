"""Case libraries (典型案例库): named collections of cases written up for teaching.

Libraries live in the case store's SQLite file, in tables this package owns.
Each entry is one case written up the way 典型案例 are published — 基本案情,
调解过程, 调解结果, 经验启示, 法律依据 — prefilled from the record and then
edited by the trainer; an updated record does not change them afterwards.

Status of an entry: ``draft`` → ``reviewed`` → ``published``. Only a reviewed
entry can be published, and only once its :data:`REQUIRED_SECTIONS` are
written. The reviewer must not be one of the entry's authors (whoever added it
or edited a section) unless ``self_review`` is allowed. Editing the content (any of the five sections) of a
reviewed or published entry sends it back to ``draft`` and clears its reviewer:
what was reviewed is no longer what is there. Tags are not content; editing
them keeps the status. Every change is kept in the history (who, when, which
field, old → new). Deleting a library, or removing an entry, never deletes a
case; deleting a case from the store removes it from every library.

Every write runs in one transaction and checks its input first, so bad input
(unknown library, case id, field or status) raises :class:`LibraryError`
naming it and stores nothing.

Examples
--------
>>> import tempfile, pathlib
>>> from leian.data.record import validate
>>> from leian.data.store import Store
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite")
>>> _ = store.upsert_batch([validate({"id": "A1", "text": "楼上漏水", "handling": "现场查看", "outcome": "调解成功"})])
>>> libs = Libraries(store)
>>> libs.create("邻里纠纷典型案例", description="培训用").name
'邻里纠纷典型案例'
>>> libs.add_cases("邻里纠纷典型案例", ["A1"], editor="李梅")
['A1']
>>> entry = libs.entry("邻里纠纷典型案例", "A1")
>>> entry.sections["基本案情"], entry.sections["调解结果"], entry.status
('楼上漏水', '调解成功', 'draft')
>>> libs.publish("邻里纠纷典型案例", "A1", reviewer="张审")
Traceback (most recent call last):
...
leian.library.store.LibraryError: 条目 A1（邻里纠纷典型案例）尚未审核（草稿），不能发布
>>> libs.review("邻里纠纷典型案例", "A1", reviewer="张审").status
'reviewed'
>>> libs.edit("邻里纠纷典型案例", "A1", "经验启示", "先查看现场", editor="李梅").status
'draft'
>>> [(h.field, h.old, h.new) for h in libs.history("邻里纠纷典型案例", "A1")][-2:]
[('经验启示', '', '先查看现场'), ('状态', 'reviewed', 'draft')]
>>> libs.review("邻里纠纷典型案例", "A1", reviewer="李梅")
Traceback (most recent call last):
...
leian.library.store.LibraryError: 李梅 编写过条目 A1，须由另一人审核和发布（只有一位培训师的中心可在 config.toml 中设 [library] self_review = true）
>>> store.close()
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from leian.data.record import Case
from leian.data.store import Store
from leian.errors import InvalidInput

__all__ = [
    "AddResult",
    "Libraries",
    "Library",
    "Entry",
    "HistoryItem",
    "LibraryError",
    "SECTIONS",
    "REQUIRED_SECTIONS",
    "STATUSES",
    "STATUS_NAMES",
    "MAX_NAME_CHARS",
    "MIGRATIONS",
    "prefill",
]

#: The longest library name (it heads pages, file names and Word covers).
MAX_NAME_CHARS = 80

#: The five sections of a 典型案例 write-up, in order.
SECTIONS = ("基本案情", "调解过程", "调解结果", "经验启示", "法律依据")
#: Sections that must be written before an entry may be published (法律依据 is not always needed).
REQUIRED_SECTIONS = ("基本案情", "调解过程", "调解结果", "经验启示")
#: Entry statuses, in the order an entry moves through them.
STATUSES = ("draft", "reviewed", "published")
#: How statuses read in Chinese output.
STATUS_NAMES = {"draft": "草稿", "reviewed": "已审核", "published": "已发布"}
_STATUS_LABEL = "状态"
_TAGS_LABEL = "标签"
_ENTRY_LABEL = "条目"
_COLUMNS = dict(zip(SECTIONS, ("facts", "process", "result", "lessons", "legal_basis")))

MIGRATIONS: list[str] = [
    """
    CREATE TABLE libraries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE library_entries (
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        facts TEXT NOT NULL DEFAULT '',
        process TEXT NOT NULL DEFAULT '',
        result TEXT NOT NULL DEFAULT '',
        lessons TEXT NOT NULL DEFAULT '',
        legal_basis TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '[]',
        status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'reviewed', 'published')),
        reviewer TEXT,
        reviewed_at TEXT,
        published_at TEXT,
        added_by TEXT,
        added_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (library_id, case_id)
    );
    CREATE INDEX library_entries_case ON library_entries(case_id);
    CREATE TABLE library_history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        library_id INTEGER NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
        case_id TEXT NOT NULL,
        field TEXT NOT NULL,
        old TEXT,
        new TEXT,
        editor TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX library_history_entry ON library_history(library_id, case_id);
    """,
]


class LibraryError(InvalidInput):
    """A user mistake about a library: the message is one plain line naming what is wrong."""


@dataclass
class Library:
    id: int
    name: str
    description: str
    created_at: str
    updated_at: str
    entries: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "entries": self.entries,
            "by_status": self.by_status,
        }


@dataclass
class AddResult:
    """What adding a batch of cases did: the ids added, those already in the library, those that do not exist."""

    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "present": self.present, "missing": self.missing}


@dataclass
class Entry:
    """One case in a library, with its write-up (``sections``, keyed by :data:`SECTIONS`)."""

    library: str
    case_id: str
    position: int
    sections: dict[str, str]
    tags: list[str]
    status: str
    reviewer: str | None
    reviewed_at: str | None
    published_at: str | None
    added_by: str | None
    added_at: str
    updated_at: str

    def to_dict(self) -> dict[str, object]:
        return {
            "library": self.library,
            "case_id": self.case_id,
            "position": self.position,
            **self.sections,
            "tags": self.tags,
            "status": self.status,
            "reviewer": self.reviewer,
            "reviewed_at": self.reviewed_at,
            "published_at": self.published_at,
            "added_by": self.added_by,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
        }


@dataclass
class HistoryItem:
    case_id: str
    field: str
    old: str | None
    new: str | None
    editor: str | None
    at: str

    def to_dict(self) -> dict[str, object]:
        return {"case_id": self.case_id, "field": self.field, "old": self.old, "new": self.new,
                "old_text": self.readable(self.old), "new_text": self.readable(self.new),
                "editor": self.editor, "at": self.at}

    def readable(self, value: str | None) -> str | None:
        """A value of this change as people read it (a status in Chinese: 草稿, not draft)."""
        return STATUS_NAMES.get(value, value) if self.field == _STATUS_LABEL and value else value


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def prefill(case: Case) -> dict[str, str]:
    """The write-up sections as the record gives them; 经验启示 and 法律依据 are left to the trainer.

    >>> from leian.data.record import validate
    >>> prefill(validate({"id": "A", "text": "欠薪", "outcome": "调解成功",
    ...                   "agreement": "分两期支付", "amount": 12000}))["调解结果"]
    '调解成功。分两期支付（涉及金额 12000 元）'
    """
    result = "。".join(part.rstrip("。") for part in (case.outcome, case.agreement) if part)
    if case.amount is not None:
        result += f"（涉及金额 {case.amount:g} 元）"
    return {
        "基本案情": case.text,
        "调解过程": case.handling or "",
        "调解结果": result,
        "经验启示": "",
        "法律依据": "",
    }


def _section(name: str) -> str:
    if name in _COLUMNS:
        return name
    raise LibraryError(f"未知字段 {name!r}（可编辑：{'、'.join(SECTIONS)}）")


def _tags(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))


class Libraries:
    """Case libraries kept in a :class:`~leian.data.store.Store` (creates its tables on first use).

    Args:
        store: the case store the libraries live in.
        self_review: let the author of an entry review and publish it too (a small
            centre with one trainer); by default a reviewer must be someone else.
    """

    def __init__(self, store: Store, *, self_review: bool = False):
        self.store = store
        self.self_review = self_review
        store.migrate_component("library", MIGRATIONS)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    # -- libraries -----------------------------------------------------------

    def create(self, name: str, *, description: str = "") -> Library:
        name = self._valid_name(name)
        now = _now()
        with self.store.transaction() as conn:
            if self._row(name) is not None:
                raise LibraryError(f"案例库 {name!r} 已存在")
            conn.execute(
                "INSERT INTO libraries (name, description, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (name, description.strip(), now, now),
            )
        return self.get(name)

    def list(self) -> list[Library]:
        return [self.get(row["name"]) for row in self.conn.execute("SELECT name FROM libraries ORDER BY name")]

    def get(self, name: str) -> Library:
        """The library called ``name``, with its entry counts; :class:`LibraryError` if there is none."""
        row = self._require(name)
        counts = dict(
            self.conn.execute(
                "SELECT status, COUNT(*) FROM library_entries WHERE library_id = ? GROUP BY status", (row["id"],)
            ).fetchall()
        )
        return Library(
            row["id"], row["name"], row["description"], row["created_at"], row["updated_at"],
            entries=sum(counts.values()), by_status={s: counts.get(s, 0) for s in STATUSES},
        )

    def name_of(self, library_id: int) -> str:
        """The name of the library with this id; :class:`LibraryError` if there is none."""
        fits = 0 < library_id < 2**63  # SQLite's integer range
        row = self.conn.execute("SELECT name FROM libraries WHERE id = ?", (library_id,)).fetchone() if fits else None
        if row is None:
            raise LibraryError(f"没有编号为 {library_id} 的案例库")
        return row["name"]

    def rename(self, old: str, new: str) -> Library:
        new = self._valid_name(new)
        with self.store.transaction() as conn:
            row = self._require(old)
            if new != old and self._row(new) is not None:
                raise LibraryError(f"案例库 {new!r} 已存在")
            conn.execute("UPDATE libraries SET name = ?, updated_at = ? WHERE id = ?", (new, _now(), row["id"]))
        return self.get(new)

    def describe(self, name: str, description: str) -> Library:
        with self.store.transaction() as conn:
            row = self._require(name)
            conn.execute(
                "UPDATE libraries SET description = ?, updated_at = ? WHERE id = ?",
                (description.strip(), _now(), row["id"]),
            )
        return self.get(name)

    def delete(self, name: str) -> int:
        """Delete a library with its entries and history (never the cases); returns how many entries it had."""
        with self.store.transaction() as conn:
            library = self.get(name)
            conn.execute("DELETE FROM libraries WHERE id = ?", (library.id,))
        return library.entries

    # -- entries -------------------------------------------------------------

    def add_cases(self, name: str, case_ids: Sequence[str], *, editor: str | None = None) -> list[str]:
        """Add cases as draft entries with prefilled sections; returns the ids newly added.

        Cases already in the library are left as they are. An unknown case id
        raises :class:`LibraryError` and adds nothing (:meth:`add` adds the others).
        """
        ids = list(dict.fromkeys(case_ids))
        missing = [i for i in ids if i not in self.store.get_many(ids)]
        if missing:
            raise LibraryError(f"案件不存在：{'、'.join(missing)}（未加入任何案件）")
        return self.add(name, ids, editor=editor).added

    def add(self, name: str, case_ids: Sequence[str], *, editor: str | None = None) -> AddResult:
        """Add the cases that exist as draft entries; say which were added, already there, or not found.

        >>> import tempfile, pathlib
        >>> from leian.data.record import validate
        >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite")
        >>> _ = store.upsert_batch([validate({"id": "A1", "text": "漏水"}), validate({"id": "A2", "text": "噪音"})])
        >>> libs = Libraries(store); _ = libs.create("样例"); _ = libs.add_cases("样例", ["A1"])
        >>> libs.add("样例", ["A1", "A2", "NOPE", "A2"])
        AddResult(added=['A2'], present=['A1'], missing=['NOPE'])
        >>> store.close()
        """
        ids = list(dict.fromkeys(i.strip() for i in case_ids if i and i.strip()))
        cases = self.store.get_many(ids)
        now = _now()
        result = AddResult()
        with self.store.transaction() as conn:
            library = self._require(name)
            present = set(self.case_ids(name))
            position = conn.execute(
                "SELECT COALESCE(MAX(position), 0) FROM library_entries WHERE library_id = ?", (library["id"],)
            ).fetchone()[0]
            for case_id in ids:
                if case_id not in cases:
                    result.missing.append(case_id)
                    continue
                if case_id in present:
                    result.present.append(case_id)
                    continue
                position += 1
                sections = prefill(cases[case_id])
                conn.execute(
                    f"INSERT INTO library_entries (library_id, case_id, position, {', '.join(_COLUMNS.values())},"
                    " added_by, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (library["id"], case_id, position, *sections.values(), editor, now, now),
                )
                self._log(library["id"], case_id, _ENTRY_LABEL, None, "加入", editor, now)
                result.added.append(case_id)
            if result.added:
                self._touch(library["id"], now)
        return result

    def remove_cases(self, name: str, case_ids: Sequence[str], *, editor: str | None = None) -> int:
        """Remove entries (the cases stay in the store); a case not in the library is an error."""
        now = _now()
        with self.store.transaction() as conn:
            library = self._require(name)
            present = set(self.case_ids(name))
            absent = [i for i in case_ids if i not in present]
            if absent:
                raise LibraryError(f"案例库 {name!r} 中没有案件：{'、'.join(absent)}（未移除任何案件）")
            for case_id in dict.fromkeys(case_ids):
                conn.execute(
                    "DELETE FROM library_entries WHERE library_id = ? AND case_id = ?", (library["id"], case_id)
                )
                self._log(library["id"], case_id, _ENTRY_LABEL, "加入", "移除", editor, now)
            self._touch(library["id"], now)
        return len(set(case_ids))

    def case_ids(self, name: str) -> list[str]:
        library = self._require(name)
        rows = self.conn.execute(
            "SELECT case_id FROM library_entries WHERE library_id = ? ORDER BY position", (library["id"],)
        )
        return [r[0] for r in rows]

    def entries(self, name: str, *, status: str | None = None) -> list[Entry]:
        """Entries in the order they were added, optionally only those with ``status``."""
        library = self._require(name)
        sql = "SELECT * FROM library_entries WHERE library_id = ?"
        params: list[object] = [library["id"]]
        if status is not None:
            sql += " AND status = ?"
            params.append(self._valid_status(status))
        rows = self.conn.execute(sql + " ORDER BY position", params).fetchall()
        return [self._entry(library["name"], row) for row in rows]

    def entries_with_cases(self, name: str, *, status: str | None = None,
                           case_ids: Collection[str] | None = None) -> list[tuple[Entry, Case]]:
        """Entries (only those of ``case_ids`` if given) with their cases, in the order they were added."""
        entries = [e for e in self.entries(name, status=status) if case_ids is None or e.case_id in case_ids]
        cases = self.store.get_many([e.case_id for e in entries])
        return [(entry, cases[entry.case_id]) for entry in entries]

    def entry(self, name: str, case_id: str) -> Entry:
        library = self._require(name)
        return self._entry(library["name"], self._require_entry(library, case_id))

    def edit(
        self,
        name: str,
        case_id: str,
        section: str,
        value: str,
        *,
        editor: str | None = None,
    ) -> Entry:
        """Set one section; a reviewed or published entry whose content changes goes back to draft."""
        column = _COLUMNS[_section(section)]
        value = value.strip()
        now = _now()
        with self.store.transaction() as conn:
            library = self._require(name)
            row = self._require_entry(library, case_id)
            if row[column] != value:
                self._log(library["id"], case_id, section, row[column], value, editor, now)
                if row["status"] != "draft":
                    self._log(library["id"], case_id, _STATUS_LABEL, row["status"], "draft", editor, now)
                conn.execute(
                    f"UPDATE library_entries SET {column} = ?, status = 'draft', reviewer = NULL, reviewed_at = NULL,"
                    " published_at = NULL, updated_at = ? WHERE library_id = ? AND case_id = ?",
                    (value, now, library["id"], case_id),
                )
                self._touch(library["id"], now)
        return self.entry(name, case_id)

    def set_tags(self, name: str, case_id: str, tags: Iterable[str], *, editor: str | None = None) -> Entry:
        """Replace an entry's tags (the status is kept: tags are not reviewed content)."""
        new = _tags(tags)
        now = _now()
        with self.store.transaction() as conn:
            library = self._require(name)
            row = self._require_entry(library, case_id)
            old = json.loads(row["tags"])
            if old != new:
                self._log(library["id"], case_id, _TAGS_LABEL, "、".join(old), "、".join(new), editor, now)
                conn.execute(
                    "UPDATE library_entries SET tags = ?, updated_at = ? WHERE library_id = ? AND case_id = ?",
                    (json.dumps(new, ensure_ascii=False), now, library["id"], case_id),
                )
                self._touch(library["id"], now)
        return self.entry(name, case_id)

    def review(self, name: str, case_id: str, *, reviewer: str) -> Entry:
        """Mark a draft entry reviewed by ``reviewer``."""
        return self._advance(name, case_id, "draft", "reviewed", reviewer)

    def publish(self, name: str, case_id: str, *, reviewer: str) -> Entry:
        """Publish a reviewed entry; a draft cannot be published."""
        return self._advance(name, case_id, "reviewed", "published", reviewer)

    def authors(self, name: str, case_id: str) -> set[str]:
        """Who wrote the entry: who added it and everyone who edited one of its sections."""
        library = self._require(name)
        rows = self.conn.execute(
            f"SELECT editor FROM library_history WHERE library_id = ? AND case_id = ? AND editor IS NOT NULL"
            f" AND (field = ? OR field IN ({','.join('?' * len(SECTIONS))}))",
            (library["id"], case_id, _ENTRY_LABEL, *SECTIONS),
        )
        return {row[0] for row in rows}

    def history(self, name: str, case_id: str | None = None) -> list[HistoryItem]:
        """Changes to a library's entries (or to one entry), oldest first."""
        library = self._require(name)
        sql = "SELECT case_id, field, old, new, editor, at FROM library_history WHERE library_id = ?"
        params: list[object] = [library["id"]]
        if case_id is not None:
            sql += " AND case_id = ?"
            params.append(case_id)
        return [HistoryItem(*row) for row in self.conn.execute(sql + " ORDER BY seq", params)]

    # -- internals -----------------------------------------------------------

    def _advance(self, name: str, case_id: str, expected: str, target: str, reviewer: str) -> Entry:
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise LibraryError("请写明审核人（reviewer）")
        now = _now()
        with self.store.transaction() as conn:
            library = self._require(name)
            row = self._require_entry(library, case_id)
            if row["status"] != expected:
                if target == "published" and row["status"] == "draft":
                    raise LibraryError(f"条目 {case_id}（{name}）尚未审核（草稿），不能发布")
                raise LibraryError(f"条目 {case_id}（{name}）当前为「{STATUS_NAMES[row['status']]}」，不能{'审核' if target == 'reviewed' else '发布'}")
            if not self.self_review and reviewer in self.authors(name, case_id):
                raise LibraryError(f"{reviewer} 编写过条目 {case_id}，须由另一人审核和发布"
                                   "（只有一位培训师的中心可在 config.toml 中设 [library] self_review = true）")
            empty = [section for section in REQUIRED_SECTIONS if not row[_COLUMNS[section]].strip()]
            if target == "published" and empty:
                raise LibraryError(f"条目 {case_id} 的{'、'.join(empty)}尚未填写，不能发布")
            stamp = "reviewed_at" if target == "reviewed" else "published_at"
            conn.execute(
                f"UPDATE library_entries SET status = ?, reviewer = ?, {stamp} = ?, updated_at = ?"
                " WHERE library_id = ? AND case_id = ?",
                (target, reviewer, now, now, library["id"], case_id),
            )
            self._log(library["id"], case_id, _STATUS_LABEL, expected, target, reviewer, now)
            self._touch(library["id"], now)
        return self.entry(name, case_id)

    def _valid_name(self, name: str) -> str:
        """A library name as stored: trimmed, at most MAX_NAME_CHARS, no control or format characters
        (NUL, line breaks, RLO and other bidi controls would hide or disguise it on screen and in files)."""
        name = (name or "").strip()
        if not name:
            raise LibraryError("案例库名称不能为空")
        if len(name) > MAX_NAME_CHARS:
            raise LibraryError(f"案例库名称最多 {MAX_NAME_CHARS} 个字符（现有 {len(name)} 个）")
        bad = next((ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")), None)
        if bad is not None:
            raise LibraryError(f"案例库名称不能含控制字符或不可见字符（第 {name.index(bad) + 1} 个字符 U+{ord(bad):04X}）")
        return name

    @staticmethod
    def _valid_status(status: str) -> str:
        if status not in STATUSES:
            raise LibraryError(f"未知状态 {status!r}（可选：{'、'.join(STATUSES)}）")
        return status

    def _row(self, name: str) -> sqlite3.Row | None:
        return self.conn.execute("SELECT * FROM libraries WHERE name = ?", (name,)).fetchone()

    def _require(self, name: str) -> sqlite3.Row:
        row = self._row(name)
        if row is None:
            raise LibraryError(f"没有名为 {name!r} 的案例库")
        return row

    def _require_entry(self, library: sqlite3.Row, case_id: str) -> sqlite3.Row:
        row = self.conn.execute(
            "SELECT * FROM library_entries WHERE library_id = ? AND case_id = ?", (library["id"], case_id)
        ).fetchone()
        if row is None:
            raise LibraryError(f"案例库 {library['name']!r} 中没有案件 {case_id!r}")
        return row

    def _entry(self, library_name: str, row: sqlite3.Row) -> Entry:
        return Entry(
            library=library_name,
            case_id=row["case_id"],
            position=row["position"],
            sections={label: row[column] for label, column in _COLUMNS.items()},
            tags=json.loads(row["tags"]),
            status=row["status"],
            reviewer=row["reviewer"],
            reviewed_at=row["reviewed_at"],
            published_at=row["published_at"],
            added_by=row["added_by"],
            added_at=row["added_at"],
            updated_at=row["updated_at"],
        )

    def _log(self, library_id: int, case_id: str, field_name: str, old: str | None, new: str | None,
             editor: str | None, at: str) -> None:
        self.conn.execute(
            "INSERT INTO library_history (library_id, case_id, field, old, new, editor, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (library_id, case_id, field_name, old, new, editor, at),
        )

    def _touch(self, library_id: int, now: str) -> None:
        self.conn.execute("UPDATE libraries SET updated_at = ? WHERE id = ?", (now, library_id))
