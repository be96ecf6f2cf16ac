"""Graph exports: GraphML, the CSV files ``neo4j-admin database import`` reads, and a Cypher script.

GraphML stores no lists, so list properties (a party's source spellings and
merge reasons) are written as JSON strings. The neo4j-csv export writes one
file per label and per relationship type with typed headers (``id:ID``,
``:LABEL``, ``names:string[]`` with ``;`` between items, ``:START_ID``,
``:END_ID``, ``:TYPE``) and ``import.sh`` with the matching command. The
Cypher script is the constraints, then batched ``UNWIND [...] AS row MERGE``
statements, one per line, that ``cypher-shell -f`` (or :func:`replay_cypher`)
replays.

Examples
--------
>>> cypher_literal({"name": "O'Brien\\n", "names": ["王", "王 建"], "n": 2, "x": None})
"{`name`: 'O\\\\'Brien\\\\n', `names`: ['王', '王 建'], `n`: 2, `x`: null}"
"""
from __future__ import annotations

import csv
import functools
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import networkx

from leian.data.normalize import xml_safe
from leian.graph.base import GraphStore
from leian.graph.model import EDGE_TYPES, Edge, Node, label_of
from leian.graph.neo4j import edge_merge_query, node_merge_query, schema_statements

__all__ = ["FORMATS", "export_graph", "to_networkx", "write_graphml", "write_neo4j_csv", "write_cypher", "cypher_literal", "replay_cypher"]

FORMATS = ("graphml", "neo4j-csv", "cypher")
_CYPHER_BATCH = 500


def export_graph(graph: GraphStore, fmt: str, out: str | os.PathLike[str]) -> tuple[int, int]:
    """Write the graph in ``fmt`` to ``out`` (a directory for neo4j-csv); returns (nodes, edges) written."""
    writers = {"graphml": write_graphml, "neo4j-csv": write_neo4j_csv, "cypher": write_cypher}
    if fmt not in writers:
        raise ValueError(f"unknown export format {fmt!r} (use {', '.join(FORMATS)})")
    return writers[fmt](graph.iter_nodes(), graph.iter_edges(), Path(out))


def to_networkx(nodes: Iterable[Node], edges: Iterable[Edge]) -> networkx.MultiDiGraph:
    """A plain networkx graph with only GraphML-safe values (lists as JSON strings)."""
    result = networkx.MultiDiGraph()
    for node in nodes:
        result.add_node(xml_safe(node.id), label=node.label, **_scalars(node.props))
    for edge in edges:
        result.add_edge(xml_safe(edge.src), xml_safe(edge.dst), key=edge.type, type=edge.type, **_scalars(edge.props))
    return result


def write_graphml(nodes: Iterable[Node], edges: Iterable[Edge], out: Path) -> tuple[int, int]:
    """Write GraphML; characters XML cannot hold (a control character in a name) are written as ``\\xHH``.

    The file is written aside and renamed, so a failure never leaves a truncated export.
    """
    graph = to_networkx(nodes, edges)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        networkx.write_graphml(graph, partial, encoding="utf-8")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return graph.number_of_nodes(), graph.number_of_edges()


def _scalars(props: dict[str, Any]) -> dict[str, Any]:
    """GraphML-safe values: lists as JSON strings, every string XML-safe."""
    values = {xml_safe(str(k)): json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v for k, v in props.items()}
    return {k: xml_safe(v) if isinstance(v, str) else v for k, v in values.items()}


