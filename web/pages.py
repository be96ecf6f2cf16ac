"""The HTML pages (简体中文), server-rendered; data comes masked from :mod:`leian.web.queries`."""
from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from leian.data.areas import area_choices
from leian.data.places import LEVEL_NAMES, place_label
from leian.errors import InvalidInput
from leian.library.store import REQUIRED_SECTIONS, SECTIONS, LibraryError
from leian.search.filters import FILTER_NAMES
from leian.web import queries
from leian.web.accounts import ACTION_NAMES, ALL_AREAS_ROLES, ROLES, AccountError
from leian.analytics.counts import COUNT_LEVELS, PERIOD_NAMES, PERIODS, TYPE_LEVEL_NAMES, TYPE_LEVELS
from leian.web.api import DOWNLOAD_TYPES, TABLE_TYPES, choice_arg, download, library_export, table_file
from leian.web.app import current_user, log_in, log_out, services
from leian.web.jobs import UPLOAD_TYPES
from leian.web.security import allowed

__all__ = ["UPLOAD_TYPES", "blueprint"]

blueprint = Blueprint("pages", __name__)

_SIMILAR = 8
_FACET_ITEMS = 10  # values shown per facet, most frequent first


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect).

    Browsers drop tabs and line breaks from a URL and read a backslash as ``/``, so ``/%09/evil.example``
    (a tab) is ``//evil.example`` to them: a target holding any control character, space or backslash is refused.
    """
    if (target and target.startswith("/") and not target.startswith("//")
            and not any(ch <= " " or ch in "\x7f\\" for ch in target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.home")


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        if log_in(username, request.form.get("password", "")) is None:
            flash("用户名或密码错误", "error")
            return render_template("login.html", username=username), 401
        return redirect(_safe_next(request.args.get("next")))
    if request.args.get("next"):  # sent here from a page: a session that ended (4 hours idle) or a shared link
        flash("请先登录（未登录或登录已过期），登录后回到刚才的页面", "warn")
    return render_template("login.html", username="")


@blueprint.post("/logout")
def logout() -> Any:
    log_out()
    return redirect(url_for("pages.login"))


#: Query parameters that describe the new dispute (the rest of a search's parameters are filters).
_DESCRIBE = ("q", "parties", "address")
#: What each active filter is called on its chip.
_CHIP_NAMES = {**FILTER_NAMES, "as_type": "按此类型查找", "parties": "当事人", "address": "地址"}
_MAX_IDS = 200
_PAGE_SIZE = 10  # search results per page
_MAX_PAGE = 100


@blueprint.get("/")
def home() -> Any:
    """The search page: one box for the dispute, filters, results with why-similar.

    Without a description (or party, or address) but with filters, it lists the
    cases that pass them, newest first: where drill-downs from the dashboard land.
    """
    state = _search_state()
    case_ids = _case_ids_asked()
    page = _page_arg()
    answer = listing = None
    try:
        if any(state[key] for key in _DESCRIBE):
            answer = queries.search(services(), current_user(), state["q"], top_k=_PAGE_SIZE, filters=_filters(state),
                                    parties=_split_list(state["parties"]), address=state["address"], page=page,
                                    as_type=state["as_type"])
        elif any(_filters(state).values()) or case_ids is not None:
            listing = queries.browse(services(), current_user(), filters=_filters(state), case_ids=case_ids, page=page)
    except InvalidInput as exc:
        flash(str(exc), "error")
    found = answer or listing
    link = _linker(state)
    if answer:
        pages = {"page": page, "prev": page > 1, "next": answer["total"] > page * _PAGE_SIZE}
    else:
        pages = {"page": page, "prev": page > 1, "next": bool(listing) and page < listing["pages"]}
    # Nothing found, or nothing asked yet: say so plainly when it is because there is nothing to search.
    no_cases = not (found and found["results"]) and queries.sees_no_cases(services(), current_user())
    return render_template(
        "search.html", state=state, answer=answer, listing=listing, no_cases=no_cases,
        choices=queries.filter_choices(services(), current_user()),
        chips=_chips(state, link), facets=_facet_links(found, link, state) if found else [],
        repeaters=_repeaters(answer) if answer else [], pages=pages, back=request.full_path.rstrip("?"),
        page_link=lambda page: link({"page": str(page)}), libraries=_writable_libraries(),
        can_add=allowed("pages.library_add", current_user().role),
    )


def _search_state() -> dict[str, str]:
    """The page's query parameters: what describes the dispute, the filters, and a cluster or id list asked for."""
    keys = (*_DESCRIBE, *queries.SEARCH_FILTERS, "as_type", "ids", "cluster")
    return {key: request.args.get(key, "").strip() for key in keys}


