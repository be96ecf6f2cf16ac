"""The main vector segment's id map: string case ids <-> int64 FAISS numbers, memory-mapped from one file.

An :class:`IdTable` is the map of one saved main segment, frozen: each number's
case id and chunk count, and the ids in sorted order for look-ups by binary
search, as fixed-width arrays in one file (``vectors.<gen>.ids``) that loading
maps into memory instead of parsing (the JSON map it replaces took 0.66 s of CPU
for a million ids on every open, however small the change). An :class:`IdMap`
and a :class:`ChunkCounts` are the live maps: the table underneath, and in
memory only what changed since it was saved, so an open, a few look-ups and a
delta save cost the same at 1,000 cases and at 1,000,000.

Examples
--------
>>> import tempfile, pathlib
>>> table = IdTable.build({"b": 0, "a": 2, "甲": 3}, {2: 1}, next_id=4)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "v.ids"
>>> table.write(path, {"dim": 4})
>>> mapped, meta = IdTable.read(path)
>>> meta["dim"], mapped.number("甲"), mapped.number("c"), mapped.name(2), mapped.name(1), mapped.extra(2)
(4, 3, None, 'a', None, 1)
>>> ids = IdMap(mapped)
>>> ids["c"] = 4
>>> del ids["b"]
>>> sorted(ids.items()), len(ids), "b" in ids, ids.name_of(4)
([('a', 2), ('c', 4), ('甲', 3)], 3, False, 'c')
>>> ids.numbers_of(["甲", "b", "c", "x"]), table.numbers(["甲", "b", "c", "很长很长的编号"]).tolist()
([3, 4], [3, 0, -1, -1])
>>> counts = ChunkCounts(table)
>>> counts[3] = 2
>>> counts.counts([0, 2, 3, 9]).tolist(), [counts.get(n, 0) for n in (0, 2, 3, 9)]
([0, 1, 2, 0], [0, 1, 2, 0])
"""
from __future__ import annotations

import json
import struct
from collections.abc import Collection, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from leian.search.base import write_atomic_file

__all__ = ["IdTable", "IdMap", "ChunkCounts"]

_MAGIC = b"LEIAN-VECTOR-IDS-1\n"
_ALIGN = 64
#: The arrays of a table file, in file order.
_ARRAYS = ("names", "sorted_names", "sorted_numbers", "extra")


