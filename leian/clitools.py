"""Helpers shared by the command modules of every package (``<package>/cli.py``)."""
from __future__ import annotations

import errno
import json
import sys
from typing import Any

import click

from leian import click_zh
from leian.data.store import Store
from leian.home import Home

# Every command module imports this one before it defines its commands, so click's own words are Chinese from the start.
click_zh.install()

__all__ = ["pass_home", "echo_json", "readonly_store", "require_store", "progress_default", "os_error_text", "NO_STORE"]

#: Decorator handing a command the resolved :class:`~leian.home.Home`.
pass_home = click.make_pass_decorator(Home)


def echo_json(data: Any) -> None:
    """Print exactly one JSON object (UTF-8, Chinese kept readable)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


#: What a command says when the home has no store yet.
NO_STORE = "{root} 中还没有案件库（请先运行 `leian ingest` 或 `leian demo`）"


def require_store(home: Home) -> None:
    """A plain error when ``home`` has no case store yet."""
    if not home.exists():
        raise click.ClickException(NO_STORE.format(root=home.root))


#: errno -> what it means, for the file errors people run into.
_OS_ERRORS = {errno.EEXIST: "已存在", errno.ENOENT: "不存在", errno.EACCES: "没有权限", errno.EPERM: "没有权限",
              errno.ENOTDIR: "不是文件夹", errno.EISDIR: "是文件夹", errno.ENOSPC: "磁盘空间不足", errno.EROFS: "只读文件系统"}


def os_error_text(exc: OSError) -> str:
    """What went wrong with a file, in Chinese (the system's own words for rarer errors).

    >>> os_error_text(FileExistsError(17, "File exists"))
    '已存在'
    """
    return _OS_ERRORS.get(exc.errno, exc.strerror or str(exc))


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
