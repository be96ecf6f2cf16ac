"""Exporting a library: Markdown, Word (.docx) and JSON Lines, masked by default.

Every export starts from the same rendered write-ups (:func:`render`): the
entry's five sections plus facts about the case (type, place, outcome, status),
with personal data masked (:mod:`leian.library.masking`) unless
``masked=False`` is asked for explicitly.

Examples
--------
>>> import tempfile, pathlib, json
>>> from leian.data.record import validate
>>> from leian.data.store import Store
>>> from leian.library.store import Libraries
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> store = Store(folder / "cases.sqlite")
>>> _ = store.upsert_batch([validate({"id": "A1", "text": "王建国欠李梅工资3000元", "type": "欠薪",
...     "parties": [{"name": "王建国"}, {"name": "李梅"}], "outcome": "调解成功"})])
>>> libs = Libraries(store)
>>> _ = libs.create("欠薪案例"); _ = libs.add_cases("欠薪案例", ["A1"])
>>> export_library(libs, "欠薪案例", "jsonl", folder / "out.jsonl")
1
>>> json.loads((folder / "out.jsonl").read_text(encoding="utf-8"))["基本案情"]
'王某某欠李某某工资3000元'
>>> store.close()
"""
from __future__ import annotations

import html
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from leian.clock import today
from leian.data.normalize import strip_bidi, xml_safe
from leian.data.places import place_label
from leian.library.masking import Masker
from leian.library.store import SECTIONS, STATUS_NAMES, Libraries, LibraryError

__all__ = ["FORMATS", "DOCX_FONT", "render", "export_library", "write_markdown", "write_docx", "write_jsonl"]

#: The font (Latin and East-Asian) of the styles the Word document uses.
DOCX_FONT = "宋体"


def render(libs: Libraries, name: str, *, masked: bool = True, status: str | None = None,
           zone: str | None = None, case_ids: Collection[str] | None = None) -> dict[str, Any]:
    """The library and its entries (only those of ``case_ids`` if given) as plain data, ready to write in any format."""
    library = libs.get(name)
    entries = libs.entries_with_cases(name, status=status, case_ids=case_ids)
    # One masker for the whole export: a person keeps one label in it, and two people never share one.
    masker = Masker.for_cases(case for _, case in entries)
    show = masker.mask if masked else str
    rendered = []
    for entry, case in entries:
        kind = " › ".join(p for p in (case.category, case.subtype) if p) or case.type or "未分类"
        rendered.append({
            "case_id": case.id,
            "title": show(case.title) if case.title else f"{kind.removesuffix('纠纷')}纠纷（{case.id}）",
            "type": kind,
            "place": place_label(case.location) or None,
            "outcome": case.outcome,
            "parties": masker.party_names(case) if masked else [p.name for p in case.parties],
            "status": entry.status,
            "reviewer": entry.reviewer,
            "reviewed_at": entry.reviewed_at,
            "published_at": entry.published_at,
            "tags": entry.tags,
            "sections": {label: show(text) for label, text in entry.sections.items()},
        })
    scope = "仅含已发布条目" if status == "published" else f"仅含{STATUS_NAMES[status]}条目" if status else "含全部条目（草稿未经审核）"
    return {"library": library.name, "description": library.description, "masked": masked, "scope": scope,
            "exported_on": today(zone), "entries": rendered}


