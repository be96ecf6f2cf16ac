"""Bugs, as a person meets them: a short id to quote and the log file that holds the traceback.

A :class:`~leian.errors.UserError` is the user's to fix and is shown as it is.
Anything else that escapes a command or a web request is LeiAn's fault: its
traceback goes to ``<home>/logs/errors.log`` (owner-only, like every file
LeiAn writes) under a short id, and the person sees only the id and where the
log is, never the traceback.

Examples
--------
>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> try:
...     {}["missing"]
... except KeyError as exc:
...     bug = record_bug(exc, root)
>>> len(bug.id), bug.path == root / "logs" / "errors.log"
(8, True)
>>> f"[{bug.id}]" in bug.path.read_text(encoding="utf-8") and "KeyError: 'missing'" in bug.path.read_text(encoding="utf-8")
True
>>> bug.message().startswith(f"内部错误（编号 {bug.id}）")
True
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Bug", "record_bug", "log_path", "BUG_EXIT"]

#: Exit status of a command that stopped on a bug (1 is a user's mistake, 2 a file that cannot be read).
BUG_EXIT = 70


@dataclass(frozen=True)
class Bug:
    """A bug that was logged: its id and the log file."""

    id: str
    path: Path
    logged: bool = True

    def message(self) -> str:
        where = f"详情已记入 {self.path}" if self.logged else f"详情未能写入 {self.path}"
        return f"内部错误（编号 {self.id}）：这是 LeiAn 的问题，不是您的操作有误。{where}，报告时请附上编号。"


def log_path(root: Path | None) -> Path:
    """The error log of the home at ``root`` (or, with no home yet, one in the temporary folder)."""
    return (root if root is not None else Path(tempfile.gettempdir()) / "leian") / "logs" / "errors.log"


def record_bug(exc: BaseException, root: Path | None, where: str = "") -> Bug:
    """Append ``exc``'s traceback to the home's error log under a new short id."""
    from leian.data.private import private_dir

    bug_id, path = secrets.token_hex(4), log_path(root)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    entry = f"[{bug_id}] {stamp} {where}\n{''.join(traceback.format_exception(exc))}\n"
    try:
        private_dir(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as log:
            log.write(entry)
    except OSError:  # a read-only home or a full disk: the person is told the log could not be written
        return Bug(bug_id, path, logged=False)
    return Bug(bug_id, path)
