"""What the pages and the JSON API both ask of the engines, masked for the requesting user.

Each function takes the :class:`~leian.web.services.Services` of the process
(the Python API, :class:`leian.api.LeiAn`, shared by the request threads) and
the logged-in :class:`~leian.web.accounts.User`, asks the API, masks personal
data by role (:mod:`leian.web.privacy`) and writes the audit log. Bad user input raises :class:`QueryError` with a message to show.

A user with an area (:attr:`User.scope <leian.web.accounts.User.scope>`) sees
only the cases of that area in every answer: :func:`visible_ids` is the set,
passed to the engines as a parameter where they select (search, neighbours,
counts) and applied to what they return everywhere else. A case outside the
area is "not found", as if it did not exist.
"""
from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leian.data.ingest import IngestReport
from leian.data.normalize import mask_numbers, normalize_name, person_names, strip_bidi
from leian.data.places import place_label
from leian.data.queries import case_columns
from leian.data.record import Case
from leian.errors import InvalidInput, LeiAnError, NotFound
from leian.library.masking import Masker
from leian.library.store import REQUIRED_SECTIONS
from leian.web.accounts import User
from leian.web.privacy import case_view, mask_address_for, mask_reason_for, mask_tree, page_masker, sees_names, shown, text_masker

if TYPE_CHECKING:
    from leian.graph.model import Edge, Node
    from leian.graph.repeats import Chain
    from leian.library.store import Entry, Library
    from leian.web.services import Services

__all__ = [
    "GRAPH_LABELS",
    "SEARCH_FILTERS",
    "NotFound",
    "QueryError",
    "Updating",
    "BROWSE_PAGE",
    "address_history",
    "browse",
    "case_page",
    "chain_detail",
    "clusters",
    "export_library",
    "filter_choices",
    "heat",
    "hotspots",
    "ingest_file",
    "ingest_runs",
    "rejects_file",
    "add_to_library",
    "advance_entry",
    "create_library",
    "delete_library",
    "edit_entry",
    "library_coverage",
    "library_detail",
    "library_name",
    "rename_library",
    "mask_history",
    "mask_known_names",
    "masked_for_audit",
    "neighborhood",
    "party_detail",
    "party_timeline",
    "record_followup",
    "risk_register",
    "repeat_alert",
    "repeat_chains",
    "search",
    "sees_no_cases",
    "similar_cases",
    "visible_ids",
]

_log = logging.getLogger(__name__)

#: Graph node label -> its name on screen.
GRAPH_LABELS = {"Case": "案件", "Party": "当事人", "Location": "地点", "Mediator": "调解员", "Organization": "调解组织",
                "DisputeType": "纠纷类型", "Channel": "来源渠道", "Element": "纠纷要素"}

#: Query parameters of a search that restrict which cases may be returned (as in ``leian search``).
SEARCH_FILTERS = ("type", "where", "since", "until", "outcome", "channel", "mediator")
MAX_TOP_K = 100


class QueryError(InvalidInput):
    """The request asks for something invalid; the message says what (shown to the user)."""


class Updating(LeiAnError):
    """What was asked for is not there yet because the server is catching its indexes up with the store (503)."""


def visible_ids(services: Services, user: User) -> set[str] | None:
    """The ids of the cases ``user`` may see: those of their area, or None for every case."""
    area = user.scope
    return None if area is None else area.case_ids(services.store)


def sees_no_cases(services: Services, user: User) -> bool:
    """Whether ``user`` has no case to see: the store is empty, or their area holds none."""
    area = user.scope
    return services.store.is_empty() if area is None else not area.exists_in(services.store)


def _visible(services: Services, user: User, case_ids: list[str]) -> list[str]:
    """``case_ids`` (in order) that ``user`` may see."""
    seen = visible_ids(services, user)
    return list(case_ids) if seen is None else [c for c in case_ids if c in seen]


def _require_visible(services: Services, user: User, case_id: str) -> Case:
    """The case ``case_id`` if it exists and lies in ``user``'s area, else NotFound (the same either way:
    a case outside one's area does not exist for one)."""
    case = services.store.get(case_id)
    area = user.scope
    if case is None or (area is not None and (case.location.get("district") != area.district
                                               or (area.town and case.location.get("town") != area.town))):
        raise NotFound(f"没有编号为 {case_id} 的案件")
    return case


