"""What the dashboard draws: the place × type table of the latest periods and the trend of each type.

Built from :func:`~leian.analytics.counts.count_cells`; every number comes with the filters of the case
list behind it (``ranges``, ``type_filters``, each row's ``where``), so a chart's cell or point opens
the cases it counts.
"""
from __future__ import annotations

from typing import Any

from leian.analytics.counts import count_cells, period_end, period_start
from leian.data.areas import Area
from leian.data.store import Store

__all__ = ["FOLDED", "heat"]

#: The trend line of the types not drawn one by one (not 其他: that is a 大类 of its own).
FOLDED = "其余类型"


def heat(store: Store, *, level: str = "town", period: str = "month", type_level: str = "category", at: str | None = None,
         area: Area | None = None, window: int = 12, max_places: int = 15, max_types: int = 12,
         trend_types: int = 6) -> dict[str, Any]:
    """What the dashboard draws for the periods up to ``at`` (default: the latest): the place × type table
    over the last ``window`` periods, and the trend per type over every period.

    ``at`` defaults to the latest complete period, as the hotspot test does. The
    busiest ``max_places`` places and ``max_types`` types make the table (``other``
    counts what it leaves out per place); the trend shows the ``trend_types`` busiest
    types and folds the rest into :data:`FOLDED`. When ``at`` is the latest complete period and
    the data goes on into one not over yet, the trend shows that one too, named in
    ``incomplete``: it is drawn as unfinished, not as a fall. ``ranges``,
    ``type_filters`` and each row's ``where`` give the filters of the case list behind
    every cell and point. With ``area``, only the cases of that area are counted.
    """
    table = count_cells(store, level, period, type_level, area)
    if not table.periods and not at:  # no dated, placed, typed case yet: an empty table, not an error
        return {"level": level, "period": period, "type_level": type_level, "at": None, "all_periods": [], "periods": [],
                "window": None, "types": [], "type_filters": {}, "places": [], "trend": {}, "trend_folded": [],
                "folded_name": FOLDED, "ranges": {}, "incomplete": None, "max": 0}
    last = table.index(at or table.latest_complete())
    # The trend goes on into the period after ``at`` when that is the data's last one, still running: drawn as unfinished.
    unfinished = last == len(table.periods) - 2 and table.last_date < period_end(table.periods[-1], period)
    periods = table.periods[: last + 2 if unfinished else last + 1]
    shown = slice(max(0, last + 1 - window), last + 1)
    by_place: dict[str, dict[str, int]] = {}
    place_names: dict[str, str] = {}
    by_type: dict[str, list[int]] = {}
    type_filters: dict[str, str] = {}
    for cell, series in table.series.items():
        row = by_place.setdefault(cell.place_label, {})
        row[cell.type] = row.get(cell.type, 0) + int(series[shown].sum())
        place_names[cell.place_label] = cell.place
        type_filters[cell.type] = f"{cell.category}/{cell.subtype}" if cell.subtype else cell.category
        totals = by_type.setdefault(cell.type, [0] * len(periods))
        by_type[cell.type] = [a + int(b) for a, b in zip(totals, series[: len(periods)])]
    types = [t for t in sorted(by_type, key=lambda t: -sum(by_type[t][shown])) if sum(by_type[t][shown])][:max_types]
    places = [p for p in sorted(by_place, key=lambda p: -sum(by_place[p].values())) if sum(by_place[p].values())][:max_places]
    since, until = period_start(periods[shown][0], period), period_end(periods[last], period)
    rows = []
    for place in places:
        counts = [by_place[place].get(t, 0) for t in types]
        total = sum(by_place[place].values())
        rows.append({"place": place, "where": place_names[place], "counts": counts, "other": total - sum(counts), "total": total})
    # A year of weeks (three years of months) reads as a trend; more is a blur.
    span = slice(max(0, len(periods) - (52 if period == "week" else 36)), len(periods))
    ranked = sorted(by_type, key=lambda t: -sum(by_type[t][span]))
    trend = {t: by_type[t][span] for t in ranked[:trend_types]}
    rest = ranked[trend_types:]
    if rest:
        trend[FOLDED] = [sum(by_type[t][i] for t in rest) for i in range(len(periods))][span]
    return {
        "level": level,
        "period": period,
        "type_level": type_level,
        "at": periods[last],
        "all_periods": table.periods,
        "periods": periods[span],
        "window": {"first": periods[shown][0], "last": periods[last], "since": since, "until": until},
        "types": types,
        "type_filters": {t: type_filters[t] for t in (*types, *trend) if t in type_filters},
        "places": rows,
        "trend": trend,
        "trend_folded": rest,
        "folded_name": FOLDED,
        "ranges": {label: [period_start(label, period), period_end(label, period)] for label in periods[span]},
        "incomplete": periods[-1] if unfinished else None,
        "max": max((c for p in places for c in by_place[p].values()), default=0),
    }