def _facts(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """The short facts printed under an entry's title."""
    rows = [
        ("案件编号", entry["case_id"]),
        ("纠纷类型", entry["type"]),
        ("地区", entry["place"]),
        ("当事人", "、".join(entry["parties"])),
        ("调解结果", entry["outcome"]),
        ("状态", STATUS_NAMES[entry["status"]] + (f"（审核人：{entry['reviewer']}）" if entry["reviewer"] else "")),
        ("标签", "、".join(entry["tags"])),
    ]
    return [(label, value) for label, value in rows if value]


def _strings(data: Any, fn: Any) -> Any:
    """``data`` with ``fn`` applied to every string in it."""
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {key: _strings(value, fn) for key, value in data.items()}
    if isinstance(data, list):
        return [_strings(value, fn) for value in data]
    return data


def _markdown_text(text: str) -> str:
    """Record text as Markdown shows it literally: HTML (``<script>``, ``<img>``) escaped, no bidi controls."""
    return html.escape(strip_bidi(text), quote=False)


def write_markdown(data: dict[str, Any], out: Path) -> None:
    data = _strings(data, _markdown_text)
    lines = [f"# {data['library']}", ""]
    if data["description"]:
        lines += [data["description"], ""]
    lines += [f"共 {len(data['entries'])} 件，{data['scope']}，{'已脱敏' if data['masked'] else '未脱敏'}。", ""]
    for number, entry in enumerate(data["entries"], 1):
        lines += [f"## {number}. {entry['title']}", ""]
        lines += [f"- {label}：{value}" for label, value in _facts(entry)]
        lines.append("")
        for label in SECTIONS:
            lines += [f"### {label}", "", entry["sections"][label] or "（待补充）", ""]
    out.write_text("\n".join(lines), encoding="utf-8")


def write_docx(data: dict[str, Any], out: Path) -> None:
    """A4 Word document: a cover page, then each case on a page of its own, page numbers in the footer."""
    data = _strings(data, lambda text: xml_safe(strip_bidi(text)))  # Word's XML holds no control characters
    import docx
    from docx.enum.section import WD_SECTION
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.shared import Cm, Pt

    document = docx.Document()
    for style_name in ("Normal", "Title", "Heading 1", "Heading 2"):
        _set_font(document.styles[style_name])
    cover = document.sections[0]
    cover.page_width, cover.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin"):
        setattr(cover, side, Cm(2.6))
    cover.top_margin, cover.bottom_margin = Cm(2.5), Cm(2.5)

    for _ in range(6):
        document.add_paragraph()
    title = document.add_heading(data["library"], level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for line in filter(None, [data["description"], f"共 {len(data['entries'])} 件典型案例", data.get("scope"),
                              "当事人姓名、电话、身份证号已脱敏" if data["masked"] else "未脱敏：含当事人个人信息，仅限内部使用",
                              f"导出日期：{data.get('exported_on', '')}"]):
        paragraph = document.add_paragraph(line)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.runs[0].font.size = Pt(14)
    if data["entries"]:
        document.add_paragraph().add_run("目录").bold = True
        for number, entry in enumerate(data["entries"], 1):
            document.add_paragraph(f"{number}. {entry['title']}")

    # The cases start on a new page, in a section whose footer carries the page number.
    body = document.add_section(WD_SECTION.NEW_PAGE)
    body.footer.is_linked_to_previous = False
    footer = body.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("第 ")
    _page_number_field(footer.add_run())
    footer.add_run(" 页")
    for number, entry in enumerate(data["entries"], 1):
        if number > 1:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        document.add_heading(f"{number}. {entry['title']}", level=1)
        for label, value in _facts(entry):
            document.add_paragraph(f"{label}：{value}")
        for label in SECTIONS:
            document.add_heading(label, level=2)
            document.add_paragraph(entry["sections"][label] or "（待补充）")
    document.save(str(out))


def _page_number_field(run: Any) -> None:
    """A PAGE field in ``run``: Word fills in the number of the page it is on."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    for kind, text in (("begin", None), (None, "PAGE"), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        elif text == "PAGE":
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = "PAGE"
        else:
            element = OxmlElement("w:t")
            element.text = text
        run._r.append(element)


def _set_font(style: Any) -> None:
    """Make ``style`` use :data:`DOCX_FONT` for Chinese as well as Latin text."""
    from docx.oxml.ns import qn

    style.font.name = DOCX_FONT
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    # Word takes the East-Asian font from w:eastAsia, and a theme font overrides it.
    fonts.set(qn("w:eastAsia"), DOCX_FONT)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)


def write_jsonl(data: dict[str, Any], out: Path) -> None:
    data = _strings(data, strip_bidi)  # an export is read by people too: no text poses as another
    with out.open("w", encoding="utf-8") as handle:
        for entry in data["entries"]:
            record = {"library": data["library"], "masked": data["masked"], **entry}
            record.update(record.pop("sections"))
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


FORMATS = {"md": write_markdown, "docx": write_docx, "jsonl": write_jsonl}


def export_library(
    libs: Libraries,
    name: str,
    fmt: str,
    out: str | Path,
    *,
    masked: bool = True,
    status: str | None = None,
    zone: str | None = None,
    case_ids: Collection[str] | None = None,
) -> int:
    """Write library ``name`` to ``out`` in ``fmt`` (md, docx, jsonl); returns the number of entries.

    ``status`` keeps only the entries with that status, ``case_ids`` (if given) only the entries of those
    cases (what the exporting user may see); ``zone`` is the time zone of the export date.
    """
    if fmt not in FORMATS:
        raise LibraryError(f"未知导出格式 {fmt!r}（可选：{'、'.join(FORMATS)}）")
    data = render(libs, name, masked=masked, status=status, zone=zone, case_ids=case_ids)
    out = Path(out)
    if not out.parent.is_dir():
        raise LibraryError(f"输出目录不存在：{out.parent}")
    FORMATS[fmt](data, out)
    return len(data["entries"])
