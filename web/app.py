"""The Flask application: one per process, sharing one store and the engines loaded once.

``create_app(home)`` opens the store, creates the web tables, and registers
the pages (:mod:`leian.web.pages`) and the JSON API (:mod:`leian.web.api`).
Before any view runs, the requester's login and role are checked against
:data:`leian.web.security.ROUTE_ROLES` and every state-changing request must
carry the session's CSRF token. Errors are JSON under ``/api/`` and a page
elsewhere, always with a message in 简体中文 (the status code is for programs).

Examples
--------
>>> import tempfile
>>> from leian.home import Home
>>> app = create_app(Home.resolve(tempfile.mkdtemp()), testing=True)
>>> response = app.test_client().get("/api/cases/A1")
>>> response.status_code, response.get_json()["error"]["message"]
(401, '请先登录')
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from leian.clock import local_time
from leian.data.normalize import strip_bidi
from leian.data.private import open_private, use_private_umask
from leian.errorlog import record_bug
from leian.errors import NotFound, UserError
from leian.library.store import STATUS_NAMES
from leian.search.engine import type_label
from leian.search.fusion import RELEVANCE_HINT, relevance_label
from leian.settings import LOGIN_LIMIT
from leian.web.accounts import ACTION_NAMES, ROLE_NAMES, User
from leian.web.queries import Updating
from leian.web.security import (
    ROUTE_ROLES,
    SECURITY_HEADERS,
    allowed,
    csrf_token,
    csrf_valid,
    is_public,
)
from leian.web.services import Services
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from leian.home import Home

__all__ = ["LOGIN_LIMIT", "MESSAGES", "client_address", "create_app", "current_user", "log_in", "log_out",
           "services"]

#: Status code -> the message users see.
MESSAGES = {
    400: "请求有误",
    401: "请先登录",
    403: "无权访问",
    404: "未找到",
    405: "不支持该请求方法",
    413: "文件过大",
    429: "请求过于频繁，请稍后再试",
    500: "服务器内部错误",
    503: "正在更新，请稍候",
}
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


def services() -> Services:
    """The process's :class:`~leian.web.services.Services` (the Python API the views ask)."""
    return current_app.extensions["leian"]


def current_user() -> User:
    return g.user


def client_address() -> str:
    """The requester's address (the one a trusted proxy reports, with ``[web] proxies``): what rate limits
    and login lockouts are kept per."""
    return request.remote_addr or "-"


def log_in(username: str, password: str) -> User | None:
    """Check the password and start a new session (a fresh cookie: no session fixation); audited with the client's address."""
    accounts = services().accounts
    user = accounts.check_password(username, password, client=client_address())
    if user is None:
        accounts.audit(accounts.audit_name(username), "login_failed", target=client_address())
        return None
    session.clear()
    session["sid"] = accounts.open_session(user.username)
    accounts.audit(user.username, "login")
    return user


def log_out() -> None:
    """End the session on the server too: the old cookie is worthless afterwards."""
    if "sid" in session:
        services().accounts.close_session(session["sid"])
    session.clear()


def _secret_key(home: Home) -> bytes:
    """The session-signing key, kept in the home so every server process and restart share it."""
    path = Path(home.root) / "web-secret.key"
    if not path.exists():
        key = secrets.token_bytes(32)
        try:
            with open_private(path, "xb") as handle:  # another process may win the race; then read theirs
                handle.write(key)
        except FileExistsError:
            pass
    return path.read_bytes()


