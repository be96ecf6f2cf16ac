"""``leian library …``: case libraries (典型案例库) for trainers."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from leian.clitools import echo_json, pass_home
from leian.home import Home
from leian.library.store import SECTIONS, STATUS_NAMES, STATUSES, Libraries, LibraryError

__all__ = ["library", "case_ids_in"]

@contextmanager
def _libraries(home: Home) -> Iterator[Libraries]:
    """The home's libraries; a user mistake inside the block becomes one plain error line."""
    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    with home.open_store() as store:
        try:
            yield Libraries(store)
        except LibraryError as exc:
            raise click.ClickException(str(exc)) from None
        except RuntimeError as exc:  # the embedding model or search index cannot be loaded
            raise click.ClickException(f"{exc} (add --no-check to skip the near-duplicate check)") from None


def case_ids_in(data: Any, item: str | None = None) -> list[str]:
    """Case ids in the JSON of a search (``results[].id``), a cluster or repeat chain (``case_ids``), or a list.

    JSON holding many clusters or chains (``leian clusters --json``, ``leian
    repeats --json``) needs ``item``: a cluster id, or a position counted from 1.

    >>> case_ids_in({"query": "漏水", "results": [{"id": "A1", "score": 0.9}, {"id": "B2"}]})
    ['A1', 'B2']
    >>> case_ids_in([{"case_ids": ["A1", "C3"]}, "D4"])
    ['A1', 'C3', 'D4']
    >>> case_ids_in({"clusters": [{"id": "c1", "case_ids": ["A1"]}, {"id": "c2", "case_ids": ["B2"]}]}, item="c2")
    ['B2']
    """
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return list(dict.fromkeys(i for element in data for i in case_ids_in(element)))
    if isinstance(data, dict):
        for key, label in (("clusters", "类簇"), ("chains", "重复纠纷链")):
            if isinstance(data.get(key), list):
                return case_ids_in(_pick(data[key], item, label))
        for key in ("results", "case_ids"):
            if key in data:
                return case_ids_in(data[key])
        for key in ("id", "case_id"):
            if isinstance(data.get(key), str):
                return [data[key]]
    raise LibraryError("JSON 中找不到案件编号（需要 results[].id、case_ids 或编号列表）")


def _pick(groups: list[Any], item: str | None, label: str) -> Any:
    """The cluster or chain ``item`` names, by its id or its position from 1."""
    if item is None:
        raise LibraryError(f"文件中有 {len(groups)} 个{label}，请用 --item 选一个（编号或序号）")
    for group in groups:
        if isinstance(group, dict) and str(group.get("id")) == item:
            return group
    if item.isdigit() and 1 <= int(item) <= len(groups):
        return groups[int(item) - 1]
    raise LibraryError(f"文件中没有{label} {item!r}")


def _read_ids(path: str, item: str | None) -> list[str]:
    text = Path(path).read_text(encoding="utf-8")
    try:
        return case_ids_in(json.loads(text), item)
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if line.strip()]


def _add(home: Home, libs: Libraries, name: str, case_ids: Sequence[str], editor: str | None,
         check: bool, encoder: Any = None) -> None:
    """Add cases, then print what was added and any near-duplicate warnings."""
    libs.get(name)
    duplicates = []
    if check:
        from leian.library.curation import near_duplicates

        if encoder is None:
            from leian.embeddings.encoder import load_encoder, model_for_home

            encoder = load_encoder(model_for_home(home))
        duplicates = near_duplicates(libs, name, case_ids, encoder=encoder)
    added = libs.add_cases(name, case_ids, editor=editor)
    skipped = len(set(case_ids)) - len(added)
    click.echo(f"已加入 {len(added)} 件到案例库 {name}" + (f"（{skipped} 件已在库中）" if skipped else ""))
    for dup in duplicates:
        click.echo(f"警告：{dup.case_id} 与库中 {dup.similar_to} 疑似重复（相似度 {dup.score:.3f}）", err=True)


@click.group("library")
def library() -> None:
    """Case libraries (典型案例库): curate, review and export teaching cases."""


@library.command()
@click.argument("name")
@click.option("--description", default="", help="What the library is for (说明).")
@pass_home
def create(home: Home, name: str, description: str) -> None:
    """Create an empty library called NAME."""
    with _libraries(home) as libs:
        libs.create(name, description=description)
    click.echo(f"已创建案例库 {name}")


@library.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def list_libraries(home: Home, as_json: bool) -> None:
    """List the libraries with their entry counts by status."""
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
@click.option("--history", is_flag=True, help="Also list every change (who, when, which field, old → new).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the entries and history.")
@pass_home
def show(home: Home, name: str, history: bool, as_json: bool) -> None:
    """Show library NAME and its entries."""
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
            click.echo(f"  {item.at}  {item.editor or '-'}  {item.case_id} {item.field}: {item.old or ''} → {item.new or ''}")


@library.command()
@click.argument("old")
@click.argument("new")
@pass_home
def rename(home: Home, old: str, new: str) -> None:
    """Rename library OLD to NEW."""
    with _libraries(home) as libs:
        libs.rename(old, new)
    click.echo(f"已将案例库 {old} 改名为 {new}")


@library.command()
@click.argument("name")
@click.argument("text")
@pass_home
def describe(home: Home, name: str, text: str) -> None:
    """Set the description of library NAME to TEXT."""
    with _libraries(home) as libs:
        libs.describe(name, text)
    click.echo(f"已更新案例库 {name} 的说明")


@library.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Delete without asking for confirmation.")
@pass_home
def delete(home: Home, name: str, yes: bool) -> None:
    """Delete library NAME with its entries and history (the cases stay in the store)."""
    with _libraries(home) as libs:
        lib = libs.get(name)
        if not yes:
            click.confirm(f"删除案例库 {name}（{lib.entries} 个条目及其修改记录；案件本身保留）？", abort=True)
        libs.delete(name)
    click.echo(f"已删除案例库 {name}（案件保留在库存中）")


