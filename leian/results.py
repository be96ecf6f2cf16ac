"""Typed answers of the Python API (:mod:`leian.api`), each one a JSON contract of the CLI.

An answer is built from the contract's JSON object and its ``to_dict()`` gives
that object back key for key, in the same order, so ``json.dumps(answer.to_dict())``
is byte for byte what ``leian … --json`` prints. Keys an answer has no field for
(a newer engine's) are kept in ``extra`` and given back in their place.

>>> why = Why.from_dict({"shared_terms": ["漏水"], "dense": 0.8, "bm25": 3.1, "new_signal": 1})
>>> why.shared_terms, why.extra
(['漏水'], {'new_signal': 1})
>>> why.to_dict()
{'shared_terms': ['漏水'], 'dense': 0.8, 'bm25': 3.1, 'new_signal': 1}
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

__all__ = [
    "Contract",
    "Why",
    "SearchResult",
    "SearchAnswer",
    "StoreStats",
    "CaseRecord",
    "NeighborParty",
    "Neighborhood",
    "PartyCase",
    "PartyRecord",
    "PartyHistory",
    "RepeatChains",
    "RiskRegister",
    "FollowupList",
    "HotspotAnswer",
    "ReindexReport",
]

_C = TypeVar("_C", bound="Contract")


@dataclass
class Contract:
    """Base of the typed answers: ``from_dict(data).to_dict() == data``, key order included."""

    #: Field name -> the answer type of its value (a list of them, or one).
    nested: ClassVar[dict[str, type[Contract]]] = {}

    extra: dict[str, Any] = field(default_factory=dict, repr=False, kw_only=True)
    #: The keys of the contract object in their order (absent fields are not given back).
    keys: tuple[str, ...] = field(default=(), repr=False, compare=False, kw_only=True)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "keys")]

    @classmethod
    def from_dict(cls: type[_C], data: Mapping[str, Any]) -> _C:
        """The answer for one contract object."""
        names = set(cls.field_names())
        values = {name: _wrap(cls.nested.get(name), data[name]) for name in data if name in names}
        return cls(**values, extra={k: v for k, v in data.items() if k not in names}, keys=tuple(data))

    def to_dict(self) -> dict[str, Any]:
        """The contract object: exactly the JSON ``leian … --json`` prints."""
        keys = self.keys or tuple(self.field_names())
        names = set(self.field_names())
        return {key: _unwrap(getattr(self, key) if key in names else self.extra[key]) for key in keys}


def _wrap(kind: type[Contract] | None, value: Any) -> Any:
    if kind is None or value is None:
        return value
    if isinstance(value, list):
        return [kind.from_dict(item) for item in value]
    return kind.from_dict(value)


def _unwrap(value: Any) -> Any:
    if isinstance(value, Contract) or hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


# -- search -------------------------------------------------------------------


@dataclass
class Why(Contract):
    """Why a case came up: what it shares with the query and each signal's part of the score."""

    shared_terms: list[str] = field(default_factory=list)
    shared_elements: list[str] = field(default_factory=list)
    same_type: str | None = None
    same_place: dict[str, str] | None = None
    shared_parties: list[str] = field(default_factory=list)
    dense: float = 0.0
    bm25: float = 0.0
    contributions: dict[str, float] = field(default_factory=dict)


@dataclass
class SearchResult(Contract):
    """One similar case, best first."""

    nested: ClassVar[dict[str, type[Contract]]] = {"why": Why}

    id: str = ""
    score: float = 0.0
    title: str | None = None
    type: str | None = None
    category: str | None = None
    subtype: str | None = None
    place: str | None = None
    date: str | None = None
    outcome: str | None = None
    handling: str | None = None
    agreement: str | None = None
    mediators: list[dict[str, str | None]] = field(default_factory=list)
    snippet: str = ""
    elements: list[str] = field(default_factory=list)
    relevance: str = "low"
    relevance_probability: float = 0.0
    predicted_type: dict[str, Any] | None = None
    why: Why = field(default_factory=Why)