def create_app(home: Home, *, testing: bool = False) -> Flask:
    """The LeiAn web app for ``home`` (the store is created if it does not exist yet).

    The process's umask becomes 077: what the app writes (uploads, indexes, the graph) is the owner's only.
    """
    use_private_umask()
    app = Flask(__name__.rsplit(".", 1)[0], template_folder="templates", static_folder="static")
    app.json = _ShownJSON(app)
    settings = home.settings.web
    app.config.update(
        TESTING=testing,
        SECRET_KEY=secrets.token_bytes(32) if testing else _secret_key(home),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="leian_session",
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False  # keep the engines' order (facets and outcomes largest first), as the CLI prints it
    app.extensions["leian"] = Services(home)

    from leian.web import api, pages

    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api")
    if settings.proxies:
        # Behind N reverse proxies the client is the address the outermost one saw (X-Forwarded-For).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies)  # type: ignore[method-assign]
    _limit_logins(app, settings.login_limit)
    app.before_request(_check_access)
    app.after_request(_add_headers)
    # A user's mistake (leian.errors.UserError) is a 4xx with its message; anything else is a bug: a 500
    # with the id under which its traceback went to <home>/logs/errors.log.
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(NotFound, lambda exc: _error(404, str(exc)))
    app.register_error_handler(Updating, _updating)
    app.register_error_handler(UserError, lambda exc: _error(400, str(exc)))
    app.register_error_handler(Exception, _server_error)
    zone = home.timezone
    app.jinja_env.globals.update(csrf_token=csrf_token, ROLE_NAMES=ROLE_NAMES, ACTION_NAMES=ACTION_NAMES,
                                 STATUS_NAMES=STATUS_NAMES, RELEVANCE_HINT=RELEVANCE_HINT, allowed=allowed)
    app.jinja_env.filters["relevance"] = relevance_label
    app.jinja_env.filters["type_label"] = type_label
    app.jinja_env.filters["localtime"] = lambda stamp, seconds=False: local_time(stamp, zone, seconds=seconds)
    app.jinja_env.finalize = _shown
    return app


def _limit_logins(app: Flask, limit: str) -> None:
    """Count failed logins per client address, on the page and the API together; past ``limit`` the client
    gets 429 until the window moves on."""
    limiter = Limiter(client_address, app=app, storage_uri="memory://", headers_enabled=True)
    rule = limiter.shared_limit(limit, scope="login", methods=["POST"], deduct_when=lambda response: response.status_code == 401)
    for endpoint in ("pages.login", "api.login"):
        app.view_functions[endpoint] = rule(app.view_functions[endpoint])


def _shown(value: Any) -> Any:
    """Every value a template prints, without bidirectional control characters (no text can pose as another)."""
    if isinstance(value, Markup):
        return Markup(strip_bidi(str(value)))
    return strip_bidi(value) if isinstance(value, str) else value


class _ShownJSON(DefaultJSONProvider):
    """JSON answers without bidirectional control characters, like the pages (they are never part of JSON's syntax)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return strip_bidi(super().dumps(obj, **kwargs))


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _check_access() -> Any:
    """Login, role and CSRF checks for every request that matched a route."""
    endpoint = request.endpoint
    g.user = None
    if "sid" in session:
        g.user = services().accounts.session_user(session["sid"])
        if g.user is None:
            session.clear()
    if endpoint is None:  # no route matched: Flask answers 404/405 itself (with the page's usual top bar)
        return None
    if not is_public(endpoint):
        if g.user is None:
            if _wants_json():
                return _error(401)
            return redirect(url_for("pages.login", next=request.full_path if request.query_string else request.path))
        if not allowed(endpoint, g.user.role):
            return _error(403, _refusal(endpoint, g.user))
    if request.method not in _SAFE_METHODS and endpoint != "api.login":
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
        if not csrf_valid(sent):
            return _error(400, "CSRF 令牌缺失或无效，请刷新页面后重试")
    return None


def _refusal(endpoint: str, user: User) -> str | None:
    """Who may use what ``user`` was refused (a link from a colleague of another role), or None where nobody may."""
    roles = ROUTE_ROLES.get(endpoint)
    if not roles:
        return None
    names = "、".join(name for role, name in ROLE_NAMES.items() if role in roles)
    return f"此页面或操作仅限{names}使用；您登录的角色是{ROLE_NAMES[user.role]}。"


def _add_headers(response: Any) -> Any:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        # Pages and answers carry personal data: never keep them in a shared cache.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _error(code: int, detail: str | None = None, log_id: str | None = None) -> Response:
    message = MESSAGES.get(code, f"错误 {code}")
    if _wants_json():
        body: dict[str, Any] = {"code": code, "message": message}
        if detail:
            body["detail"] = detail
        if log_id:
            body["log_id"] = log_id
        return make_response(jsonify(error=body), code)
    return make_response(render_template("error.html", code=code, message=message, detail=detail), code)


def _updating(exc: Updating) -> Response:
    response = _error(503, str(exc))
    response.headers["Retry-After"] = "5"
    return response


def _http_error(exc: HTTPException) -> Any:
    code = exc.code or 500
    # Werkzeug's own descriptions are generic English; ours are given with abort(code, description=...).
    detail = exc.description if exc.description and exc.description != type(exc).description else None
    if code == 429:  # flask-limiter's description is the limit in English
        detail = "登录失败次数过多，请稍后再试"
    response = _error(code, detail)
    if code == 405 and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _server_error(exc: Exception) -> Any:
    """A bug: its traceback to the home's error log under a short id, which the answer names (never the traceback)."""
    bug = record_bug(exc, services().home.root, where=f"{request.method} {request.path}")
    current_app.logger.error("unhandled error %s (traceback in %s)", bug.id, bug.path)
    return _error(500, f"内部错误（编号 {bug.id}），已记入服务器错误日志；报告时请附上编号。", log_id=bug.id)
