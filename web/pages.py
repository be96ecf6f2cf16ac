"""The HTML pages (简体中文), server-rendered; data comes masked from :mod:`leian.web.queries`."""
from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from leian.data.places import LEVEL_NAMES, place_label
from leian.library.store import SECTIONS, LibraryError
from leian.web import queries
from leian.web.accounts import ROLES, AccountError
from leian.web.api import DOWNLOAD_TYPES, choice_arg, download
from leian.web.app import current_user, log_in, log_out, services
from leian.web.jobs import UPLOAD_TYPES
from leian.web.security import allowed

__all__ = ["UPLOAD_TYPES", "blueprint"]

blueprint = Blueprint("pages", __name__)

_SIMILAR = 8
_FACET_ITEMS = 10  # values shown per facet, most frequent first


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
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
    return render_template("login.html", username="")


@blueprint.post("/logout")
def logout() -> Any:
    log_out()
    return redirect(url_for("pages.login"))


@blueprint.get("/")
def home() -> Any:
    """The search page: one box for the dispute, facets, results with why-similar."""
    text = request.args.get("q", "").strip()
    filters = {key: request.args.get(key, "").strip() for key in queries.SEARCH_FILTERS}
    party_text = request.args.get("parties", "").strip()
    address = request.args.get("address", "").strip()
    as_type = request.args.get("as_type", "").strip()
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 1 <= int(page) <= 100 else 1
    answer = None
    if text:
        try:
            answer = queries.search(services(), current_user(), text, top_k=10, filters=filters,
                                    parties=_split_list(party_text), address=address, page=page, as_type=as_type)
        except queries.QueryError as exc:
            flash(str(exc), "error")
    base = {"q": text, "parties": party_text, "address": address, "as_type": as_type, **filters}
    pages = {"prev": url_for("pages.home", **{k: v for k, v in {**base, "page": page - 1}.items() if v}) if page > 1 else None,
             "next": url_for("pages.home", **{k: v for k, v in {**base, "page": page + 1}.items() if v})
             if answer and answer["total"] > page * 10 else None}
    return render_template("search.html", q=text, filters=filters, party_text=party_text, address=address, answer=answer,
                           as_type=as_type, pages=pages,
                           facets=_facet_links(answer, {"q": text, "parties": party_text, "address": address}, filters)
                           if answer else [],
                           repeaters=_repeaters(answer) if answer else [])


def _split_list(text: str) -> list[str]:
    """Items typed into one box, separated by spaces, commas or 、."""
    return [item for item in re.split(r"[\s,，、;；]+", text) if item]


#: Flat facet of a search answer -> (heading, the filter a click sets); places and dates are shown as trees.
_FACETS = {"type": ("大类", "type"), "subtype": ("小类", "type"), "outcome": ("调解结果", "outcome"),
           "channel": ("来源渠道", "channel")}
_TREE_ITEMS = 12  # nodes shown per tree level, most frequent (places) or newest (dates) first


def _facet_links(answer: dict[str, Any], query: dict[str, str], filters: dict[str, str]) -> list[dict[str, Any]]:
    """The facets in page order, each value with its count and the link that sets (or, if set, clears) its filter."""

    def link(changes: dict[str, str]) -> str:
        return url_for("pages.home", **{k: v for k, v in {**query, **filters, **changes}.items() if v})

    def flat(key: str) -> dict[str, Any] | None:
        title, param = _FACETS[key]
        counts = answer["facets"].get(key)
        if not counts:
            return None
        items = [{"value": value, "count": count, "chosen": filters.get(param) == value,
                  "url": link({param: "" if filters.get(param) == value else value})}
                 for value, count in list(counts.items())[:_FACET_ITEMS]]
        return {"kind": "list", "title": title, "items": items}

    def tree(key: str, title: str, target: Callable[[dict[str, Any]], dict[str, str]]) -> dict[str, Any] | None:
        nodes = answer["facets"].get(key)
        return {"kind": "tree", "title": title, "id": f"facet-{key}", "nodes": _tree_links(nodes, target, filters, link)} if nodes else None

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
                           libraries=queries.libraries(services()).list() if allowed("pages.library_add", current_user().role) else [])


@blueprint.get("/risk")
def risk() -> Any:
    """The 风险台账: parties by level with reasons, revisit plan and who is responsible; due revisits first."""
    level = request.args.get("level", "").strip()
    where = request.args.get("where", "").strip()
    register = error = None
    try:
        register = queries.risk_register(services(), current_user(), level=level, where=where)
    except queries.QueryError as exc:
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
    except queries.QueryError as exc:
        flash(str(exc), "error")
    else:
        flash("已记录回访", "ok")
    return redirect(url_for("pages.party", party_id=party_id) + "#timeline")


@blueprint.get("/chains/<case_id>")
def chain(case_id: str) -> Any:
    """The repeat chains a case belongs to: every case on one timeline, the parties that link them."""
    return render_template("chain.html", detail=queries.chain_detail(services(), current_user(), case_id))


@blueprint.get("/dashboard")
def dashboard() -> Any:
    args = {
        "level": choice_arg("level", ("district", "town", "community", "grid"), "town"),
        "period": choice_arg("period", ("month", "week"), "month"),
        "type_level": "category",
    }
    report = error = None
    try:
        report = queries.hotspots(services(), current_user(), **args)
    except queries.QueryError as exc:
        error = str(exc)
    table = queries.heat(services(), **args)
    clusters = queries.clusters(services(), current_user())
    return render_template("dashboard.html", report=report, error=error, heat=table, clusters=clusters, args=args)


