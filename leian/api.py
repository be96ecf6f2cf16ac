"""The Python API: one object over a LeiAn home that the CLI, the web app and users' own scripts all call.

:func:`open` gives a :class:`LeiAn` over a home directory; its methods ingest
records, search, and read the graph, the analytics and the case libraries.
Each answer is a typed object (:mod:`leian.results`) whose ``to_dict()`` is
the JSON the matching ``leian … --json`` command prints. Engines (the search
model and indexes, the party-name automaton) load on first use and are kept.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leian.data.ingest import IngestReport
from leian.data.record import Case
from leian.data.store import Store
from leian.errors import InvalidInput, NotFound
from leian.home import NO_STORE, Home
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
    StoreStats,
)

if TYPE_CHECKING:
    from leian.analytics.clusters import Clustering
    from leian.data.areas import Area
    from leian.embeddings.encoder import Encoder
    from leian.graph.alert import PartyIndex
    from leian.graph.base import GraphStore
    from leian.graph.model import Edge, Node
    from leian.graph.risk import Assessment, KeptRegister
    from leian.library.store import Libraries
    from leian.search.engine import SearchEngine
    from leian.search.filters import Filters

__all__ = ["LeiAn", "IngestResult", "open", "NO_STORE"]

Records = Iterable[Mapping[str, Any]]


@dataclass
class IngestResult(IngestReport):
    """An :class:`~leian.data.ingest.IngestReport` and the notices the indexes raised (repeat disputes joined)."""

    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "notices": self.notices}


def open(home: str | os.PathLike[str] | Home | None = None, *, readonly: bool = False, create: bool = True,
         model: str | None = None, progress: bool = False) -> LeiAn:
    """Open a LeiAn home (``--home`` semantics: else ``$LEIAN_HOME``, else ``./leian-data``).

    Args:
        home: the home directory, or a resolved :class:`~leian.home.Home`.
        readonly: open the case store read-only (searching and ingesting need it writable).
        create: create the store if the home has none; with False a home without one raises NotFound.
        model: the embedding model (else ``[embeddings] model`` of config.toml, else m3e-small).
        progress: progress bars on stderr while the search index is built or caught up.

    Raises:
        NotFound: the home has no case store and ``readonly`` or not ``create``.
    """
    resolved = home if isinstance(home, Home) else Home.resolve(home)
    if (readonly or not create) and not resolved.exists():
        raise NotFound(NO_STORE.format(root=resolved.root))
    return LeiAn(resolved, resolved.open_store(readonly=readonly), model=model, progress=progress)


class LeiAn:
    """A LeiAn home with its store open; engines load on first use. Use as a context manager, or call :meth:`close`."""

    def __init__(self, home: Home, store: Store, *, model: str | None = None, progress: bool = False):
        self.home = home
        self.store = store
        self.model = model
        self.progress = progress
        self._engine: SearchEngine | None = None
        self._party_index: PartyIndex | None = None
        self._register: KeptRegister | None = None

    def close(self) -> None:
        """Close the store (the engines go with it)."""
        self._engine = None
        self._party_index = None
        self._register = None
        self.store.close()

    def __enter__(self) -> LeiAn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the store ------------------------------------------------------------

    def ingest(self, paths_or_records: Iterable[str | os.PathLike[str]] | Records, *, batch_size: int = 500,
               index: bool = True, progress: bool = False, source: str = "records",
               on_commit: Callable[[IngestReport], None] | None = None) -> IngestResult:
        """Validate and store records, then bring every index up to date.

        Args:
            paths_or_records: JSONL, CSV or XLSX files, or records as mappings (one per case).
            batch_size: records per transaction.
            index: update the search index and graph afterwards (else ``reindex`` later).
            progress: progress bars on stderr.
            source: how rejects of records given as mappings are named (``source:N``).
            on_commit: called with the report so far after each committed batch (a progress display).
        """
        from leian.data.ingest import ingest, ingest_records

        items = list(paths_or_records)
        if all(isinstance(item, (str, os.PathLike)) for item in items):
            report = ingest(self.store, [Path(p) for p in items], rejects_dir=self.home.rejects_dir,  # type: ignore[arg-type]
                            batch_size=batch_size, progress=progress, on_commit=on_commit, zone=self.home.timezone)
        else:  # records; one that is not a mapping is rejected as such
            report = ingest_records(self.store, items, rejects_dir=self.home.rejects_dir, source=source,  # type: ignore[arg-type]
                                    batch_size=batch_size, progress=progress, on_commit=on_commit, zone=self.home.timezone)
        return IngestResult(**vars(report), notices=self.index(progress=progress) if index else [])

    def index(self, *, progress: bool = False) -> list[str]:
        """Bring every derived index (dispute elements, search, graph) up to date with the store; returns notices
        worth printing (repeat disputes joined)."""
        from leian.indexers import sync_all

        self._party_index = None
        return sync_all(self.home, self.store, progress=progress)

    @property
    def search_index_built(self) -> bool:
        """Whether the search index has been built (a first build of a large store takes a while)."""
        from leian.search.engine import MANIFEST

        return (self.home.index_dir / MANIFEST).is_file()

    def stats(self) -> StoreStats:
        """Cases, parties, dates and counts by type, outcome, channel and district."""
        return StoreStats.from_dict({**self.store.stats(), "home": str(self.home.root)})

    def case(self, case_id: str) -> Case:
        """The stored case ``case_id`` (raises NotFound)."""
        case = self.store.get(case_id)
        if case is None:
            raise NotFound(f"没有编号为 {case_id!r} 的案件")
        return case

    def show(self, case_id: str) -> CaseRecord:
        """The case's normalised form and the record as it came in."""
        case = self.case(case_id)
        return CaseRecord.from_dict({"case": case.to_dict(), "original": case.raw})

    def cases(self) -> Iterator[Case]:
        """Every stored case."""
        return self.store.iter_cases()

    def case_list(self, filters: Filters | Mapping[str, str | None] | None = None, *,
                  among: Collection[str] | None = None) -> list[str]:
        """The ids of the cases that pass ``filters`` (and are ``among`` these, if given), newest first: the cases
        behind a cell or a point of the dashboard's charts (raises ValueError for a filter that is not valid)."""
        from leian.search.filters import allowed_ids

        allowed = allowed_ids(self.store, self._filters(filters))
        if among is not None:
            allowed = set(among) if allowed is None else allowed & set(among)
        return self.store.newest_first(allowed)

    # -- search ---------------------------------------------------------------

    @property
    def engine(self) -> SearchEngine:
        """The search engine (model and indexes), loaded once and caught up with the store."""
        if self._engine is None:
            from leian.search.engine import SearchEngine

            self._engine = SearchEngine(self.home, store=self.store, model=self.model, progress=self.progress)
        return self._engine

    @property
    def encoder(self) -> Encoder:
        """The sentence encoder of the configured model (loaded once per process)."""
        from leian.embeddings.encoder import load_encoder, model_for_home

        return self._engine.encoder if self._engine is not None else load_encoder(model_for_home(self.home, self.model))

    def search(self, text: str, *, top_k: int = 10, filters: Filters | Mapping[str, str | None] | None = None,
               parties: Sequence[str] = (), as_type: str | None = None, page: int = 1, alert: bool = True,
               within: Collection[str] | None = None) -> SearchAnswer:
        """Past cases similar to ``text``, a new dispute told in one's own words.

        Args:
            text: the new dispute.
            top_k: results per page.
            filters: only cases that pass them (:class:`~leian.search.filters.Filters`, or a mapping of its
                fields: type, where, since, until, outcome, channel, mediator).
            parties: the new dispute's parties; cases they are parties to rank higher.
            as_type: the new dispute's type, in place of the predicted one (raises cases of that type).
            page: which page of ``top_k`` results, from 1.
            alert: add the repeat alert (known parties and addresses the text names).
            within: only these cases (those the asker may see, e.g. of their area).

        Raises:
            ValueError: a filter or page that is not valid (the message says which).
        """
        checked = self._filters(filters)
        answer = self.engine.search(text, top_k=top_k, filters=checked, parties=list(parties), type=as_type, page=page,
                                    within=None if within is None else set(within))
        if alert:
            answer["repeat_alert"] = self.repeat_alert(text, parties=list(parties))
        return SearchAnswer.from_dict(answer)

    def search_many(self, queries: Sequence[str | Mapping[str, Any]], *, top_k: int = 10,
                    filters: Filters | Mapping[str, str | None] | None = None, alert: bool = True) -> list[SearchAnswer]:
        """Answer many queries (encoded in one batch), in order; ``filters`` as in :meth:`search`.

        A query is its text, or a mapping with ``text`` and optional ``type``, ``where`` and ``parties``
        (the lines of ``leian search --batch``): they describe the new dispute, as in :meth:`search`.
        """
        from leian.search.engine import Query

        asked = [{"text": q} if isinstance(q, str) else q for q in queries]
        built = [Query(q["text"], type=q.get("type"), where=q.get("where"), parties=q.get("parties") or []) for q in asked]
        answers = self.engine.search_many(built, top_k=top_k, filters=self._filters(filters))
        if alert:
            for query, answer in zip(asked, answers):
                answer["repeat_alert"] = self.repeat_alert(query["text"], parties=list(query.get("parties") or []))
        return [SearchAnswer.from_dict(a) for a in answers]

    @staticmethod
    def _filters(given: Filters | Mapping[str, str | None] | None) -> Filters:
        """Checked filters (ValueError naming a bad one)."""
        from leian.search.filters import Filters

        return given.check() if isinstance(given, Filters) else Filters.from_dict(dict(given or {}))

    def repeat_alert(self, text: str, *, parties: Sequence[str] = (), address: str | None = None,
                     within: Collection[str] | None = None) -> dict[str, Any]:
        """Known parties and addresses ``text`` (or ``parties``, ``address``) names, with their cases and chains
        (of the cases ``within`` only, if given)."""
        from leian.graph.alert import repeat_alert

        self.resolve()
        return repeat_alert(self.store, text, parties=list(parties), address=address, index=self.party_index(),
                            settings=self.home.settings.repeats, within=within)

    def party_index(self) -> PartyIndex:
        """The names and addresses of the store's parties as one automaton (what the repeat alert looks for),
        built on first use and caught up with the store on each use."""
        from leian.graph.alert import PartyIndex

        if self._party_index is None:
            self._party_index = PartyIndex(self.store)
        return self._party_index

    def neighbors_of(self, case_id: str, k: int = 10, *, within: Collection[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` cases nearest to a stored case in the search index, ``(id, cosine)``, best first (among ``within``
        if given); raises NotIndexed for a case the index does not hold yet."""
        return self.engine.neighbors(case_id, k, within=None if within is None else set(within))

    def reindex(self, *, progress: bool = False) -> ReindexReport:
        """Rebuild the search index from the store (cached vectors reused), then bring the dispute elements and the
        graph (its SIMILAR_TO edges asking the index just rebuilt) up to date."""
        from leian.indexers import IngestPass, sync_all
        from leian.search.engine import reindex

        self._engine = None
        one_pass = IngestPass(self.store)
        try:
            report = reindex(self.home, one_pass, model=self.model, progress=progress)
        except BaseException:
            one_pass.close_shared()
            raise
        sync_all(self.home, self.store, progress=progress, one_pass=one_pass)
        self._party_index = None
        return ReindexReport.from_dict(report)

    # -- graph ----------------------------------------------------------------

    def resolve(self, *, progress: bool = False) -> list[str]:
        """Catch party resolution and repeat chains up with the store (cheap when nothing changed); returns notices."""
        from leian.graph.repeats import resolve_changes

        return resolve_changes(self.store, progress=progress, settings=self.home.settings.repeats)

    def graph(self, uri: str | None = None, *, progress: bool = False) -> GraphStore:
        """The configured graph store (``uri``, else ``[graph] uri``, else networkx), caught up with the store.

        Close it when done (``with api.graph() as graph:``). Raises ValueError for a URI that is not Bolt.
        """
        from leian.graph.factory import open_graph
        from leian.graph.sync import catch_up

        self.resolve(progress=progress)
        graph = open_graph(self.home, uri)
        try:
            catch_up(graph, self.home, self.store, progress=progress)
        except BaseException:
            graph.close()
            raise
        return graph

    def graph_neighborhood(self, node_id: str, *, hops: int = 1) -> tuple[dict[str, Node], list[Edge]]:
        """The nodes (by id) and edges within ``hops`` of any node of the graph — a case (``case:ID``), a party
        (``party:ID``), a place, a mediator …: what the web app's graph drawing shows.

        Raises:
            InvalidInput: ``node_id`` is not a graph node id.
            NotFound: the graph has no such node.
        """
        from leian.graph.model import LABELS

        if ":" not in node_id or node_id.split(":", 1)[0] not in LABELS.values():
            raise InvalidInput(f"不是图谱节点编号：{node_id}")
        with self._graph_to_read() as graph:
            nodes, edges = graph.neighborhood(node_id, hops)
        if node_id not in nodes:
            raise NotFound(f"图谱中没有节点 {node_id}")
        return nodes, edges

    @contextmanager
    def _graph_to_read(self) -> Iterator[GraphStore]:
        """The graph to read from: here the configured one, caught up and closed after."""
        with self.graph() as graph:
            yield graph

    def neighbors(self, case_id: str, *, hops: int = 2, uri: str | None = None, progress: bool = False) -> Neighborhood:
        """A case's parties and their other cases, place, mediators, repeat chains and similar cases."""
        from leian.graph.model import case_node_id
        from leian.graph.neighborhood import summarize_neighborhood

        with self.graph(uri, progress=progress) as graph:
            self.case(case_id)
            nodes, edges = graph.neighborhood(case_node_id(case_id), hops)
        return Neighborhood.from_dict(summarize_neighborhood(case_id, nodes, edges))

    def party(self, name_or_id: str) -> PartyHistory:
        """Every party with this name or id: spellings, why merged, cases and revisits (raises NotFound)."""
        from leian.graph.parties import party_history

        self.resolve()
        found = party_history(self.store, name_or_id)
        if not found:
            raise NotFound(f"没有名为或编号为 {name_or_id!r} 的当事人")
        return PartyHistory.from_dict({"parties": found})

    def case_parties(self, case_id: str) -> PartyHistory:
        """The parties of a case, each once in the order the case names them, with their spellings, cases and
        revisits (as :meth:`party` gives them); raises NotFound for a case not stored."""
        from leian.graph.parties import case_parties

        self.case(case_id)
        self.resolve()
        return PartyHistory.from_dict({"parties": case_parties(self.store, case_id)})

    def repeats(self, kind: str | None = None) -> RepeatChains:
        """Repeat-dispute chains in time order (``kind``: same_parties, same_address or respondent)."""
        from leian.graph.repeats import all_chains

        self.resolve()
        return RepeatChains(chains=[c for c in all_chains(self.store, self.home.settings.repeats)
                                    if kind is None or c.kind == kind])

    def chains_of(self, *case_ids: str) -> RepeatChains:
        """The repeat-dispute chains (of any kind) that hold one of these cases (a case's, or a party's cases'), earliest first."""
        from leian.graph.repeats import chains_of

        self.resolve()
        return RepeatChains(chains=chains_of(self.store, list(case_ids), self.home.settings.repeats))

    def address_cases(self, address: str) -> list[str]:
        """The ids of the cases that happened at ``address`` (its street part in the village, community or town it
        names: :func:`leian.graph.repeats.place_cases`), oldest first."""
        from leian.graph.repeats import place_cases

        self.resolve()
        return place_cases(self.store, address)

    def risk(self, *, today: dt.date | None = None, level: str | None = None, where: str | None = None,
             within: Collection[str] | None = None) -> RiskRegister:
        """The 风险台账 on ``today`` (default: today, local), optionally one level (or colour) and place; with
        ``within``, the parties are assessed on those cases alone."""
        from leian.graph.followups import local_today
        from leian.graph.risk import register

        day = today or local_today()
        self.resolve()
        return RiskRegister(today=day.isoformat(), parties=register(self.store, today=day, level=level, where=where,
                                                                     within=within, kept=self._kept_register()))

    def _kept_register(self) -> KeptRegister:
        """The register kept between calls: a second call assesses only the parties whose cases or revisits changed."""
        from leian.graph.risk import KeptRegister

        self._register = self._register or KeptRegister()
        return self._register

    def assess(self, party_id: str, *, today: dt.date | None = None, within: Collection[str] | None = None) -> Assessment:
        """One party's place in the 风险台账 on ``today`` (default: today, local): level, reasons, revisit plan, level
        history and cases (with ``within``, weighed on those cases alone); raises NotFound for an unknown party."""
        from leian.graph.followups import local_today
        from leian.graph.risk import assess

        self.resolve()
        try:
            return assess(self.store, party_id, today=today or local_today(), within=within)
        except KeyError:
            raise NotFound(f"没有编号为 {party_id} 的当事人") from None

    def followups(self, *, today: dt.date | None = None, due: bool = False) -> FollowupList:
        """Parties with a revisit due (only those due by ``today`` with ``due``), earliest first."""
        from leian.graph.followups import local_today
        from leian.graph.parties import due_followups

        day = today or local_today()
        self.resolve()
        return FollowupList(today=day.isoformat(), followups=due_followups(self.store, day, due_only=due, kept=self._kept_register()))

    def record_followup(self, party: str, note: str, *, by: str, source: str = "api") -> dict[str, Any]:
        """Record a revisit to ``party`` (an id, or a name only one party has); returns it."""
        from leian.graph.followups import find_party, record_followup

        self.resolve()
        return record_followup(self.store, find_party(self.store, party), note, by=by, source=source)

    # -- analytics ------------------------------------------------------------

    def hotspots(self, *, level: str = "town", period: str = "month", type_level: str = "category", at: str | None = None,
                 fdr: float = 0.05, min_count: int = 5, repeats: bool = False, area: Area | None = None) -> HotspotAnswer:
        """Spikes, rising trends and latent risks per place and type in period ``at`` (default: the latest complete one),
        of the cases of ``area`` only if given; with ``repeats``, the parties and addresses of three or more cases."""
        from leian.analytics.hotspots import detect_hotspots, repeat_hotspots

        report = detect_hotspots(self.store, level=level, period=period, type_level=type_level, at=at, fdr=fdr,
                                 min_count=min_count, area=area)
        return HotspotAnswer(report=report, repeats=repeat_hotspots(self.store, area=area) if repeats else None)

    def heat(self, *, level: str = "town", period: str = "month", type_level: str = "category", at: str | None = None,
             area: Area | None = None) -> dict[str, Any]:
        """The place × type table of the 12 periods up to ``at`` (default: the latest complete one) and the trend of
        each type, as the dashboard draws them (:func:`leian.analytics.heat.heat`), of ``area`` only if given."""
        from leian.analytics.heat import heat

        return heat(self.store, level=level, period=period, type_level=type_level, at=at, area=area)

    def clusters(self, *, k: int = 10, resolution: float = 1.5, min_size: int = 3, window_days: int = 90,
                 fresh: bool = False, progress: bool = False) -> Clustering:
        """Topical clusters of every case (kNN graph of the vectors + Louvain), named by keywords; ids kept as cases arrive."""
        from leian.analytics.clusters import cluster_cases
        from leian.embeddings.encoder import model_for_home

        return cluster_cases(self.store, model=model_for_home(self.home, self.model), k=k, resolution=resolution,
                             min_size=min_size, window_days=window_days, progress=progress, fresh=fresh)

    def report(self, out: str | os.PathLike[str], *, level: str = "town", period: str = "month",
               type_level: str = "category", at: str | None = None, clusters: bool = True,
               masked: bool = True) -> dict[str, Any]:
        """Write the analyst report (Chinese charts and report.md, names masked unless ``masked`` is False) to the
        folder ``out``; says what was written."""
        from leian.analytics.report import write_report
        from leian.embeddings.encoder import model_for_home

        return write_report(self.store, out, level=level, period=period, type_level=type_level, at=at, clusters=clusters,
                            model=model_for_home(self.home, self.model), masked=masked)

    # -- case libraries -------------------------------------------------------

    def libraries(self) -> Libraries:
        """The case libraries (典型案例库): create, add, edit, review, publish, export."""
        from leian.library.store import Libraries

        return Libraries(self.store, self_review=self.home.settings.library.self_review)