def write_neo4j_csv(nodes: Iterable[Node], edges: Iterable[Edge], out: Path) -> tuple[int, int]:
    """Write the neo4j-admin CSV files and ``import.sh``.

    ``string[]`` items are joined by ``;`` unless some item holds one: then by the first of
    :data:`ARRAY_DELIMITERS` that no item holds, and ``import.sh`` names it.
    """
    out.mkdir(parents=True, exist_ok=True)
    by_label: dict[str, list[Node]] = defaultdict(list)
    for node in nodes:
        by_label[node.label].append(node)
    by_type: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        by_type[edge.type].append(edge)
    items = {str(v) for group in (*by_label.values(), *by_type.values()) for element in group
             for value in element.props.values() if isinstance(value, list) for v in value}
    delimiter = next((d for d in ARRAY_DELIMITERS if not any(d in item for item in items)), ARRAY_DELIMITERS[-1])
    _csv_value = functools.partial(_csv_cell, delimiter=delimiter)
    arguments = []
    for label, group in by_label.items():
        keys = _property_types(n.props for n in group)
        name = f"nodes_{label}.csv"
        _write_csv(
            out / name,
            ["id:ID", ":LABEL", *(f"{k}:{t}" for k, t in keys.items())],
            ([n.id, n.label, *(_csv_value(n.props.get(k)) for k in keys)] for n in group),
        )
        arguments.append(f"--nodes={label}={name}")
    for edge_type, group in by_type.items():
        keys = _property_types(e.props for e in group)
        name = f"relationships_{edge_type}.csv"
        _write_csv(
            out / name,
            [":START_ID", ":END_ID", ":TYPE", *(f"{k}:{t}" for k, t in keys.items())],
            ([e.src, e.dst, e.type, *(_csv_value(e.props.get(k)) for k in keys)] for e in group),
        )
        arguments.append(f"--relationships={edge_type}={name}")
    (out / "import.sh").write_text(
        "#!/bin/sh\n# Run from this directory against a stopped, empty Neo4j 5 database.\n"
        f"neo4j-admin database import full --array-delimiter='{_delimiter_argument(delimiter)}' " + " ".join(arguments)
        + ' "${1:-neo4j}"\n',
        encoding="utf-8",
    )
    return sum(map(len, by_label.values())), sum(map(len, by_type.values()))


def _property_types(props: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each property key with the neo4j-admin header type its values need."""
    types: dict[str, str] = {}
    for item in props:
        for key, value in item.items():
            if isinstance(value, list):
                kind = "string[]"
            elif isinstance(value, bool):
                kind = "boolean"
            elif isinstance(value, int):
                kind = "long"
            elif isinstance(value, float):
                kind = "double"
            else:
                kind = "string"
            previous = types.get(key)
            types[key] = "double" if {previous, kind} == {"long", "double"} else (previous or kind)
    return dict(sorted(types.items()))


#: Array delimiters tried in turn for neo4j-csv ``string[]`` columns (the last, U+001F, is for data holding all others).
ARRAY_DELIMITERS = (";", "|", "¦", "\u001f")


def _delimiter_argument(delimiter: str) -> str:
    """How neo4j-admin's ``--array-delimiter`` is told a character (``U+001F`` for one a shell cannot show)."""
    return delimiter if delimiter.isprintable() and delimiter != "'" else f"U+{ord(delimiter):04X}"


def _csv_cell(value: Any, *, delimiter: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        return delimiter.join(str(v).replace(delimiter, "\ufffd") for v in value)
    return value


def _write_csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def cypher_literal(value: Any) -> str:
    """A Cypher literal for a JSON-like value (strings escaped, map keys back-quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value!r} as a Cypher literal")
        return repr(value)
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        )
        return f"'{escaped}'"
    if isinstance(value, list):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"`{str(k).replace('`', '``')}`: {cypher_literal(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {type(value).__name__} as a Cypher literal")


def write_cypher(nodes: Iterable[Node], edges: Iterable[Edge], out: Path) -> tuple[int, int]:
    out.parent.mkdir(parents=True, exist_ok=True)
    node_count = edge_count = 0
    with out.open("w", encoding="utf-8") as handle:
        for statement in schema_statements():
            handle.write(statement + ";\n")
        by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for node in nodes:
            by_label[node.label].append({**node.props, "id": node.id})
            node_count += 1
        for label, rows in by_label.items():
            for batch in _chunks(rows):
                handle.write(node_merge_query(label, cypher_literal(batch)) + ";\n")
        by_type: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for edge in edges:
            by_type[(label_of(edge.src), edge.type, label_of(edge.dst))].append(
                {"src": edge.src, "dst": edge.dst, "props": edge.props}
            )
            edge_count += 1
        for (src_label, edge_type, dst_label), rows in by_type.items():
            if edge_type not in EDGE_TYPES:
                raise ValueError(f"not a graph edge type: {edge_type!r}")
            for batch in _chunks(rows):
                handle.write(edge_merge_query(src_label, edge_type, dst_label, cypher_literal(batch)) + ";\n")
    return node_count, edge_count


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CYPHER_BATCH):
        yield rows[start : start + _CYPHER_BATCH]


def replay_cypher(path: str | os.PathLike[str], run) -> int:
    """Run every statement of a Cypher export (one per line, ending in ``;``) with ``run(statement)``.

    Returns how many statements ran.
    """
    count = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            statement = line.strip()
            if statement:
                run(statement.removesuffix(";"))
                count += 1
    return count
