"""``leian search``, ``leian reindex`` and ``leian eval``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from leian.clitools import echo_json, pass_home, progress_default
from leian.home import Home

__all__ = ["search", "reindex", "evaluate"]

_MODEL_HELP = "Embedding model: m3e-small (default), a local sentence-transformers folder, or a cached model name. Default: [embeddings] model in <home>/config.toml."


def _open_engine(home: Home, model: str | None):
    from leian.search.engine import SearchEngine

    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    try:
        return SearchEngine(home, model=model, progress=progress_default())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


def _read_batch(path: str) -> list[dict[str, Any]]:
    """Batch queries: JSON Lines objects with "text" (and optional type, where, parties) or plain text lines."""
    queries = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise click.ClickException(f"{path} line {number}: not valid JSON: {exc.msg}") from None
                if not isinstance(item.get("text"), str) or not item["text"].strip():
                    raise click.ClickException(f"{path} line {number}: field \"text\" missing or empty")
                parties = item.get("parties") or []
                if isinstance(parties, str) or not all(isinstance(p, str) for p in parties):
                    raise click.ClickException(f"{path} line {number}: field \"parties\" must be a list of names")
                queries.append({"text": item["text"], "type": item.get("type"), "where": item.get("where"), "parties": parties})
            else:
                queries.append({"text": line, "type": None, "where": None, "parties": []})
    return queries


@click.command()
@click.argument("text", required=False)
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 1000), help="How many similar cases to return.")
@click.option("--type", "type_", help="Only cases of this type (大类 or 小类, e.g. 邻里 or 漏水).")
@click.option("--where", help="Only cases at this place, any level (e.g. 金湾区, 三灶镇, a grid name).")
@click.option("--since", help="Only cases dated on or after YYYY-MM-DD.")
@click.option("--until", help="Only cases dated on or before YYYY-MM-DD.")
@click.option("--outcome", help="Only cases with this outcome (e.g. 调解成功).")
@click.option("--channel", help="Only cases that came in through this channel (e.g. 12345热线).")
@click.option("--mediator", help="Only cases handled by this mediator (name) or organisation (part of its name).")
@click.option("--party", "parties", multiple=True, help="A party of the new case (repeatable); cases sharing a party rank higher.")
@click.option("--batch", "batch_file", type=click.Path(dir_okay=False), help="Read many queries from FILE (JSON Lines with text/type/where/parties, or one text per line); prints one JSON object per line, in order.")
@click.option("--model", help=_MODEL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object (with --batch: one per input line).")
@pass_home
def search(home: Home, text: str | None, top_k: int, type_: str | None, where: str | None, since: str | None, until: str | None,
           outcome: str | None, channel: str | None, mediator: str | None, parties: tuple[str, ...], batch_file: str | None,
           model: str | None, as_json: bool) -> None:
    """Find past cases similar to TEXT (a dispute described in your own words)."""
    from leian.search.engine import Query
    from leian.search.filters import Filters

    if (text is None) == (batch_file is None):
        raise click.ClickException("give either TEXT or --batch FILE")
    if batch_file and not Path(batch_file).is_file():
        raise click.ClickException(f"no such file: {batch_file}")
    try:
        filters = Filters(type=type_, where=where, since=since, until=until, outcome=outcome, channel=channel, mediator=mediator).check()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if batch_file:
        items = _read_batch(batch_file)
        engine = _open_engine(home, model)
        with engine:
            answers = engine.search_many([Query(i["text"], type=i["type"], where=i["where"], parties=i["parties"]) for i in items], top_k=top_k, filters=filters)
        for answer in answers:
            if as_json:
                click.echo(json.dumps(answer, ensure_ascii=False, default=str))
            else:
                _print_answer(answer)
                click.echo()
        return
    if not text.strip():
        raise click.ClickException("the query text is empty")
    with _open_engine(home, model) as engine:
        answer = engine.search(text, top_k=top_k, filters=filters, parties=list(parties))
    if as_json:
        echo_json(answer)
    else:
        _print_answer(answer)


def _print_answer(answer: dict[str, Any]) -> None:
    click.echo(f"查询: {answer['query'][:60]}")
    if answer["filters"]:
        click.echo("筛选: " + "，".join(f"{k}={v}" for k, v in answer["filters"].items()))
    click.echo(f"小结: {answer['summary']['text']}")
    for rank, result in enumerate(answer["results"], 1):
        head = " · ".join(x for x in (result["type"], result["place"], result["date"], result["outcome"]) if x)
        click.echo(f"\n{rank}. [{result['id']}] {result['title'] or result['snippet'][:30]}  相似度 {result['score']:.3f}")
        if head:
            click.echo(f"   {head}")
        click.echo(f"   {result['snippet'][:80]}")
        if result["handling"]:
            click.echo(f"   调解做法: {result['handling'][:80]}")
        reasons = _reasons(result["why"])
        if reasons:
            click.echo(f"   相似原因: {reasons}")


def _reasons(why: dict[str, Any]) -> str:
    from leian.data.places import LEVEL_NAMES

    parts = []
    if why["shared_terms"]:
        parts.append("共同关键词 " + "、".join(why["shared_terms"][:6]))
    if why["same_type"]:
        parts.append(f"同{why['same_type']}")
    if why["same_place"]:
        parts.append(f"同{LEVEL_NAMES[why['same_place']['level']]}（{why['same_place']['name']}）")
    if why["shared_parties"]:
        parts.append("共同当事人 " + "、".join(why["shared_parties"]))
    parts.append(f"语义 {why['dense']:.2f} / 关键词 {why['bm25']:.1f}")
    return "；".join(parts)


@click.command()
@click.option("--model", help=_MODEL_HELP)
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_home
def reindex(home: Home, model: str | None, progress: bool | None, as_json: bool) -> None:
    """Rebuild the search index from the store (cached vectors are reused)."""
    from leian.search.engine import reindex as run_reindex

    if not home.exists():
        raise click.ClickException(f"no LeiAn store at {home.root} (run `leian ingest` or `leian demo` first)")
    with home.open_store() as store:
        try:
            report = run_reindex(home, store, model=model, progress=progress_default() if progress is None else progress)
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(report)
    else:
        click.echo(
            f"已重建索引: {report['cases']} 件案例（新编码 {report['encoded']} 条，索引类型 {report['kind']}，"
            f"模型 {report['model']}），用时 {report['seconds']}s"
        )


@click.command("eval")
@click.argument("benchmark", type=click.Choice(["c3rd", "lecard", "sts"]))
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, exists=True), help="The benchmark's folder (e.g. ../shared/datasets/c3rd_mini).")
@click.option("--limit", type=click.IntRange(1), help="Use only the first N queries (or sentence pairs) for a quick run.")
@click.option("--model", help=_MODEL_HELP)
@click.option("--cache", type=click.Path(dir_okay=False), help="Keep document vectors in this .npz file between runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the table as one JSON object.")
@pass_home
def evaluate(home: Home, benchmark: str, data_dir: str, limit: int | None, model: str | None, cache: str | None, as_json: bool) -> None:
    """Score BM25-only, dense-only and fused ranking on a public benchmark."""
    from leian.embeddings.encoder import load_encoder, model_for_home
    from leian.search import evaluate as harness

    try:
        encoder = load_encoder(model_for_home(home, model))
        report = harness.run(benchmark, Path(data_dir), encoder, limit=limit, cache=Path(cache) if cache else None)
    except (harness.DataError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(report)
    else:
        click.echo(harness.format_table(report))