def _filters(state: dict[str, str]) -> dict[str, str]:
    return {key: state[key] for key in queries.SEARCH_FILTERS}


def _case_ids_asked() -> list[str] | None:
    """The cases a drill-down names: a list of ids, or the members of a cluster; None when it names none."""
    if request.args.get("cluster"):
        cluster = queries.cluster_members(services(), current_user(), request.args["cluster"])
        if cluster is None:
            flash("该主题聚类已不存在（数据更新后重新聚类），以下是全部案件", "error")
        return cluster
    if request.args.get("ids"):
        return _split_list(request.args["ids"])[:_MAX_IDS]
    return None


def _page_arg() -> int:
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and 1 <= int(page) <= _MAX_PAGE else 1


def _linker(state: dict[str, str]) -> Callable[[dict[str, str]], str]:
    """Links to this page with some parameters changed ('' removes one); a new filter starts again at page 1."""
    def link(changes: dict[str, str]) -> str:
        merged = {**state, **({"page": ""} if "page" not in changes else {}), **changes}
        return url_for("pages.home", **{k: v for k, v in merged.items() if v})
    return link


def _chips(state: dict[str, str], link: Callable[[dict[str, str]], str]) -> list[dict[str, str]]:
    """The active filters, each as a chip that removes it (the date range is one chip)."""
    chips = []
    for key in ("type", "as_type", "where", "outcome", "channel", "mediator"):
        if state[key]:
            chips.append({"label": _CHIP_NAMES[key], "value": state[key], "url": link({key: ""})})
    if state["since"] or state["until"]:
        span = f"{state['since'] or '最早'} 至 {state['until'] or '今'}"
        chips.append({"label": "日期", "value": span, "url": link({"since": "", "until": ""})})
    if state["cluster"]:
        chips.append({"label": "主题", "value": queries.cluster_label(services(), current_user(), state["cluster"]),
                      "url": link({"cluster": ""})})
    if state["ids"]:
        chips.append({"label": "指定案件", "value": f"{len(_split_list(state['ids']))} 件", "url": link({"ids": ""})})
    return chips


def _writable_libraries() -> list[Any]:
    """The libraries the user may add cases to (none for roles without library pages)."""
    return services().libraries().list() if allowed("pages.library_add", current_user().role) else []


def _split_list(text: str) -> list[str]:
    """Items typed into one box, separated by spaces, commas or 、."""
    return [item for item in re.split(r"[\s,，、;；]+", text) if item]


#: Flat facet of a search answer -> (heading, the filter a click sets); places and dates are shown as trees.
_FACETS = {"type": ("大类", "type"), "subtype": ("小类", "type"), "outcome": ("调解结果", "outcome"),
           "channel": ("来源渠道", "channel")}
_TREE_ITEMS = 12  # nodes shown per tree level, most frequent (places) or newest (dates) first


