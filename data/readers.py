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
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leian.data.record import misnamed_fields

__all__ = ["RawRecord", "FileFormatError", "json_error_text", "json_problem", "read_records", "record_from_cells", "write_records", "FORMATS"]

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
#: A CSV record longer than this (all its lines together) is rejected unread.
MAX_RECORD_CHARS = 1_048_576
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_CHARS))
_LIST_CELLS = {"parties": ("name", "role", "phone", "id_number", "kind"), "mediators": ("name", "org")}
#: Columns that always hold text, never JSON, whatever their first character.
_TEXT_COLUMNS = frozenset({"id", "text", "title", "type", "occurred_on", "reported_on", "closed_on", "channel", "handling",
                           "outcome", "agreement", "amount"})


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
        raise FileFormatError(f"{path.name}：不支持的文件类型 {path.suffix!r}（请用 {'、'.join(FORMATS)}）")
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
                # Without its line break: a record that stops short is then told as stopping at this line's
                # end, not at "column 1" of the line after it.
                text = line.decode("utf-8").rstrip("\r\n")
                data = json.loads(text)
            except UnicodeDecodeError as exc:
                reason = _TRUNCATED if cut_off and exc.end >= len(line) else f"该行第 {exc.start} 个字节不是有效的 UTF-8 编码"
                yield RawRecord(name, number, None, reason)
                continue
            except json.JSONDecodeError as exc:
                yield RawRecord(name, number, None, _TRUNCATED if cut_off else _json_error(exc, text))
                continue
            except (ValueError, RecursionError) as exc:
                yield RawRecord(name, number, None, _unreadable_json(exc))
                continue
            if not isinstance(data, dict):
                yield RawRecord(name, number, None, "每行须为一个 JSON 对象")
                continue
            yield RawRecord(name, number, data)


def json_problem(exc: json.JSONDecodeError) -> str:
    """What is wrong with a JSON text, in Chinese (``缺少逗号``); a message LeiAn does not know passes through."""
    return _JSON_ERRORS.get(exc.msg, exc.msg)


def json_error_text(exc: json.JSONDecodeError) -> str:
    """Where and what is wrong with a JSON document, in Chinese: ``第 2 行第 5 列：缺少逗号``."""
    return f"第 {exc.lineno} 行第 {exc.colno} 列：{json_problem(exc)}"


def _json_error(exc: json.JSONDecodeError, text: str) -> str:
    """Where and what is wrong with a JSON line, in Chinese; a record that stops short is said to stop at the line's end."""
    what = json_problem(exc)
    if exc.pos >= len(text.rstrip()):
        return f"不是有效的 JSON（记录在行尾没有写完：{what}）"
    return f"不是有效的 JSON（第 {exc.colno} 列：{what}）"


def _read_csv(path: Path) -> Iterator[RawRecord]:
    name = path.name
    # surrogateescape keeps undecodable bytes visible per row, so one bad row
    # is rejected instead of the whole file failing to decode.
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        rows = _csv_rows(handle)
        header = None
        for line, row, error in rows:
            if error is not None:
                if header is None:
                    raise FileFormatError(f"{name}：第 {line} 行（表头）无法读取：{error}")
                yield RawRecord(name, line, None, error)
                continue
            if header is None:
                header = _check_header(name, row)
                continue
            if not any(cell.strip() for cell in row):
                continue
            if any(_has_surrogate(cell) for cell in row):
                yield RawRecord(name, line, None, "该行含有无效的 UTF-8 编码" + (_GBK_HINT if _reads_as_gbk(row) else ""))
                continue
            if len(row) != len(header):
                yield RawRecord(name, line, None, f"该行有 {len(row)} 个单元格，表头有 {len(header)} 列")
                continue
            yield _from_cells(name, line, header, row)
        if header is None:
            raise FileFormatError(f"{name}：文件为空，缺少表头行")


