"""What a mediator reads of a case's neighbourhood in the graph: its parties and their other cases,
place, mediators, repeat chains and similar cases."""
from __future__ import annotations

from typing import Any

from leian.graph.model import case_node_id, plain_id

__all__ = ["summarize_neighborhood"]


def summarize_neighborhood(case_id: str, nodes: dict, edges: list) -> dict[str, Any]:
    """The parts of a case's neighbourhood a mediator reads, from nodes and edges."""
    me = case_node_id(case_id)
    case_node = nodes.get(me)
    parties = []
    for edge in sorted(edges, key=lambda e: e.dst):
        if edge.src == me and edge.type == "INVOLVES":
            node = nodes[edge.dst]
            other_cases = sorted(
                plain_id(e.src) for e in edges if e.type == "INVOLVES" and e.dst == edge.dst and e.src != me
            )
            parties.append({
                "party_id": plain_id(edge.dst),
                "name": node.props.get("name"),
                "role": edge.props.get("role"),
                "kind": node.props.get("kind"),
                "names": node.props.get("names", []),
                "reasons": node.props.get("reasons", []),
                "other_cases": other_cases,
            })
    location = next((e.dst for e in edges if e.src == me and e.type == "OCCURRED_IN"), None)
    # A place's id is its full path, top down.
    place = plain_id(location).split("›") if location else []
    mediators = [
        {"name": nodes[e.dst].props.get("name"), "org": nodes[e.dst].props.get("org")}
        for e in edges
        if e.src == me and e.type == "MEDIATED_BY" and e.dst in nodes
    ]
    # Each case links to its own nearest neighbours, so two cases near each other are linked both ways: list each once.
    best: dict[str, float] = {}
    for e in edges:
        if e.type == "SIMILAR_TO" and me in (e.src, e.dst):
            other = plain_id(e.dst if e.src == me else e.src)
            best[other] = max(best.get(other, 0.0), e.props.get("score") or 0.0)
    similar = [{"case_id": other, "score": score} for other, score in sorted(best.items(), key=lambda item: (-item[1], item[0]))]
    return {
        "case": {"case_id": case_id, **(case_node.props if case_node else {})},
        "parties": parties,
        "place": place,
        "mediators": mediators,
        "repeat_of": sorted(plain_id(e.dst) for e in edges if e.type == "REPEAT_OF" and e.src == me),
        "repeated_by": sorted(plain_id(e.src) for e in edges if e.type == "REPEAT_OF" and e.dst == me),
        "similar": similar,
        "nodes": len(nodes),
        "edges": len(edges),
    }