def _facet_links(found: dict[str, Any], link: Callable[[dict[str, str]], str], state: dict[str, str]) -> list[dict[str, Any]]:
    """The facets in page order, each value with its count and the link that sets (or, if set, clears) its filter."""

    def flat(key: str) -> dict[str, Any] | None:
        title, param = _FACETS[key]
        counts = found["facets"].get(key)
        if not counts:
            return None
        items = [{"value": value, "count": count, "chosen": state.get(param) == value,
                  "url": link({param: "" if state.get(param) == value else value})}
                 for value, count in list(counts.items())[:_FACET_ITEMS]]
        return {"kind": "list", "title": title, "id": f"facet-{key}", "items": items}

    def tree(key: str, title: str, target: Callable[[dict[str, Any]], dict[str, str]]) -> dict[str, Any] | None:
        nodes = found["facets"].get(key)
        return {"kind": "tree", "title": title, "id": f"facet-{key}", "nodes": _tree_links(nodes, target, state, link)} if nodes else None

    shown = [flat("type"), flat("subtype"), tree("place", "地点", lambda node: {"where": node["name"]}),
             tree("date", "日期", _date_range), flat("outcome"), flat("channel")]
    return [facet for facet in shown if facet]


def _date_range(node: dict[str, Any]) -> dict[str, str]:
    """The since/until filters of a date-tree node (a year ``2025`` or a month ``2025-03``)."""
    if node["level"] == "year":
        return {"since": f"{node['name']}-01-01", "until": f"{node['name']}-12-31"}
    year, month = map(int, node["name"].split("-"))
    return {"since": f"{node['name']}-01", "until": f"{node['name']}-{calendar.monthrange(year, month)[1]:02d}"}


def _node_label(node: dict[str, Any]) -> str:
    """How a tree node is shown: places by name, dates as 2025年 and 3月."""
    if node["level"] == "year":
        return f"{node['name']}年"
    if node["level"] == "month":
        return f"{int(node['name'][5:])}月"
    return node["name"]


def _tree_links(nodes: list[dict[str, Any]], target: Callable[[dict[str, Any]], dict[str, str]], filters: dict[str, str],
                link: Callable[[dict[str, str]], str], lone_open: bool = True) -> list[dict[str, Any]]:
    """A facet tree's view: each node links to its ``target`` filters (clears them when set) and is open when it
    is chosen, leads to the chosen node, or is the only node of a level under open ones."""
    shown = []
    for node in nodes[:_TREE_ITEMS]:
        wanted = target(node)
        chosen = all(filters.get(k) == v for k, v in wanted.items())
        lone = lone_open and len(nodes) == 1
        children = _tree_links(node["children"], target, filters, link, lone)
        shown.append({"name": _node_label(node), "level": LEVEL_NAMES.get(node["level"], ""), "count": node["count"],
                      "chosen": chosen, "url": link({k: "" if chosen else v for k, v in wanted.items()}), "children": children,
                      "open": bool(children) and (lone or chosen or any(c["chosen"] or c["open"] for c in children))})
    return shown


def _repeaters(answer: dict[str, Any]) -> list[str]:
    """Parties of the new dispute who already appear in the results (a repeat dispute)."""
    return list(dict.fromkeys(p for r in answer["results"] for p in r["why"].get("shared_parties", [])))


@blueprint.app_template_filter("highlight")
def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """Split ``text`` into (part, is_match) pieces around ``terms``; the template marks matches (escaped)."""
    terms = sorted({t for t in terms or [] if t}, key=len, reverse=True)
    if not text or not terms:
        return [(text or "", False)]
    pattern = re.compile("|".join(re.escape(t) for t in terms))
    pieces, last = [], 0
    for match in pattern.finditer(text):
        if match.start() > last:
            pieces.append((text[last:match.start()], False))
        pieces.append((match.group(0), True))
        last = match.end()
    pieces.append((text[last:], False))
    return pieces


