"""Readers for the interchange formats: JSON Lines, CSV and Excel (.xlsx).

Each reader streams :class:`RawRecord` items: the record as a mapping, or the
reason the line could not even be read (broken UTF-8, invalid JSON, a CSV row
with the wrong number of cells). Field validation happens later, in
:func:`leian.data.record.validate`, identically for every format.

CSV and Excel use the JSON field names as columns; nested fields are dotted
(``location.town``); ``parties`` and ``mediators`` cells hold either JSON or
``name|role|phone`` (``name|org`` for mediators) items separated by ``;``.
Any other cell that holds a JSON array or object is read as JSON; all other
cells are text (a number in an unknown field arrives as text).

Examples
--------
>>> record_from_cells(["id", "text", "location.town", "parties"],
...                   ["A1", "漏水", "三灶镇", "王建国|申请人|13800001111;李强|被申请人"])
... # doctest: +NORMALIZE_WHITESPACE
{'id': 'A1', 'text': '漏水', 'location': {'town': '三灶镇'},
 'parties': [{'name': '王建国', 'role': '申请人', 'phone': '13800001111'},
             {'name': '李强', 'role': '被申请人'}]}
"""
from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RawRecord", "FileFormatError", "read_records", "record_from_cells", "write_records", "FORMATS"]

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".xlsx": "xlsx"}
REQUIRED_COLUMNS = ("id", "text")
_TRUNCATED = "记录不完整（文件在记录中间结束）"
#: What the json module says is wrong -> the same in Chinese.
_JSON_ERRORS = {
    "Expecting value": "此处应为一个值",
    "Expecting property name enclosed in double quotes": "字段名须用双引号括起",
    "Expecting ',' delimiter": "缺少逗号",
    "Expecting ':' delimiter": "缺少冒号",
    "Unterminated string starting at": "字符串没有结束引号",
    "Extra data": "记录后面还有多余内容",
    "Invalid control character at": "含有无效的控制字符",
    "Invalid \\escape": "无效的转义符",
    "Invalid \\uXXXX escape": "无效的 \\u 转义符",
}
_LIST_CELLS = {"parties": ("name", "role", "phone", "id_number", "kind"), "mediators": ("name", "org")}


class FileFormatError(ValueError):
    """The file as a whole cannot be read (unknown type, no header, missing columns)."""


@dataclass
class RawRecord:
    """One record as read from a file, before validation."""

    source: str
    line: int
    data: dict[str, Any] | None
    error: str | None = None
    field: str = "record"


def read_records(path: str | Path) -> Iterator[RawRecord]:
    """Stream the records of a JSONL, CSV or XLSX file, chosen by extension."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise FileFormatError(f"{path.name}：不支持的文件类型 {path.suffix!r}（请用 .jsonl、.csv 或 .xlsx）")
    if not path.is_file():
        raise FileFormatError(f"{path}：文件不存在")
    return {"jsonl": _read_jsonl, "csv": _read_csv, "xlsx": _read_xlsx}[kind](path)


def _read_jsonl(path: Path) -> Iterator[RawRecord]:
    name = path.name
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            # A last line without its newline that does not parse was cut off
            # mid-write (possibly mid-character): say so rather than "bad JSON".
            cut_off = not line.endswith(b"\n")
            try:
                data = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as exc:
                reason = _TRUNCATED if cut_off and exc.end >= len(line) else f"该行第 {exc.start} 个字节不是有效的 UTF-8 编码"
                yield RawRecord(name, number, None, reason)
                continue
            except json.JSONDecodeError as exc:
                reason = _TRUNCATED if cut_off else f"不是有效的 JSON（第 {exc.colno} 列：{_JSON_ERRORS.get(exc.msg, exc.msg)}）"
                yield RawRecord(name, number, None, reason)
                continue
            if not isinstance(data, dict):
                yield RawRecord(name, number, None, "每行须为一个 JSON 对象")
                continue
            yield RawRecord(name, number, data)


def _read_csv(path: Path) -> Iterator[RawRecord]:
    name = path.name
    # surrogateescape keeps undecodable bytes visible per row, so one bad row
    # is rejected instead of the whole file failing to decode.
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise FileFormatError(f"{name}：文件为空，缺少表头行") from None
        header = _check_header(name, header)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if any(_has_surrogate(cell) for cell in row):
                yield RawRecord(name, line, None, "该行含有无效的 UTF-8 编码")
                continue
            if len(row) != len(header):
                yield RawRecord(name, line, None, f"该行有 {len(row)} 个单元格，表头有 {len(header)} 列")
                continue
            yield _from_cells(name, line, header, row)


def _read_xlsx(path: Path) -> Iterator[RawRecord]:
    import openpyxl

    name = path.name
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise FileFormatError(f"{name}：无法读取的 .xlsx 工作簿（{exc}）") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            raise FileFormatError(f"{name}：工作表为空，缺少表头行")
        header = _check_header(name, ["" if c is None else str(c) for c in header_row])
        for number, row in enumerate(rows, start=2):
            cells = list(row) + [None] * (len(header) - len(row))
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            yield _from_cells(name, number, header, [_excel_cell(c) for c in cells[: len(header)]])
    finally:
        workbook.close()


def _excel_cell(value: Any) -> Any:
    """Excel stores ids and phones typed as numbers: give them back as text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _check_header(name: str, header: list[str]) -> list[str]:
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise FileFormatError(f"{name}：缺少必需的列：{'、'.join(missing)}")
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if duplicated:
        raise FileFormatError(f"{name}：列名重复：{'、'.join(duplicated)}")
    return header


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _from_cells(name: str, line: int, header: list[str], cells: list[str]) -> RawRecord:
    try:
        return RawRecord(name, line, record_from_cells(header, cells))
    except _CellError as exc:
        return RawRecord(name, line, None, exc.message, exc.field)


