"""The ``leian`` command line.

Every command takes the global ``--home DIR`` (else ``$LEIAN_HOME``, else
``./leian-data``). Everything it prints for a person is in 简体中文 (option
names stay English). User mistakes print one plain ``错误：`` line and exit
1; a bug prints a short id and the log that holds its traceback
(``<home>/logs/errors.log``) and exits 70. Neither prints a traceback.
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import click

from leian.analytics.cli import clusters, hotspots, report
from leian.api import LeiAn
from leian.click_zh import localize
from leian.clitools import KNOWN_OS_ERRORS, echo_json, json_option, opened, os_error_text, pass_home, progress_default
from leian.data.cli import generate
from leian.graph.cli import followup, followups, graph, neighbors, party, repeats, risk
from leian.errors import UserError
from leian.home import Home
from leian.library.cli import library
from leian.search.cli import evaluate, reindex, search
from leian.web.accounts import ROLE_NAMES
from leian.web.cli import serve, user

__all__ = ["main", "cli"]


def sample_path() -> Path:
    """The bundled real sample (97 ProMediConv cases, converted)."""
    return Path(str(resources.files("leian.data") / "samples" / "promediconv.jsonl"))


class _Commands(click.Group):
    """The ``leian`` group: a user's mistake is one plain line (exit 1); a bug is logged in the home and
    shown as a short id and the log's path (exit 70), never as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise  # click's own ways out: its errors, --help / --version, Ctrl-C, a closed pipe
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            if exc.filename is None and exc.errno not in KNOWN_OS_ERRORS:
                self._report_bug(ctx, exc)
            # A path the system refused (one that cannot be created, no permission, a full disk): the person
            # can fix it, so it is one line naming the path, not a bug report.
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"无法读写{where}：{os_error_text(exc)}") from None
        except Exception as exc:
            self._report_bug(ctx, exc)

    @staticmethod
    def _report_bug(ctx: click.Context, exc: BaseException) -> NoReturn:
        from leian.errorlog import BUG_EXIT, record_bug

        bug = record_bug(exc, ctx.obj.root if isinstance(ctx.obj, Home) else None, where=f"leian {ctx.invoked_subcommand or ''}")
        click.echo(bug.message(), err=True)
        ctx.exit(BUG_EXIT)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="LEIAN_HOME",
    help="LeiAn 数据目录（案件库、索引、拒收记录）。环境变量 LEIAN_HOME，默认 ./leian-data。",
)
@click.version_option(package_name="leian")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """类案 LeiAn：矛盾纠纷类案检索与知识图谱。"""
    from leian.errors import UserError

    try:
        ctx.obj = Home.resolve(home)
    except UserError as exc:  # config.toml is not TOML, or a setting is wrong: one line naming the key
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000), help="每个事务写入的记录数。")
@click.option("--progress/--no-progress", default=None, help="显示进度条（默认：在终端中运行时显示）。")
@click.option("--index/--no-index", default=True, show_default=True,
              help="入库后更新检索索引和图谱（批量导入可用 --no-index，之后运行 `leian reindex`）。")
@json_option("以一个 JSON 对象输出汇总。")
@pass_home
def ingest(home: Home, files: tuple[str, ...], batch_size: int, progress: bool | None, index: bool, as_json: bool) -> None:
    """校验并导入 JSONL、CSV 或 XLSX 文件中的案件记录。

    合格的记录入库（同一编号再次导入会更新该案件）；不合格的记录连同原因写入
    <数据目录>/rejects/。有记录被拒收时退出码为 1；有文件无法读取（不存在、类型不支持、
    缺少表头等）时退出码为 2。
    """
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        error = click.ClickException(f"文件不存在：{missing[0]}")
        error.exit_code = 2  # could not run, as opposed to 1: ran, some records rejected
        raise error
    show_progress = progress_default() if progress is None else progress
    with opened(home, create=True, progress=show_progress) as api:
        report = api.ingest(files, batch_size=batch_size, progress=show_progress, index=index)
    if as_json:
        echo_json(report.to_dict())
    else:
        _print_ingest_report(report)
        _print_notices(report.notices)
    if report.file_errors:
        sys.exit(2)
    if not report.ok:
        sys.exit(1)


