"""The one exception hierarchy of LeiAn.

Everything LeiAn raises on purpose derives from :class:`LeiAnError`.
:class:`UserError` and its subclasses are mistakes a person can fix (a bad
record, a missing file, an unknown case id, a bad setting): their message is
in 简体中文, names what was wrong, and is shown as one plain line (CLI) or a
4xx answer (web). Anything else that escapes is a bug.

Examples
--------
>>> try:
...     raise NotFound("没有编号为 'X1' 的案件")
... except UserError as exc:
...     print(exc)
没有编号为 'X1' 的案件
>>> issubclass(InvalidInput, ValueError), issubclass(NotFound, LookupError)
(True, True)
"""
from __future__ import annotations

__all__ = ["LeiAnError", "UserError", "InvalidInput", "NotFound", "ConfigError"]


class LeiAnError(Exception):
    """Base of every error LeiAn raises on purpose."""


class UserError(LeiAnError):
    """A mistake the user can fix; the message (简体中文) says what and where."""


class InvalidInput(UserError, ValueError):
    """A value given by the user is not acceptable (a field, an option, a query)."""


class NotFound(UserError, LookupError):
    """A case, party, library, entry or file asked for does not exist."""


class ConfigError(UserError):
    """A setting in ``config.toml`` is missing, of the wrong type or out of range."""