class _CellError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def record_from_cells(header: list[str], cells: list[str]) -> dict[str, Any]:
    """Build a record mapping from one CSV/Excel row (empty cells are left out)."""
    record: dict[str, Any] = {}
    for column, cell in zip(header, cells):
        if not column or cell is None or not str(cell).strip():
            continue
        value: Any = str(cell).strip()
        if column in _LIST_CELLS:
            value = _list_cell(column, value)
        elif value.startswith(("[", "{")):
            # Lists and objects travel as JSON cells (tags, unknown fields).
            value = _json_cell(column, value)
        target = record
        *parents, leaf = column.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise _CellError(column, f"列 {column!r} 与列 {parent!r} 冲突")
        target[leaf] = value
    return record


def _json_cell(column: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _CellError(column, f"单元格中的 JSON 无效：{_JSON_ERRORS.get(exc.msg, exc.msg)}") from None


def _list_cell(column: str, value: str) -> list[Any]:
    if value.startswith(("[", "{")):
        parsed = _json_cell(column, value)
        return parsed if isinstance(parsed, list) else [parsed]
    fields = _LIST_CELLS[column]
    items = []
    for chunk in value.replace("；", ";").split(";"):
        if not chunk.strip():
            continue
        parts = [p.strip() for p in chunk.split("|")]
        if len(parts) > len(fields):
            raise _CellError(column, f"条目 {chunk!r} 用 '|' 分出的部分超过 {len(fields)} 个（{'|'.join(fields)}）")
        items.append({f: p for f, p in zip(fields, parts) if p})
    return items


def write_records(records: list[dict[str, Any]], path: str | Path) -> None:
    """Write raw records to JSONL, CSV or XLSX (by extension), losslessly re-readable.

    Nested objects become dotted columns; lists become JSON cells.
    """
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind == "jsonl":
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    if kind is None:
        raise FileFormatError(f"{path.name}：不支持的文件类型 {path.suffix!r}")
    rows = [_flatten(r) for r in records]
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    matrix = [[row.get(column, "") for column in header] for row in rows]
    if kind == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(matrix)
        return
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("cases")
    sheet.append(header)
    for values in matrix:
        sheet.append(values)
    workbook.save(path)


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in record.items():
        column = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{column}."))
        elif isinstance(value, list):
            flat[column] = json.dumps(value, ensure_ascii=False)
        elif value is None:
            flat[column] = ""
        elif isinstance(value, bool):
            flat[column] = json.dumps(value)
        else:
            flat[column] = str(value)
    return flat