def search(services: Services, user: User, text: str, *, top_k: int = 10, filters: dict[str, str] | None = None,
           parties: list[str] | None = None, address: str | None = None, page: int = 1,
           as_type: str | None = None) -> dict[str, Any]:
    """Similar cases for ``text`` (the engine's JSON contract), masked for ``user``.

    Without a description, the party names (else the address) are the query:
    a mediator may look a person up by name alone. With ``address`` (where the
    new dispute happens), ``address_history`` lists the earlier cases at that
    address: a repeat dispute in the making.
    """
    text = (text or "").strip() or "、".join(parties or []) or (address or "").strip()
    if not text:
        raise QueryError("请输入纠纷描述，或当事人姓名、纠纷地址")
    if not 1 <= top_k <= MAX_TOP_K:
        raise QueryError(f"top_k 须在 1–{MAX_TOP_K} 之间")
    filters = {k: v for k, v in (filters or {}).items() if v}
    if not sees_names(user.role):
        # Whether a name raises a case would tell who is a party: only roles that see names search by party.
        parties = None
    answer = services.search(text, top_k=top_k, filters=filters, parties=parties or (), page=page,
                             as_type=(as_type or "").strip() or None, alert=False, within=visible_ids(services, user)).to_dict()
    services.accounts.audit(user.username, "search", detail=masked_for_audit(services, text)[:500],
                            target=",".join(r["id"] for r in answer["results"])[:1000])
    cases = services.store.get_many([r["id"] for r in answer["results"]])
    mask = text_masker(cases.values(), user.role)
    if not sees_names(user.role):
        for result in answer["results"]:
            # A term the masked case does not show (a party's name typed in the query) is not echoed back.
            visible = mask(cases[result["id"]].search_text)
            result["why"]["shared_terms"] = [t for t in result["why"]["shared_terms"] if t in visible]
    answer["results"] = [mask_tree(r, mask, keep=("id",)) for r in answer["results"]]
    answer["summary"] = mask_tree(answer["summary"], mask)
    if address and address.strip():
        answer["address_history"] = address_history(services, user, address)
    if sees_names(user.role):
        # Names and addresses are personal data: the alert goes only to roles that see names, so no other
        # role can probe whether a name is a party.
        answer["repeat_alert"] = repeat_alert(services, user, text, parties=parties or [], address=address)
    return answer


MIN_ADDRESS_CHARS = 4
#: Cases listed per address or party (the counts are whole).
_LISTED = 50


def address_history(services: Services, user: User, address: str) -> list[dict[str, Any]]:
    """Earlier cases at ``address`` (at least 4 characters, naming its village, community or town), oldest first, masked."""
    address = address.strip()
    if len(address) < MIN_ADDRESS_CHARS:
        return []
    return _case_items(services, user, services.address_cases(address))[:_LISTED]


def _case_items(services: Services, user: User, case_ids: list[str]) -> list[dict[str, Any]]:
    """The cases (those ``user`` may see) as short masked items."""
    case_ids = _visible(services, user, case_ids)
    found = services.store.get_many(case_ids)
    mask = text_masker(found.values(), user.role)
    return [
        {"id": case.id, "date": case.date, "outcome": case.outcome,
         "type": " › ".join(p for p in (case.category, case.subtype) if p) or case.type,
         "title": mask(case.heading)}
        for case in (found[c] for c in case_ids if c in found)
    ]


def repeat_alert(services: Services, user: User, text: str, *, parties: list[str], address: str | None) -> dict[str, Any]:
    """Known parties and addresses the new dispute names, each with its cases (titles) and chains; for name roles only."""
    if not sees_names(user.role):
        return {"parties": [], "addresses": [], "text": ""}
    alert = services.repeat_alert(text, parties=parties, address=address, within=visible_ids(services, user))
    for kind in ("parties", "addresses"):
        for item in alert[kind]:
            item["cases_shown"] = _case_items(services, user, item["case_ids"][-_LISTED:])
    return alert


BROWSE_PAGE = 30


