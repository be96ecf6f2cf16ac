"""``leian library …``: case libraries (典型案例库) for trainers."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from leian.api import LeiAn
from leian.clitools import echo_json, json_option, opened, pass_home
from leian.clock import local_time
from leian.home import Home
from leian.library.case_ids import case_ids_in
from leian.library.store import SECTIONS, STATUS_NAMES, STATUSES, Libraries, LibraryError

__all__ = ["library"]

@contextmanager
def _library_errors() -> Iterator[None]:
    """A user mistake inside the block becomes one plain error line."""
    try:
        yield
    except LibraryError as exc:
        raise click.ClickException(str(exc)) from None
    except RuntimeError as exc:  # the embedding model or search index cannot be loaded
        raise click.ClickException(f"{exc}（可加 --no-check 跳过疑似重复检查）") from None


@contextmanager
def _libraries(home: Home) -> Iterator[Libraries]:
    """The home's libraries; a user mistake inside the block becomes one plain error line."""
    with opened(home) as api, _library_errors():
        yield api.libraries()


def _read_ids(path: str, item: str | None) -> list[str]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        return case_ids_in(json.loads(text), item)
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if line.strip()]


def _add(api: LeiAn, libs: Libraries, name: str, case_ids: Sequence[str], editor: str | None, check: bool) -> None:
    """Add cases, then print what was added and any near-duplicate warnings."""
    libs.get(name)
    duplicates = []
    if check:
        from leian.library.curation import near_duplicates

        duplicates = near_duplicates(libs, name, case_ids, encoder=api.encoder)
    result = libs.add(name, case_ids, editor=editor)
    click.echo(f"已加入 {len(result.added)} 件到案例库 {name}"
               + (f"（{len(result.present)} 件已在库中）" if result.present else ""))
    for dup in duplicates:
        click.echo(f"警告：{dup.case_id} 与库中 {dup.similar_to} 疑似重复（相似度 {dup.score:.3f}）", err=True)
    if result.missing:
        # The good ones are in; the bad ones are named, and the exit status says not all went in.
        raise click.ClickException(f"以下编号的案件不存在，未加入：{'、'.join(result.missing)}")


@click.group("library")
def library() -> None:
    """典型案例库：整理、审核、导出教学案例。"""


@library.command()
@click.argument("name")
@click.option("--description", default="", help="案例库的说明（用途、培训对象等）。")
@pass_home
def create(home: Home, name: str, description: str) -> None:
    """新建名为 NAME 的空案例库。"""
    with _libraries(home) as libs:
        libs.create(name, description=description)
    click.echo(f"已创建案例库 {name}")


@library.command("list")
@json_option()
@pass_home
def list_libraries(home: Home, as_json: bool) -> None:
    """列出案例库及各状态的条目数。"""
    with _libraries(home) as libs:
        found = libs.list()
    if as_json:
        echo_json({"libraries": [lib.to_dict() for lib in found]})
        return
    if not found:
        click.echo("还没有案例库（leian library create NAME）")
    for lib in found:
        counts = "，".join(f"{STATUS_NAMES[s]} {lib.by_status[s]}" for s in STATUSES)
        click.echo(f"{lib.name}  {lib.entries} 件（{counts}）" + (f"  {lib.description}" if lib.description else ""))


@library.command()
@click.argument("name")
@click.option("--history", is_flag=True, help="同时列出每次修改（谁、何时、哪一栏、原内容 → 新内容）。")
@json_option("以一个 JSON 对象输出条目和修改记录。")
@pass_home
def show(home: Home, name: str, history: bool, as_json: bool) -> None:
    """显示案例库 NAME 及其条目。"""
    with _libraries(home) as libs:
        lib = libs.get(name)
        entries = libs.entries(name)
        changes = libs.history(name)
    if as_json:
        echo_json({**lib.to_dict(), "items": [e.to_dict() for e in entries], "history": [h.to_dict() for h in changes]})
        return
    click.echo(f"{lib.name}  {lib.entries} 件" + (f"\n{lib.description}" if lib.description else ""))
    for entry in entries:
        reviewer = f"，审核人 {entry.reviewer}" if entry.reviewer else ""
        tags = f"  [{'、'.join(entry.tags)}]" if entry.tags else ""
        click.echo(f"  {entry.case_id}  {STATUS_NAMES[entry.status]}{reviewer}{tags}  {entry.sections['基本案情'][:40]}")
    if history:
        for item in changes:
            click.echo(f"  {local_time(item.at, home.timezone)}  {item.editor or '-'}  {item.case_id} {item.field}："
                       f"{item.readable(item.old) or ''} → {item.readable(item.new) or ''}")


