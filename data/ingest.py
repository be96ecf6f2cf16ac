"""Validated, transactional, idempotent ingest of record files into the store.

Records are validated one by one; valid ones are written in batches (one
transaction each), invalid ones go with their reasons to a rejects file under
``<home>/rejects/``. Re-ingesting the same file changes nothing; a changed
record updates its case. A killed ingest leaves every committed batch intact,
and running it again finishes the job.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from leian.clock import timezone
from leian.data.normalize import mask_numbers
from leian.data.private import open_private
from leian.data.readers import FileFormatError, RawRecord, read_records
from leian.data.record import MAX_DEPTH, Case, RecordError, field_label, misnamed_fields, validate
from leian.data.store import Store
from leian.data.taxonomy import Taxonomy
from leian.faults import checkpoint

__all__ = ["ingest", "ingest_records", "IngestReport", "Reject", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 500
_log = logging.getLogger(__name__)


@dataclass
class Reject:
    """A record that was not stored, and why."""

    source: str
    line: int
    record_id: str | None
    errors: list[tuple[str, str]]
    record: dict[str, Any] | None = None

    def messages(self) -> list[str]:
        """One line per problem: ``cases.jsonl:17 id=JW-3 parties[1].phone（第2位当事人的电话）：不是电话号码：'x'``.

        Phone and ID numbers a message quotes are masked: messages are printed, shown and kept.
        """
        where = f"{self.source}:{self.line}" + (f" id={self.record_id}" if self.record_id else "")
        return [f"{where} {path}（{field_label(path)}）：{_short(message)}" for path, message in self.errors]

    def to_json(self) -> str:
        """The reject as kept in the rejects file: the record with its phone and ID numbers masked."""
        return json.dumps(
            {
                "source": self.source,
                "line": self.line,
                "id": self.record_id,
                "errors": [{"field": f, "message": _short(m)} for f, m in self.errors],
                "messages": self.messages(),
                "record": _masked(self.record),
            },
            ensure_ascii=False,
            default=str,
        )


_MAX_MESSAGE_CHARS = 300


def _short(message: str) -> str:
    """A message as shown: numbers masked, a quoted value of any length cut."""
    message = mask_numbers(message)
    return message if len(message) <= _MAX_MESSAGE_CHARS else message[:_MAX_MESSAGE_CHARS] + "…（已截断）"


def _masked(value: Any, key: str | None = None, depth: int = 0) -> Any:
    """``value`` with the numbers in its strings masked (the record id is kept, to find the record)."""
    if depth > MAX_DEPTH:
        return "…（嵌套过深，已省略）"
    if isinstance(value, str):
        return value if key == "id" else mask_numbers(value)
    if isinstance(value, dict):
        return {k: _masked(v, k, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, None, depth + 1) for v in value]
    return value


@dataclass
class IngestReport:
    files: list[str] = field(default_factory=list)
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    file_errors: list[str] = field(default_factory=list)
    reject_messages: list[str] = field(default_factory=list)
    rejects_path: str | None = None
    unmapped_types: Counter = field(default_factory=Counter)
    #: Keys that look meant for a field LeiAn reads (``occured_on``, ``调解结果``), one item per file and key.
    misnamed_fields: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def misnamed_messages(self) -> list[str]:
        """Each misnamed key as a person reads it: where it is and which field it was meant to be."""
        return [misnamed_message(item) for item in self.misnamed_fields]

    @property
    def stored(self) -> int:
        return self.inserted + self.updated

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.file_errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "file_errors": self.file_errors,
            "rejects_path": self.rejects_path,
            "unmapped_types": dict(self.unmapped_types),
            "misnamed_fields": self.misnamed_fields,
            "seconds": round(self.seconds, 3),
        }


def misnamed_message(item: dict[str, Any]) -> str:
    """``cases.csv：字段 'occured_on' 未读入（第 2 行起 40 条）：是否应为 occurred_on（发生日期）？``"""
    return (f"{item['file']}：字段 {item['field']!r} 未读入（第 {item['first_line']} 行起 {item['records']} 条）："
            f"是否应为 {item['meant']}（{field_label(item['meant'])}）？")


class _RejectWriter:
    """Opens the rejects file only when the first reject arrives."""

    def __init__(self, directory: Path, label: str, zone: str | None = None):
        # Named by the local time (as the ingest log beside it shows it), not the server clock's zone.
        stamp = dt.datetime.now(timezone(zone)).strftime("%Y%m%d-%H%M%S-%f")
        self.path = directory / f"{stamp}-{label}.jsonl"
        self.handle: TextIO | None = None

    def write(self, reject: Reject) -> None:
        if self.handle is None:
            # A lone surrogate in a rejected record is written as its \\ud800 escape.
            self.handle = open_private(self.path, "w", errors="backslashreplace")
        self.handle.write(reject.to_json() + "\n")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    *,
    rejects_dir: str | Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    taxonomy: Taxonomy | None = None,
    max_messages: int = 20,
    on_commit: Callable[[IngestReport], None] | None = None,
    zone: str | None = None,
) -> IngestReport:
    """Ingest record files into ``store``.

    Args:
        store: the case store to write to.
        paths: JSONL, CSV or XLSX files.
        rejects_dir: where the rejects file is written (only if something is rejected).
        batch_size: records per transaction.
        progress: show a progress bar on stderr.
        taxonomy: the dispute taxonomy used to map free-text types.
        max_messages: how many reject messages the report keeps for display.
        on_commit: called with the report after each batch is committed (progress that counts only stored cases).
        zone: the time zone the rejects file is named in (the home's; default Asia/Shanghai).
    """
    paths = [Path(p) for p in paths]
    label = paths[0].stem if len(paths) == 1 else f"{len(paths)}-files"
    return _ingest(store, [(str(p), lambda p=p: read_records(p)) for p in paths], label, rejects_dir=rejects_dir,
                   batch_size=batch_size, progress=progress, taxonomy=taxonomy, max_messages=max_messages, on_commit=on_commit,
                   zone=zone)


def ingest_records(
    store: Store,
    records: Iterable[Mapping[str, Any]],
    *,
    rejects_dir: str | Path,
    source: str = "records",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    taxonomy: Taxonomy | None = None,
    max_messages: int = 20,
    on_commit: Callable[[IngestReport], None] | None = None,
    zone: str | None = None,
) -> IngestReport:
    """Ingest records given as mappings (one per case, as in a JSONL file) into ``store``.

    Exactly like :func:`ingest` of a file: each record is validated, rejects
    are named ``source:N`` (N counted from 1) and written to ``rejects_dir``.
    """

    def read() -> Iterator[RawRecord]:
        for number, record in enumerate(records, 1):
            if isinstance(record, Mapping):
                yield RawRecord(source, number, dict(record))
            else:
                yield RawRecord(source, number, None, f"不是 JSON 对象（是 {type(record).__name__}）")

    return _ingest(store, [(source, read)], source, rejects_dir=rejects_dir, batch_size=batch_size, progress=progress,
                   taxonomy=taxonomy, max_messages=max_messages, on_commit=on_commit, zone=zone)


def _ingest(
    store: Store,
    sources: list[tuple[str, Callable[[], Iterable[RawRecord]]]],
    label: str,
    *,
    rejects_dir: str | Path,
    batch_size: int,
    progress: bool,
    taxonomy: Taxonomy | None,
    max_messages: int,
    on_commit: Callable[[IngestReport], None] | None,
    zone: str | None,
) -> IngestReport:
    """Validate and store the records of each ``(name, reader)`` source; ``label`` names the rejects file."""
    from tqdm import tqdm

    taxonomy = taxonomy or Taxonomy.default()
    report = IngestReport(files=[name for name, _ in sources])
    rejects = _RejectWriter(Path(rejects_dir), label, zone)
    started_at = _now()
    started = time.perf_counter()
    bar = tqdm(desc="导入", unit="条", disable=not progress, leave=False)

    def reject(item: RawRecord, record_id: str | None, errors: list[tuple[str, str]]) -> None:
        entry = Reject(item.source, item.line, record_id, errors, item.data)
        rejects.write(entry)
        report.rejected += 1
        for message in entry.messages():
            if len(report.reject_messages) < max_messages:
                report.reject_messages.append(message)

    def commit(batch: list[tuple[Case, RawRecord]]) -> None:
        """Write a batch in one transaction; a batch the store refuses is written case by case, so
        that only the case it cannot take is rejected."""
        if not batch:
            return
        try:
            result = store.upsert_batch([case for case, _ in batch], [f"{item.source}:{item.line}" for _, item in batch])
        except (sqlite3.Error, UnicodeError, ValueError, OverflowError, RecursionError) as exc:
            if len(batch) > 1:
                for one in batch:
                    commit([one])
                return
            case, item = batch[0]
            _log.exception("storing %s:%s failed", item.source, item.line)
            reject(item, case.id, [("record", f"无法写入案件库（{type(exc).__name__}）")])
            return
        checkpoint("store.batch_committed")
        report.inserted += result.inserted
        report.updated += result.updated
        report.unchanged += result.unchanged
        if on_commit is not None:
            on_commit(report)

    misnamed: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        for _, read in sources:
            batch: list[tuple[Case, RawRecord]] = []
            first_line_of: dict[str, int] = {}
            try:
                for item in read():
                    report.read += 1
                    bar.update()
                    if item.data is None:
                        reject(item, None, [(item.field, item.error or "无法读取的记录")])
                        continue
                    for key, meant in misnamed_fields(item.data):
                        seen = misnamed.setdefault((item.source, key), {"file": item.source, "field": key, "meant": meant,
                                                                         "first_line": item.line, "records": 0})
                        seen["records"] += 1
                    try:
                        case = validate(item.data, taxonomy)
                    except RecordError as exc:
                        reject(item, exc.record_id, [(e.path, e.message) for e in exc.errors])
                        continue
                    except Exception as exc:  # noqa: BLE001 - a bug must cost this record, not the rest of the file
                        _log.exception("validating %s:%s failed", item.source, item.line)
                        reject(item, None, [("record", f"内部错误，记录未能校验（{type(exc).__name__}），请报告此问题")])
                        continue
                    if case.id in first_line_of:
                        reject(item, case.id, [("id", f"本文件中编号重复（首次出现在第 {first_line_of[case.id]} 行）")])
                        continue
                    first_line_of[case.id] = item.line
                    if case.type and case.category is None:
                        report.unmapped_types[case.type] += 1
                    batch.append((case, item))
                    if len(batch) >= batch_size:
                        commit(batch)
                        batch = []
            except FileFormatError as exc:
                report.file_errors.append(str(exc))
            commit(batch)
    finally:
        bar.close()
        rejects.close()
    report.misnamed_fields = list(misnamed.values())
    report.seconds = time.perf_counter() - started
    if rejects.handle is not None:
        report.rejects_path = str(rejects.path)
    _log_run(store, report, started_at)
    return report


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _log_run(store: Store, report: IngestReport, started_at: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO ingest_runs (started_at, finished_at, files, summary) VALUES (?, ?, ?, ?)",
            (started_at, _now(), json.dumps(report.files, ensure_ascii=False), json.dumps(report.to_dict(), ensure_ascii=False)),
        )
