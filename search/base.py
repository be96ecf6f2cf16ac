"""The vector index interface, its factory, and atomic file writing.

A vector index maps our string case ids to unit vectors and answers
inner-product (= cosine) top-k queries, optionally restricted to an allowed set
of ids *inside* the search. It is saved as a main segment (:meth:`VectorIndex.save`)
plus delta segments holding what changed since (:meth:`VectorIndex.save_changes`),
merged into a new main segment when the delta grows (:meth:`VectorIndex.compact`).
Backends live one per module (``faiss.py``); :func:`create_vector_index` picks one by name.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.json"
>>> write_atomic(path, b'{"a": 1}')
>>> path.read_bytes()
b'{"a": 1}'
"""
from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np

__all__ = ["VectorIndex", "create_vector_index", "load_vector_index", "write_atomic", "write_atomic_file", "fsync_dir", "remove_stale_temporaries", "BACKENDS"]

#: Backend name -> "module:class".
BACKENDS = {"faiss": "leian.search.faiss:FaissIndex"}


class VectorIndex(ABC):
    """Unit vectors by string id; cosine top-k with optional allowed-id restriction.

    An id may own several vectors (chunks of a long text); it scores the best of them.
    """

    backend: str = ""

    @property
    @abstractmethod
    def kind(self) -> str:
        """The index structure in use (``flat``, ``ivf`` ...)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, case_id: object) -> bool: ...

    @abstractmethod
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, counts: Sequence[int] | None = None) -> None:
        """Add vectors, replacing those of ids already present (their internal ids are kept).

        ``counts[i]`` consecutive rows of ``vectors`` belong to ``ids[i]`` (default one
        each): the first is its head vector, the others its further chunks.
        """

    @abstractmethod
    def delete(self, ids: Sequence[str]) -> int:
        """Remove ids; returns how many were present."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` (id, cosine) per query row, best first, only among ``allowed`` when given.

        Never returns fewer than ``min(k, number of allowed ids present)`` hits.
        """

    @abstractmethod
    def vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored head vectors of ``ids`` (all must be present)."""

    @abstractmethod
    def all_vectors(self, case_id: str) -> np.ndarray:
        """Every vector of one present id: its head vector, then its further chunks."""

    @abstractmethod
    def scores(self, ids: Sequence[str], query: np.ndarray) -> np.ndarray:
        """Each of ``ids``' best cosine with the ``query`` vector over all its vectors (all must be present)."""

    @property
    @abstractmethod
    def changed(self) -> bool:
        """Whether anything changed since the last save or load."""

    @abstractmethod
    def needs_compaction(self, floor: int) -> bool:
        """Whether the next save should write a whole new main segment rather than a delta (the delta weighed
        against a main segment of at least ``floor`` vectors)."""

    @abstractmethod
    def compact(self) -> None:
        """Merge the delta into a new main segment (in memory until :meth:`save`)."""

    @abstractmethod
    def save(self, directory: Path, stem: str) -> list[str]:
        """Write the whole index durably under ``directory`` as a main segment, file names starting ``stem``; returns them."""

    @abstractmethod
    def save_changes(self, directory: Path, name: str, *, merged: bool = False) -> str:
        """Write what changed since the last save or load as one delta segment file ``name`` (durably).

        ``merged``: the whole delta since the main segment instead, replacing the earlier delta segments.
        """

    def upgrade_main(self, directory: Path, files: list[str], stem: str) -> list[str]:
        """The loaded main segment's file names (``files``), after rewriting any an earlier version wrote in an older
        format under names starting ``stem`` (durably): the next delta's manifest names those instead."""
        return files

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, files: list[str], segments: Sequence[str] = ()) -> VectorIndex:
        """Read a main segment written by :meth:`save` (the names it returned) and the delta segments after it, in order."""


def _backend(name: str) -> type[VectorIndex]:
    import importlib

    if name not in BACKENDS:
        raise ValueError(f"未知的向量索引后端 {name!r}（可选：{'、'.join(BACKENDS)}）")
    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_vector_index(dim: int, *, backend: str = "faiss", **options: object) -> VectorIndex:
    """A new empty index of ``backend`` (options are backend settings such as ``kind``)."""
    return _backend(backend)(dim, **options)


def load_vector_index(directory: Path, files: list[str], segments: Sequence[str] = (), *, backend: str = "faiss") -> VectorIndex:
    """Reload an index saved by ``backend``: its main segment, then its delta segments."""
    return _backend(backend).load(directory, files, segments)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The bytes go to a temporary file in the same folder, which is fsynced and
    renamed over ``path``; the folder is fsynced so the rename itself survives
    a crash.
    """
    write_atomic_file(path, lambda tmp: tmp.write_bytes(data))


def write_atomic_file(path: Path, write: Callable[[Path], object]) -> None:
    """Like :func:`write_atomic`, for a writer that wants a path (``write(tmp_path)``) rather than bytes.

    The temporary file is named ``.<name>.<pid>.tmp``; one left by a killed
    process is removed by :func:`remove_stale_temporaries`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make renames and deletions inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(directory: Path) -> int:
    """Delete the ``.*.tmp`` files (and folders) killed writers left in ``directory`` (call it holding its write lock)."""
    removed = 0
    for path in Path(directory).glob(".*.tmp"):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        removed += 1
    return removed