@blueprint.get("/cases/<case_id>")
def case(case_id: str) -> Any:
    record, view = queries.case_page(services(), current_user(), case_id)
    similar = queries.similar_cases(services(), current_user(), record, _SIMILAR)
    timeline = queries.party_timeline(services(), current_user(), case_id)
    return render_template("case.html", case=view, place=place_label(record.location), similar=similar, timeline=timeline,
                           libraries=_writable_libraries(), here=request.full_path.rstrip("?"))


@blueprint.app_template_filter("tel")
def tel(phone: str | None) -> str | None:
    """A phone number as a ``tel:`` target, or None when it is masked (138****1111) or not a number."""
    digits = re.sub(r"[\s\-()（）]", "", phone or "")
    return digits if re.fullmatch(r"\+?\d{5,15}", digits) else None


@blueprint.get("/risk")
def risk() -> Any:
    """The 风险台账: parties by level with reasons, revisit plan and who is responsible; due revisits first."""
    level = request.args.get("level", "").strip()
    where = request.args.get("where", "").strip()
    register = error = None
    try:
        register = queries.risk_register(services(), current_user(), level=level, where=where)
    except InvalidInput as exc:
        error = str(exc)
    return render_template("risk.html", register=register, error=error, level=level, where=where)


@blueprint.get("/parties/<party_id>")
def party(party_id: str) -> Any:
    """One party: all its cases and revisits on one timeline, its spellings, chains and risk level."""
    detail = queries.party_detail(services(), current_user(), party_id)
    return render_template("party.html", party=detail, can_record=allowed("pages.party_followup", current_user().role))


@blueprint.post("/parties/<party_id>/followups")
def party_followup(party_id: str) -> Any:
    try:
        queries.record_followup(services(), current_user(), party_id, request.form.get("note", ""))
    except InvalidInput as exc:
        flash(str(exc), "error")
    else:
        flash("已记录回访", "ok")
    return redirect(url_for("pages.party", party_id=party_id) + "#timeline")


@blueprint.get("/chains/<case_id>")
def chain(case_id: str) -> Any:
    """The repeat chains a case belongs to: every case on one timeline, the parties that link them."""
    return render_template("chain.html", detail=queries.chain_detail(services(), current_user(), case_id))


#: The dashboard's place levels: a deployment serves one city, so its places start at 区县.
_DASHBOARD_LEVELS = COUNT_LEVELS[1:]


def _dashboard_args() -> dict[str, Any]:
    """The dashboard's choices: place level, month or week, 大类 or 小类, and the period looked at (default: latest complete)."""
    return {
        "level": choice_arg("level", _DASHBOARD_LEVELS, "town", LEVEL_NAMES),
        "period": choice_arg("period", PERIODS, "month", PERIOD_NAMES),
        "type_level": choice_arg("type_level", TYPE_LEVELS, "category", TYPE_LEVEL_NAMES),
        "at": request.args.get("at") or None,
    }


def _dashboard_data(args: dict[str, Any]) -> dict[str, Any]:
    """Hotspots, the heat table and trend, and repeats, for the dashboard and its exports."""
    report = error = table = None
    try:
        report = queries.hotspots(services(), current_user(), **args)
        table = queries.heat(services(), current_user(), **{**args, "at": report["period"]})
    except InvalidInput as exc:
        error = str(exc)
    return {"report": report, "heat": table, "error": error}


@blueprint.get("/dashboard")
def dashboard() -> Any:
    args = _dashboard_args()
    data = _dashboard_data(args)
    if data["error"] and args["at"]:
        # A period of the other granularity (2025-W11 after switching to months) just gives way to the latest one;
        # one the data does not reach (a bookmark, an edited link) is named, so the page is not taken for it.
        if ("-W" in args["at"]) == (args["period"] == "week"):
            flash(f"{data['error']}；下面是最近一个完整周期", "warn")
        return redirect(url_for("pages.dashboard", **{k: v for k, v in {**args, "at": None}.items() if v}))
    clusters = queries.clusters(services(), current_user())
    # The exports are of what the page shows: the same choices, the period it tested.
    kept = {**args, "at": data["report"]["period"] if data["report"] else None}
    return render_template("dashboard.html", **data, clusters=clusters, args=args, args_kept={k: v for k, v in kept.items() if v},
                           level_names=LEVEL_NAMES,
                           period_names=PERIOD_NAMES, type_level_names=TYPE_LEVEL_NAMES,
                           cases_url=lambda params: _cases_url(params, args["period"]))