@blueprint.route("/libraries", methods=["GET", "POST"])
def libraries() -> Any:
    libs = queries.libraries(services())
    if request.method == "POST":
        try:
            library = libs.create(request.form.get("name", ""), description=request.form.get("description", ""))
        except LibraryError as exc:
            flash(str(exc), "error")
            return redirect(url_for("pages.libraries"))
        flash(f"已新建案例库「{library.name}」", "ok")
        return redirect(url_for("pages.library", name=library.name))
    return render_template("libraries.html", libraries=libs.list())


@blueprint.get("/libraries/<name>")
def library(name: str) -> Any:
    detail = queries.library_detail(services(), current_user(), name)
    return render_template("library.html", detail=detail, formats=DOWNLOAD_TYPES)


@blueprint.post("/libraries/<name>/cases")
def library_add(name: str) -> Any:
    case_ids = _split_list(request.form.get("case_ids", ""))
    try:
        added = queries.libraries(services()).add_cases(name, case_ids, editor=current_user().username)
    except LibraryError as exc:
        flash(str(exc), "error")
    else:
        flash(f"已加入 {len(added)} 件案件" if added else "这些案件已在库中", "ok")
    return redirect(url_for("pages.library", name=name))


@blueprint.route("/libraries/<name>/entries/<case_id>", methods=["GET", "POST"])
def entry(name: str, case_id: str) -> Any:
    """Edit the 典型案例 sections and tags of one entry."""
    libs = queries.libraries(services())
    try:
        current = libs.entry(name, case_id)
    except LibraryError as exc:
        abort(404, description=str(exc))
    if request.method == "POST":
        editor = current_user().username
        # Only sections the user changed are written: the form shows them masked, and an
        # untouched section must not be overwritten with its masked form.
        shown = _shown_entry(name, case_id)
        for section in SECTIONS:
            if section in request.form and request.form[section].strip() != shown[section].strip():
                libs.edit(name, case_id, section, request.form[section], editor=editor)
        tags = _split_list(request.form.get("tags", ""))
        if tags != current.tags:
            libs.set_tags(name, case_id, tags, editor=editor)
        flash("已保存", "ok")
        return redirect(url_for("pages.entry", name=name, case_id=case_id))
    history = [h.to_dict() for h in libs.history(name, case_id)]
    return render_template("entry.html", library=libs.get(name).to_dict(), entry=_shown_entry(name, case_id), sections=SECTIONS,
                           history=queries.mask_history(services(), current_user(), case_id, history))


def _shown_entry(name: str, case_id: str) -> dict[str, Any]:
    """The entry as the current user sees it (masked by role)."""
    detail = queries.library_detail(services(), current_user(), name)
    return next(e for e in detail["entries"] if e["case_id"] == case_id)


@blueprint.post("/libraries/<name>/entries/<case_id>/status")
def entry_status(name: str, case_id: str) -> Any:
    action = request.form.get("action")
    libs = queries.libraries(services())
    try:
        if action == "review":
            libs.review(name, case_id, reviewer=current_user().username)
        elif action == "publish":
            libs.publish(name, case_id, reviewer=current_user().username)
        else:
            abort(400, description="action 须为 review 或 publish")
    except LibraryError as exc:
        flash(str(exc), "error")
    else:
        flash("已审核" if action == "review" else "已发布", "ok")
    return redirect(url_for("pages.entry", name=name, case_id=case_id))


@blueprint.get("/libraries/<name>/export")
def library_export(name: str) -> Any:
    fmt = choice_arg("format", tuple(DOWNLOAD_TYPES), "docx")
    content, filename = queries.export_library(services(), current_user(), name, fmt)
    return download(content, filename, DOWNLOAD_TYPES[fmt])


@blueprint.route("/ingest", methods=["GET", "POST"])
def ingest() -> Any:
    """Upload JSONL/CSV/XLSX; the ingest runs in the background and the page follows it to the report."""
    if request.method == "POST":
        try:
            job = services().jobs.upload(services(), current_user(), request.files.get("file"))
        except queries.QueryError as exc:
            flash(str(exc), "error")
            return redirect(url_for("pages.ingest"))
        return redirect(url_for("pages.ingest", job=job.id))
    job = services().jobs.get(request.args.get("job", ""), services()) if request.args.get("job") else None
    return render_template("ingest.html", job=job.to_dict() if job else None, types=UPLOAD_TYPES)


@blueprint.route("/admin/users", methods=["GET", "POST"])
def users() -> Any:
    accounts = services().accounts
    if request.method == "POST":
        form = request.form
        try:
            user = accounts.add(form.get("username", ""), form.get("role", ""), form.get("password", ""),
                                display_name=form.get("display_name", ""))
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            accounts.audit(current_user().username, "user_add", target=user.username, detail=user.role_name)
            flash(f"已新建用户 {user.username}（{user.role_name}）", "ok")
        return redirect(url_for("pages.users"))
    return render_template("users.html", users=accounts.list(), roles=ROLES)


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
                               password=form.get("password") or None)
    except AccountError as exc:
        flash(str(exc), "error")
    else:
        accounts.audit(current_user().username, "user_update", target=username,
                       detail=f"{user.role_name}，{'启用' if user.active else '停用'}" + ("，重设密码" if form.get("password") else ""))
        flash(f"已更新用户 {username}", "ok")
    return redirect(url_for("pages.users"))


@blueprint.get("/admin/audit")
def audit() -> Any:
    return render_template("audit.html", entries=services().accounts.audit_log(limit=300))
