"""Helpers shared by the command modules of every package (``<package>/cli.py``)."""
from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from leian import click_zh
from leian.api import LeiAn
from leian.api import open as open_home
from leian.errors import NotFound
from leian.home import Home

# Every command module imports this one before it defines its commands, so click's own words are Chinese from the start.
click_zh.install()

__all__ = ["pass_home", "echo_json", "opened", "json_option", "progress_default", "os_error_text", "KNOWN_OS_ERRORS"]

F = TypeVar("F", bound=Callable[..., Any])

#: Decorator handing a command the resolved :class:`~leian.home.Home`.
pass_home = click.make_pass_decorator(Home)


def echo_json(data: Any) -> None:
    """Print exactly one JSON object (UTF-8, Chinese kept readable)."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


#: errno -> what it means, for the file errors people run into.
_OS_ERRORS = {errno.EEXIST: "已存在", errno.ENOENT: "不存在", errno.EACCES: "没有权限", errno.EPERM: "没有权限",
              errno.ENOTDIR: "不是文件夹", errno.EISDIR: "是文件夹", errno.ENOSPC: "磁盘空间不足", errno.EROFS: "只读文件系统"}


#: The system errors a person can act on (a path, a permission, a full disk), whatever the file.
KNOWN_OS_ERRORS = frozenset(_OS_ERRORS)


def os_error_text(exc: OSError) -> str:
    """What went wrong with a file, in Chinese (the system's own words for rarer errors).

    >>> os_error_text(FileExistsError(17, "File exists"))
    '已存在'
    """
    return _OS_ERRORS.get(exc.errno, exc.strerror or str(exc))


def progress_default() -> bool:
    """Progress bars by default only when a person is watching stderr."""
    return sys.stderr.isatty()


@contextmanager
def opened(home: Home, *, readonly: bool = False, create: bool = False, model: str | None = None,
           progress: bool = False) -> Iterator[LeiAn]:
    """``with opened(home) as api:`` the home's :class:`~leian.api.LeiAn`; no store yet (unless ``create``) is one plain error line."""
    try:
        api = open_home(home, readonly=readonly, create=create, model=model, progress=progress)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    with api:
        yield api


def json_option(help: str = "以一个 JSON 对象输出。") -> Callable[[F], F]:
    """The ``--json`` flag (``as_json``) of a command that can print its answer as one JSON object."""
    return click.option("--json", "as_json", is_flag=True, help=help)