@dataclass
class SearchAnswer(Contract):
    """The answer to one search: results, summary, facets, the query's elements and predicted type, the repeat alert."""

    nested: ClassVar[dict[str, type[Contract]]] = {"results": SearchResult}

    query: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    results: list[SearchResult] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    facets: dict[str, Any] = field(default_factory=dict)
    elements: list[dict[str, str]] = field(default_factory=list)
    predicted_type: dict[str, Any] | None = None
    total: int = 0
    page: int = 1
    top_k: int = 10
    repeat_alert: dict[str, Any] | None = None


# -- store --------------------------------------------------------------------


@dataclass
class StoreStats(Contract):
    """Counts at a glance (``leian stats --json``)."""

    cases: int = 0
    parties: int = 0
    schema_version: int = 0
    date_range: list[str | None] = field(default_factory=list)
    by_category: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    by_district: dict[str, int] = field(default_factory=dict)
    unmapped_types: dict[str, int] = field(default_factory=dict)
    home: str = ""


@dataclass
class CaseRecord(Contract):
    """A stored case: its normalised form and the record as it came in (``leian show --json``)."""

    case: dict[str, Any] = field(default_factory=dict)
    original: dict[str, Any] = field(default_factory=dict)


# -- graph --------------------------------------------------------------------


@dataclass
class NeighborParty(Contract):
    """A party of the case and the other cases it is a party to."""

    party_id: str = ""
    name: str | None = None
    role: str | None = None
    kind: str | None = None
    names: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    other_cases: list[str] = field(default_factory=list)


@dataclass
class Neighborhood(Contract):
    """A case's neighbourhood in the graph (``leian neighbors --json``)."""

    nested: ClassVar[dict[str, type[Contract]]] = {"parties": NeighborParty}

    case: dict[str, Any] = field(default_factory=dict)
    parties: list[NeighborParty] = field(default_factory=list)
    place: list[str] = field(default_factory=list)
    mediators: list[dict[str, str | None]] = field(default_factory=list)
    repeat_of: list[str] = field(default_factory=list)
    repeated_by: list[str] = field(default_factory=list)
    similar: list[dict[str, Any]] = field(default_factory=list)
    nodes: int = 0
    edges: int = 0


@dataclass
class PartyCase(Contract):
    """One case of a party, as written in it."""

    case_id: str = ""
    date: str | None = None
    role: str | None = None
    name_as_written: str | None = None
    title: str | None = None


@dataclass
class PartyRecord(Contract):
    """One resolved party: its spellings, why they were merged, its cases and revisits."""

    nested: ClassVar[dict[str, type[Contract]]] = {"cases": PartyCase}

    party_id: str = ""
    name: str = ""
    kind: str | None = None
    names: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    cases: list[PartyCase] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PartyHistory(Contract):
    """Every party with this name or id (``leian party --json``)."""

    nested: ClassVar[dict[str, type[Contract]]] = {"parties": PartyRecord}

    parties: list[PartyRecord] = field(default_factory=list)


@dataclass
class RepeatChains(Contract):
    """Repeat-dispute chains (``leian repeats --json``); each a :class:`leian.graph.repeats.Chain`."""

    chains: list[Any] = field(default_factory=list)


@dataclass
class RiskRegister(Contract):
    """The 风险台账 on a day (``leian risk --json``); each party a :class:`leian.graph.risk.Assessment`."""

    today: str = ""
    parties: list[Any] = field(default_factory=list)


@dataclass
class FollowupList(Contract):
    """Who is due a revisit, earliest first (``leian followups --json``)."""

    today: str = ""
    followups: list[dict[str, Any]] = field(default_factory=list)


# -- analytics ----------------------------------------------------------------


@dataclass
class HotspotAnswer(Contract):
    """Hotspots of one period (``leian hotspots --json``); ``report`` is the
    :class:`leian.analytics.hotspots.HotspotReport`, ``repeats`` the repeat parties and addresses when asked for."""

    report: Any = None
    repeats: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        if self.repeats is not None:
            data["repeats"] = self.repeats
        return data


@dataclass
class ReindexReport(Contract):
    """What a rebuild of the search index did (``leian reindex --json``)."""

    cases: int = 0
    encoded: int = 0
    pruned_cache_rows: int = 0
    kind: str = ""
    model: str = ""
    seconds: float = 0.0
