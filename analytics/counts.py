"""Case counts by place × dispute type × period, read straight from the store's SQLite.

A *cell* is one place at one level (镇街, 网格 ...) with one dispute type (大类
or 小类). :func:`count_cells` gives every cell's series of counts over a run of
consecutive periods (months ``2025-03`` or ISO weeks ``2025-W09``), zeros
included, so that detectors and charts see the quiet periods too.

Examples
--------
>>> period_of("2025-03-11", "month"), period_of("2025-03-11", "week")
('2025-03', '2025-W11')
>>> period_span("2024-12", "2025-02", "month")
['2024-12', '2025-01', '2025-02']
>>> period_end("2025-W01", "week"), period_end("2024-02", "month")
('2025-01-05', '2024-02-29')
>>> trend_test([1, 1, 2, 0, 1, 1], [4, 5, 6]).rising
True
"""
from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from leian.data.areas import Area
from leian.data.places import LEVELS, LEVEL_NAMES, place_label
from leian.data.queries import cell_day_counts
from leian.data.store import Store
from leian.errors import InvalidInput

__all__ = [
    "COUNT_LEVELS",
    "PERIODS",
    "TYPE_LEVELS",
    "TYPE_LEVEL_NAMES",
    "PERIOD_NAMES",
    "Cell",
    "CountTable",
    "Trend",
    "period_of",
    "period_start",
    "period_end",
    "period_span",
    "count_cells",
    "trend_test",
    "check_level",
]

#: The place levels cases are counted per (a province is the whole of a deployment).
COUNT_LEVELS = LEVELS[1:]
PERIODS = ("month", "week")
TYPE_LEVELS = ("category", "subtype")
#: How periods and type levels read in Chinese output.
PERIOD_NAMES = {"month": "按月", "week": "按周"}
TYPE_LEVEL_NAMES = {"category": "大类", "subtype": "小类"}
#: Periods compared by the trend test: the latest ``TREND_WINDOW`` against the ones before.
TREND_WINDOW = 3
_NO_CELLS = "案件库中还没有同时带日期、地点和类型的案件"


def period_of(date: str, period: str) -> str:
    """The month (``2025-03``) or ISO week (``2025-W11``) a ``YYYY-MM-DD`` date falls in."""
    if period == "month":
        return date[:7]
    year, week, _ = dt.date.fromisoformat(date[:10]).isocalendar()
    return f"{year}-W{week:02d}"


def period_start(label: str, period: str) -> str:
    """The first day of a period, as ``YYYY-MM-DD``."""
    return _period_start(label, period).isoformat()


def _period_start(label: str, period: str) -> dt.date:
    if period == "month":
        return dt.date(int(label[:4]), int(label[5:7]), 1)
    return dt.date.fromisocalendar(int(label[:4]), int(label[6:]), 1)


def _is_period(label: str, period: str) -> bool:
    """Whether ``label`` names a month (``2025-03``) or an ISO week (``2025-W11``), as ``period`` says."""
    try:
        return period_of(_period_start(label, period).isoformat(), period) == label
    except ValueError:
        return False


def period_end(label: str, period: str) -> str:
    """The last day of a period, as ``YYYY-MM-DD``."""
    start = _period_start(label, period)
    if period == "month":
        return start.replace(day=calendar.monthrange(start.year, start.month)[1]).isoformat()
    return (start + dt.timedelta(days=6)).isoformat()


def period_span(first: str, last: str, period: str) -> list[str]:
    """Every period from ``first`` to ``last`` inclusive."""
    labels = []
    day = _period_start(first, period)
    stop = _period_start(last, period)
    while day <= stop:
        labels.append(period_of(day.isoformat(), period))
        day = dt.date.fromisoformat(period_end(labels[-1], period)) + dt.timedelta(days=1)
    return labels


def check_level(level: str) -> None:
    """Raise ValueError for a place level the store does not know."""
    if level not in LEVELS:
        raise InvalidInput(f"未知的地点层级 {level!r}（可选：{'、'.join(LEVELS)}）")


@dataclass(frozen=True)
class Cell:
    """One place (with the path above it) and one dispute type."""

    level: str
    path: tuple[tuple[str, str], ...]
    category: str
    subtype: str | None = None

    @property
    def place(self) -> str:
        return self.path[-1][1]

    @property
    def place_label(self) -> str:
        """The place with its parents, so equal names stay apart.

        A name repeated at the start of the next one (海澄村, 海澄村第3网格) is said once.

        >>> Cell("grid", (("town", "三灶镇"), ("community", "海澄村"), ("grid", "海澄村第3网格")), "邻里").place_label
        '三灶镇海澄村第3网格'
        """
        return place_label(dict(self.path))

    @property
    def type(self) -> str:
        return self.subtype or self.category

    def to_dict(self) -> dict[str, object]:
        return {
            "place": self.place,
            "place_label": self.place_label,
            "level": self.level,
            "level_name": LEVEL_NAMES[self.level],
            "path": dict(self.path),
            "type": self.type,
            "category": self.category,
            "subtype": self.subtype,
        }