def _print_ingest_report(report: Any) -> None:
    click.echo(
        f"读取 {report.read} 条，入库 {report.stored} 件（新增 {report.inserted}，更新 {report.updated}），"
        f"未变 {report.unchanged} 件，拒收 {report.rejected} 条，用时 {report.seconds:.1f} 秒"
    )
    for message in report.file_errors:
        click.echo(f"错误：{message}", err=True)
    for message in report.reject_messages:
        click.echo(f"  拒收：{message}", err=True)
    if report.rejected > len(report.reject_messages):
        click.echo(f"  ……另有 {report.rejected - len(report.reject_messages)} 条拒收未列出", err=True)
    if report.rejects_path:
        click.echo(f"拒收记录及原因已写入 {report.rejects_path}", err=True)
    if report.unmapped_types:
        listed = "、".join(f"{t}（{n}）" for t, n in report.unmapped_types.most_common(10))
        click.echo(f"未归入分类体系的类型（按原样保存）：{listed}")
    for message in report.misnamed_messages:
        click.echo(f"注意：{message}", err=True)


def _print_notices(notices: list[str], limit: int = 20) -> None:
    """Index notices (repeat disputes joined at ingest); a first bulk load can raise hundreds."""
    for line in notices[:limit]:
        click.echo(line)
    if len(notices) > limit:
        click.echo(f"……另有 {len(notices) - limit} 条（见 `leian repeats`）")


@cli.command()
@json_option()
@pass_home
def stats(home: Home, as_json: bool) -> None:
    """按类型、调解结果、来源渠道和区县统计案件数。"""
    with opened(home, readonly=True) as api:
        data = api.stats().to_dict()
    if as_json:
        echo_json(data)
        return
    first, last = data["date_range"]
    click.echo(f"{data['cases']} 件案件，{data['parties']} 名当事人，数据目录 {home.root}（数据结构 v{data['schema_version']}）")
    click.echo(f"日期：{first or '-'} 至 {last or '-'}")
    for title, key in (("大类", "by_category"), ("结果", "by_outcome"), ("来源渠道", "by_channel"), ("区县", "by_district")):
        click.echo(f"{title}：" + "，".join(f"{k} {v}" for k, v in data[key].items()))
    if data["unmapped_types"]:
        click.echo("未归类类型：" + "，".join(f"{k} {v}" for k, v in data["unmapped_types"].items()))


@cli.command()
@click.argument("case_id")
@json_option("以一个 JSON 对象输出规范化记录和原始记录。")
@pass_home
def show(home: Home, case_id: str, as_json: bool) -> None:
    """按编号显示一件案件。"""
    with opened(home, readonly=True) as api:
        if as_json:
            echo_json(api.show(case_id).to_dict())
            return
        case = api.case(case_id)
    from leian.data.places import place_label

    click.echo(f"{case.id}  {case.title or ''}")
    rows = [
        ("类型", " › ".join(p for p in (case.category, case.subtype) if p) or case.type),
        ("原始类型", case.type if case.category else None),
        ("日期", " / ".join(f"{k} {v}" for k, v in (("发生", case.occurred_on), ("受理", case.reported_on), ("结案", case.closed_on)) if v)),
        ("地点", place_label(case.location) + (f"（{case.location['address']}）" if case.location.get("address") else "")),
        ("当事人", "；".join(f"{p.name}（{p.role}）" for p in case.parties)),
        ("调解员", "；".join(m.name + (f"（{m.org}）" if m.org else "") for m in case.mediators)),
        ("来源渠道", case.channel),
        ("结果", case.outcome),
        ("金额", f"{case.amount:g} 元" if case.amount is not None else None),
        ("标签", "、".join(case.tags)),
    ]
    for label, value in rows:
        if value:
            click.echo(f"{label}：{value}")
    for label, value in (("纠纷经过", case.text), ("调解过程", case.handling), ("协议内容", case.agreement)):
        if value:
            click.echo(f"\n{label}：\n{value}")


@cli.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@pass_home
def export_cases(home: Home, out: str) -> None:
    """把全部案件按原始记录导出到 OUT（.jsonl、.csv 或 .xlsx）。"""
    from leian.data.readers import FORMATS, write_records

    if Path(out).suffix.lower() not in FORMATS:
        raise click.ClickException(f"{out}：不支持的文件类型（请用 .jsonl、.csv 或 .xlsx）")
    with opened(home, readonly=True) as api:
        records = [case.raw for case in api.cases()]
    write_records(records, out)
    click.echo(f"已导出 {len(records)} 件案件到 {out}")


#: Rough cost of a first build of the search index and graph, per case, on a small server (2 cores).
_BUILD_SECONDS_PER_CASE = 0.06


@cli.command()
@click.option("--generated", default=3000, show_default=True, type=click.IntRange(0, 1_000_000),
              help="在真实样例之外载入的生成案件数（0 表示只用样例）。")