class IdTable:
    """The frozen id map of a saved main segment (arrays, usually memory-mapped).

    Args:
        names: case id (UTF-8, fixed width) of each number, ``b""`` where a number is not in the segment.
        sorted_names: the segment's case ids in byte order.
        sorted_numbers: the number of each of ``sorted_names``.
        extra: each number's vectors beyond its head vector (chunks of a long text).
        next_id: the next number to hand out.
    """

    def __init__(self, names: np.ndarray, sorted_names: np.ndarray, sorted_numbers: np.ndarray, extra: np.ndarray, next_id: int):
        self.names = names
        self.sorted_names = sorted_names
        self.sorted_numbers = sorted_numbers
        self.extras = extra
        self.next_id = next_id

    @classmethod
    def build(cls, numbers: Mapping[str, int], extra: Mapping[int, int], *, next_id: int) -> IdTable:
        """A table of ``case id -> number`` and ``number -> extra vectors`` (in memory)."""
        pairs = list(numbers.items())
        encoded = [case_id.encode("utf-8") for case_id, _ in pairs]
        dtype = f"S{max((len(e) for e in encoded), default=0) or 1}"
        sorted_names = np.array(encoded, dtype=dtype)
        sorted_numbers = np.array([number for _, number in pairs], dtype=np.int64)
        order = np.argsort(sorted_names, kind="stable")
        sorted_names, sorted_numbers = sorted_names[order], sorted_numbers[order]
        names = np.zeros(next_id, dtype=dtype)
        names[sorted_numbers] = sorted_names
        extras = np.zeros(next_id, dtype=np.int32)
        for number, count in extra.items():
            extras[number] = count
        return cls(names, sorted_names, sorted_numbers, extras, next_id)

    def __len__(self) -> int:
        return len(self.sorted_numbers)

    @property
    def vector_count(self) -> int:
        """Vectors in the segment: a head vector per case, plus their chunks."""
        return len(self) + int(self.extras.sum())

    def number(self, case_id: str) -> int | None:
        key = case_id.encode("utf-8")
        if len(key) > self.sorted_names.itemsize:
            return None
        position = int(np.searchsorted(self.sorted_names, key))
        if position < len(self.sorted_names) and self.sorted_names[position] == key:
            return int(self.sorted_numbers[position])
        return None

    def numbers(self, case_ids: Sequence[str]) -> np.ndarray:
        """Each id's number, -1 for one the table does not hold: one binary search over them all (a search among
        an area's cases looks up thousands at once)."""
        out = np.full(len(case_ids), -1, dtype=np.int64)
        if not len(case_ids) or not len(self.sorted_names):
            return out
        keys = [case_id.encode("utf-8") for case_id in case_ids]
        fits = np.fromiter((len(key) <= self.sorted_names.itemsize for key in keys), dtype=bool, count=len(keys))
        wanted = np.array([key for key, fit in zip(keys, fits) if fit], dtype=self.sorted_names.dtype)
        at = np.minimum(np.searchsorted(self.sorted_names, wanted), len(self.sorted_names) - 1)
        hit = self.sorted_names[at] == wanted
        out[np.flatnonzero(fits)[hit]] = self.sorted_numbers[at[hit]]
        return out

    def name(self, number: int) -> str | None:
        if not 0 <= number < len(self.names):
            return None
        name = self.names[number]
        return name.decode("utf-8") if name else None

    def extra(self, number: int) -> int:
        return int(self.extras[number]) if 0 <= number < len(self.extras) else 0

    def items(self) -> Iterator[tuple[str, int]]:
        """Every ``(case id, number)``, in byte order of the ids."""
        for name, number in zip(self.sorted_names, self.sorted_numbers):
            yield name.decode("utf-8"), int(number)

    def write(self, path: Path, meta: dict[str, Any]) -> None:
        """Write the table and ``meta`` (the index's settings) to ``path``: aside, fsynced, renamed."""
        arrays = [np.ascontiguousarray(getattr(self, "extras" if name == "extra" else name)) for name in _ARRAYS]
        layout, offset = {}, 0
        for name, array in zip(_ARRAYS, arrays):
            layout[name] = [offset, array.dtype.str, len(array)]
            offset += -(-array.nbytes // _ALIGN) * _ALIGN
        header = json.dumps({**meta, "next_id": self.next_id, "count": len(self), "arrays": layout}, ensure_ascii=False).encode("utf-8")
        start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN

        def write(tmp: Path) -> None:
            with tmp.open("wb") as out:
                out.write(_MAGIC + struct.pack("<Q", len(header)) + header)
                for name, array in zip(_ARRAYS, arrays):
                    out.seek(start + layout[name][0])
                    out.write(array.tobytes())
                out.truncate(start + offset)

        write_atomic_file(path, write)

    @classmethod
    def read(cls, path: Path) -> tuple[IdTable, dict[str, Any]]:
        """Map a table written by :meth:`write`; returns it and its meta."""
        with Path(path).open("rb") as handle:
            head = handle.read(len(_MAGIC) + 8)
            if not head.startswith(_MAGIC):
                raise ValueError(f"{path}: not a LeiAn vector id table")
            (length,) = struct.unpack("<Q", head[len(_MAGIC):])
            meta = json.loads(handle.read(length))
        start = -(-(len(_MAGIC) + 8 + length) // _ALIGN) * _ALIGN
        arrays = {}
        for name, (offset, dtype, count) in meta.pop("arrays").items():
            # A zero-length memmap is refused; an empty array is what it would hold. A plain ndarray view of the map:
            # np.memmap's Python-level __getitem__ made each id look-up of a search several times slower.
            arrays[name] = (np.asarray(np.memmap(path, dtype=dtype, mode="r", offset=start + offset, shape=(count,))) if count
                            else np.zeros(0, dtype=dtype))
        table = cls(arrays["names"], arrays["sorted_names"], arrays["sorted_numbers"], arrays["extra"], meta["next_id"])
        if len(table) != meta["count"]:
            raise ValueError(f"{path}: {len(table)} ids but the header says {meta['count']}")
        return table, meta


class IdMap(MutableMapping[str, int]):
    """Case id -> number: a saved :class:`IdTable` (or none) and, in memory, what changed since."""

    def __init__(self, table: IdTable | None = None):
        self.table = table
        #: Ids given a number since the table (new, or numbered anew), and the reverse.
        self._added: dict[str, int] = {}
        self._added_names: dict[int, str] = {}
        #: Ids of the table that no longer hold their table number.
        self._removed: set[str] = set()

    def _in_table(self, case_id: str) -> int | None:
        return self.table.number(case_id) if self.table is not None else None

    def get(self, case_id: str, default: Any = None) -> Any:
        number = self._added.get(case_id)
        if number is not None:
            return number
        if case_id in self._removed:
            return default
        number = self._in_table(case_id)
        return default if number is None else number

    def __getitem__(self, case_id: str) -> int:
        number = self.get(case_id)
        if number is None:
            raise KeyError(case_id)
        return number

    def __contains__(self, case_id: object) -> bool:
        return isinstance(case_id, str) and self.get(case_id) is not None

    def numbers_of(self, case_ids: Collection[str]) -> list[int]:
        """The numbers of the ids among ``case_ids`` that are held, in their order (the table's looked up at once)."""
        ids = list(case_ids)
        table = self._table_numbers(ids)
        if not self._added and not self._removed:
            return table[table >= 0].tolist()
        return [number for number in self._resolved(ids, table) if number is not None]

    def numbers_for(self, case_ids: Sequence[str]) -> list[int]:
        """Each id's number, in their order (the table's looked up at once: a search scores its candidates so).

        Raises:
            KeyError: an id is not held.
        """
        ids = list(case_ids)
        table = self._table_numbers(ids)
        if not self._added and not self._removed and (table >= 0).all():
            return table.tolist()
        numbers = list(self._resolved(ids, table))
        if None in numbers:
            raise KeyError(ids[numbers.index(None)])
        return numbers

    def _table_numbers(self, ids: list[str]) -> np.ndarray:
        return self.table.numbers(ids) if self.table is not None else np.full(len(ids), -1, dtype=np.int64)

    def _resolved(self, ids: list[str], table: np.ndarray) -> Iterator[int | None]:
        """Each id's number (None for one not held): what changed since the table, else the table's."""
        for case_id, number in zip(ids, table.tolist()):
            added = self._added.get(case_id)
            if added is not None:
                yield added
            else:
                yield number if number >= 0 and case_id not in self._removed else None

    def __setitem__(self, case_id: str, number: int) -> None:
        self._drop_added(case_id)
        saved = self._in_table(case_id)
        if saved == number:
            self._removed.discard(case_id)
            return
        if saved is not None:
            self._removed.add(case_id)
        self._added[case_id] = number
        self._added_names[number] = case_id

    def __delitem__(self, case_id: str) -> None:
        if case_id not in self:
            raise KeyError(case_id)
        self._drop_added(case_id)
        if self._in_table(case_id) is not None:
            self._removed.add(case_id)

    def _drop_added(self, case_id: str) -> None:
        number = self._added.pop(case_id, None)
        if number is not None:
            del self._added_names[number]

    def __len__(self) -> int:
        return (len(self.table) if self.table is not None else 0) - len(self._removed) + len(self._added)

    def __iter__(self) -> Iterator[str]:
        return (case_id for case_id, _ in self.items())

    def items(self) -> Iterator[tuple[str, int]]:  # type: ignore[override]  # one pass, no look-up per id
        if self.table is not None:
            for case_id, number in self.table.items():
                if case_id not in self._removed:
                    yield case_id, number
        yield from self._added.items()

    def values(self) -> Iterator[int]:  # type: ignore[override]
        return (number for _, number in self.items())

    def name_of(self, number: int) -> str:
        """The case id holding ``number`` (KeyError if none does)."""
        name = self._added_names.get(number)
        if name is None and self.table is not None:
            name = self.table.name(number)
            if name is not None and name in self._removed:
                name = None
        if name is None:
            raise KeyError(number)
        return name


class ChunkCounts(MutableMapping[int, int]):
    """Number -> vectors beyond its head vector (only numbers with some): a table's counts and the changes since."""

    def __init__(self, table: IdTable | None = None):
        self.table = table
        self._set: dict[int, int] = {}
        #: Numbers of the table whose count is no longer the table's (0 unless in ``_set``).
        self._changed: set[int] = set()

    def get(self, number: int, default: Any = None) -> Any:
        count = self._set.get(number)
        if count is None and number not in self._changed and self.table is not None:
            count = self.table.extra(number) or None
        return default if count is None else count

    def __getitem__(self, number: int) -> int:
        count = self.get(number)
        if count is None:
            raise KeyError(number)
        return count

    def __setitem__(self, number: int, count: int) -> None:
        self._set[number] = count
        if self.table is not None:
            self._changed.add(number)

    def __delitem__(self, number: int) -> None:
        if number not in self:
            raise KeyError(number)
        self._set.pop(number, None)
        if self.table is not None:
            self._changed.add(number)

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and self.get(number) is not None

    def counts(self, numbers: np.ndarray) -> np.ndarray:
        """:meth:`get` (0 for none) of each of ``numbers``, the table's read at once."""
        numbers = np.asarray(numbers, dtype=np.int64)
        out = np.zeros(len(numbers), dtype=np.int64)
        if self.table is not None and len(self.table.extras):
            inside = (numbers >= 0) & (numbers < len(self.table.extras))
            out[inside] = self.table.extras[numbers[inside]]
        changed = self._changed | self._set.keys()
        if changed:
            for position in np.flatnonzero(np.isin(numbers, list(changed))).tolist():
                out[position] = self._set.get(int(numbers[position]), 0)
        return out

    def __iter__(self) -> Iterator[int]:
        if self.table is not None:
            for number in np.flatnonzero(self.table.extras):
                if int(number) not in self._changed:
                    yield int(number)
        yield from self._set

    def __len__(self) -> int:
        return sum(1 for _ in self)