@dataclass
class CountTable:
    """Counts for every cell over ``periods`` (consecutive, oldest first)."""

    level: str
    period: str
    type_level: str
    periods: list[str]
    series: dict[Cell, np.ndarray] = field(default_factory=dict)
    last_date: str | None = None

    def index(self, label: str) -> int:
        try:
            return self.periods.index(label)
        except ValueError:
            if not _is_period(label, self.period):  # 2026-13, 2025-W99, 三月: not a period at all
                unit, example = ("周", "2025-W11") if self.period == "week" else ("月份", "2025-03")
                raise InvalidInput(f"周期 {label!r} 不是有效的{unit}（如 {example}）") from None
            raise InvalidInput(
                f"周期 {label!r} 不在数据范围内（{self.periods[0]} 至 {self.periods[-1]}）"
                if self.periods
                else _NO_CELLS
            ) from None

    def latest_complete(self) -> str:
        """The latest period whose last day the data reaches."""
        if not self.periods:
            raise InvalidInput(_NO_CELLS)
        last = self.periods[-1]
        if self.last_date is not None and self.last_date < period_end(last, self.period) and len(self.periods) > 1:
            return self.periods[-2]
        return last

    def totals(self) -> np.ndarray:
        """All cases per period (at this level, with a type)."""
        if not self.series:
            return np.zeros(len(self.periods), dtype=np.int64)
        return np.sum(list(self.series.values()), axis=0)


def count_cells(store: Store, level: str = "town", period: str = "month", type_level: str = "category",
                area: Area | None = None) -> CountTable:
    """Count cases per cell and period (of ``area`` only, if given); cases lacking a date, the place level or the type are left out."""
    check_level(level)
    if period not in PERIODS:
        raise InvalidInput(f"未知的统计周期 {period!r}（可选：{'、'.join(PERIODS)}）")
    if type_level not in TYPE_LEVELS:
        raise InvalidInput(f"未知的类型粒度 {type_level!r}（可选：{'、'.join(TYPE_LEVELS)}）")
    path_columns = LEVELS[: LEVELS.index(level) + 1]
    type_columns = ("category", "subtype") if type_level == "subtype" else ("category",)
    # Grouping by day (not period) keeps ISO weeks in Python; a cell has at most a few hundred days.
    rows = cell_day_counts(store, path_columns, type_columns, area=area)
    by_cell: dict[Cell, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    first = last = None
    for row in rows:
        values = tuple(row)
        names, types, date, n = values[: len(path_columns)], values[len(path_columns) : -2], values[-2], values[-1]
        path = tuple((lvl, name) for lvl, name in zip(path_columns, names) if name)
        cell = Cell(level, path, types[0], types[1] if len(types) > 1 else None)
        by_cell[cell][period_of(date, period)] += n
        first = date if first is None or date < first else first
        last = date if last is None or date > last else last
    if first is None:
        return CountTable(level, period, type_level, [])
    periods = period_span(period_of(first, period), period_of(last, period), period)
    position = {label: i for i, label in enumerate(periods)}
    series = {}
    for cell in sorted(by_cell, key=lambda c: (c.path, c.category, c.subtype or "")):
        counts = np.zeros(len(periods), dtype=np.int64)
        for label, n in by_cell[cell].items():
            counts[position[label]] = n
        series[cell] = counts
    return CountTable(level, period, type_level, periods, series, last_date=last[:10])


@dataclass(frozen=True)
class Trend:
    """Recent periods against the ones before: rate ratio and a one-sided p-value."""

    recent: int
    before: int
    ratio: float
    p_value: float
    rising: bool


def trend_test(before: list[int] | np.ndarray, recent: list[int] | np.ndarray, *, alpha: float = 0.01, min_recent: int = 6) -> Trend:
    """Is the rate in ``recent`` periods higher than in ``before``?

    Conditional on the total, the recent count is binomial under equal rates
    (the classical comparison of two Poisson counts), so the p-value is exact.
    Rising needs ``p < alpha``, at least ``min_recent`` recent cases and a rate
    at least 1.5 times the earlier one.
    """
    before_sum, recent_sum = int(np.sum(before)), int(np.sum(recent))
    n_before, n_recent = len(before), len(recent)
    if n_before == 0 or n_recent == 0 or recent_sum == 0:
        return Trend(recent_sum, before_sum, 0.0, 1.0, False)
    share = n_recent / (n_before + n_recent)
    from scipy import stats  # imported here: it costs ~0.9 s of CPU, and every `leian` command imports this module

    p_value = float(stats.binom.sf(recent_sum - 1, recent_sum + before_sum, share))
    ratio = (recent_sum / n_recent) / (before_sum / n_before) if before_sum else float("inf")
    rising = p_value < alpha and recent_sum >= min_recent and ratio >= 1.5
    return Trend(recent_sum, before_sum, ratio, p_value, rising)
