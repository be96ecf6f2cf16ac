"""Commands of the web app: ``leian user add|list`` and ``leian serve``."""
from __future__ import annotations

import datetime as dt
import errno
import logging
import socket
import sys

import click

from leian.clitools import echo_json, json_option, os_error_text, pass_home
from leian.clock import local_time
from leian.home import Home

__all__ = ["serve", "user"]


@click.group()
def user() -> None:
    """网页版账号：mediator 调解员，analyst 分析员，trainer 培训师，admin 管理员。"""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["admin", "mediator", "analyst", "trainer"]), help="角色：决定此人能做什么。")
@click.option("--name", "display_name", help="页面上显示的姓名（默认同 USERNAME）。")
@click.option("--area", help="负责的区域：“区县”或“区县/镇街”，此人只能看到该区域的案件（默认全部；管理员总能看到全部）。")
@click.option("--password-stdin", is_flag=True, help="从标准输入的第一行读取密码（否则提示输入）。")
@pass_home
def user_add(home: Home, username: str, role: str, display_name: str | None, area: str | None, password_stdin: bool) -> None:
    """新建网页版用户（第一个管理员就用这条命令创建）。"""
    from leian.web.accounts import AccountError, Accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("密码", hide_input=True, confirmation_prompt=True)
    with home.open_store() as store:
        try:
            created = Accounts(store).add(username, role, password, display_name=display_name, area=area)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        Accounts(store).audit(None, "user_add", target=created.username, detail=f"{created.role_name}（命令行）")
    click.echo(f"已新建{created.role_name} {created.username}")


@user.command("list")
@json_option()
@pass_home
def user_list(home: Home, as_json: bool) -> None:
    """列出网页版用户及其角色。"""
    from leian.web.accounts import Accounts

    with home.open_store() as store:
        users = Accounts(store).list()
    if as_json:
        echo_json({"users": [u.to_dict() for u in users]})
        return
    for account in users:
        state = "" if account.active else "  （已停用）"
        last = local_time(account.last_login, home.timezone) or "从未"
        area = account.area or "全部区域"
        click.echo(f"{account.username}\t{account.role_name}\t{account.display_name}\t{area}\t最近登录 {last}{state}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="监听的地址（0.0.0.0 表示整个网络可访问）。")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="监听的端口。")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="工作线程数。")
@pass_home
def serve(home: Home, host: str, port: int, threads: int) -> None:
    """用 waitress 运行网页版；检索索引和图谱在后台与案件库同步，端口立即开放。"""
    from leian.web.app import create_app, services
    from waitress.server import create_server

    _configure_logging(home.timezone)
    app = create_app(home)
    try:  # the port first: a busy one is said before anything starts, and "已启动" is only said once it is open
        server = create_server(app, host=host, port=port, threads=threads, ident="LeiAn")
    except (OSError, ValueError) as exc:
        raise click.ClickException(_listen_error(host, port, exc)) from None
    with app.app_context():
        if not services().accounts.list():
            click.echo(f"还没有网页版用户：请用 `leian --home {home.root} user add NAME --role admin` 创建", err=True)
        if services().store.count():
            click.echo("正在后台载入检索模型，并使检索索引和图谱与案件库同步……", err=True)
        services().start_catch_up()
    click.echo(f"类案 LeiAn 网页版已启动：http://{host}:{port}/（数据目录 {home.root}；按 Ctrl+C 停止）", err=True)
    server.run()


def _listen_error(host: str, port: int, exc: OSError | ValueError) -> str:
    """Why the server cannot listen at ``host:port``, in words a person can act on."""
    # waitress raises ValueError ("Invalid host/port specified.") for a host it cannot resolve.
    if isinstance(exc, (socket.gaierror, ValueError)):
        return f"无法解析监听地址 {host}：请用 127.0.0.1（只本机）或 0.0.0.0（整个网络）"
    if exc.errno == errno.EADDRINUSE:
        return f"端口 {port} 已被占用（另一个 LeiAn 或其他程序正在使用）：请换一个 --port，或先停止那个程序"
    if exc.errno == errno.EACCES:
        return f"没有权限在端口 {port} 监听（1024 以下的端口需要管理员权限）：请换一个 --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"本机没有地址 {host}：请用 127.0.0.1（只本机）或 0.0.0.0（整个网络）"
    return f"无法在 {host}:{port} 监听：{os_error_text(exc)}"


class _LocalTimeFormatter(logging.Formatter):
    """Log lines stamped in the home's time zone (Asia/Shanghai unless configured), as every page and command shows times."""

    def __init__(self, zone: str | None):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.zone_name = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return local_time(dt.datetime.fromtimestamp(record.created, dt.UTC), self.zone_name, seconds=True)


def _configure_logging(zone: str | None) -> None:
    """One log format for the server (waitress would otherwise set up a bare one); libraries' chatter off."""
    handler = logging.StreamHandler()
    handler.setFormatter(_LocalTimeFormatter(zone))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # bm25s sets its own logger to DEBUG and would log every index build; faiss tells at INFO which CPU
    # builds it could not load ("Could not load library with AVX512 support … ModuleNotFoundError"), which
    # reads like a failure to whoever watches the console, though the build it then loads is the right one.
    for chatty in ("bm25s", "faiss.loader"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