def browse(services: Services, user: User, *, filters: dict[str, str] | None = None, case_ids: list[str] | None = None,
           page: int = 1) -> dict[str, Any]:
    """The cases that pass ``filters`` (and, if given, are among ``case_ids``), newest first, a page at a time.

    What a drill-down from the dashboard opens: no query, just the filtered
    list, with the same facets as a search. Masked for ``user``.
    """
    from leian.search.filters import facets

    among, area_ids = case_ids, visible_ids(services, user)
    if area_ids is not None:
        among = area_ids if among is None else area_ids & set(among)
    ordered = services.case_list({k: v for k, v in (filters or {}).items() if v}, among=among)
    pages = max(1, -(-len(ordered) // BROWSE_PAGE))
    page = min(max(page, 1), pages)
    page_ids = ordered[(page - 1) * BROWSE_PAGE : page * BROWSE_PAGE]
    found = services.store.get_many(page_ids)
    mask = text_masker(found.values(), user.role)  # one masker per page: 梁某甲 stays 梁某甲 on it
    services.accounts.audit(user.username, "browse", detail=_describe(filters, case_ids)[:500], target=",".join(page_ids)[:1000])
    return {
        "total": len(ordered),
        "page": page,
        "pages": pages,
        "results": [_listed(found[case_id], mask) for case_id in page_ids if case_id in found],
        "facets": facets(services.store, ordered),
    }


def _describe(filters: dict[str, str] | None, case_ids: list[str] | None) -> str:
    parts = [f"{k}={v}" for k, v in (filters or {}).items() if v]
    if case_ids is not None:
        parts.append(f"{len(case_ids)} 件指定案件")
    return "，".join(parts) or "全部案件"


def _listed(case: Case, mask: Callable[[str], str]) -> dict[str, Any]:
    """A case as one row of a list: what it is, where, when, how it ended (masked by ``mask``, one per page)."""
    return {
        "id": case.id, "title": mask(case.title) if case.title else None, "snippet": mask(case.text[:160]),
        "type": "/".join(p for p in (case.category, case.subtype) if p) or case.type,
        "category": case.category, "subtype": case.subtype,
        "place": place_label(case.location) or None, "date": case.date, "outcome": case.outcome,
        "handling": mask(case.handling) if case.handling else None,
    }


def filter_choices(services: Services, user: User) -> dict[str, Any]:
    """What the search filters can be set to: the 大类 › 小类, outcomes and channels of the cases ``user`` may see,
    with counts."""
    types: dict[str, dict[str, Any]] = {}
    for (category, subtype), n in sorted(services.store.value_counts("category", "subtype", area=user.scope).items(),
                                         key=lambda item: (item[0][0], item[0][1] or "")):
        entry = types.setdefault(category, {"name": category, "count": 0, "subtypes": []})
        entry["count"] += n
        if subtype:
            entry["subtypes"].append({"name": subtype, "count": n})

    def by_count(column: str) -> list[dict[str, Any]]:
        counted = services.store.value_counts(column, area=user.scope)
        return [{"name": key[0], "count": n} for key, n in sorted(counted.items(), key=lambda item: (-item[1], item[0][0]))]

    return {"type": sorted(types.values(), key=lambda t: -t["count"]), "outcome": by_count("outcome"),
            "channel": by_count("channel")}


def case_page(services: Services, user: User, case_id: str) -> tuple[Case, dict[str, Any]]:
    """The case and its masked view; the view is audited."""
    case = _require_visible(services, user, case_id)
    services.accounts.audit(user.username, "view", target=case_id)
    return case, case_view(case, user.role)


def similar_cases(services: Services, user: User, case: Case, k: int) -> list[dict[str, Any]]:
    """The ``k`` cases nearest to ``case`` in the search index, as short masked summaries."""
    from leian.search.engine import NotIndexed

    try:
        hits = services.neighbors_of(case.id, k, within=visible_ids(services, user))
    except NotIndexed:  # stored with --no-index: no similar cases to show yet
        return []
    found = services.store.get_many([case_id for case_id, _ in hits])
    mask = text_masker(found.values(), user.role)
    similar = []
    for case_id, score in hits:
        other = found.get(case_id)
        if other is None:
            continue
        similar.append({
            "id": other.id, "score": round(float(score), 3), "title": mask(other.heading),
            "type": " › ".join(p for p in (other.category, other.subtype) if p) or other.type,
            "date": other.date, "outcome": other.outcome, "snippet": mask(other.text[:120]),
        })
    return similar


def clusters(services: Services, user: User | None) -> dict[str, Any]:
    """Topical clusters with keywords (computed once per process and data version); unmasked for ``user`` None."""
    from leian.analytics.clusters import clusters_within

    found = services.shared("clusters", lambda: services.clusters().to_dict())
    if user is not None and user.scope is not None:
        found = clusters_within(found, services.store, visible_ids(services, user) or set())
    if user is None or sees_names(user.role):
        return found
    if user.scope is not None:  # masked afresh: an area's clusters are not everyone's
        return {**found, "clusters": [_masked_cluster(services, user, c) for c in found["clusters"]]}
    return services.shared("clusters_masked", lambda: {**found, "clusters": [_masked_cluster(services, user, c) for c in found["clusters"]]})


def _masked_cluster(services: Services, user: User, cluster: dict[str, Any]) -> dict[str, Any]:
    """A cluster with the party names in its keywords and label masked for ``user``."""
    keywords = [mask_known_names(services, user, word) for word in cluster["keywords"]]
    label = cluster["label"]
    for word, shown_as in sorted(zip(cluster["keywords"], keywords), key=lambda pair: -len(pair[0])):
        label = label.replace(word, shown_as)  # the label is made of keywords
    return {**cluster, "label": mask_known_names(services, user, label), "keywords": keywords}


def cluster_members(services: Services, user: User, cluster_id: str) -> list[str] | None:
    """The case ids of cluster ``cluster_id`` that ``user`` may see, or None if there is no such cluster (any more)."""
    found = clusters(services, None if user.scope is None else user)
    return next((c["case_ids"] for c in found["clusters"] if c["id"] == cluster_id), None)


def cluster_label(services: Services, user: User, cluster_id: str) -> str:
    """How a cluster is named on screen (its keywords), masked for ``user``."""
    found = clusters(services, user)
    return next((c["label"] for c in found["clusters"] if c["id"] == cluster_id), cluster_id)


def mask_history(services: Services, user: User, case_id: str, history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An entry's edit history with the case's party names masked for ``user``."""
    case = services.store.get(case_id)
    return [mask_tree(item, text_masker(case, user.role)) for item in history] if case else history


def ingest_file(services: Services, user: User, path: Path, filename: str, *,
                on_commit: Callable[[IngestReport], None] | None = None,
                on_indexing: Callable[[], None] | None = None) -> dict[str, Any]:
    """Ingest one uploaded file as ``leian ingest`` does, bring every index up to date, and report (audited).

    ``on_commit`` is called with the ingest report after each committed batch; ``on_indexing`` when the
    cases are stored and the indexes are being updated. The audit row is written whatever happens; an
    index that cannot be updated costs no stored case (the report says so, ``leian reindex`` catches up).
    """
    report = services.ingest([path], index=False, on_commit=on_commit)
    # The store's report (its notices come from the indexes, below): the keys in the order the upload page had them.
    answer = {**_run_summary(IngestReport.to_dict(report), [filename]), "stored": report.stored, "ok": report.ok,
              "reject_messages": report.reject_messages, "misnamed_messages": report.misnamed_messages, "notices": [],
              "index_error": None}
    try:
        if on_indexing is not None:
            on_indexing()
        answer["notices"] = services.index()
    except Exception as exc:  # noqa: BLE001 - the cases are stored; the page must say the indexes lag, not lose the report
        _log.exception("updating the indexes after ingesting %s failed", filename)
        answer["index_error"] = f"检索索引或图谱未能更新（{type(exc).__name__}），已入库的案件不受影响；请运行 `leian reindex`"
    finally:
        services.reset_engines()  # the next request loads the indexes just written
        services.accounts.audit(user.username, "ingest", target=filename,
                                detail=f"读取 {report.read}，入库 {report.stored}，拒收 {report.rejected}")
    return answer


def _run_summary(summary: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """An ingest report as it leaves the server: files and the rejects file by name only, never a server path."""
    rejects = summary.get("rejects_path")
    return {**{k: v for k, v in summary.items() if k != "rejects_path"}, "files": files,
            "rejects_file": Path(rejects).name if rejects else None}


def ingest_runs(services: Services, limit: int = 20) -> list[dict[str, Any]]:
    """The latest ingest runs (uploads and ``leian ingest`` alike), newest first, as kept in the store's ingest log;
    ``rejects_file`` is named only while the file is still there to download."""
    from leian.data.queries import latest_ingest_runs

    rows = latest_ingest_runs(services.store, limit)
    runs = []
    for row in rows:
        summary = _run_summary(json.loads(row["summary"] or "{}"), [Path(f).name for f in json.loads(row["files"])])
        if summary["rejects_file"] and not (Path(services.home.rejects_dir) / summary["rejects_file"]).is_file():
            summary["rejects_file"] = None
        runs.append({"started_at": row["started_at"], "finished_at": row["finished_at"], **summary})
    return runs


#: A rejects file's name as ingest writes it (``<stamp>-<file stem>.jsonl``): nothing that could leave the folder.
_REJECTS_NAME = re.compile(r"[\w\-]+\.jsonl")


def rejects_file(services: Services, user: User, name: str) -> bytes:
    """A rejects file of ``<home>/rejects/``, masked for ``user`` like a case page (audited as an export).

    Each line is a rejected record with its line, fields and reasons; the record's party names are masked for
    roles that see no names (phone and ID numbers were masked when the file was written, and again here).
    """
    path = Path(services.home.rejects_dir) / name
    if not _REJECTS_NAME.fullmatch(name) or not path.is_file():
        raise NotFound(f"没有拒收文件 {name}")
    lines = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                lines.append(json.dumps(_masked_reject(json.loads(line), user.role), ensure_ascii=False))
    services.accounts.audit(user.username, "export", target=name, detail="拒收文件")
    # A lone surrogate a rejected record held is written as its \ud800 escape, as in the file itself.
    return ("\n".join(lines) + "\n").encode("utf-8", errors="backslashreplace") if lines else b""


def _masked_reject(reject: dict[str, Any], role: str) -> dict[str, Any]:
    if sees_names(role):
        return mask_tree(reject, shown, keep=("id", "source"))
    from leian.data.record import guess_kind

    record = reject.get("record")
    parties = record.get("parties") if isinstance(record, dict) else None
    masker = Masker()
    names = [p.get("name") for p in parties if isinstance(p, dict)] if isinstance(parties, list) else []
    masker.add_parties((name, guess_kind(name)) for name in names if isinstance(name, str) and name.strip())
    return mask_tree(reject, lambda text: strip_bidi(masker.mask(text)), keep=("id", "source"))


def neighborhood(services: Services, user: User, node_id: str, hops: int = 1) -> dict[str, Any]:
    """Nodes and edges around a graph node, ready to draw, with names masked for ``user``."""
    from leian.graph.neighborhood import summarize_neighborhood
    from leian.graph.model import label_of, plain_id

    try:
        nodes, edges = services.graph_neighborhood(node_id, hops=hops)
        if user.scope is not None:
            nodes, edges = _graph_in_area(node_id, nodes, edges, visible_ids(services, user) or set())
            if node_id not in nodes:
                raise NotFound(f"图谱中没有节点 {node_id}")
    except NotFound:
        if services.updating.is_set():
            raise Updating("正在更新…图谱正与案件库同步，稍后即可查看") from None
        raise
    cases = services.store.get_many([plain_id(n) for n in nodes if label_of(n) == "Case"])
    mask = text_masker(cases.values(), user.role)
    drawn = []
    for node in nodes.values():
        item = {"id": node.id, "label": node.label, "label_name": GRAPH_LABELS.get(node.label, node.label)}
        if node.label == "Case":
            case = cases.get(node.props.get("case_id", ""))
            title = node.props.get("title") or node.props.get("case_id", "")
            item.update(name=mask(title) if case else mask_known_names(services, user, title),
                        case_id=node.props.get("case_id"), date=node.props.get("date"), outcome=node.props.get("outcome"))
        elif node.label == "Party":
            name = node.props.get("name", "")
            item.update(name=shown(name) if sees_names(user.role) else page_masker().party_name(name, node.props.get("kind", "person")),
                        cases=node.props.get("case_count") if user.scope is None else None)  # the count spans every area
        else:
            item["name"] = mask(node.props.get("name") or plain_id(node.id))
        drawn.append(item)
    names = {item["id"]: item["name"] for item in drawn}
    links, pairs = [], set()
    for e in edges:
        if e.type == "SIMILAR_TO":  # each case links to its own nearest: a close pair is linked both ways
            pair = tuple(sorted((e.src, e.dst)))
            if pair in pairs:
                continue
            pairs.add(pair)
        links.append({"source": e.src, "target": e.dst, "type": e.type,
                      **({"score": round(e.props["score"], 3)} if "score" in e.props else {})})
    answer: dict[str, Any] = {"center": node_id, "nodes": drawn, "edges": links}
    if label_of(node_id) == "Case":
        summary = summarize_neighborhood(plain_id(node_id), nodes, edges)
        for party in summary["parties"]:
            party["name"] = names.get(f"party:{party['party_id']}", party["name"])
            party.pop("names", None)
            party.pop("reasons", None)
        summary["case"] = {"case_id": plain_id(node_id), "title": names[node_id], "date": summary["case"].get("date")}
        answer["summary"] = summary
    return answer


def _graph_in_area(center: str, nodes: dict[str, Node], edges: list[Edge], ids: set[str]) -> tuple[dict[str, Node], list[Edge]]:
    """The part of a neighbourhood a user of an area may see: its cases in ``ids``, and the other nodes
    still linked to ``center`` through them (a party is not shown by way of a case elsewhere)."""
    from leian.graph.model import label_of, plain_id

    kept = {n for n in nodes if label_of(n) != "Case" or plain_id(n) in ids}
    edges = [e for e in edges if e.src in kept and e.dst in kept]
    if center not in kept or (label_of(center) != "Case" and not any(label_of(n) == "Case" for n in kept)):
        return {}, []
    linked: dict[str, set[str]] = {}
    for e in edges:
        linked.setdefault(e.src, set()).add(e.dst)
        linked.setdefault(e.dst, set()).add(e.src)
    reached, frontier = {center}, [center]
    while frontier:
        frontier = [n for node in frontier for n in linked.get(node, ()) if n not in reached]
        reached.update(frontier)
    return {n: node for n, node in nodes.items() if n in reached}, [e for e in edges if e.src in reached]


def party_timeline(services: Services, user: User, case_id: str) -> dict[str, Any]:
    """For each party of a case (once), its other cases in time order; the chains the case belongs to."""
    parties = []
    for record in services.case_parties(case_id).parties:
        ids = list(dict.fromkeys(c.case_id for c in record.cases))
        others = _visible(services, user, [c for c in ids if c != case_id])
        if not others:
            continue
        role = "/".join(dict.fromkeys(c.role or "" for c in record.cases if c.case_id == case_id))
        parties.append({"party_id": record.party_id, "name": _party_name(services, user, record.name, record.kind), "role": role,
                        "cases": _case_items(services, user, others[-_LISTED:]), "count": len(others) + 1})
    chains = _shown_chains(services, user, services.chains_of(case_id).chains)
    linked = [c for chain in chains if chain["kind"] != "respondent" for c in chain["case_ids"]]
    position = linked.index(case_id) if case_id in linked else -1
    return {"parties": parties, "chains": chains,
            "repeat_of": linked[:position] if position > 0 else [], "repeated_by": linked[position + 1:] if position >= 0 else []}


def _party_name(services: Services, user: User, name: str, kind: str | None) -> str:
    return name if sees_names(user.role) or kind == "organization" else mask_known_names(services, user, name)


def _shown_chains(services: Services, user: User, chains: list[Chain]) -> list[dict[str, Any]]:
    """The chains as ``user`` may see them: their cases as short items, names masked for roles that see none."""
    return [{**chain, "cases": _case_items(services, user, chain["case_ids"][:_LISTED])}
            for chain in _chains_in_view(services, user, [_masked_chain(services, user, c.to_dict()) for c in chains])]


def _chains_in_view(services: Services, user: User, chains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chains with only the cases ``user`` may see, those left with two or more (a repeat within the area)."""
    seen = visible_ids(services, user)
    if seen is None:
        return chains
    kept = [{**chain, "case_ids": [c for c in chain["case_ids"] if c in seen]} for chain in chains]
    return [chain for chain in kept if len(chain["case_ids"]) >= 2]


def _masked_chain(services: Services, user: User, chain: dict[str, Any]) -> dict[str, Any]:
    """Person names of a chain masked for roles that see no names (organisations keep theirs)."""
    from leian.graph.resolve import Resolver

    if sees_names(user.role):
        return chain
    kinds = {e: entity.kind for e, entity in Resolver(services.store).entities(chain["party_ids"]).items()}
    chain["parties"] = [name if kinds.get(e) == "organization" else mask_known_names(services, user, name)
                        for e, name in zip(chain["party_ids"], chain["parties"])]
    # A reason may name the address the cases share: no house numbers for roles that do not see addresses.
    chain["reasons"] = [mask_reason_for(mask_known_names(services, user, reason), user.role) for reason in chain["reasons"]]
    return chain


def chain_detail(services: Services, user: User, case_id: str) -> dict[str, Any]:
    """Every chain a case belongs to, all cases on one timeline, with the parties that link them (audited)."""
    _require_visible(services, user, case_id)
    timeline = party_timeline(services, user, case_id)
    services.accounts.audit(user.username, "view_chain", target=case_id)
    ids = list(dict.fromkeys(c for chain in timeline["chains"] for c in chain["case_ids"])) or [case_id]
    items = sorted(_case_items(services, user, ids), key=lambda c: (c["date"] or "", c["id"]))
    return {"case_id": case_id, "chains": timeline["chains"], "cases": items,
            "parties": [{"party_id": p["party_id"], "name": p["name"], "role": p["role"], "count": p["count"]} for p in timeline["parties"]]}


def _party_case_ids(services: Services, user: User, party_id: str) -> list[str]:
    """The cases of a party that ``user`` may see; NotFound for a party with none in the user's area."""
    from leian.graph.repeats import party_cases

    case_ids = _visible(services, user, party_cases(services.store, [party_id]).get(party_id, []))
    if not case_ids and user.scope is not None:
        raise NotFound(f"没有编号为 {party_id} 的当事人")
    return case_ids


def party_detail(services: Services, user: User, party_id: str) -> dict[str, Any]:
    """One party: spellings and why merged, cases and revisits on one timeline, chains, risk level and its history."""
    record = next((p for p in services.party(party_id).parties if p.party_id == party_id), None)
    if record is None:  # a name, not a party's id
        raise NotFound(f"没有编号为 {party_id} 的当事人")
    case_ids = _visible(services, user, list(dict.fromkeys(c.case_id for c in record.cases)))
    if not case_ids and user.scope is not None:
        raise NotFound(f"没有编号为 {party_id} 的当事人")
    services.accounts.audit(user.username, "view_party", target=party_id)
    assessment = services.assess(party_id, within=visible_ids(services, user)).to_dict()
    visits = record.followups
    full = sees_names(user.role) or record.kind == "organization"
    names = list(dict.fromkeys(" ".join(n.split()) for n in record.names))
    reasons = record.reasons
    if not sees_names(user.role):
        reasons = [mask_reason_for(mask_known_names(services, user, r), user.role) for r in reasons]
        visits = [{**v, "note": mask_known_names(services, user, v["note"])} for v in visits]
    timeline = [{"kind": "case", "date": c["date"] or "", **c} for c in _case_items(services, user, case_ids)]
    timeline += [{"kind": "visit", "date": v["local_date"], **v} for v in visits]
    timeline.sort(key=lambda item: (item["date"], item["kind"]))
    chains = _shown_chains(services, user, services.chains_of(*case_ids).chains)
    return {"party_id": party_id, "kind": record.kind, "name": _party_name(services, user, record.name, record.kind),
            "names": names if full else list(dict.fromkeys(mask_known_names(services, user, n) for n in names)), "reasons": reasons,
            "cases": len(case_ids), "timeline": timeline, "followups": visits, "chains": chains,
            "risk": {k: assessment[k] for k in ("level", "level_name", "colour", "points", "reasons", "revisit",
                                                "responsible", "responsible_body", "history")}}


def risk_register(services: Services, user: User, *, level: str | None = None, where: str | None = None) -> dict[str, Any]:
    """The 风险台账 (due revisits first), names masked for ``user``; raises InvalidInput for an unknown level."""
    from leian.graph.risk import counts

    answer = services.risk(level=level or None, where=where or None, within=visible_ids(services, user))
    found, today = answer.parties, answer.today
    # Where each party was last in a dispute, 区县 › 镇街 › 村社/网格 (the same levels for every row), read from
    # the case rows' place columns alone.
    levels = ("district", "town", "community", "grid")
    latest = {row["id"]: place_label({level: row[level] for level in levels}, separator=" › ")
              for row in case_columns(services.store, [a.case_ids[-1] for a in found if a.case_ids], ("id", *levels))}
    parties = []
    for assessment in found:
        item = assessment.to_dict()
        item["place"] = latest.get(assessment.case_ids[-1], "") if assessment.case_ids else ""
        if not sees_names(user.role) and assessment.kind != "organization":
            item["name"] = mask_known_names(services, user, item["name"])
        item["overdue"] = bool(item["revisit"]["due"] and item["revisit"]["due"] <= today)
        item.pop("history")
        parties.append(item)
    asked = "，".join(f"{name} {value}" for name, value in (("等级", level), ("地点", where)) if value)
    services.accounts.audit(user.username, "view_risk", detail=asked or "全部")
    return {"today": today, "counts": counts(found), "parties": parties}


def record_followup(services: Services, user: User, party_id: str, note: str) -> dict[str, Any]:
    """Store a revisit to a party, by the logged-in user (audited)."""
    _party_case_ids(services, user, party_id)
    item = services.record_followup(party_id, note, by=user.display_name or user.username, source="web")
    services.accounts.audit(user.username, "followup", target=party_id, detail=note[:200])
    return item


def repeat_chains(services: Services, user: User) -> dict[str, Any]:
    """Every repeat-dispute chain (cases in time order, the parties linking them), names masked for ``user``."""
    chains = [chain.to_dict() for chain in services.repeats().chains]
    return {"chains": _chains_in_view(services, user, [_masked_chain(services, user, chain) for chain in chains])}


def mask_known_names(services: Services, user: User, text: str) -> str:
    """``text`` (built by an engine from names) with every person party of the store in it masked for
    ``user``, and its numbers masked for everyone."""
    if sees_names(user.role):
        return shown(text)
    parties = services.store.party_names_in(text)
    masker = page_masker()
    masker.add_parties(parties)
    masked = masker.mask(text)
    fragment = normalize_name(masked)
    if any(fragment and fragment in normalize_name(person) for name, kind in parties for person in person_names(name, kind)):
        return "某某"  # a keyword that is part of a person's name (小店 of 王小店)
    return masked


def masked_for_audit(services: Services, text: str) -> str:
    """What the audit log keeps of a text a user typed: party names of the store and every number masked."""
    masker = Masker()
    masker.add_parties(services.store.party_names_in(text))
    return masker.mask(mask_numbers(text))


def hotspots(services: Services, user: User, *, level: str = "town", period: str = "month", type_level: str = "category",
             at: str | None = None, min_count: int = 5) -> dict[str, Any]:
    """Hotspots with 红/橙/黄/蓝 levels and reasons, plus repeat parties and addresses."""
    report = services.hotspots(level=level, period=period, type_level=type_level, at=at, min_count=min_count,
                               repeats=True, area=user.scope).to_dict()
    for spot in report["hotspots"]:
        spot["why"] = mask_known_names(services, user, spot["why"])
    for party in report["repeats"]["parties"]:
        party["name"] = mask_known_names(services, user, party["name"])
    for place in report["repeats"]["addresses"]:
        place["address"] = mask_address_for(place["address"], user.role)
    return report


def heat(services: Services, user: User, *, level: str = "town", period: str = "month", type_level: str = "category",
         at: str | None = None) -> dict[str, Any]:
    """The dashboard's place × type table and trends (:func:`leian.analytics.heat.heat`) of the cases ``user`` may see."""
    return services.heat(level=level, period=period, type_level=type_level, at=at, area=user.scope)


def library_name(services: Services, library_id: int) -> str:
    """The name of library ``library_id`` (raises NotFound). Pages and the API address libraries by id,
    so that a name with / or ? in it is never part of a URL."""
    from leian.library.store import LibraryError

    try:
        return services.libraries().name_of(library_id)
    except LibraryError as exc:
        raise NotFound(str(exc)) from None


def library_detail(services: Services, user: User, library_id: int) -> dict[str, Any]:
    """A library with its entries, each write-up masked for ``user`` (raises NotFound)."""
    libs = services.libraries()
    name = library_name(services, library_id)
    entries = libs.entries_with_cases(name, case_ids=visible_ids(services, user))
    mask = text_masker([case for _, case in entries], user.role)  # one masker for the page, in the entries' order
    listed = []
    for entry, case in entries:
        item = mask_tree(entry.to_dict(), mask, keep=("case_id",))
        item["title"] = mask(case.heading)
        item["missing"] = [section for section in REQUIRED_SECTIONS if not entry.sections[section].strip()]
        listed.append(item)
    return {"library": libs.get(name).to_dict(), "entries": listed}


def create_library(services: Services, user: User, name: str, description: str = "") -> Library:
    """A new library (audited); LibraryError for an empty or taken name."""
    library = services.libraries().create(name, description=description)
    services.accounts.audit(user.username, "library_create", target=library.name)
    return library


def rename_library(services: Services, user: User, library_id: int, new_name: str, description: str | None = None) -> Library:
    """Rename library ``library_id`` (and set its description); audited."""
    libs = services.libraries()
    old = library_name(services, library_id)
    library = libs.rename(old, new_name)
    if description is not None:
        library = libs.describe(library.name, description)
    services.accounts.audit(user.username, "library_rename", target=library.name, detail=f"原名 {old}")
    return library


def delete_library(services: Services, user: User, library_id: int) -> int:
    """Delete a library with its entries (never the cases); returns how many entries it had; audited."""
    name = library_name(services, library_id)
    count = services.libraries().delete(name)
    services.accounts.audit(user.username, "library_delete", target=name, detail=f"{count} 个条目")
    return count


def add_to_library(services: Services, user: User, library_id: int, case_ids: list[str]) -> dict[str, Any]:
    """Add the cases that exist to a library; the answer says which were added, already there or not found,
    and which look like near-duplicates of entries (audited)."""
    from leian.library.curation import near_duplicates

    libs = services.libraries()
    name = library_name(services, library_id)
    asked = list(dict.fromkeys(case_ids))
    ids = _visible(services, user, asked)  # a case outside the user's area is not found, like one that does not exist
    duplicates = near_duplicates(libs, name, ids, encoder=services.encoder) if ids else []
    result = libs.add(name, ids, editor=user.username)
    result.missing += [c for c in asked if c not in ids]
    if result.added:
        services.accounts.audit(user.username, "library_add", target=name, detail="、".join(result.added)[:1000])
    return {**result.to_dict(), "near_duplicates": [d.to_dict() for d in duplicates if d.case_id in result.added]}


def edit_entry(services: Services, user: User, library_id: int, case_id: str, *, sections: dict[str, str] | None = None,
               tags: list[str] | None = None) -> Entry:
    """Set sections and tags of an entry; only what changed is written and audited."""
    from leian.library.store import LibraryError

    libs = services.libraries()
    name = library_name(services, library_id)
    _require_visible(services, user, case_id)
    try:
        before = libs.entry(name, case_id)
    except LibraryError as exc:
        raise NotFound(str(exc)) from None
    with services.store.transaction():
        for section, text in (sections or {}).items():
            libs.edit(name, case_id, section, text, editor=user.username)
        if tags is not None:
            libs.set_tags(name, case_id, tags, editor=user.username)
    after = libs.entry(name, case_id)
    changed = [section for section in after.sections if after.sections[section] != before.sections[section]]
    changed += ["标签"] if after.tags != before.tags else []
    if changed:
        services.accounts.audit(user.username, "library_edit", target=f"{name} / {case_id}", detail="、".join(changed))
    return after


def advance_entry(services: Services, user: User, library_id: int, case_id: str, action: str) -> Entry:
    """Review (``action`` = review) or publish an entry as ``user``; audited."""
    libs = services.libraries()
    name = library_name(services, library_id)
    if action not in ("review", "publish"):
        raise QueryError("action 可选：review（审核）、publish（发布）")
    _require_visible(services, user, case_id)
    entry = (libs.review if action == "review" else libs.publish)(name, case_id, reviewer=user.username)
    services.accounts.audit(user.username, f"library_{action}", target=f"{name} / {case_id}")
    return entry


def library_coverage(services: Services, user: User, library_id: int) -> dict[str, Any]:
    """The library's coverage of types and districts, and well-resolved cases (of ``user``'s area) suggested for its gaps."""
    from leian.library.curation import coverage, suggest

    libs = services.libraries()
    name = library_name(services, library_id)
    seen = visible_ids(services, user)
    suggestions = suggest(libs, name, per_gap=2, within=seen)
    # Each named as the lists name a case (its title or opening words, masked), so a trainer sees what it is about.
    titles = {item["id"]: item["title"] for item in _case_items(services, user, [s["case_id"] for s in suggestions])}
    return {"coverage": coverage(libs, name, within=seen),
            "suggestions": [{**s, "title": titles.get(s["case_id"], "")} for s in suggestions]}


def export_library(services: Services, user: User, library_id: int, fmt: str, *, drafts: bool = False) -> tuple[bytes, str]:
    """The library's published entries (every entry with ``drafts``) as ``fmt`` (md, docx, jsonl), masked,
    and the file name to download it as; audited."""
    from leian.library.export import FORMATS
    from leian.library.export import export_library as write_export

    if fmt not in FORMATS:
        raise QueryError(f"未知导出格式 {fmt}（可选：{'、'.join(FORMATS)}）")
    libs = services.libraries()
    name = library_name(services, library_id)
    with tempfile.TemporaryDirectory(prefix="leian-export-") as folder:
        path = Path(folder) / f"export.{fmt}"
        count = write_export(libs, name, fmt, path, masked=True, status=None if drafts else "published",
                             zone=services.home.timezone, case_ids=visible_ids(services, user))
        content = path.read_bytes()
    scope = "含草稿" if drafts else "仅已发布"
    services.accounts.audit(user.username, "export", target=name, detail=f"{fmt}，{scope}，{count} 条")
    return content, f"{name}.{fmt}"
