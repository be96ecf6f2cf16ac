"""Times as people read them: stored in UTC, shown in local time (Asia/Shanghai unless configured).

Everything LeiAn stores carries a UTC ISO time (``2026-12-01T23:33:23+00:00``).
Wherever a person reads one — web pages, the audit log, the CLI — it goes
through :func:`local_time`, in the zone of the home's ``config.toml``::

    [display]
    timezone = "Asia/Urumqi"

Examples
--------
>>> local_time("2026-12-01T23:33:23+00:00")
'2026-12-02 07:33'
>>> local_time("2026-12-01T23:33:23+00:00", "Asia/Urumqi", seconds=True)
'2026-12-02 05:33:23'
>>> local_time(None), local_time("")
('', '')
>>> utc_bounds("2026-12-02")
('2026-12-01T16:00:00+00:00', '2026-12-02T16:00:00+00:00')
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TIMEZONE", "local_time", "now_utc", "timezone", "today", "utc_bounds"]

DEFAULT_TIMEZONE = "Asia/Shanghai"


def timezone(name: str | None = None) -> ZoneInfo:
    """The zone called ``name`` (default Asia/Shanghai); ValueError naming it if it is unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"未知的时区 {name!r}（如 Asia/Shanghai）") from None


def now_utc() -> str:
    """The current time as stored: UTC, ISO 8601, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def today(zone: str | None = None) -> str:
    """Today's date where the people are (``YYYY-MM-DD``), not where the server's clock is."""
    return dt.datetime.now(timezone(zone)).date().isoformat()


def local_time(stamp: str | dt.datetime | None, zone: str | None = None, *, seconds: bool = False) -> str:
    """A stored time (UTC ISO string or aware datetime) as local ``YYYY-MM-DD HH:MM`` (``:SS`` with ``seconds``).

    A time without a zone is taken to be UTC, as LeiAn stores it.
    """
    if not stamp:
        return ""
    moment = dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(timezone(zone)).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def utc_bounds(day: str, zone: str | None = None) -> tuple[str, str]:
    """The stored (UTC) times at which the local day ``YYYY-MM-DD`` begins and ends (end excluded)."""
    start = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), tzinfo=timezone(zone))
    end = start + dt.timedelta(days=1)
    return start.astimezone(dt.UTC).isoformat(), end.astimezone(dt.UTC).isoformat()