def _csv_rows(handle: Any) -> Iterator[tuple[int, list[str], str | None]]:
    """``(first line, cells, None)`` per CSV record, or ``(line, [], reason)`` for one that cannot be read.

    A record runs over several lines while a quoted cell is open. A quote that never closes
    (before the end of the file or :data:`MAX_RECORD_CHARS`) is reported at the line that
    opened it, and the lines after that one are read again as records of their own: one
    stray quote costs one record, never the rest of the file.
    """
    pending: list[str] = []  # lines read ahead and given back after an unclosed quote
    number = 0
    source = iter(handle)

    def next_line() -> str | None:
        nonlocal number
        line = pending.pop() if pending else next(source, None)
        if line is not None:
            number += 1
        return line

    while True:
        first = next_line()
        if first is None:
            return
        start, parts, quotes, size = number, [first], first.count('"'), len(first)
        while quotes % 2 and size <= MAX_RECORD_CHARS:
            line = next_line()
            if line is None:
                break
            parts.append(line)
            quotes += line.count('"')
            size += len(line)
        row: list[str] = []
        error = None
        if quotes % 2:
            error = "引号未闭合：本行有一个没有结束引号的单元格"
        elif size > MAX_RECORD_CHARS:
            error = f"记录过长：{size} 个字符（上限 {MAX_RECORD_CHARS}）"
        else:
            try:
                row = next(csv.reader(["".join(parts)], strict=True), [])
            except csv.Error as exc:
                error = f"CSV 格式错误：{exc}"
        if (quotes % 2 or error) and len(parts) > 1:
            # The quote opened here does not close where a cell may end: read the next lines again, on their own.
            pending.extend(reversed(parts[1:]))
            number = start
            error = "引号未闭合：本行有一个没有正确结束的带引号单元格（其后各行照常读取）"
        yield start, row, error


def _read_xlsx(path: Path) -> Iterator[RawRecord]:
    import openpyxl

    name = path.name
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except zipfile.BadZipFile:  # an .xlsx is a zip: this one is an old .xls, a CSV renamed, or cut short
        raise FileFormatError(f"{name}：不是 .xlsx 工作簿（旧版 .xls 或改了扩展名的文件？请在 Excel 中另存为 .xlsx 或 CSV）") from None
    except Exception:  # openpyxl raises many types for a damaged file
        raise FileFormatError(f"{name}：无法读取的 .xlsx 工作簿（文件已损坏？请在 Excel 中打开后重新另存）") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            raise FileFormatError(f"{name}：工作表为空，缺少表头行")
        header = _check_header(name, ["" if c is None else _xlsx_text(str(c)) for c in header_row])
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
    return _xlsx_text(str(value))


