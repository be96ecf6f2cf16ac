"""The ``leian`` command line.

Every command takes the global ``--home DIR`` (else ``$LEIAN_HOME``, else
``./leian-data``). User mistakes print one plain ``Error:`` line and exit
non-zero; they never print a traceback.
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from leian.analytics.cli import clusters, hotspots, report
from leian.clitools import echo_json, pass_home, progress_default, readonly_store
from leian.data.cli import generate
from leian.graph.cli import graph, neighbors, party, repeats
from leian.home import Home
from leian.indexers import sync_all
from leian.library.cli import library
from leian.search.cli import evaluate, reindex, search
from leian.web.cli import serve, user

__all__ = ["main", "cli"]


def sample_path() -> Path:
    """The bundled real sample (97 ProMediConv cases, converted)."""
    return Path(str(resources.files("leian.data") / "samples" / "promediconv.jsonl"))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="LEIAN_HOME",
    help="LeiAn home directory (store, indexes, rejects). Env: LEIAN_HOME. Default: ./leian-data",
)
@click.version_option(package_name="leian")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """LeiAn (类案): similar-case search and knowledge graph for dispute mediation."""
    try:
        ctx.obj = Home.resolve(home)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000), help="Records per transaction.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--index/--no-index", default=True, show_default=True,
              help="Bring the search index and graph up to date afterwards (--no-index for bulk loads; run `leian reindex` later).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_home
def ingest(home: Home, files: tuple[str, ...], batch_size: int, progress: bool | None, index: bool, as_json: bool) -> None:
    """Validate and store case records from JSONL, CSV or XLSX FILES.

    Valid records are stored (the same id again updates its case); invalid ones
    are written with their reasons to <home>/rejects/. Exits 1 if anything was
    rejected.
    """
    from leian.data.ingest import ingest as run_ingest

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise click.ClickException(f"no such file: {missing[0]}")
    show_progress = progress_default() if progress is None else progress
    with home.open_store() as store:
        report = run_ingest(store, files, rejects_dir=home.rejects_dir, batch_size=batch_size, progress=show_progress)
        notices = sync_all(home, store, progress=show_progress) if index else []
    if as_json:
        echo_json({**report.to_dict(), "notices": notices})
    else:
        _print_ingest_report(report)
        _print_notices(notices)
    if not report.ok:
        sys.exit(1)


def _print_ingest_report(report: Any) -> None:
    click.echo(
        f"read {report.read}, stored {report.stored} (new {report.inserted}, updated {report.updated}), "
        f"unchanged {report.unchanged}, rejected {report.rejected} in {report.seconds:.1f}s"
    )
    for message in report.file_errors:
        click.echo(f"Error: {message}", err=True)
    for message in report.reject_messages:
        click.echo(f"  rejected: {message}", err=True)
    if report.rejected > len(report.reject_messages):
        click.echo(f"  ... and {report.rejected - len(report.reject_messages)} more rejects", err=True)
    if report.rejects_path:
        click.echo(f"rejects written to {report.rejects_path}", err=True)
    if report.unmapped_types:
        listed = ", ".join(f"{t} ({n})" for t, n in report.unmapped_types.most_common(10))
        click.echo(f"types not in the taxonomy (kept as written): {listed}")


def _print_notices(notices: list[str], limit: int = 20) -> None:
    """Index notices (repeat disputes joined at ingest); a first bulk load can raise hundreds."""
    for line in notices[:limit]:
        click.echo(line)
    if len(notices) > limit:
        click.echo(f"... and {len(notices) - limit} more (see `leian repeats`)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_home
def stats(home: Home, as_json: bool) -> None:
    """Counts of cases by type, outcome, channel and district."""
    with readonly_store(home) as store:
        data = store.stats()
    data["home"] = str(home.root)
    if as_json:
        echo_json(data)
        return
    first, last = data["date_range"]
    click.echo(f"{data['cases']} cases, {data['parties']} parties in {home.root} (schema v{data['schema_version']})")
    click.echo(f"dates: {first or '-'} .. {last or '-'}")
    for title, key in (("大类", "by_category"), ("结果", "by_outcome"), ("来源渠道", "by_channel"), ("区县", "by_district")):
        click.echo(f"{title}: " + ", ".join(f"{k} {v}" for k, v in data[key].items()))
    if data["unmapped_types"]:
        click.echo("未归类类型: " + ", ".join(f"{k} {v}" for k, v in data["unmapped_types"].items()))


@cli.command()
@click.argument("case_id")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised record and the original as one JSON object.")
@pass_home
def show(home: Home, case_id: str, as_json: bool) -> None:
    """Show one case by its id."""
    with readonly_store(home) as store:
        case = store.get(case_id)
    if case is None:
        raise click.ClickException(f"no case with id {case_id!r}")
    if as_json:
        echo_json({"case": case.to_dict(), "original": case.raw})
        return
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
            click.echo(f"{label}: {value}")
    for label, value in (("纠纷经过", case.text), ("调解过程", case.handling), ("协议内容", case.agreement)):
        if value:
            click.echo(f"\n{label}:\n{value}")


@cli.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@pass_home
def export_cases(home: Home, out: str) -> None:
    """Write every case, as originally given, to OUT (.jsonl, .csv or .xlsx)."""
    from leian.data.readers import FORMATS, write_records

    if Path(out).suffix.lower() not in FORMATS:
        raise click.ClickException(f"{out}: unsupported file type (use .jsonl, .csv or .xlsx)")
    with readonly_store(home) as store:
        records = [case.raw for case in store.iter_cases()]
    write_records(records, out)
    click.echo(f"wrote {len(records)} cases to {out}")


DEMO_ROLES = {"admin": "管理员", "mediator": "调解员", "analyst": "分析员", "trainer": "培训师"}


@cli.command()
@click.option("--generated", default=3000, show_default=True, type=click.IntRange(0, 1_000_000),
              help="Generated cases to load beside the real sample (0 for the sample alone).")
@click.option("--serve/--no-serve", "start_web", default=True, show_default=True, help="Start the web app once the data is loaded.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web app listens on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port the web app listens on.")
@click.pass_context
@pass_home
def demo(home: Home, ctx: click.Context, generated: int, start_web: bool, host: str, port: int) -> None:
    """Load the bundled sample plus generated cases, create demo logins, start the web app.

    Running it again is cheap: unchanged cases are skipped and indexes only catch up.
    """
    from leian.data.generate import generate_to_file
    from leian.data.ingest import ingest as run_ingest

    show_progress = progress_default()
    files = [sample_path()]
    if generated:
        home.root.mkdir(parents=True, exist_ok=True)
        files.append(home.root / "generated.jsonl")
        generate_to_file(files[-1], generated, seed=7, truth_path=home.root / "generated-truth.json")
    with home.open_store() as store:
        report = run_ingest(store, files, rejects_dir=home.rejects_dir, progress=show_progress)
        _print_ingest_report(report)
        if not report.ok:
            raise click.ClickException("the demo data did not load cleanly")
        click.echo("building the search index and graph (first run only) ...")
        _print_notices(sync_all(home, store, progress=show_progress), limit=5)
        total = store.count()
        password = _demo_logins(home, store)
    click.echo(f"\nLeiAn demo home: {home.root} ({total} cases)")
    click.echo("Demo logins (password " + password + "): " + ", ".join(f"demo-{role}" for role in DEMO_ROLES))
    click.echo(f'Try:  leian --home {home.root} search "楼上漏水把我家天花板泡坏了"')
    if start_web:
        ctx.invoke(serve, host=host, port=port)


def _demo_logins(home: Home, store) -> str:
    """One demo account per role, sharing a password kept in <home>/demo-login.txt."""
    import secrets

    from leian.web.accounts import Accounts

    login_file = home.root / "demo-login.txt"
    if not login_file.is_file():
        login_file.write_text(secrets.token_urlsafe(9) + "\n", encoding="utf-8")
    password = login_file.read_text(encoding="utf-8").strip()
    accounts = Accounts(store)
    for role in DEMO_ROLES:
        if accounts.get(f"demo-{role}") is None:
            accounts.add(f"demo-{role}", role, password, display_name=f"演示{DEMO_ROLES[role]}")
    return password


# Commands owned by other packages, each defined in its own `<package>/cli.py`.
for _command in (generate, search, reindex, evaluate, repeats, neighbors, party, graph,
                 hotspots, clusters, report, library, user, serve):
    cli.add_command(_command)


def main() -> None:
    from leian.errors import UserError

    try:
        cli(prog_name="leian")
    except UserError as exc:
        # A user's mistake raised below the command layer: one plain line, never a traceback.
        click.echo(f"错误：{exc}", err=True)
        sys.exit(1)
