"""The OpenAPI 3.0 document of the JSON API, served at ``/api/openapi.json``.

Examples
--------
>>> document = openapi_document()
>>> document["openapi"], "/api/search" in document["paths"], "/api/cases/{case_id}" in document["paths"]
('3.0.3', True, True)
"""
from __future__ import annotations

from typing import Any

from leian.analytics.counts import COUNT_LEVELS, PERIODS, TYPE_LEVELS
from leian.library.export import FORMATS
from leian.search.filters import TREE_LEVELS
from leian.web.accounts import ROLES
from leian.web.security import ANYONE, PUBLIC, ROUTE_ROLES

__all__ = ["OPERATIONS", "RESPONSES", "SCHEMAS", "openapi_document"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "detail": {"type": "string"}},
        }
    },
}
_OBJECT = {"type": "object"}
_STRING = {"type": "string"}
_ANALYTICS = [
    ("level", {"type": "string", "enum": list(COUNT_LEVELS)}, "地点层级"),
    ("period", {"type": "string", "enum": list(PERIODS)}, "统计周期"),
    ("type_level", {"type": "string", "enum": list(TYPE_LEVELS)}, "类型粒度：大类或小类"),
]
_STRING_LIST = {"type": "array", "items": _STRING}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_TREE = {"type": "array", "items": {"$ref": "#/components/schemas/FacetNode"}}
#: Reusable schemas: a node of the place (市 › 区县 › 镇街 › 村社 › 网格) and date (年 › 月) facet trees.
SCHEMAS: dict[str, dict[str, Any]] = {
    "FacetNode": {
        "type": "object",
        "required": ["name", "level", "count", "children"],
        "properties": {
            "name": _STRING,
            "level": {"type": "string", "enum": [*TREE_LEVELS, "year", "month"]},
            "count": {"type": "integer", "minimum": 1},
            "children": _TREE,
        },
    },
}
#: Path -> schema of its success answer, where it is described beyond "an object".
RESPONSES: dict[str, dict[str, Any]] = {
    "/api/search": {
        "type": "object",
        "required": ["query", "filters", "results", "summary", "facets"],
        "properties": {
            "query": _STRING,
            "filters": {"type": "object", "additionalProperties": _STRING},
            "results": {"type": "array", "items": _OBJECT},
            "summary": _OBJECT,
            "facets": {
                "type": "object",
                "description": "候选集的分面计数：type/subtype/outcome/channel/district/town 为 值→件数；"
                               "place 为地点树（市›区县›镇街›村社›网格），date 为日期树（年›月，新在前）",
                "properties": {"place": _TREE, "date": _TREE},
                "additionalProperties": _COUNTS,
            },
            "address_history": {"type": "array", "items": _OBJECT},
            "elements": {"type": "array", "items": _OBJECT, "description": "查询中识别出的纠纷要素 {name, role}"},
            "predicted_type": {"type": ["object", "null"], "description": "推测类型 {category, subtype, probability, text}；指定了类型时为 null"},
            "total": {"type": "integer", "description": "相关度在下限以上的候选案件数"},
            "page": {"type": "integer"},
            "top_k": {"type": "integer"},
            "repeat_alert": {
                "type": "object",
                "description": "描述中提到的已知当事人与地址（仅调解员可见）：每人一次，含各种写法、既往案件与所在重复纠纷链",
                "properties": {"parties": {"type": "array", "items": _OBJECT}, "addresses": {"type": "array", "items": _OBJECT},
                               "text": _STRING},
            },
        },
    },
    "/api/risk": {
        "type": "object",
        "required": ["today", "counts", "parties"],
        "properties": {
            "today": _STRING,
            "counts": _COUNTS,
            "parties": {"type": "array", "items": {
                "type": "object",
                "required": ["party_id", "name", "level", "colour", "reasons", "revisit", "responsible", "case_ids"],
                "properties": {
                    "party_id": _STRING, "name": _STRING,
                    "level": {"type": "string", "enum": ["平安", "微", "低", "中", "高"]},
                    "colour": {"type": "string", "enum": ["蓝", "黄", "橙", "红"], "nullable": True},
                    "reasons": _STRING_LIST,
                    "revisit": {"type": "object", "properties": {
                        "every_days": {"type": "integer", "nullable": True}, "due": {"type": "string", "nullable": True}}},
                    "responsible": {"type": "string", "enum": ["村", "镇街", "区"]},
                    "case_ids": _STRING_LIST,
                },
            }},
        },
    },
}

