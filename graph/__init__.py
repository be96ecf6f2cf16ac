"""The knowledge graph: party entity resolution, repeat chains (pairs, addresses, respondents), the repeat alert
from free text, the 风险台账 and 回访, and the graph itself (networkx or Neo4j over Bolt) with its exports.

The names below are imported on first use, so ``import leian.graph`` stays cheap.
"""
from __future__ import annotations

from leian.lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "GraphStore": "leian.graph.base",
    "open_graph": "leian.graph.factory",
    "Resolver": "leian.graph.resolve",
    "Chain": "leian.graph.repeats",
    "RepeatSettings": "leian.graph.repeats",
    "all_chains": "leian.graph.repeats",
    "resolve_changes": "leian.graph.repeats",
    "resolution_is_current": "leian.graph.repeats",
    "repeat_alert": "leian.graph.alert",
    "PartyIndex": "leian.graph.alert",
    "Assessment": "leian.graph.risk",
    "register": "leian.graph.risk",
    "record_followup": "leian.graph.followups",
    "party_history": "leian.graph.parties",
    "due_followups": "leian.graph.parties",
    "summarize_neighborhood": "leian.graph.neighborhood",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