_check_option = click.option(
    "--check/--no-check", default=True, show_default=True,
    help="Warn when a case is a near-duplicate of one already in the library (loads the embedding model).",
)
_editor_option = click.option("--editor", help="Who makes the change (recorded in the history).")


@library.command()
@click.argument("name")
@click.argument("case_ids", nargs=-1)
@click.option("--ids-from", type=click.Path(exists=True, dir_okay=False),
              help="Also add the ids in this file: JSON of a search, cluster or repeat chain, or one id per line.")
@click.option("--item", help="With --ids-from holding many clusters or chains: the cluster id, or the position from 1.")
@_editor_option
@_check_option
@pass_home
def add(home: Home, name: str, case_ids: tuple[str, ...], ids_from: str | None, item: str | None,
        editor: str | None, check: bool) -> None:
    """Add cases to library NAME as draft entries, prefilled from their records."""
    with _libraries(home) as libs:
        ids = list(case_ids) + (_read_ids(ids_from, item) if ids_from else [])
        if not ids:
            raise click.ClickException("请给出要加入的案件编号（CASE_ID… 或 --ids-from FILE）")
        _add(home, libs, name, ids, editor, check)


@library.command("add-search")
@click.argument("name")
@click.argument("text")
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 200), help="How many search results to add.")
@_editor_option
@_check_option
@pass_home
def add_search(home: Home, name: str, text: str, top_k: int, editor: str | None, check: bool) -> None:
    """Search for TEXT and add the top results to library NAME in one step."""
    from leian.search.engine import SearchEngine

    with _libraries(home) as libs:
        libs.get(name)
        with SearchEngine(home, store=libs.store) as engine:
            ids = [hit["id"] for hit in engine.search(text, top_k=top_k)["results"]]
        if not ids:
            raise click.ClickException(f"搜索 {text!r} 没有结果，未加入任何案件")
        _add(home, libs, name, ids, editor, check, encoder=engine.encoder)


@library.command()
@click.argument("name")
@click.argument("case_ids", nargs=-1, required=True)
@_editor_option
@pass_home
def remove(home: Home, name: str, case_ids: tuple[str, ...], editor: str | None) -> None:
    """Remove cases from library NAME (the cases stay in the store)."""
    with _libraries(home) as libs:
        removed = libs.remove_cases(name, case_ids, editor=editor)
    click.echo(f"已从案例库 {name} 移除 {removed} 件")


@library.command()
@click.argument("name")
@click.argument("case_id")
@click.option("--field", "section", help="Section to set: " + "、".join(SECTIONS) + ".")
@click.option("--value", help="New text of the section ('-' reads it from standard input).")
@click.option("--tag", "tags", multiple=True, help="Add a tag (repeatable).")
@click.option("--untag", "untags", multiple=True, help="Remove a tag (repeatable).")
@_editor_option
@pass_home
def edit(home: Home, name: str, case_id: str, section: str | None, value: str | None,
         tags: tuple[str, ...], untags: tuple[str, ...], editor: str | None) -> None:
    """Edit one entry: set a section, add or remove tags.

    Changing a section of a reviewed or published entry sends it back to draft.
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
@click.option("--reviewer", required=True, help="Who reviews (and publishes) the entry.")
@click.option("--publish", is_flag=True, help="Publish an entry that has already been reviewed.")
@pass_home
def review(home: Home, name: str, case_id: str, reviewer: str, publish: bool) -> None:
    """Mark a draft entry reviewed, or (--publish) publish a reviewed one."""
    with _libraries(home) as libs:
        advance = libs.publish if publish else libs.review
        entry = advance(name, case_id, reviewer=reviewer)
    click.echo(f"{case_id}：{STATUS_NAMES[entry.status]}（{reviewer}）")


@library.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def coverage(home: Home, name: str, as_json: bool) -> None:
    """Entries of library NAME by 大类/小类 × district, and the types it lacks."""
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
@click.option("--per-gap", default=3, show_default=True, type=click.IntRange(1, 50), help="Cases suggested per missing type.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def suggest(home: Home, name: str, per_gap: int, as_json: bool) -> None:
    """Suggest well-resolved, well-documented cases of the types library NAME lacks."""
    from leian.library.curation import suggest as suggest_cases

    with _libraries(home) as libs:
        found = suggest_cases(libs, name, per_gap=per_gap)
    if as_json:
        echo_json({"library": name, "suggestions": found})
        return
    if not found:
        click.echo("没有可补充的案件")
    for item in found:
        documented = "，".join(label for label, key in (("有调解过程", "has_handling"), ("有协议", "has_agreement")) if item[key])
        click.echo(f"  {item['gap']}：{item['case_id']}（{item['outcome']}，{item['text_chars']} 字"
                   + (f"，{documented}" if documented else "") + "）")


@library.command()
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["md", "docx", "jsonl"]), required=True, help="Output format.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="File to write.")
@click.option("--status", type=click.Choice(STATUSES), help="Only entries with this status (e.g. published).")
@click.option("--unmasked", is_flag=True, help="Keep party names, phone and ID numbers as recorded (default: masked).")
@pass_home
def export(home: Home, name: str, fmt: str, out: str, status: str | None, unmasked: bool) -> None:
    """Write library NAME to a Markdown, Word or JSON Lines file."""
    from leian.library.export import export_library

    with _libraries(home) as libs:
        count = export_library(libs, name, fmt, out, masked=not unmasked, status=status)
    click.echo(f"已导出 {count} 件到 {out}" + ("（未脱敏）" if unmasked else "（已脱敏）"))