def _cases_url(params: dict[str, Any], period: str) -> str:
    """The case list behind a number of the dashboard: its filters, with a ``period`` label as since/until."""
    from leian.analytics.counts import period_end, period_start

    filters = {k: v for k, v in params.items() if v and k != "period"}
    if params.get("period"):
        filters.update(since=period_start(params["period"], period), until=period_end(params["period"], period))
    return url_for("pages.home", **filters)


#: Dashboard tables that can be downloaded -> their name in the file name.
_DASHBOARD_TABLES = {"hotspots": "热点预警", "heat": "地点类型分布", "trend": "走势"}


@blueprint.get("/dashboard/export")
def dashboard_export() -> Any:
    """A dashboard table as CSV or XLSX, as the page shows it for the same choices."""
    args = _dashboard_args()
    which = choice_arg("table", tuple(_DASHBOARD_TABLES), "hotspots")
    fmt = choice_arg("format", ("csv", "xlsx"), "csv")
    data = _dashboard_data(args)
    if data["error"]:
        abort(400, description=data["error"])
    header, rows = _dashboard_table(which, data)
    content = table_file(header, rows, fmt)
    period = data["report"]["period"]
    services().accounts.audit(current_user().username, "dashboard_export", target=_DASHBOARD_TABLES[which],
                              detail=f"{fmt}，{period}，{len(rows)} 行")
    return download(content, f"{_DASHBOARD_TABLES[which]}-{period}.{fmt}", TABLE_TYPES[fmt])


