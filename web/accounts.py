"""Web accounts, roles and the audit log, in tables the web package owns in the case store.

Roles: ``mediator`` 调解员, ``analyst`` 分析员, ``trainer`` 培训师, ``admin``
管理员. Passwords are stored only as werkzeug scrypt hashes. Every search,
case view, export, ingest and account change is appended to the audit log.

Examples
--------
>>> import tempfile, pathlib
>>> from leian.data.store import Store
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite")
>>> accounts = Accounts(store)
>>> accounts.add("liming", "mediator", "correct horse", display_name="李明").role
'mediator'
>>> accounts.check_password("liming", "correct horse").display_name, accounts.check_password("liming", "wrong") is None
('李明', True)
>>> accounts.add("liming", "admin", "another password")
Traceback (most recent call last):
...
leian.web.accounts.AccountError: 用户名 liming 已存在
>>> accounts.audit("liming", "search", detail="邻居漏水")
>>> [(e["username"], e["action"], e["detail"]) for e in accounts.audit_log()]
[('liming', 'search', '邻居漏水')]
>>> store.close()
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from leian.clock import now_utc, utc_bounds
from leian.data.areas import Area
from leian.data.store import Store
from leian.errors import InvalidInput
from werkzeug.security import check_password_hash, generate_password_hash

__all__ = [
    "ACTION_NAMES",
    "ALL_AREAS_ROLES",
    "MIGRATIONS",
    "MIN_PASSWORD_CHARS",
    "ROLES",
    "ROLE_NAMES",
    "SESSION_IDLE",
    "SESSION_MAX",
    "AccountError",
    "Accounts",
    "User",
]

#: Role -> its name on screen.
ROLE_NAMES = {"mediator": "调解员", "analyst": "分析员", "trainer": "培训师", "admin": "管理员"}
#: Audit action -> how the audit log names it.
ACTION_NAMES = {
    "login": "登录", "login_failed": "登录失败", "search": "检索", "browse": "浏览案件列表", "view": "查看案件", "ingest": "导入数据",
    "user_add": "新建用户", "user_update": "修改用户", "export": "导出案例库", "library_create": "新建案例库",
    "library_rename": "案例库改名", "library_delete": "删除案例库", "library_add": "加入案例库",
    "library_remove": "移出案例库", "library_edit": "编辑条目", "library_review": "审核条目",
    "library_publish": "发布条目", "dashboard_export": "导出分析表", "view_chain": "查看重复纠纷链",
    "view_party": "查看当事人", "view_risk": "查看风险台账", "followup": "记录回访",
}
ROLES = tuple(ROLE_NAMES)
MIN_PASSWORD_CHARS = 8
_USERNAME = re.compile(r"[A-Za-z0-9_.\-\u4e00-\u9fff]{2,40}")

#: Migrations of the ``web`` component (see :meth:`Store.migrate_component`).
MIGRATIONS = [
    """
    CREATE TABLE web_users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        last_login TEXT
    );
    CREATE TABLE web_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        username TEXT,
        action TEXT NOT NULL,
        target TEXT,
        detail TEXT
    );
    CREATE INDEX web_audit_at ON web_audit(at);
    CREATE INDEX web_audit_username ON web_audit(username);
    """,
    """
    CREATE TABLE web_sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES web_users(username) ON DELETE CASCADE,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE INDEX web_sessions_username ON web_sessions(username);
    """,
    # The area (区县 or 区县/镇街) whose cases the user sees; NULL: every case.
    "ALTER TABLE web_users ADD COLUMN area TEXT;",
    "CREATE INDEX web_audit_action ON web_audit(action);",
]
#: Roles that see every case whatever area their account names.
ALL_AREAS_ROLES = frozenset({"admin"})
#: After LOCKOUT_FAILURES failed logins within LOCKOUT_WINDOW from one client address, a username is refused
#: to that address for the rest of the window (its owner, elsewhere, still logs in).
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
#: A session ends after this long without a request, and in any case after SESSION_MAX.
SESSION_IDLE = dt.timedelta(hours=4)
SESSION_MAX = dt.timedelta(hours=12)
_SEEN_EVERY = dt.timedelta(minutes=5)


class AccountError(InvalidInput):
    """Bad account input (duplicate or unknown user, bad role, short password); the message is shown to the user."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: str
    active: bool
    created_at: str
    last_login: str | None
    area: str | None = None

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]

    @property
    def scope(self) -> Area | None:
        """The area whose cases this user sees, or None for every case (no area set, or a role that sees all)."""
        return None if self.role in ALL_AREAS_ROLES else Area.parse(self.area)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "role_name": self.role_name}


