"""Who may call what (one declarative table), CSRF tokens, and the security headers.

Every Flask endpoint must appear in :data:`ROUTE_ROLES`; one that does not is
refused to everybody (deny by default), and a test checks that the table and
the app's URL map agree exactly.

Examples
--------
>>> allowed("pages.dashboard", "analyst"), allowed("pages.dashboard", "mediator")
(True, False)
>>> allowed("api.users", "admin"), allowed("no.such.endpoint", "admin")
(True, False)
"""
from __future__ import annotations

import hmac
import secrets

from flask import session
from leian.web.accounts import ROLES

__all__ = ["ANYONE", "PUBLIC", "ROUTE_ROLES", "SECURITY_HEADERS", "allowed", "csrf_token", "csrf_valid", "is_public"]

PUBLIC = frozenset({"public"})
ANYONE = frozenset(ROLES)
_ANALYSTS = frozenset({"analyst", "admin"})
_TRAINERS = frozenset({"trainer", "admin"})
_ADMINS = frozenset({"admin"})
#: The risk register and parties' pages: those who visit families (mediators) and those who watch them (analysts).
_REGISTER = frozenset({"mediator", "analyst", "admin"})
#: Who records a revisit: the people who make them.
_VISITORS = frozenset({"mediator", "admin"})

#: Endpoint -> roles allowed (PUBLIC: no login needed).
ROUTE_ROLES: dict[str, frozenset[str]] = {
    "static": PUBLIC,
    "pages.login": PUBLIC,
    "pages.logout": ANYONE,
    "pages.home": ANYONE,
    "pages.case": ANYONE,
    "pages.dashboard": _ANALYSTS,
    "pages.risk": _REGISTER,
    "pages.party": _REGISTER,
    "pages.party_followup": _VISITORS,
    "pages.chain": ANYONE,
    "pages.dashboard_export": _ANALYSTS,
    "pages.libraries": _TRAINERS,
    "pages.library": _TRAINERS,
    "pages.library_add": _TRAINERS,
    "pages.library_settings": _TRAINERS,
    "pages.entry": _TRAINERS,
    "pages.entry_status": _TRAINERS,
    "pages.library_export": _TRAINERS,
    "pages.ingest": _ADMINS,
    "pages.users": _ADMINS,
    "pages.user_update": _ADMINS,
    "pages.audit": _ADMINS,
    "api.openapi": PUBLIC,
    "api.login": PUBLIC,
    "api.logout": ANYONE,
    "api.me": ANYONE,
    "api.search": ANYONE,
    "api.case": ANYONE,
    "api.case_neighbors": ANYONE,
    "api.graph_neighbors": ANYONE,
    "api.repeats": ANYONE,
    "api.chain": ANYONE,
    "api.risk": _REGISTER,
    "api.party": _REGISTER,
    "api.party_followup": _VISITORS,
    "api.hotspots": _ANALYSTS,
    "api.clusters": _ANALYSTS,
    "api.heat": _ANALYSTS,
    "api.libraries": _TRAINERS,
    "api.library_create": _TRAINERS,
    "api.library": _TRAINERS,
    "api.library_add": _TRAINERS,
    "api.library_update": _TRAINERS,
    "api.entry_edit": _TRAINERS,
    "api.library_export": _TRAINERS,
    "api.ingest": _ADMINS,
    "api.ingest_job": _ADMINS,
    "api.ingest_runs": _ADMINS,
    "api.ingest_rejects": _ADMINS,
    "api.users": _ADMINS,
    "api.user_create": _ADMINS,
    "api.audit": _ADMINS,
}


def is_public(endpoint: str | None) -> bool:
    return ROUTE_ROLES.get(endpoint or "") is PUBLIC


def allowed(endpoint: str | None, role: str) -> bool:
    roles = ROUTE_ROLES.get(endpoint or "")
    return roles is not None and (roles is PUBLIC or role in roles)


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_valid(sent: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(expected, sent))


#: Sent with every response. No inline scripts or styles anywhere, so CSP needs no 'unsafe-inline'.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
