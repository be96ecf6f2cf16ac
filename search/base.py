"""The vector index interface, its factory, and atomic file writing.

A vector index maps our string case ids to unit vectors and answers
inner-product (= cosine) top-k queries, optionally restricted to an allowed set
of ids *inside* the search. Backends live one per module (``faiss.py``);
:func:`create_vector_index` picks one by name.

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
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

__all__ = ["VectorIndex", "create_vector_index", "load_vector_index", "write_atomic", "BACKENDS"]

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
    def scores(self, ids: Sequence[str], query: np.ndarray) -> np.ndarray:
        """Each of ``ids``' best cosine with the ``query`` vector over all its vectors (all must be present)."""

    @abstractmethod
    def save(self, directory: Path, stem: str) -> list[str]:
        """Write the index durably under ``directory`` with file names starting ``stem``; returns them."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, files: list[str]) -> VectorIndex:
        """Read an index written by :meth:`save` (given the names it returned)."""


def _backend(name: str) -> type[VectorIndex]:
    import importlib

    if name not in BACKENDS:
        raise ValueError(f"未知的向量索引后端 {name!r}（可选：{'、'.join(BACKENDS)}）")
    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_vector_index(dim: int, *, backend: str = "faiss", **options: object) -> VectorIndex:
    """A new empty index of ``backend`` (options are backend settings such as ``kind``)."""
    return _backend(backend)(dim, **options)


def load_vector_index(directory: Path, files: list[str], *, backend: str = "faiss") -> VectorIndex:
    """Reload an index saved by ``backend``."""
    return _backend(backend).load(directory, files)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The bytes go to a temporary file in the same folder, which is fsynced and
    renamed over ``path``; the folder is fsynced so the rename itself survives
    a crash.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
