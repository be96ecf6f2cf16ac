"""The graph model: which nodes and edges a case contributes.

Every node has a label and an ``id`` unique across the whole graph (the label
in lower case, a colon, then the natural key), so both stores and every export
agree on identity. Places are keyed by their full path, so two villages of the
same name in different towns stay two nodes.

Nodes: Case, Party, Location, Mediator, Organization, DisputeType, Channel, Element.
Edges: Case-INVOLVES{role}->Party, Case-OCCURRED_IN->Location,
Location-PART_OF->Location, Case-MEDIATED_BY->Mediator,
Mediator-MEMBER_OF->Organization, Case-OF_TYPE->DisputeType,
DisputeType-SUBTYPE_OF->DisputeType, Case-VIA->Channel, Case-REPEAT_OF->Case,
Case-SIMILAR_TO{score}->Case, Case-HAS_ELEMENT->Element (the 纠纷要素 found in the
case's title and text, see :mod:`leian.disputes.lexicon`).

Examples
--------
>>> from leian.data.record import validate
>>> case = validate({"id": "A1", "text": "漏水", "type": "邻里/漏水",
...     "location": {"town": "三灶镇", "community": "海澄村"},
...     "parties": [{"name": "王建国"}], "mediators": [{"name": "李梅", "org": "三灶镇调委会"}]})
>>> part = case_subgraph(case, ["party:P1"])
>>> sorted(n.id for n in part.nodes if n.label != "Element")[:4]
['case:A1', 'channel:(未填)', 'loc:三灶镇', 'loc:三灶镇›海澄村']
>>> [(e.src, e.type, e.dst) for e in part.edges if e.type == "PART_OF"]
[('loc:三灶镇›海澄村', 'PART_OF', 'loc:三灶镇')]
>>> [e.dst for e in part.edges if e.type == "HAS_ELEMENT"]
['element:漏水']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leian.data.places import LEVEL_NAMES, place_path
from leian.data.record import Case
from leian.disputes.lexicon import Lexicon

__all__ = [
    "Node",
    "Edge",
    "Subgraph",
    "LABELS",
    "EDGE_TYPES",
    "CASE_OWNED_EDGES",
    "case_subgraph",
    "case_node_id",
    "party_node_id",
    "label_of",
    "plain_id",
]

#: Node labels and the id prefix each uses.
LABELS = {
    "Case": "case",
    "Party": "party",
    "Location": "loc",
    "Mediator": "mediator",
    "Organization": "org",
    "DisputeType": "type",
    "Channel": "channel",
    "Element": "element",
}
_LABEL_OF_PREFIX = {prefix: label for label, prefix in LABELS.items()}

#: Edge type -> (source label, target label).
EDGE_TYPES = {
    "INVOLVES": ("Case", "Party"),
    "OCCURRED_IN": ("Case", "Location"),
    "PART_OF": ("Location", "Location"),
    "MEDIATED_BY": ("Case", "Mediator"),
    "MEMBER_OF": ("Mediator", "Organization"),
    "OF_TYPE": ("Case", "DisputeType"),
    "SUBTYPE_OF": ("DisputeType", "DisputeType"),
    "VIA": ("Case", "Channel"),
    "REPEAT_OF": ("Case", "Case"),
    "SIMILAR_TO": ("Case", "Case"),
    "HAS_ELEMENT": ("Case", "Element"),
}
#: Edges that come from the case record itself; rewritten whenever the case changes.
CASE_OWNED_EDGES = ("INVOLVES", "OCCURRED_IN", "MEDIATED_BY", "OF_TYPE", "VIA", "HAS_ELEMENT")

_UNKNOWN = "(未填)"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    props: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Edge:
    src: str
    type: str
    dst: str
    props: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Subgraph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def case_node_id(case_id: str) -> str:
    return f"case:{case_id}"


def party_node_id(entity_id: str) -> str:
    return f"party:{entity_id}"


def label_of(node_id: str) -> str:
    """The label a node id belongs to (from its prefix).

    >>> label_of("loc:珠海市›金湾区")
    'Location'
    """
    return _LABEL_OF_PREFIX[node_id.split(":", 1)[0]]


def plain_id(node_id: str) -> str:
    """The natural key without the label prefix: ``case:G1`` -> ``G1``."""
    return node_id.split(":", 1)[1]


def case_subgraph(case: Case, party_node_ids: list[str]) -> Subgraph:
    """The nodes and case-owned edges one case contributes.

    Args:
        case: the validated case.
        party_node_ids: the resolved Party node id of each of ``case.parties``, in order.
    """
    sub = Subgraph()
    case_id = case_node_id(case.id)
    sub.nodes.append(
        Node(
            case_id,
            "Case",
            _clean(
                {
                    "case_id": case.id,
                    "title": case.title,
                    "date": case.date,
                    "category": case.category,
                    "subtype": case.subtype,
                    "outcome": case.outcome,
                    "amount": case.amount,
                    "address": case.location.get("address"),
                }
            ),
        )
    )
    roles: dict[str, list[str]] = {}
    for party, node_id in zip(case.parties, party_node_ids):
        roles.setdefault(node_id, []).append(party.role)
    for node_id, role_list in roles.items():
        sub.edges.append(Edge(case_id, "INVOLVES", node_id, {"role": "/".join(dict.fromkeys(role_list))}))

    path = place_path(case.location)
    parent = None
    for depth, (level, name) in enumerate(path):
        node_id = "loc:" + "›".join(n for _, n in path[: depth + 1])
        sub.nodes.append(Node(node_id, "Location", {"name": name, "level": level, "level_name": LEVEL_NAMES[level]}))
        if parent:
            sub.edges.append(Edge(node_id, "PART_OF", parent))
        parent = node_id
    if parent:
        sub.edges.append(Edge(case_id, "OCCURRED_IN", parent))

    for mediator in case.mediators:
        org_id = f"org:{mediator.org}" if mediator.org else None
        mediator_id = f"mediator:{mediator.name}@{mediator.org or ''}"
        sub.nodes.append(Node(mediator_id, "Mediator", _clean({"name": mediator.name, "org": mediator.org})))
        sub.edges.append(Edge(case_id, "MEDIATED_BY", mediator_id))
        if org_id:
            sub.nodes.append(Node(org_id, "Organization", {"name": mediator.org}))
            sub.edges.append(Edge(mediator_id, "MEMBER_OF", org_id))

    category = case.category or case.type or _UNKNOWN
    type_id = f"type:{category}"
    sub.nodes.append(Node(type_id, "DisputeType", {"name": category, "level": "大类"}))
    if case.subtype:
        subtype_id = f"type:{category}›{case.subtype}"
        sub.nodes.append(Node(subtype_id, "DisputeType", {"name": case.subtype, "level": "小类"}))
        sub.edges.append(Edge(subtype_id, "SUBTYPE_OF", type_id))
        type_id = subtype_id
    sub.edges.append(Edge(case_id, "OF_TYPE", type_id))

    channel = case.channel or _UNKNOWN
    sub.nodes.append(Node(f"channel:{channel}", "Channel", {"name": channel}))
    sub.edges.append(Edge(case_id, "VIA", f"channel:{channel}"))

    for found in Lexicon.elements().find(case.search_text):
        element_id = f"element:{found.name}"
        sub.nodes.append(Node(element_id, "Element", {"name": found.name, "role": found.role}))
        sub.edges.append(Edge(case_id, "HAS_ELEMENT", element_id))
    return sub


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values: graph databases store no nulls."""
    return {k: v for k, v in props.items() if v not in (None, "", [])}