@library.command()
@click.argument("old")
@click.argument("new")
@pass_home
def rename(home: Home, old: str, new: str) -> None:
    """把案例库 OLD 改名为 NEW。"""
    with _libraries(home) as libs:
        libs.rename(old, new)
    click.echo(f"已将案例库 {old} 改名为 {new}")


@library.command()
@click.argument("name")
@click.argument("text")
@pass_home
def describe(home: Home, name: str, text: str) -> None:
    """把案例库 NAME 的说明改为 TEXT。"""
    with _libraries(home) as libs:
        libs.describe(name, text)
    click.echo(f"已更新案例库 {name} 的说明")


@library.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="不再询问，直接删除。")
@pass_home
def delete(home: Home, name: str, yes: bool) -> None:
    """删除案例库 NAME 及其条目和修改记录（案件本身仍保留在案件库中）。"""
    with _libraries(home) as libs:
        lib = libs.get(name)
        if not yes:
            click.confirm(f"删除案例库 {name}（{lib.entries} 个条目及其修改记录；案件本身保留）？", abort=True)
        libs.delete(name)
    click.echo(f"已删除案例库 {name}（案件保留在库存中）")


_check_option = click.option(
    "--check/--no-check", default=True, show_default=True,
    help="案件与库中已有案件疑似重复时给出警告（需载入向量模型）。",
)
_editor_option = click.option("--editor", help="修改人（记入修改记录）。")


@library.command()
@click.argument("name")
@click.argument("case_ids", nargs=-1)
@click.option("--ids-from", type=click.Path(exists=True, dir_okay=False),
              help="同时加入此文件中的编号：检索、聚类或重复纠纷链的 JSON，或每行一个编号。")
@click.option("--item", help="--ids-from 文件中有多个类或链时：类的编号，或从 1 数起的序号。")
@_editor_option
@_check_option
@pass_home
def add(home: Home, name: str, case_ids: tuple[str, ...], ids_from: str | None, item: str | None,
        editor: str | None, check: bool) -> None:
    """把案件作为草稿条目加入案例库 NAME，各栏按案件记录预填。"""
    with opened(home) as api, _library_errors():
        libs = api.libraries()
        ids = list(case_ids) + (_read_ids(ids_from, item) if ids_from else [])
        if not ids:
            raise click.ClickException("请给出要加入的案件编号（CASE_ID… 或 --ids-from FILE）")
        _add(api, libs, name, ids, editor, check)


@library.command("add-search")
@click.argument("name")
@click.argument("text")
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 200), help="加入前多少条检索结果。")
@_editor_option
@_check_option
@pass_home
def add_search(home: Home, name: str, text: str, top_k: int, editor: str | None, check: bool) -> None:
    """检索 TEXT，并把排名靠前的结果一步加入案例库 NAME。"""
    with opened(home) as api, _library_errors():
        libs = api.libraries()
        libs.get(name)
        ids = [hit.id for hit in api.search(text, top_k=top_k, alert=False).results]
        if not ids:
            raise click.ClickException(f"搜索 {text!r} 没有结果，未加入任何案件")
        _add(api, libs, name, ids, editor, check)


@library.command()
@click.argument("name")
@click.argument("case_ids", nargs=-1, required=True)
@_editor_option
@pass_home
def remove(home: Home, name: str, case_ids: tuple[str, ...], editor: str | None) -> None:
    """从案例库 NAME 移除案件（案件本身仍保留在案件库中）。"""
    with _libraries(home) as libs:
        removed = libs.remove_cases(name, case_ids, editor=editor)
    click.echo(f"已从案例库 {name} 移除 {removed} 件")


@library.command()
@click.argument("name")
@click.argument("case_id")
@click.option("--field", "section", help="要修改的栏目：" + "、".join(SECTIONS) + "。")
@click.option("--value", help="栏目的新内容（'-' 表示从标准输入读取）。")
@click.option("--tag", "tags", multiple=True, help="加一个标签（可重复）。")
@click.option("--untag", "untags", multiple=True, help="去掉一个标签（可重复）。")
@_editor_option
@pass_home
def edit(home: Home, name: str, case_id: str, section: str | None, value: str | None,
         tags: tuple[str, ...], untags: tuple[str, ...], editor: str | None) -> None:
    """修改一个条目：改写一个栏目，加或去掉标签。

    改写已审核或已发布条目的栏目会使其回到草稿状态。
    """
    if (section is None) != (value is None):
        raise click.ClickException("--field 与 --value 需同时给出")
    if section is None and not tags and not untags:
        raise click.ClickException("没有要修改的内容（--field/--value、--tag 或 --untag）")
    if value == "-":
        value = click.get_text_stream("stdin").read()
    with _libraries(home) as libs:
        entry = libs.entry(name, case_id)
        with libs.store.transaction():
            if section is not None:
                entry = libs.edit(name, case_id, section, value, editor=editor)
            if tags or untags:
                kept = [t for t in entry.tags if t not in untags]
                entry = libs.set_tags(name, case_id, [*kept, *tags], editor=editor)
    click.echo(f"已更新 {case_id}（状态：{STATUS_NAMES[entry.status]}）")


