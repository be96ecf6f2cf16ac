"""Files that hold personal data are created readable by their owner only.

The case store, rejects, uploads, demo logins, indexes and the graph all hold names, phones
or ID numbers, so LeiAn creates its files with mode 0600 and its folders with 0700, whatever
the umask of the shell it was started from. The processes that write a home (the ``leian``
command, the web app) also set :data:`PRIVATE_UMASK`, so that files written by libraries
(FAISS, SQLite's ``-wal``/``-shm``, networkx) are private too.

Examples
--------
>>> import tempfile, pathlib, stat
>>> folder = private_dir(pathlib.Path(tempfile.mkdtemp()) / "rejects")
>>> with open_private(folder / "r.jsonl") as handle:
...     _ = handle.write("{}\\n")
>>> oct(stat.S_IMODE((folder / "r.jsonl").stat().st_mode)), oct(stat.S_IMODE(folder.stat().st_mode))
('0o600', '0o700')
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["PRIVATE_UMASK", "FILE_MODE", "DIR_MODE", "create_private", "open_private", "private_dir", "use_private_umask"]

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def use_private_umask() -> None:
    """Make every file this process creates from now on private (owner only)."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) with mode 0700; an existing folder is left as it is."""
    path = Path(path)
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, DIR_MODE)  # mkdir's mode is cut by the umask; chmod is not
    return path


def create_private(path: str | os.PathLike[str]) -> Path:
    """Create an empty file with mode 0600 unless it exists (then it is left untouched)."""
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        pass
    return path


def open_private(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)``, creating the file with mode 0600 (text mode is UTF-8 unless told otherwise)."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    if "x" in mode:
        flags |= os.O_EXCL
        mode = mode.replace("x", "w")
    descriptor = os.open(path, flags, FILE_MODE)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    return os.fdopen(descriptor, mode, **kwargs)
