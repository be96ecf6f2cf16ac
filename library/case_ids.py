"""Case ids named by the JSON other commands print: a search, a cluster or repeat chain, or a list of ids."""
from __future__ import annotations

from typing import Any

from leian.library.store import LibraryError

__all__ = ["case_ids_in"]


def case_ids_in(data: Any, item: str | None = None) -> list[str]:
    """Case ids in the JSON of a search (``results[].id``), a cluster or repeat chain (``case_ids``), or a list.

    JSON holding many clusters or chains (``leian clusters --json``, ``leian
    repeats --json``) needs ``item``: a cluster id, or a position counted from 1.

    >>> case_ids_in({"query": "漏水", "results": [{"id": "A1", "score": 0.9}, {"id": "B2"}]})
    ['A1', 'B2']
    >>> case_ids_in([{"case_ids": ["A1", "C3"]}, "D4"])
    ['A1', 'C3', 'D4']
    >>> case_ids_in({"clusters": [{"id": "c1", "case_ids": ["A1"]}, {"id": "c2", "case_ids": ["B2"]}]}, item="c2")
    ['B2']
    """
    if isinstance(data, str):
        return [data]
    if isinstance(data, list):
        return list(dict.fromkeys(i for element in data for i in case_ids_in(element)))
    if isinstance(data, dict):
        for key, label in (("clusters", "类簇"), ("chains", "重复纠纷链")):
            if isinstance(data.get(key), list):
                return case_ids_in(_pick(data[key], item, label))
        for key in ("results", "case_ids"):
            if key in data:
                return case_ids_in(data[key])
        for key in ("id", "case_id"):
            if isinstance(data.get(key), str):
                return [data[key]]
    raise LibraryError("JSON 中找不到案件编号（需要 results[].id、case_ids 或编号列表）")


def _pick(groups: list[Any], item: str | None, label: str) -> Any:
    """The cluster or chain ``item`` names, by its id or its position from 1."""
    if item is None:
        raise LibraryError(f"文件中有 {len(groups)} 个{label}，请用 --item 选一个（编号或序号）")
    for group in groups:
        if isinstance(group, dict) and str(group.get("id")) == item:
            return group
    if item.isdigit() and 1 <= int(item) <= len(groups):
        return groups[int(item) - 1]
    raise LibraryError(f"文件中没有{label} {item!r}")
