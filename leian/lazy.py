"""Lazy public names for package front doors: a package lists its names, importing them costs nothing until used.

Examples
--------
>>> getattr_, names = lazy_exports("leian.example", {"LeiAnError": "leian.errors"})
>>> names, getattr_("LeiAnError").__name__
(['LeiAnError'], 'LeiAnError')
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` importing each public name from its defining module on first use, and ``__all__``.

    Args:
        package: The package's ``__name__`` (for the error message).
        exports: Public name -> the module that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__, sorted(exports)
