"""``leian search``, ``leian reindex`` and ``leian eval``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from leian.api import LeiAn
from leian.clitools import echo_json, json_option, opened, pass_home, progress_default
from leian.data.readers import json_problem
from leian.home import Home

__all__ = ["search", "reindex", "evaluate"]

_MODEL_HELP = "向量模型：m3e-small（默认）、本地 sentence-transformers 模型文件夹，或已缓存的模型名。默认取 <数据目录>/config.toml 中的 [embeddings] model。"


def _load_engine(api: LeiAn) -> None:
    """Load the model and indexes now, so that a model that cannot be loaded is one plain error line."""
    try:
        api.engine
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
                    raise click.ClickException(f"{path} 第 {number} 行第 {exc.colno} 列：不是有效的 JSON（{json_problem(exc)}）") from None
                if not isinstance(item.get("text"), str) or not item["text"].strip():
                    raise click.ClickException(f"{path} 第 {number} 行：缺少字段 \"text\" 或为空")
                parties = item.get("parties") or []
                if isinstance(parties, str) or not all(isinstance(p, str) for p in parties):
                    raise click.ClickException(f"{path} 第 {number} 行：字段 \"parties\" 须为姓名列表")
                queries.append({"text": item["text"], "type": item.get("type"), "where": item.get("where"), "parties": parties})
            else:
                queries.append({"text": line, "type": None, "where": None, "parties": []})
    return queries


@click.command()
@click.argument("text", required=False)
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 1000), help="返回多少件相似案件。")
@click.option("--type", "type_", help="只要这一类型的案件（大类或小类，如 邻里、漏水）。")
@click.option("--where", help="只要这一地点的案件，任一层级均可（如 金湾区、三灶镇、某网格）。")
@click.option("--since", help="只要 YYYY-MM-DD 当天及以后的案件。")
@click.option("--until", help="只要 YYYY-MM-DD 当天及以前的案件。")
@click.option("--outcome", help="只要这一调解结果的案件（如 调解成功）。")
@click.option("--channel", help="只要经这一来源渠道进来的案件（如 12345热线）。")
@click.option("--mediator", help="只要这位调解员（姓名）或调解组织（名称的一部分）经办的案件。")
@click.option("--party", "parties", multiple=True, help="新纠纷的一位当事人（可重复）；有同一当事人的案件排名靠前。")
@click.option("--as-type", "as_type", help="新纠纷的类型（大类或 大类/小类），代替推测类型：该类型的案件排名靠前，不排除其他案件。")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, 100), help="显示第几页结果（每页 --top-k 件，1 为最相似的一页）。")
@click.option("--batch", "batch_file", type=click.Path(dir_okay=False), help="从 FILE 读取多条查询（每行一个 JSON 对象，含 text/type/where/parties，或每行一段文字）；按顺序每行输出一个 JSON 对象。")
@click.option("--model", help=_MODEL_HELP)
@json_option("只输出一个 JSON 对象（与 --batch 同用时每条查询一个）；repeat_alert 列出描述中提到的已知当事人与地址。")
@pass_home
def search(home: Home, text: str | None, top_k: int, type_: str | None, where: str | None, since: str | None, until: str | None,
           outcome: str | None, channel: str | None, mediator: str | None, parties: tuple[str, ...], as_type: str | None, page: int,
           batch_file: str | None, model: str | None, as_json: bool) -> None:
    """查找与 TEXT（用自己的话描述的纠纷）相似的既往案件。"""
    from leian import Filters

    if (text is None) == (batch_file is None):
        raise click.ClickException("请给出 TEXT 或 --batch FILE（二选一）")
    if batch_file and not Path(batch_file).is_file():
        raise click.ClickException(f"文件不存在：{batch_file}")
    try:
        filters = Filters(type=type_, where=where, since=since, until=until, outcome=outcome, channel=channel, mediator=mediator).check()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if batch_file:
        items = _read_batch(batch_file)
        with opened(home, model=model, progress=progress_default()) as api:
            _load_engine(api)
            answers = [a.to_dict() for a in api.search_many(items, top_k=top_k, filters=filters)]
        for item, answer in zip(items, answers):
            if as_json:
                click.echo(json.dumps(answer, ensure_ascii=False, default=str))
            else:
                _print_answer(answer, item["text"])
                click.echo()
        return
    if not text.strip():
        raise click.ClickException("查询内容为空")
    with opened(home, model=model, progress=progress_default()) as api:
        _load_engine(api)
        answer = api.search(text, top_k=top_k, filters=filters, parties=parties, as_type=as_type, page=page).to_dict()
    if as_json:
        echo_json(answer)
    else:
        _print_answer(answer, text)


def _print_answer(answer: dict[str, Any], typed: str) -> None:
    """The answer as text; the query as the user typed it (``answer["query"]`` is normalised: half-width ，→ ,)."""
    from leian.search.engine import type_label
    from leian.search.filters import FILTER_NAMES
    from leian.search.fusion import relevance_label

    click.echo(f"查询：{' '.join(typed.split())[:60]}")
    alert = answer.get("repeat_alert") or {}
    if alert.get("text"):
        click.echo(alert["text"])
        for party in alert["parties"]:
            for chain in party["chains"]:
                click.echo(f"  {party['name']} [{chain['kind_name']}] {' → '.join(chain['case_ids'])}")
    if answer["filters"]:
        click.echo("筛选：" + "，".join(f"{FILTER_NAMES.get(k, k)} {v}" for k, v in answer["filters"].items()))
    if answer.get("predicted_type"):
        click.echo(f"推测类型：{answer['predicted_type']['text']}")
    if answer.get("elements"):
        click.echo("纠纷要素：" + "、".join(e["name"] for e in answer["elements"]))
    click.echo(f"小结：{answer['summary']['text']}")
    if not answer["results"] and answer["filters"]:
        click.echo("在符合筛选条件的案件中没有找到；可放宽或去掉部分筛选条件。")
    # total counts the cases above the relevance floor; with none the summary has said so already.
    if answer["total"]:
        click.echo(f"相关案例约 {answer['total']} 件；第 {answer['page']} 页")
    elif answer["page"] > 1:
        click.echo(f"第 {answer['page']} 页")
    first = (answer["page"] - 1) * answer["top_k"]
    low_shown = False
    # Results above the relevance floor first (in rank order), then the rest under 相关度较低.
    shown = [r for r in answer["results"] if r["relevance"] != "low"] + [r for r in answer["results"] if r["relevance"] == "low"]
    for rank, result in enumerate(shown, first + 1):
        if result["relevance"] == "low" and not low_shown:
            click.echo("\n—— 相关度较低 ——")
            low_shown = True
        head = " · ".join(x for x in (type_label(result), result["place"], result["date"], result["outcome"]) if x)
        click.echo(f"\n{rank}. [{result['id']}] {result['title'] or result['snippet'][:30]}  相关度 {relevance_label(result['relevance_probability'])}")
        if head:
            click.echo(f"   {head}")
        click.echo(f"   {result['snippet'][:80]}")
        if result["handling"]:
            click.echo(f"   调解做法：{result['handling'][:80]}")
        reasons = _reasons(result["why"])
        if reasons:
            click.echo(f"   相似原因：{reasons}")


def _reasons(why: dict[str, Any]) -> str:
    from leian.data.places import LEVEL_NAMES

    parts = []
    if why.get("shared_elements"):
        parts.append("共同要素：" + "、".join(why["shared_elements"][:6]))
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
@click.option("--progress/--no-progress", default=None, help="显示进度条（默认：在终端中运行时显示）。")
@json_option("以一个 JSON 对象输出汇总。")
@pass_home
def reindex(home: Home, model: str | None, progress: bool | None, as_json: bool) -> None:
    """从案件库重建检索索引（已缓存的向量直接复用），再让纠纷要素和知识图谱（含相似案件关系）赶上案件库。"""
    with opened(home, model=model) as api:
        try:
            report = api.reindex(progress=progress_default() if progress is None else progress).to_dict()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(report)
    else:
        click.echo(
            f"已重建索引：{report['cases']} 件案件（新编码 {report['encoded']} 条，索引类型 {report['kind']}，"
            f"模型 {report['model']}），用时 {report['seconds']} 秒"
        )


@click.command("eval")
@click.argument("benchmark", type=click.Choice(["c3rd", "lecard", "sts", "tellings", "types"]))
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True),
              help="评测集所在文件夹（如 ../shared/datasets/c3rd_mini，或 data/devsets/tellings）；除 types --sample 外必填。")
@click.option("--sample", is_flag=True, help="types：在随包的 ProMediConv 样例上评测（模型重新训练，训练数据不含样例；样例大多只有大类），代替 --data。")
@click.option("--limit", type=click.IntRange(1), help="只用前 N 条查询（或句对、文本），用于快速试跑。")
@click.option("--model", help=_MODEL_HELP)
@click.option("--cache", type=click.Path(), help="在此 .npz 文件中保留文档向量，供下次复用（tellings：保留其临时库的文件夹）。")
@click.option("--split", default="tune", show_default=True, type=click.Choice(["tune", "heldout"]),
              help="tellings、types：用开发集的哪一半；留出的一半只在明确给出 --split heldout 时评测，每次都要记入 docs/quality.md。")
@click.option("--distractors/--no-distractors", default=True, show_default=True, help="tellings：是否加入 97 件样例案件（去掉类型）作干扰项。")
@click.option("--pool", default="engine", show_default=True, type=click.Choice(["engine", "store"]),
              help="tellings：给哪些候选排序：engine 为一次检索实际融合的候选池（向量前 50 与 BM25 前 50 的并集），store 为库中全部文本（第 1–3 次留出评测的做法）。")
@click.option("--cached-only", is_flag=True, help="c3rd、lecard：只评测向量已全部在 --cache 中的查询，不做任何编码。")
@json_option("以一个 JSON 对象输出结果表。")
@pass_home
def evaluate(home: Home, benchmark: str, data_dir: str | None, sample: bool, limit: int | None, model: str | None, cache: str | None,
             split: str, distractors: bool, pool: str, cached_only: bool, as_json: bool) -> None:
    """在公开评测集或本项目的多种讲法开发集上比较各单项信号与融合排序的效果；types 评测类型预测的准确率与可靠性。"""
    from leian.search import evaluate as harness

    if sample and benchmark != "types":
        raise click.ClickException("--sample 只用于 types")
    if benchmark == "types" and sample == (data_dir is not None):
        raise click.ClickException("types：请给出 --data 开发集文件夹或 --sample（二选一）")
    if benchmark != "types" and data_dir is None:
        raise click.ClickException("请用 --data 给出评测集所在文件夹")
    try:
        if benchmark == "types":
            from leian.disputes.index import models_dir

            report = harness.run_types(Path(data_dir) if data_dir else None, split=split, limit=limit, cache_dir=models_dir(home))
        else:
            from leian.embeddings.encoder import load_encoder, model_for_home

            encoder = load_encoder(model_for_home(home, model))
            report = harness.run(benchmark, Path(data_dir), encoder, limit=limit, cache=Path(cache) if cache else None,
                                 split=split, distractors=distractors, cached_only=cached_only, pool=pool)
    except (harness.DataError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(report)
    else:
        click.echo(harness.format_table(report))