#: (method, path, summary, endpoint (its roles are those of ROUTE_ROLES), query parameters, JSON body schema, success status).
OPERATIONS: list[tuple[str, str, str, str, list[tuple[str, dict[str, Any], str]], dict[str, Any] | None, int]] = [
    ("post", "/api/login", "登录，返回 CSRF 令牌", "api.login", [], {
        "type": "object", "required": ["username", "password"],
        "properties": {"username": _STRING, "password": _STRING}}, 200),
    ("post", "/api/logout", "退出登录", "api.logout", [], None, 200),
    ("get", "/api/me", "当前用户与 CSRF 令牌", "api.me", [], None, 200),
    ("get", "/api/search", "类案检索（结果按角色脱敏）", "api.search", [
        ("q", _STRING, "纠纷描述（没有时按 party 或 address 查找）"),
        ("top_k", {"type": "integer", "minimum": 1, "maximum": 100}, "返回条数"),
        ("type", _STRING, "类型（大类或小类）"), ("where", _STRING, "地点（任一层级）"),
        ("since", {"type": "string", "format": "date"}, "起始日期"), ("until", {"type": "string", "format": "date"}, "截止日期"),
        ("outcome", _STRING, "调解结果"), ("channel", _STRING, "来源渠道"), ("mediator", _STRING, "调解员或调解组织"),
        ("party", _STRING_LIST, "新纠纷的当事人（可多次）"),
        ("address", _STRING, "新纠纷的地址：返回该地址的既往案件 address_history"),
        ("page", {"type": "integer", "minimum": 1, "maximum": 100}, "第几页（每页 top_k 条）"),
        ("as_type", _STRING, "新纠纷的类型，代替推测类型（只提高同类案件的排名，不筛除）"),
    ], None, 200),
    ("get", "/api/cases/{case_id}", "案件详情（按角色脱敏）", "api.case", [], None, 200),
    ("get", "/api/cases/{case_id}/neighbors", "案件的图谱邻域（当事人、地点、调解员、相似与重复案件）", "api.case_neighbors", [
        ("hops", {"type": "integer", "minimum": 1, "maximum": 3}, "步数"),
    ], None, 200),
    ("get", "/api/graph/neighbors", "任一图谱节点的邻域（用于点击展开）", "api.graph_neighbors", [
        ("node", {"type": "string", "minLength": 1}, "节点编号，如 case:T0001、party:P0000001"),
        ("hops", {"type": "integer", "minimum": 1, "maximum": 3}, "步数"),
    ], None, 200),
    ("get", "/api/repeats", "重复纠纷链（同一对当事人、同一当事人同一地址、同一被申请人）", "api.repeats", [], None, 200),
    ("get", "/api/chains/{case_id}", "案件所在的重复纠纷链：全部案件的时间线与关联当事人", "api.chain", [], None, 200),
    ("get", "/api/risk", "风险台账（五级分类、四色预警；到期回访在前）", "api.risk", [
        ("level", {"type": "string", "enum": ["高", "中", "低", "微", "红", "橙", "黄", "蓝"]}, "只看此等级或颜色"),
        ("where", _STRING, "只看此地点（区县、镇街、村社、网格）"),
    ], None, 200),
    ("get", "/api/parties/{party_id}", "当事人：写法与合并依据、案件与回访时间线、风险等级及其变化", "api.party", [], None, 200),
    ("post", "/api/parties/{party_id}/followups", "记录一次回访", "api.party_followup", [], {
        "type": "object", "required": ["note"], "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 2000}}}, 201),
    ("get", "/api/hotspots", "热点（红/橙/黄/蓝）与重复纠纷", "api.hotspots", [
        *_ANALYTICS, ("at", _STRING, "检验的周期，如 2025-03"),
        ("min_count", {"type": "integer", "minimum": 1, "maximum": 100000}, "激增的最少件数"),
    ], None, 200),
    ("get", "/api/heat", "地点 × 类型热力表（到所选周期为止的近 12 期）与趋势", "api.heat", [
        *_ANALYTICS, ("at", _STRING, "到哪一期为止，如 2025-03 或 2025-W11（默认：最近一个完整周期）"),
    ], None, 200),
    ("get", "/api/clusters", "主题聚类及关键词", "api.clusters", [], None, 200),
    ("get", "/api/libraries", "案例库列表", "api.libraries", [], None, 200),
    ("post", "/api/libraries", "新建案例库", "api.library_create", [], {
        "type": "object", "required": ["name"], "properties": {"name": _STRING, "description": _STRING}}, 201),
    ("get", "/api/libraries/{library_id}", "案例库及其条目（按角色脱敏）、覆盖情况和补充建议", "api.library", [], None, 200),
    ("patch", "/api/libraries/{library_id}", "案例库改名或修改说明", "api.library_update", [], {
        "type": "object", "properties": {"name": _STRING, "description": _STRING}}, 200),
    ("post", "/api/libraries/{library_id}/cases", "向案例库加入案件（存在的加入，返回已在库中和不存在的编号）", "api.library_add", [], {
        "type": "object", "required": ["case_ids"], "properties": {"case_ids": {**_STRING_LIST, "minItems": 1}}}, 200),
    ("patch", "/api/libraries/{library_id}/entries/{case_id}", "编辑典型案例栏目、标签，审核或发布", "api.entry_edit", [], {
        "type": "object", "properties": {
            "sections": {"type": "object", "additionalProperties": _STRING},
            "tags": _STRING_LIST, "action": {"type": "string", "enum": ["review", "publish"]}}}, 200),
    ("get", "/api/libraries/{library_id}/export", "导出案例库（脱敏；默认只含已发布条目）", "api.library_export", [
        ("format", {"type": "string", "enum": list(FORMATS)}, "导出格式"),
        ("drafts", {"type": "string", "enum": ["0", "1"]}, "1：草稿和已审核条目也导出"),
    ], None, 200),
    ("post", "/api/ingest", "上传 JSONL/NDJSON/JSON/CSV/XLSX 导入（后台进行，返回任务；同 leian ingest）", "api.ingest", [], {
        "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}, 202),
    ("get", "/api/ingest", "最近的导入记录（网页上传与命令行导入，最新在前），各带可下载的拒收文件名", "api.ingest_runs", [
        ("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "条数"),
    ], None, 200),
    ("get", "/api/ingest/{job_id}", "导入任务的进度与结果（页面“数据导入”上传后）", "api.ingest_job", [], None, 200),
    ("get", "/api/ingest/rejects/{rejects_file}", "下载拒收文件（JSONL：行号、字段、原因和记录，按角色脱敏）", "api.ingest_rejects", [], None, 200),
    ("get", "/api/users", "用户列表", "api.users", [], None, 200),
    ("post", "/api/users", "新建用户", "api.user_create", [], {
        "type": "object", "required": ["username", "role", "password"],
        "properties": {"username": _STRING, "role": {"type": "string", "enum": list(ROLES)},
                       "password": {"type": "string", "minLength": 8}, "display_name": _STRING}}, 201),
    ("get", "/api/audit", "审计日志（最新在前）", "api.audit", [
        ("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "条数"), ("username", _STRING, "只看此用户"),
    ], None, 200),
]


def _roles(endpoint: str) -> str:
    """Who may call ``endpoint``, as the document says it: public, any (logged-in user), or the roles."""
    roles = ROUTE_ROLES[endpoint]
    return "public" if roles == PUBLIC else "any" if roles == ANYONE else ", ".join(r for r in ROLES if r in roles)


def _operation(method: str, path: str, summary: str, endpoint: str, params: list[tuple[str, dict[str, Any], str]],
               body: dict[str, Any] | None, status: int) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1} if name == "library_id" else {"type": "string", "minLength": 1}}
        for name in (part[1:-1] for part in path.split("/") if part.startswith("{"))
    ]
    parameters += [
        {"name": name, "in": "query", "required": name == "node", "schema": schema, "description": description,
         **({"style": "form", "explode": True} if schema.get("type") == "array" else {})}
        for name, schema, description in params
    ]
    error = {"description": "错误", "content": {"application/json": {"schema": _ERROR}}}
    responses: dict[str, Any] = {
        str(status): {"description": "成功", "content": {"application/json": {"schema": RESPONSES.get(path, _OBJECT)}}}}
    for code in ("400", "401", "403", "404"):
        responses[code] = error
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"角色 / roles: {_roles(endpoint)}",
        "operationId": f"{method}_{path.removeprefix('/api/').replace('/', '_').replace('{', '').replace('}', '')}",
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        media = "multipart/form-data" if body["properties"].get("file", {}).get("format") == "binary" else "application/json"
        operation["requestBody"] = {"required": True, "content": {media: {"schema": body}}}
    if method != "get" and path != "/api/login":
        operation["parameters"].append({"name": "X-CSRF-Token", "in": "header", "required": True, "schema": _STRING})
    if path.endswith("/export"):
        responses["200"] = {"description": "文件下载", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    return operation


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of every API route."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, *rest in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(method, path, *rest)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "LeiAn 类案 API",
            "version": "1",
            "description": "类案检索、案件、热点与案例库。登录后以会话 Cookie 访问；POST/PATCH 须带 X-CSRF-Token。",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "leian_session"}}},
        "security": [{"session": []}],
    }