def _check_header(name: str, header: list[str]) -> list[str]:
    header = [h.strip() for h in header]
    header = [h[1:] if _ESCAPED.match(h) else h for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        # A register exported with Chinese headings (编号, 纠纷经过) or a misspelt one: name the field each was meant to be.
        # Read as a row is (location.town nests under location), so a dotted column is compared with its own level.
        meant = misnamed_fields(record_from_cells(header, ["x"] * len(header)))
        hint = f"（表头须用字段名，可改为：{'，'.join(f'{column} → {field}' for column, field in meant)}）" if meant else ""
        raise FileFormatError(f"{name}：缺少必需的列：{'、'.join(missing)}{hint}")
    duplicated = sorted({h for h in header if h and header.count(h) > 1})
    if duplicated:
        raise FileFormatError(f"{name}：列名重复：{'、'.join(duplicated)}")
    return header


#: Said of a row that is not UTF-8 but reads as GBK: what Excel on a Chinese Windows saves as "CSV".
_GBK_HINT = "（像是 GBK 编码：请在 Excel 中另存为“CSV UTF-8（逗号分隔）”，或用记事本另存为 UTF-8）"


def _reads_as_gbk(cells: list[str]) -> bool:
    """Whether a row's undecodable bytes (kept by surrogateescape) are GBK text."""
    try:
        ",".join(cells).encode("utf-8", "surrogateescape").decode("gb18030")
    except UnicodeError:
        return False
    return True


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
    """Build a record mapping from one CSV/Excel row (empty cells are left out).

    Cells are kept as written (only the id is trimmed). A cell starting with an apostrophe
    before ``= + - @``, a tab, ``[`` or ``{`` is text without that apostrophe: that is how
    :func:`write_records` keeps such text from running as a formula or reading as JSON.
    """
    record: dict[str, Any] = {}
    for column, cell in zip(header, cells):
        if not column or cell is None or not str(cell).strip():
            continue
        value: Any = str(cell).strip() if column == "id" else str(cell)
        if _ESCAPED.match(value):
            value = value[1:]
        elif column in _LIST_CELLS:
            value = _list_cell(column, value.strip())
        elif column not in _TEXT_COLUMNS and not column.startswith("location.") and value.lstrip().startswith(("[", "{")):
            # Lists and objects travel as JSON cells (tags, unknown fields); text that only looks like it stays text.
            try:
                value = _json_cell(column, value)
            except _CellError:
                pass
        target = record
        *parents, leaf = column.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise _CellError(column, f"列 {column!r} 与列 {parent!r} 冲突")
        target[leaf] = value
    return record


def _unreadable_json(exc: ValueError | RecursionError) -> str:
    """Why valid-looking JSON could not be read: nested too deep, or a number with too many digits."""
    if isinstance(exc, RecursionError):
        return "JSON 嵌套层数过多，无法读取"
    return f"JSON 中的数字位数过多，无法读取（{str(exc).split(';')[0]}）"


def _json_cell(column: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise _CellError(column, f"单元格中的 JSON 无效：{json_problem(exc)}") from None
    except (ValueError, RecursionError) as exc:
        raise _CellError(column, _unreadable_json(exc)) from None


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
    """Write raw records to JSONL, CSV or XLSX (by extension), re-readable as they were.

    Nested objects become dotted columns; lists become JSON cells. Text that a spreadsheet
    would run as a formula (``= + - @``) or that would read back as JSON (``[`` ``{``) is
    neutralised: an apostrophe before it in CSV, a text cell marked "quote prefix" in
    Excel; :func:`read_records` restores it exactly. The file is created private (0600).
    Limits: an empty string and a missing value are the same empty cell; numbers in fields
    LeiAn does not know come back as text.
    """
    from leian.data.private import open_private

    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind == "jsonl":
        with open_private(path, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    if kind is None:
        raise FileFormatError(f"{path.name}：不支持的文件类型 {path.suffix!r}")
    rows = [_flatten(r) for r in records]
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    table = [[(column, True) for column in header]] + [[row.get(column, ("", False)) for column in header] for row in rows]
    if kind == "csv":
        with open_private(path, "w", newline="") as handle:
            csv.writer(handle).writerows([_csv_text(text, is_text) for text, is_text in row] for row in table)
        return
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("cases")
    for row in table:
        sheet.append([_xlsx_cell(sheet, text, is_text) for text, is_text in row])
    with open_private(path, "wb") as handle:
        workbook.save(handle)


# Text a spreadsheet runs as a formula, or that reads as JSON, or that starts with the escape itself.
_ESCAPED = re.compile(r"'+[=+\-@\t\r\[{]")
_CSV_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r\[{]")
_XLSX_NEEDS_ESCAPE = re.compile(r"'*[\[{]|'+[=+\-@\t\r]")
# Excel's own escape for characters XML cannot hold (_x0001_), and for a literal "_x" before four hex digits.
_XLSX_CODE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _csv_text(text: str, is_text: bool) -> str:
    return "'" + text if is_text and _CSV_NEEDS_ESCAPE.match(text) else text


def _xlsx_cell(sheet: Any, text: str, is_text: bool) -> Any:
    """A text cell (never a formula, never a number) holding exactly ``text``."""
    from openpyxl.cell import WriteOnlyCell

    if is_text and _XLSX_NEEDS_ESCAPE.match(text):
        text = "'" + text
    text = _XLSX_CODE.sub(lambda m: "_x005F" + m.group(0), text)
    text = _XML_ILLEGAL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    cell = WriteOnlyCell(sheet)
    cell.value = text
    cell.data_type = "s"
    cell.quotePrefix = text[:1] in ("=", "+", "-", "@")
    return cell


def _xlsx_text(text: str) -> str:
    """Undo Excel's ``_xHHHH_`` escapes (openpyxl hands them over as written)."""
    return _XLSX_CODE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, tuple[str, bool]]:
    """Dotted column -> (cell text, whether it is text as given, as opposed to JSON written by us)."""
    flat: dict[str, tuple[str, bool]] = {}
    for key, value in record.items():
        column = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{column}."))
        elif isinstance(value, list):
            flat[column] = (json.dumps(value, ensure_ascii=False), False)
        elif value is None:
            flat[column] = ("", False)
        elif isinstance(value, bool):
            flat[column] = (json.dumps(value), False)
        else:
            flat[column] = (str(value), True)
    return flat

