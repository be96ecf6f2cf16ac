"""The JSON API under ``/api``: what the CLI answers, over HTTP, masked by role.

Log in with ``POST /api/login`` (``{"username", "password"}``); the answer
carries the ``csrf_token`` that every later POST/PATCH must send in the
``X-CSRF-Token`` header. Errors are ``{"error": {"code", "message", "detail"}}``.
The document at ``/api/openapi.json`` describes every route.
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, url_for
from leian.analytics.counts import COUNT_LEVELS, PERIOD_NAMES, PERIODS, TYPE_LEVEL_NAMES, TYPE_LEVELS
from leian.data.places import LEVEL_NAMES
from leian.web import queries
from leian.web.accounts import ROLE_NAMES, ROLES
from leian.web.app import current_user, log_in, log_out, services
from leian.web.openapi import openapi_document
from leian.web.security import csrf_token

__all__ = ["DOWNLOAD_TYPES", "TABLE_TYPES", "blueprint", "choice_arg", "download", "int_arg", "library_export", "table_file"]

blueprint = Blueprint("api", __name__)

#: Export format -> MIME type of the download.
DOWNLOAD_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
#: Table download format -> MIME type.
TABLE_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; 400 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name} 须为整数")
    if not low <= value <= high:
        abort(400, description=f"{name} 须在 {low}–{high} 之间")
    return value


def choice_arg(name: str, choices: tuple[str, ...], default: str, names: dict[str, str] | None = None) -> str:
    """A query parameter that must be one of ``choices`` (each explained by ``names``); 400 otherwise."""
    value = request.args.get(name) or default
    if value not in choices:
        listed = "、".join(f"{c}（{names[c]}）" if names and c in names else c for c in choices)
        abort(400, description=f"{name} 可选：{listed}")
    return value


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="请求体须为 JSON 对象")
    return body


def _string(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        abort(400, description=f"缺少字段 {key}（须为非空的字符串）")
    return value


def _me() -> dict[str, Any]:
    return {"user": current_user().to_dict(), "csrf_token": csrf_token()}


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@blueprint.post("/login")
def login() -> Any:
    body = _json_body()
    user = log_in(_string(body, "username"), _string(body, "password"))
    if user is None:
        abort(401, description="用户名或密码错误")
    return jsonify(user=user.to_dict(), csrf_token=csrf_token())


@blueprint.post("/logout")
def logout() -> Any:
    log_out()
    return jsonify(ok=True)


@blueprint.get("/me")
def me() -> Any:
    return jsonify(_me())


@blueprint.get("/search")
def search() -> Any:
    answer = queries.search(
        services(), current_user(), request.args.get("q", ""),
        top_k=int_arg("top_k", 10, 1, queries.MAX_TOP_K),
        filters={key: request.args.get(key, "") for key in queries.SEARCH_FILTERS},
        parties=request.args.getlist("party"), address=request.args.get("address"),
        page=int_arg("page", 1, 1, 100), as_type=request.args.get("as_type"),
    )
    return jsonify(answer)


@blueprint.get("/cases/<case_id>")
def case(case_id: str) -> Any:
    _, view = queries.case_page(services(), current_user(), case_id)
    return jsonify(case=view)


@blueprint.get("/cases/<case_id>/neighbors")
def case_neighbors(case_id: str) -> Any:
    from leian.graph.model import case_node_id

    if services().store.get(case_id) is None:
        raise queries.NotFound(f"没有编号为 {case_id} 的案件")
    return jsonify(queries.neighborhood(services(), current_user(), case_node_id(case_id), int_arg("hops", 1, 1, 3)))


@blueprint.get("/graph/neighbors")
def graph_neighbors() -> Any:
    node = request.args.get("node", "")
    if not node:
        abort(400, description="缺少参数 node")
    return jsonify(queries.neighborhood(services(), current_user(), node, int_arg("hops", 1, 1, 3)))


@blueprint.get("/repeats")
def repeats() -> Any:
    return jsonify(queries.repeat_chains(services(), current_user()))


@blueprint.get("/chains/<case_id>")
def chain(case_id: str) -> Any:
    return jsonify(queries.chain_detail(services(), current_user(), case_id))


@blueprint.get("/risk")
def risk() -> Any:
    return jsonify(queries.risk_register(services(), current_user(), level=request.args.get("level") or None,
                                         where=request.args.get("where") or None))


@blueprint.get("/parties/<party_id>")
def party(party_id: str) -> Any:
    return jsonify(queries.party_detail(services(), current_user(), party_id))


@blueprint.post("/parties/<party_id>/followups")
def party_followup(party_id: str) -> Any:
    item = queries.record_followup(services(), current_user(), party_id, _string(_json_body(), "note"))
    return jsonify(followup=item), 201


def _analytics_args() -> dict[str, str]:
    return {
        "level": choice_arg("level", COUNT_LEVELS, "town", LEVEL_NAMES),
        "period": choice_arg("period", PERIODS, "month", PERIOD_NAMES),
        "type_level": choice_arg("type_level", TYPE_LEVELS, "category", TYPE_LEVEL_NAMES),
    }


@blueprint.get("/hotspots")
def hotspots() -> Any:
    return jsonify(queries.hotspots(
        services(), current_user(), **_analytics_args(), at=request.args.get("at") or None,
        min_count=int_arg("min_count", 5, 1, 100_000),
    ))


@blueprint.get("/heat")
def heat() -> Any:
    return jsonify(queries.heat(services(), current_user(), **_analytics_args(), at=request.args.get("at") or None))


@blueprint.get("/clusters")
def clusters() -> Any:
    return jsonify(queries.clusters(services(), current_user()))


@blueprint.get("/libraries")
def libraries() -> Any:
    return jsonify(libraries=[lib.to_dict() for lib in services().libraries().list()])


@blueprint.post("/libraries")
def library_create() -> Any:
    body = _json_body()
    library = queries.create_library(services(), current_user(), _string(body, "name"),
                                     _string(body, "description", required=False))
    return jsonify(library=library.to_dict()), 201


@blueprint.get("/libraries/<int:library_id>")
def library(library_id: int) -> Any:
    return jsonify({**queries.library_detail(services(), current_user(), library_id),
                    **queries.library_coverage(services(), current_user(), library_id)})


@blueprint.patch("/libraries/<int:library_id>")
def library_update(library_id: int) -> Any:
    """Rename a library and/or change its description."""
    body = _json_body()
    current = queries.library_name(services(), library_id)
    name = _string(body, "name", required=False) or current
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        abort(400, description="description 须为字符串")
    library = queries.rename_library(services(), current_user(), library_id, name, description)
    return jsonify(library=library.to_dict())


@blueprint.post("/libraries/<int:library_id>/cases")
def library_add(library_id: int) -> Any:
    """Add cases: the ones that exist are added; the answer lists those already there and those not found."""
    case_ids = _json_body().get("case_ids")
    if not isinstance(case_ids, list) or not case_ids or not all(isinstance(c, str) for c in case_ids):
        abort(400, description="case_ids 须为非空的字符串列表")
    return jsonify(queries.add_to_library(services(), current_user(), library_id, case_ids))


@blueprint.patch("/libraries/<int:library_id>/entries/<case_id>")
def entry_edit(library_id: int, case_id: str) -> Any:
    """Edit sections and tags of an entry, then optionally ``"action": "review" | "publish"``."""
    body = _json_body()
    sections = body.get("sections", {})
    if not isinstance(sections, dict) or not all(isinstance(v, str) for v in sections.values()):
        abort(400, description="sections 须为对象（栏目名 → 文本）")
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        abort(400, description="tags 须为字符串列表")
    action = body.get("action")
    if action not in (None, "review", "publish"):
        abort(400, description="action 可选：review（审核）、publish（发布）")
    entry = queries.edit_entry(services(), current_user(), library_id, case_id, sections=sections, tags=tags)
    if action is not None:
        entry = queries.advance_entry(services(), current_user(), library_id, case_id, action)
    return jsonify(entry=entry.to_dict())


@blueprint.get("/libraries/<int:library_id>/export")
def library_export(library_id: int) -> Response:
    fmt = choice_arg("format", tuple(DOWNLOAD_TYPES), "docx")
    content, filename = queries.export_library(services(), current_user(), library_id, fmt,
                                               drafts=request.args.get("drafts") == "1")
    return download(content, filename, DOWNLOAD_TYPES[fmt])


def table_file(header: list[str], rows: list[list[Any]], fmt: str) -> bytes:
    """A table as CSV (UTF-8 with BOM, so Excel reads the Chinese) or XLSX; text that a spreadsheet
    would run as a formula (=, +, -, @) is written with a leading apostrophe."""
    def cell(value: Any) -> Any:
        return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value

    cleaned = [[cell(v) for v in row] for row in [header, *rows]]
    if fmt == "csv":
        import csv
        import io

        text = io.StringIO()
        csv.writer(text).writerows(cleaned)
        return ("\ufeff" + text.getvalue()).encode("utf-8")
    import io

    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in cleaned:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def download(content: bytes, filename: str, mimetype: str) -> Response:
    """A file download whose (Chinese) name survives every browser (RFC 6266 filename*)."""
    from urllib.parse import quote

    response = Response(content, content_type=mimetype)  # as given: a mimetype would get a second "; charset=utf-8"
    # A library name may hold / \ or quotes; the saved file's name must not.
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", filename)
    response.headers["Content-Disposition"] = f"attachment; filename=\"export.{safe.rsplit('.', 1)[-1]}\"; filename*=UTF-8''{quote(safe, safe='')}"
    return response


@blueprint.post("/ingest")
def ingest() -> Any:
    """Upload a file ``leian ingest`` reads (multipart field ``file``); 202 with the job to poll."""
    job = services().jobs.upload(services(), current_user(), request.files.get("file"))
    return jsonify(job.to_dict()), 202, {"Location": url_for("api.ingest_job", job_id=job.id)}


@blueprint.get("/ingest")
def ingest_runs() -> Any:
    """The latest ingest runs (uploads and ``leian ingest``), newest first, each with its rejects file to download."""
    return jsonify(runs=queries.ingest_runs(services(), limit=int_arg("limit", 20, 1, 500)))


@blueprint.get("/ingest/<job_id>")
def ingest_job(job_id: str) -> Any:
    job = services().jobs.get(job_id)
    if job is None:
        raise queries.NotFound(f"没有导入任务 {job_id}")
    return jsonify(job.to_dict())


@blueprint.get("/ingest/rejects/<rejects_file>")
def ingest_rejects(rejects_file: str) -> Any:
    """A rejects file (JSONL: line, fields, reasons and the record), masked by role."""
    return download(queries.rejects_file(services(), current_user(), rejects_file), rejects_file, DOWNLOAD_TYPES["jsonl"])


@blueprint.get("/users")
def users() -> Any:
    return jsonify(users=[u.to_dict() for u in services().accounts.list()])


@blueprint.post("/users")
def user_create() -> Any:
    body = _json_body()
    role = _string(body, "role")
    if role not in ROLES:
        abort(400, description=f"role 可选：{'、'.join(f'{r}（{ROLE_NAMES[r]}）' for r in ROLES)}")
    user = services().accounts.add(_string(body, "username"), role, _string(body, "password"),
                                   display_name=_string(body, "display_name", required=False),
                                   area=_string(body, "area", required=False))
    services().accounts.audit(current_user().username, "user_add", target=user.username, detail=user.role_name)
    return jsonify(user=user.to_dict()), 201


@blueprint.get("/audit")
def audit() -> Any:
    filters = {"username": request.args.get("username") or None, "action": request.args.get("action") or None,
               "since": request.args.get("since") or None, "until": request.args.get("until") or None,
               "zone": services().home.timezone}
    accounts = services().accounts
    entries = accounts.audit_log(limit=int_arg("limit", 200, 1, 10_000), offset=int_arg("offset", 0, 0, 10**9), **filters)
    return jsonify(entries=entries, total=accounts.audit_count(**filters))
