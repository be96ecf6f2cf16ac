"""类案 LeiAn: similar-case search and a knowledge graph for dispute mediation.

The Python API is one object over a home directory::

    import leian

    with leian.open("leian-data") as home:
        home.ingest([{"id": "A1", "text": "楼上漏水，天花板泡坏了", "type": "漏水"}])
        answer = home.search("楼上的水管漏到我家")
        print(answer.results[0].id, answer.results[0].why.shared_terms)

Every answer is typed (:mod:`leian.results`) and its ``to_dict()`` is the
JSON the matching ``leian … --json`` command prints. The command line
(:mod:`leian.cli`) and the web app (:mod:`leian.web`) are built on the same API.
"""
from __future__ import annotations

from leian.api import NO_STORE, IngestResult, LeiAn, open
from leian.data.record import Case
from leian.errors import ConfigError, InvalidInput, LeiAnError, NotFound, UserError
from leian.home import Home
from leian.search.filters import Filters
from leian.results import (
    CaseRecord,
    FollowupList,
    HotspotAnswer,
    Neighborhood,
    PartyHistory,
    ReindexReport,
    RepeatChains,
    RiskRegister,
    SearchAnswer,
    SearchResult,
    StoreStats,
    Why,
)

__all__ = [
    "open",
    "LeiAn",
    "Home",
    "Case",
    "Filters",
    "IngestResult",
    "SearchAnswer",
    "SearchResult",
    "Why",
    "StoreStats",
    "CaseRecord",
    "Neighborhood",
    "PartyHistory",
    "RepeatChains",
    "RiskRegister",
    "FollowupList",
    "HotspotAnswer",
    "ReindexReport",
    "LeiAnError",
    "UserError",
    "InvalidInput",
    "NotFound",
    "ConfigError",
    "NO_STORE",
]