def _dashboard_table(which: str, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    report, heat = data["report"], data["heat"]
    if which == "hotspots":
        header = ["等级", "地点", "类型", "周期", "本期件数", "预期件数", "原因", "本期案件"]
        rows = [[h["risk"], h["place_label"], h["type"], h["period"], h["count"], h["expected"], h["why"],
                 " ".join(h["case_ids"])] for h in report["hotspots"]]
    elif which == "heat":
        header = [LEVEL_NAMES[heat["level"]], *heat["types"], "其他", "合计"]
        rows = [[row["place"], *row["counts"], row["other"], row["total"]] for row in heat["places"]]
    else:
        header = ["周期", *heat["trend"]]
        rows = [[label, *(series[i] for series in heat["trend"].values())] for i, label in enumerate(heat["periods"])]
    return header, rows


@blueprint.route("/libraries", methods=["GET", "POST"])
def libraries() -> Any:
    if request.method == "POST":
        try:
            library = queries.create_library(services(), current_user(), request.form.get("name", ""),
                                             request.form.get("description", ""))
        except LibraryError as exc:
            flash(str(exc), "error")
            return redirect(url_for("pages.libraries"))
        flash(f"已新建案例库「{library.name}」", "ok")
        return redirect(url_for("pages.library", library_id=library.id))
    return render_template("libraries.html", libraries=services().libraries().list())


@blueprint.get("/libraries/<int:library_id>")
def library(library_id: int) -> Any:
    detail = queries.library_detail(services(), current_user(), library_id)
    return render_template("library.html", detail=detail, formats=DOWNLOAD_TYPES,
                           curation=queries.library_coverage(services(), current_user(), library_id))


@blueprint.post("/libraries/add")
def library_add() -> Any:
    """Add the chosen cases (search results, a case list, a case page) to the chosen library, then go back."""
    form = request.form
    library_id = _int(form.get("library"))
    back = form.get("back", "")
    back = back if _safe_next(back) == back and back else url_for("pages.library", library_id=library_id)
    case_ids = [i for value in form.getlist("case_ids") for i in _split_list(value)]
    if library_id is None:
        flash("请选择案例库", "error")
        return redirect(back)
    if not case_ids:
        flash("请先勾选要加入的案件", "error")
        return redirect(back)
    result = queries.add_to_library(services(), current_user(), library_id, case_ids)
    name = queries.library_name(services(), library_id)
    parts = [f"已加入 {len(result['added'])} 件到「{name}」" if result["added"] else f"没有新加入「{name}」的案件"]
    if result["present"]:
        parts.append(f"{len(result['present'])} 件已在库中")
    flash("，".join(parts), "ok")
    if result["missing"]:
        flash("以下编号的案件不存在，未加入：" + "、".join(result["missing"]), "error")
    for dup in result["near_duplicates"]:
        flash(f"注意：{dup['case_id']} 与库中 {dup['similar_to']} 疑似重复（相似度 {dup['score']:.2f}），请确认是否需要保留", "warn")
    return redirect(back)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@blueprint.post("/libraries/<int:library_id>/settings")
def library_settings(library_id: int) -> Any:
    """Rename a library or change its description; or delete it."""
    if request.form.get("action") == "delete":
        count = queries.delete_library(services(), current_user(), library_id)
        flash(f"已删除案例库（{count} 个条目；案件本身仍在案件库中）", "ok")
        return redirect(url_for("pages.libraries"))
    try:
        library = queries.rename_library(services(), current_user(), library_id, request.form.get("name", ""),
                                         request.form.get("description"))
    except LibraryError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已保存：「{library.name}」", "ok")
    return redirect(url_for("pages.library", library_id=library_id))


@blueprint.route("/libraries/<int:library_id>/entries/<case_id>", methods=["GET", "POST"])
def entry(library_id: int, case_id: str) -> Any:
    """Edit the 典型案例 sections and tags of one entry."""
    shown = _shown_entry(library_id, case_id)
    if request.method == "POST":
        # Only sections the user changed are written: the form shows them masked, and an
        # untouched section must not be overwritten with its masked form.
        changed = {section: request.form[section] for section in SECTIONS
                   if section in request.form and request.form[section].strip() != shown[section].strip()}
        queries.edit_entry(services(), current_user(), library_id, case_id, sections=changed,
                           tags=_split_list(request.form.get("tags", "")))
        flash("已保存" + ("；内容有改动，条目回到草稿，需重新审核" if changed and shown["status"] != "draft" else ""), "ok")
        if request.form.get("then") in ("review", "publish"):
            return _advance(library_id, case_id, request.form["then"])
        return redirect(url_for("pages.entry", library_id=library_id, case_id=case_id))
    libs = services().libraries()
    name = queries.library_name(services(), library_id)
    history = [h.to_dict() for h in libs.history(name, case_id)]
    return render_template("entry.html", library=libs.get(name).to_dict(), entry=shown, sections=SECTIONS,
                           required=REQUIRED_SECTIONS, authors=libs.authors(name, case_id), self_review=libs.self_review,
                           history=queries.mask_history(services(), current_user(), case_id, history))


def _shown_entry(library_id: int, case_id: str) -> dict[str, Any]:
    """The entry as the current user sees it (masked by role); 404 if the library has no such entry."""
    detail = queries.library_detail(services(), current_user(), library_id)
    found = next((e for e in detail["entries"] if e["case_id"] == case_id), None)
    if found is None:
        abort(404, description=f"案例库「{detail['library']['name']}」中没有案件 {case_id}")
    return found


@blueprint.post("/libraries/<int:library_id>/entries/<case_id>/status")
def entry_status(library_id: int, case_id: str) -> Any:
    return _advance(library_id, case_id, request.form.get("action", ""))


def _advance(library_id: int, case_id: str, action: str) -> Any:
    try:
        queries.advance_entry(services(), current_user(), library_id, case_id, action)
    except LibraryError as exc:
        flash(str(exc), "error")
    else:
        flash("已审核" if action == "review" else "已发布", "ok")
    return redirect(url_for("pages.entry", library_id=library_id, case_id=case_id))


# The page's download link is the API's download itself (endpoint pages.library_export).
blueprint.add_url_rule("/libraries/<int:library_id>/export", view_func=library_export)


@blueprint.route("/ingest", methods=["GET", "POST"])
def ingest() -> Any:
    """Upload a file ``leian ingest`` reads; the ingest runs in the background and the page follows it to the report.
    Earlier runs are listed below it, each with its rejects file."""
    if request.method == "POST":
        try:
            job = services().jobs.upload(services(), current_user(), request.files.get("file"))
        except InvalidInput as exc:
            flash(str(exc), "error")
            return redirect(url_for("pages.ingest"))
        return redirect(url_for("pages.ingest", job=job.id))
    job = services().jobs.get(request.args.get("job", "")) if request.args.get("job") else None
    if request.args.get("job") and job is None:  # jobs live in the server's memory; the ingest log outlives them
        flash("找不到这次导入任务（服务已重启或任务已过期）；每次导入的结果见下方“导入记录”", "warn")
    return render_template("ingest.html", job=job.to_dict() if job else None, types=UPLOAD_TYPES,
                           runs=queries.ingest_runs(services()))


@blueprint.route("/admin/users", methods=["GET", "POST"])
def users() -> Any:
    accounts = services().accounts
    if request.method == "POST":
        form = request.form
        try:
            user = accounts.add(form.get("username", ""), form.get("role", ""), form.get("password", ""),
                                display_name=form.get("display_name", ""), area=form.get("area", ""))
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            accounts.audit(current_user().username, "user_add", target=user.username, detail=user.role_name)
            flash(f"已新建用户 {user.username}（{user.role_name}）", "ok")
        return redirect(url_for("pages.users"))
    return render_template("users.html", users=accounts.list(), roles=ROLES, areas=area_choices(services().store),
                           all_areas_roles=ALL_AREAS_ROLES)


@blueprint.post("/admin/users/<username>")
def user_update(username: str) -> Any:
    accounts = services().accounts
    form = request.form
    if username == current_user().username and (form.get("role", "admin") != "admin" or form.get("active") == "0"):
        flash("不能降低或停用自己的管理员账号", "error")
        return redirect(url_for("pages.users"))
    try:
        user = accounts.update(username, role=form.get("role") or None,
                               active=None if form.get("active") is None else form.get("active") == "1",
                               password=form.get("password") or None, area=form.get("area"))
    except AccountError as exc:
        flash(str(exc), "error")
    else:
        accounts.audit(current_user().username, "user_update", target=username,
                       detail=f"{user.role_name}，{'启用' if user.active else '停用'}，区域 {user.area or '全部'}"
                       + ("，重设密码" if form.get("password") else ""))
        flash(f"已更新用户 {username}", "ok")
    return redirect(url_for("pages.users"))


AUDIT_PAGE = 50


@blueprint.get("/admin/audit")
def audit() -> Any:
    """The audit log, newest first, filtered by user, action and local dates, a page at a time."""
    accounts = services().accounts
    filters = {key: request.args.get(key, "").strip() or None for key in ("username", "action", "since", "until")}
    try:
        total = accounts.audit_count(**filters, zone=services().home.timezone)
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("pages.audit"))
    pages = max(1, -(-total // AUDIT_PAGE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    entries = accounts.audit_log(**filters, zone=services().home.timezone, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE)
    return render_template("audit.html", entries=entries, total=total, page=page, pages=pages, filters=filters,
                           users=accounts.audit_users(), actions=ACTION_NAMES,
                           query={k: v for k, v in filters.items() if v})
