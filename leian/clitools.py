"""Helpers shared by the command modules of every package (``<package>/cli.py``)."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from leian.data.store import Store
from leian.home import Home

__all__ = ["pass_home", "echo_json", "readonly_store", "progress_default"]

#: Decorator handing a command the resolved :class:`~leian.home.Home`.
pass_home = click.make_pass_decorator(Home)


def echo_json(data: Any) -> None:
    """Print exactly one JSON object (UTF-8, Chinese kept readable)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def progress_default() -> bool:
    """Progress bars by default only when a person is watching stderr."""
    return sys.stderr.isatty()


class readonly_store:
    """``with readonly_store(home) as store:`` with a plain error when there is no store."""

    def __init__(self, home: Home):
        self.home = home
        self.store: Store | None = None

    def __enter__(self) -> Store:
        try:
            self.store = self.home.open_store(readonly=True)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        return self.store

    def __exit__(self, *exc: object) -> None:
        if self.store is not None:
            self.store.close()