def _now() -> str:
    return now_utc()


def _token_hash(token: str) -> str:
    """Sessions are stored by hash: a copy of the database gives no live session."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    """Users and the audit log of one store (migrates the ``web`` tables on first use)."""

    def __init__(self, store: Store):
        self.store = store
        store.migrate_component("web", MIGRATIONS)

    def add(self, username: str, role: str, password: str, *, display_name: str | None = None,
            area: str | None = None) -> User:
        username = username.strip()
        if not _USERNAME.fullmatch(username):
            raise AccountError("用户名须为 2–40 个字母、数字、汉字或 _ . -")
        self._check_role(role)
        self._check_password(password)
        area = self._checked_area(area)
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM web_users WHERE username = ?", (username,)).fetchone():
                raise AccountError(f"用户名 {username} 已存在")
            conn.execute(
                "INSERT INTO web_users (username, display_name, role, password_hash, created_at, area) VALUES (?, ?, ?, ?, ?, ?)",
                (username, (display_name or "").strip() or username, role, generate_password_hash(password), _now(), area),
            )
        return self.require(username)

    def update(self, username: str, *, role: str | None = None, active: bool | None = None,
               password: str | None = None, area: str | None = None) -> User:
        """Change a user's role, whether they may log in, their password, or their area (``""``: every case)."""
        before = self.require(username)
        if role is not None:
            self._check_role(role)
        if password is not None:
            self._check_password(password)
        new_area = self._checked_area(area) if area is not None else before.area
        with self.store.transaction() as conn:
            if new_area != before.area:
                conn.execute("UPDATE web_users SET area = ? WHERE username = ?", (new_area, username))
            if role is not None:
                conn.execute("UPDATE web_users SET role = ? WHERE username = ?", (role, username))
            if active is not None:
                conn.execute("UPDATE web_users SET active = ? WHERE username = ?", (int(active), username))
            if password is not None:
                conn.execute(
                    "UPDATE web_users SET password_hash = ? WHERE username = ?", (generate_password_hash(password), username)
                )
            if active is False or password is not None or role is not None or new_area != before.area:
                # Whoever was logged in as this user must log in again under the new terms.
                conn.execute("DELETE FROM web_sessions WHERE username = ?", (username,))
        return self.require(username)

    def get(self, username: str) -> User | None:
        row = self.store.conn.execute("SELECT * FROM web_users WHERE username = ?", (username,)).fetchone()
        return _user(row) if row else None

    def require(self, username: str) -> User:
        user = self.get(username)
        if user is None:
            raise AccountError(f"没有用户 {username}")
        return user

    def list(self) -> list[User]:
        return [_user(row) for row in self.store.conn.execute("SELECT * FROM web_users ORDER BY username")]

    def check_password(self, username: str, password: str, *, client: str | None = None) -> User | None:
        """The active user with this password (and their last login updated), else None.

        A username with too many recent failed logins from ``client`` is refused to it whatever the
        password (guessing is slowed to LOCKOUT_FAILURES tries per LOCKOUT_WINDOW and address), while
        the same username from another address is not: a stranger cannot keep a user out.
        Every call verifies one password hash, so how long it takes tells no username that exists.
        """
        row = self.store.conn.execute("SELECT * FROM web_users WHERE username = ?", (username,)).fetchone()
        known = row is not None and bool(row["active"])
        matches = check_password_hash(row["password_hash"] if known else _dummy_hash(), password)
        if not known or not matches or self.locked_out(username, client):
            return None
        with self.store.transaction() as conn:
            conn.execute("UPDATE web_users SET last_login = ? WHERE username = ?", (_now(), username))
        return self.get(username)

    def audit_name(self, username: str) -> str | None:
        """How the audit log names who tried to log in: an account by its name, anything else (a mistyped
        password, a phone number) only by a short hash that tells repeated tries apart."""
        username = username.strip()
        if not username:
            return None
        if self.get(username) is not None:
            return username
        return "未知用户#" + hashlib.sha256(username.encode("utf-8")).hexdigest()[:10]

    def locked_out(self, username: str, client: str | None) -> bool:
        """Whether ``username`` had LOCKOUT_FAILURES failed logins from ``client`` within the last LOCKOUT_WINDOW
        (a failed login is audited with its client address as target)."""
        since = (dt.datetime.now(dt.UTC) - LOCKOUT_WINDOW).isoformat(timespec="seconds")
        failures = self.store.conn.execute(
            "SELECT COUNT(*) FROM web_audit WHERE action = 'login_failed' AND username = ? AND target IS ? AND at >= ?",
            (self.audit_name(username), client, since),
        ).fetchone()[0]
        return failures >= LOCKOUT_FAILURES

    def open_session(self, username: str) -> str:
        """A new login session for ``username``; returns its secret token (kept only in the user's cookie)."""
        token = secrets.token_urlsafe(32)
        now = _now()
        with self.store.transaction() as conn:
            conn.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?)", (_token_hash(token), username, now, now))
        return token

    def session_user(self, token: str) -> User | None:
        """The active user of a live session, else None (an expired session is removed)."""
        row = self.store.conn.execute(
            "SELECT s.username, s.created_at, s.last_seen FROM web_sessions s WHERE s.token_hash = ?", (_token_hash(token),)
        ).fetchone()
        if row is None:
            return None
        now = dt.datetime.now(dt.UTC)
        created, seen = dt.datetime.fromisoformat(row["created_at"]), dt.datetime.fromisoformat(row["last_seen"])
        if now - seen > SESSION_IDLE or now - created > SESSION_MAX:
            self.close_session(token)
            return None
        if now - seen > _SEEN_EVERY:
            with self.store.transaction() as conn:
                conn.execute("UPDATE web_sessions SET last_seen = ? WHERE token_hash = ?", (_now(), _token_hash(token)))
        user = self.get(row["username"])
        return user if user is not None and user.active else None

    def close_session(self, token: str) -> None:
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM web_sessions WHERE token_hash = ?", (_token_hash(token),))

    def audit(self, username: str | None, action: str, *, target: str | None = None, detail: str | None = None) -> None:
        """Append one entry to the audit log."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO web_audit (at, username, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (_now(), username, action, target, detail),
            )

    def audit_log(self, *, limit: int = 200, offset: int = 0, username: str | None = None, action: str | None = None,
                  since: str | None = None, until: str | None = None, zone: str | None = None) -> list[dict[str, Any]]:
        """Audit entries, newest first, by one user and of one action if given, on the local days
        ``since`` .. ``until`` (``YYYY-MM-DD`` in ``zone``, both included); ``limit`` of them from ``offset``."""
        where, params = self._audit_where(username, action, since, until, zone)
        rows = self.store.conn.execute(
            f"SELECT at, username, action, target, detail FROM web_audit{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [dict(row) for row in rows]

    def audit_count(self, *, username: str | None = None, action: str | None = None, since: str | None = None,
                    until: str | None = None, zone: str | None = None) -> int:
        """How many audit entries :meth:`audit_log` with these filters has in all."""
        where, params = self._audit_where(username, action, since, until, zone)
        return self.store.conn.execute(f"SELECT COUNT(*) FROM web_audit{where}", params).fetchone()[0]

    def audit_users(self) -> list[str]:
        """Every name the audit log holds, for the filter's choices."""
        rows = self.store.conn.execute("SELECT DISTINCT username FROM web_audit WHERE username IS NOT NULL ORDER BY username")
        return [row[0] for row in rows]

    @staticmethod
    def _audit_where(username: str | None, action: str | None, since: str | None, until: str | None,
                     zone: str | None) -> tuple[str, list[str]]:
        clauses, params = [], []
        if username:
            clauses.append("username = ?")
            params.append(username)
        if action:
            if action not in ACTION_NAMES:
                raise AccountError(f"未知操作 {action}")
            clauses.append("action = ?")
            params.append(action)
        for day, bound, label in ((since, 0, "起始日期"), (until, 1, "截止日期")):
            if day:
                try:
                    moment = utc_bounds(day, zone)[bound]
                except ValueError:
                    raise AccountError(f"{label}不是有效日期（YYYY-MM-DD）：{day}") from None
                clauses.append("at >= ?" if bound == 0 else "at < ?")
                params.append(moment)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _checked_area(self, area: str | None) -> str | None:
        """``area`` as stored (None: every case); AccountError when it is malformed or no case lies in it."""
        try:
            parsed = Area.parse(area)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        if parsed is not None and not parsed.exists_in(self.store):
            raise AccountError(f"案件库中没有区域 {parsed.label} 的案件（请从已有的区县、镇街中选择）")
        return str(parsed) if parsed else None

    @staticmethod
    def _check_role(role: str) -> None:
        if role not in ROLE_NAMES:
            raise AccountError(f"未知角色 {role}（可选：{'、'.join(ROLES)}）")

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"密码至少 {MIN_PASSWORD_CHARS} 个字符")


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made like every stored one: verified when the username has no account."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _user(row: Any) -> User:
    return User(row["username"], row["display_name"], row["role"], bool(row["active"]), row["created_at"], row["last_login"],
                row["area"])