@library.command()
@click.argument("name")
@click.argument("case_id")
@click.option("--reviewer", required=True, help="审核（及发布）该条目的人。")
@click.option("--publish", is_flag=True, help="发布一个已审核的条目。")
@pass_home
def review(home: Home, name: str, case_id: str, reviewer: str, publish: bool) -> None:
    """把草稿条目标记为已审核，或（--publish）发布已审核的条目。"""
    with _libraries(home) as libs:
        advance = libs.publish if publish else libs.review
        entry = advance(name, case_id, reviewer=reviewer)
    click.echo(f"{case_id}：{STATUS_NAMES[entry.status]}（{reviewer}）")


@library.command()
@click.argument("name")
@json_option()
@pass_home
def coverage(home: Home, name: str, as_json: bool) -> None:
    """案例库 NAME 的条目按大类/小类 × 区县的分布，以及还缺哪些类型。"""
    from leian.library.curation import coverage as coverage_report

    with _libraries(home) as libs:
        report = coverage_report(libs, name)
    if as_json:
        echo_json(report)
        return
    click.echo(f"{name}：{report['entries']} 件")
    counts: dict[str, dict[str, int]] = {}
    for cell in report["cells"]:
        counts.setdefault(f"{cell['category']} › {cell['subtype']}", {})[cell["district"]] = cell["entries"]
    districts = report["districts"]
    click.echo("\t".join(["类型", *districts, "合计"]))
    for kind, row in counts.items():
        click.echo("\t".join([kind, *(str(row.get(d, 0)) for d in districts), str(sum(row.values()))]))
    if report["missing_categories"]:
        click.echo("没有条目的大类：" + "、".join(report["missing_categories"]))
    for category, subtypes in report["missing_subtypes"].items():
        click.echo(f"{category} 中没有条目的小类：" + "、".join(subtypes))


@library.command()
@click.argument("name")
@click.option("--per-gap", default=3, show_default=True, type=click.IntRange(1, 50), help="每个缺少的类型推荐几件。")
@json_option()
@pass_home
def suggest(home: Home, name: str, per_gap: int, as_json: bool) -> None:
    """为案例库 NAME 缺少的类型推荐调解成功、记录完整的案件。"""
    from leian.library.curation import suggest as suggest_cases

    with _libraries(home) as libs:
        found = suggest_cases(libs, name, per_gap=per_gap)
        if as_json:
            echo_json({"library": name, "suggestions": found})
            return
        cases = libs.store.get_many([item["case_id"] for item in found])
    if not found:
        click.echo("没有可补充的案件")
    for item in found:
        documented = "，".join(label for label, key in (("有调解过程", "has_handling"), ("有协议", "has_agreement")) if item[key])
        case = cases[item["case_id"]]
        click.echo(f"  {item['gap']}：{item['case_id']} {case.heading}（{item['outcome']}，{item['text_chars']} 字"
                   + (f"，{documented}" if documented else "") + "）")


@library.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["md", "docx", "jsonl"]), required=True, help="导出格式。")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="写入的文件。")
@click.option("--status", type=click.Choice(STATUSES), default="published", show_default=True,
              help="只导出这一状态的条目。")
@click.option("--drafts", is_flag=True, help="导出全部条目，草稿和已审核的也导出（忽略 --status）。")
@click.option("--unmasked", is_flag=True, help="保留当事人姓名、电话和身份证号原样（默认脱敏）。")
@pass_home
def export(home: Home, name: str, fmt: str, out: str, status: str, drafts: bool, unmasked: bool) -> None:
    """把案例库 NAME 导出为 Markdown、Word 或 JSON Lines 文件（默认只含已发布条目）。"""
    from leian.library.export import export_library

    with _libraries(home) as libs:
        count = export_library(libs, name, fmt, out, masked=not unmasked, status=None if drafts else status,
                               zone=home.timezone)
    click.echo(f"已导出 {count} 件到 {out}" + ("（未脱敏）" if unmasked else "（已脱敏）"))
    if not count and not drafts:
        click.echo(f"库中没有{STATUS_NAMES[status]}的条目；要连草稿一起导出，请加 --drafts", err=True)
