"""Commands of the web app: ``leian user add|list`` and ``leian serve``."""
from __future__ import annotations

import sys

import click

from leian.clitools import echo_json, pass_home
from leian.home import Home

__all__ = ["serve", "user"]


@click.group()
def user() -> None:
    """Web accounts: mediator 调解员, analyst 分析员, trainer 培训师, admin 管理员."""


@user.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["admin", "mediator", "analyst", "trainer"]), help="What the user may do.")
@click.option("--name", "display_name", help="The name shown on screen (default: USERNAME).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin (otherwise prompt).")
@pass_home
def user_add(home: Home, username: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create a web user (the first admin is created this way)."""
    from leian.web.accounts import AccountError, Accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with home.open_store() as store:
        try:
            created = Accounts(store).add(username, role, password, display_name=display_name)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from None
        Accounts(store).audit(None, "user_add", target=created.username, detail=f"{role} (cli)")
    click.echo(f"created {created.role} {created.username}")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def user_list(home: Home, as_json: bool) -> None:
    """List web users with their roles."""
    from leian.web.accounts import Accounts

    with home.open_store() as store:
        users = Accounts(store).list()
    if as_json:
        echo_json({"users": [u.to_dict() for u in users]})
        return
    for account in users:
        state = "" if account.active else "  (disabled)"
        click.echo(f"{account.username}\t{account.role}\t{account.display_name}\tlast login {account.last_login or '-'}{state}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for the whole network).")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256), help="Worker threads.")
@pass_home
def serve(home: Home, host: str, port: int, threads: int) -> None:
    """Run the web app with waitress; the model and indexes are loaded once, before the first request."""
    from leian.web.app import create_app, services
    from leian.web.queries import search_engine
    from waitress import serve as run_waitress

    app = create_app(home)
    with app.app_context():
        if not services().accounts.list():
            click.echo(f"no web users yet: create one with `leian --home {home.root} user add NAME --role admin`", err=True)
        if services().store.count():
            click.echo("loading the search model and indexes ...", err=True)
            search_engine(services())
    click.echo(f"LeiAn web app on http://{host}:{port}/  (home {home.root})", err=True)
    run_waitress(app, host=host, port=port, threads=threads, ident="LeiAn")