@click.option("--serve/--no-serve", "start_web", default=True, show_default=True, help="数据载入后启动网页版。")
@click.option("--host", default="127.0.0.1", show_default=True, help="网页版监听的地址。")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="网页版监听的端口。")
@click.pass_context
@pass_home
def demo(home: Home, ctx: click.Context, generated: int, start_web: bool, host: str, port: int) -> None:
    """载入自带样例和生成案件，创建演示账号，启动网页版。

    再次运行很快：未变的案件跳过，索引只补上新的变化。
    """
    from leian.data.generate import generate_to_file
    from leian.data.private import private_dir

    show_progress = progress_default()
    private_dir(home.root)
    with opened(home, create=True) as api:
        password = _demo_logins(home, api.store)
    _print_logins(password, f"http://{host}:{port}/" if start_web else None)
    files = [sample_path()]
    if generated:
        files.append(home.root / "generated.jsonl")
        generate_to_file(files[-1], generated, seed=7, truth_path=home.root / "generated-truth.json")
    with opened(home, create=True, progress=show_progress) as api:
        report = api.ingest(files, progress=show_progress, index=False)
        _print_ingest_report(report)
        if not report.ok:
            raise click.ClickException("演示数据未能全部载入")
        _print_notices(_build_indexes(api, show_progress), limit=5)
        total = api.store.count()
    click.echo(f"\n演示数据目录：{home.root}（{total} 件案件）")
    click.echo(f'命令行试试：leian --home {home.root} search "楼上漏水把我家天花板泡坏了"')
    click.echo("（在仓库目录运行 `make shell` 即可直接输入 leian；或先 `source .venv/bin/activate`。）")
    if start_web:
        _print_logins(password, f"http://{host}:{port}/")
        ctx.invoke(serve, host=host, port=port)


def _print_logins(password: str, url: str | None) -> None:
    """The demo logins, in a box that stands out from the log lines around it."""
    rule = "=" * 60
    lines = [rule]
    if url:
        lines.append(f"类案 LeiAn 演示网址：{url}")
    lines.append(f"演示账号（密码均为 {password}）：")
    lines += [f"  demo-{role:<9} {name}" for role, name in ROLE_NAMES.items()]
    if url:
        lines.append("停止：在本窗口按 Ctrl+C")
    lines.append(rule)
    click.echo("\n".join(lines))


def _build_indexes(api: LeiAn, show_progress: bool) -> list[str]:
    """Bring the search index and graph up to date, saying how much there is to do and how long it takes."""
    import threading
    import time

    pending = api.store.count() if not api.search_index_built else None
    if pending:
        estimate = max(1, round(pending * _BUILD_SECONDS_PER_CASE / 60))
        click.echo(f"正在为 {pending} 件案件建立检索索引和知识图谱（仅首次运行需要，预计约 {estimate} 分钟）……")
    started = time.monotonic()
    finished = threading.Event()

    def tick() -> None:
        # Without a progress bar (not a terminal), a line now and then shows the build is alive.
        while not finished.wait(30):
            click.echo(f"  ……已用时 {round(time.monotonic() - started)} 秒", err=True)

    ticker = threading.Thread(target=tick, daemon=True)
    if pending:
        ticker.start()
    try:
        notices = api.index(progress=show_progress)
    finally:
        finished.set()
    if pending:
        click.echo(f"检索索引和知识图谱已建好，用时 {round(time.monotonic() - started)} 秒。")
    return notices


def _demo_logins(home: Home, store) -> str:
    """One demo account per role, sharing a password kept in <home>/demo-login.txt."""
    import secrets

    from leian.data.private import open_private
    from leian.web.accounts import Accounts

    login_file = home.root / "demo-login.txt"
    if not login_file.is_file():
        with open_private(login_file) as handle:
            handle.write(secrets.token_urlsafe(9) + "\n")
    password = login_file.read_text(encoding="utf-8").strip()
    accounts = Accounts(store)
    for role in ROLE_NAMES:
        if accounts.get(f"demo-{role}") is None:
            accounts.add(f"demo-{role}", role, password, display_name=f"演示{ROLE_NAMES[role]}")
    return password


# Commands owned by other packages, each defined in its own `<package>/cli.py`.
for _command in (generate, search, reindex, evaluate, repeats, neighbors, party, graph, risk, followups, followup,
                 hotspots, clusters, report, library, user, serve):
    cli.add_command(_command)
localize(cli)


def main() -> None:
    from leian.data.private import use_private_umask

    use_private_umask()  # everything a command writes holds personal data: owner only
    cli(prog_name="leian")
