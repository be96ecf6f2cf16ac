"""Hotspots: spikes, rising trends and latent risks per place × dispute type, with 红/橙/黄/蓝 levels.

How a spike is found
    Each cell (one place at the chosen level, one 大类 or 小类) is tested in one
    period (default: the latest complete period). Its baseline is the cell's
    own history (up to ``HISTORY`` earlier periods, weighted so that the most
    recent count most: half-life ``HALF_LIFE`` periods) shrunk toward its peers
    (the same type in every other place at the level): the peers give a Gamma
    prior, the cell's history updates it, and the count expected in the tested
    period follows the Gamma-Poisson (negative binomial) predictive. The p-value
    is that distribution's upper tail at the observed count. All cells are then
    corrected together with Benjamini-Hochberg (false discovery rate ``fdr``).
    A spike needs all of: ``q <= fdr``, at least ``min_count`` cases, at least
    ``min_ratio`` times the expected count and at least ``MIN_EXCESS`` cases
    above it, so one or two cases in a quiet cell never raise an alarm.

Risk levels (each hotspot says why it got its colour, in ``why``)
    红  significant spike that involves a group dispute (a party of kind group,
        such as 等12人 or 村民) or a repeat chain (a party of these cases with
        ``REPEAT_MIN`` or more cases in all).
    橙  significant spike.
    黄  rising trend: the last ``TREND_WINDOW`` periods against the earlier
        history, exact Poisson rate comparison, BH-corrected, rate at least 1.5
        times higher and at least 6 recent cases.
    蓝  latent risk: a party with ``REPEAT_MIN`` or more cases in this cell
        within the history window, or ``UNRESOLVED_MIN`` or more cases of the
        window still 处理中 more than ``STALE_DAYS`` days after they happened
        (counted at the end of the tested period; fresh cases are open anyway).

Repeat hotspots (:func:`repeat_hotspots`) are parties and addresses with
``REPEAT_MIN`` or more cases. A party is an entity resolved by the graph
package (``leian.graph``: name variants, phones, ID numbers, addresses) when
the graph has caught up with the store; otherwise its normalised name
together with its phone or ID number. A bare name (``王某``) is never taken to
be one person.

Examples
--------
>>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
[0.04, 0.053, 0.053, 0.5]
>>> round(spike_p_value(14, prior_mean=1.0, prior_weight=3.0, history_sum=3.0, history_weight=10.0), 12) < 1e-6
True
>>> spike_p_value(2, prior_mean=1.0, prior_weight=3.0, history_sum=10.0, history_weight=10.0) > 0.1
True
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from leian.analytics.counts import (
    TREND_WINDOW,
    Cell,
    CountTable,
    count_cells,
    period_end,
    period_start,
    trend_test,
)
from leian.data.areas import Area
from leian.data.places import LEVELS
from leian.data.queries import IDENTIFIED_PARTIES_SQL, cell_case_rows, party_case_dates, party_case_totals, repeat_parties
from leian.data.record import UNRESOLVED
from leian.data.store import Store
from leian.graph.repeats import RESOLVED_PARTIES_SQL, address_counts, resolution_is_current

__all__ = [
    "RISKS",
    "RISK_RULES",
    "Hotspot",
    "HotspotReport",
    "detect_hotspots",
    "repeat_hotspots",
    "spike_p_value",
    "benjamini_hochberg",
]

RISKS = ("红", "橙", "黄", "蓝")
RISK_RULES = {
    "红": "显著激增，且涉及群体性纠纷（群体当事人）或重复纠纷链（当事人累计≥3件）",
    "橙": "显著激增（负二项检验经BH多重校正显著，件数≥最小件数且明显高于基线）",
    "黄": "上升趋势（近3期发案率显著高于此前，且≥1.5倍）",
    "蓝": "潜在风险：同一当事人在此反复发案（≥3件），或超过60天仍处理中的案件积压（≥3件）",
}
HISTORY = 24
HALF_LIFE = 6.0
MIN_EXCESS = 3.0
REPEAT_MIN = 3
UNRESOLVED_MIN = 3
STALE_DAYS = 60


def benjamini_hochberg(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    q = np.empty_like(adjusted)
    q[order] = adjusted
    return q


def spike_p_value(count: int, *, prior_mean: float, prior_weight: float, history_sum: float, history_weight: float) -> float:
    """Upper tail P(X >= count) of the Gamma-Poisson predictive for the tested period.

    Args:
        count: cases in the tested period.
        prior_mean: the peers' rate per period (the prior's mean).
        prior_weight: how many periods the prior is worth.
        history_sum: the cell's (weighted) cases in its history.
        history_weight: the (weighted) number of history periods.
    """
    if count <= 0:
        return 1.0
    shape = prior_mean * prior_weight + history_sum
    rate = prior_weight + history_weight
    return float(stats.nbinom.sf(count - 1, shape, rate / (rate + 1.0)))


def _peer_prior(rates: np.ndarray, weight: float) -> tuple[float, float]:
    """Gamma prior (mean, weight in periods) from peer rates by the method of moments."""
    mean = max(float(rates.mean()), 0.05)
    # Between-cell variance beyond what Poisson noise in the history explains.
    spread = float(rates.var()) - mean / max(weight, 1.0)
    prior_weight = mean / spread if spread > 0 else weight
    return mean, float(np.clip(prior_weight, 0.5, max(weight, 0.5)))


@dataclass
class Hotspot:
    """One flagged cell in the tested period."""

    cell: Cell
    period: str
    count: int
    expected: float
    p_value: float
    q_value: float
    risk: str
    why: str
    trend_ratio: float | None = None
    case_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            **self.cell.to_dict(),
            "period": self.period,
            "count": self.count,
            "expected": round(self.expected, 2),
            "p_value": float(f"{self.p_value:.3g}"),
            "q_value": float(f"{self.q_value:.3g}"),
            "risk": self.risk,
            "why": self.why,
            "trend_ratio": None if self.trend_ratio is None else round(self.trend_ratio, 2),
            "case_ids": self.case_ids,
        }


@dataclass
class HotspotReport:
    """Everything one run found, plus what it tested."""

    level: str
    period_kind: str
    type_level: str
    period: str
    cells_tested: int
    hotspots: list[Hotspot]
    spikes: set[Cell]

    def to_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "period_kind": self.period_kind,
            "type_level": self.type_level,
            "period": self.period,
            "cells_tested": self.cells_tested,
            "risk_rules": RISK_RULES,
            "hotspots": [h.to_dict() for h in self.hotspots],
        }


@dataclass
class _CaseFacts:
    """What the risk rules need about the cases of one cell."""

    period_cases: list[str] = field(default_factory=list)
    group_cases: list[str] = field(default_factory=list)
    stale_unresolved: int = 0
    parties: Counter[str] = field(default_factory=Counter)
    period_parties: set[str] = field(default_factory=set)


def detect_hotspots(
    store: Store,
    *,
    level: str = "town",
    period: str = "month",
    type_level: str = "category",
    at: str | None = None,
    fdr: float = 0.05,
    min_count: int = 5,
    min_ratio: float = 2.0,
    area: Area | None = None,
) -> HotspotReport:
    """Test every cell (of ``area`` only, if given) in period ``at`` (default: the latest complete one) and rate its risk."""
    table = count_cells(store, level, period, type_level, area)
    tested = at or table.latest_complete()
    t = table.index(tested)
    cells = list(table.series)
    start = max(0, t - HISTORY)
    # Weight 1 for the period just before the tested one, halving every HALF_LIFE periods back.
    ages = np.arange(t - start, 0, -1, dtype=float)
    weights = 0.5 ** ((ages - 1) / HALF_LIFE)
    history_weight = float(weights.sum())
    counts = np.array([table.series[c][t] for c in cells], dtype=np.int64)
    history = np.array([table.series[c][start:t] @ weights for c in cells]) if t > 0 else np.zeros(len(cells))

    expected = np.zeros(len(cells))
    p_values = np.ones(len(cells))
    by_type: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for i, cell in enumerate(cells):
        by_type[(cell.category, cell.subtype)].append(i)
    for members in by_type.values():
        rates = history[members] / history_weight if history_weight else np.zeros(len(members))
        prior_mean, prior_weight = _peer_prior(rates, history_weight)
        for i in members:
            shape = prior_mean * prior_weight + history[i]
            expected[i] = shape / (prior_weight + history_weight)
            p_values[i] = spike_p_value(
                int(counts[i]), prior_mean=prior_mean, prior_weight=prior_weight,
                history_sum=history[i], history_weight=history_weight,
            )
    q_values = benjamini_hochberg(p_values)
    spike = (
        (q_values <= fdr)
        & (counts >= min_count)
        & (counts >= min_ratio * expected)
        & (counts - expected >= MIN_EXCESS)
    )

    trend_p = np.ones(len(cells))
    trends = []
    recent_from = max(0, t - TREND_WINDOW + 1)
    for i, cell in enumerate(cells):
        series = table.series[cell]
        trends.append(trend_test(series[start:recent_from], series[recent_from : t + 1]))
        trend_p[i] = trends[-1].p_value
    trend_q = benjamini_hochberg(trend_p)

    facts = _case_facts(store, table, tested, start, area)
    party_totals = _party_case_totals(store, period_end(tested, period), area)
    hotspots = []
    for i, cell in enumerate(cells):
        fact = facts.get(cell, _CaseFacts())
        rising = trends[i].rising and trend_q[i] <= 0.01
        risk, why = _rate(cell, bool(spike[i]), rising, int(counts[i]), expected[i], q_values[i], trends[i].ratio, fact, party_totals)
        if risk is None:
            continue
        hotspots.append(
            Hotspot(cell, tested, int(counts[i]), float(expected[i]), float(p_values[i]), float(q_values[i]),
                    risk, why, trends[i].ratio if trends[i].before else None, fact.period_cases)
        )
    hotspots.sort(key=lambda h: (RISKS.index(h.risk), h.p_value, -h.count, h.cell.place_label, h.cell.type))
    spikes = {cells[i] for i in np.flatnonzero(spike)}
    return HotspotReport(level, period, type_level, tested, len(cells), hotspots, spikes)


def _rate(cell: Cell, spike: bool, rising: bool, count: int, expected: float, q: float, ratio: float,
          fact: _CaseFacts, party_totals: dict[str, tuple[str, int]]) -> tuple[str | None, str]:
    """The colour and the reason, in Chinese, by the rules in the module docstring."""
    if spike:
        base = f"本期{count}件，预期{expected:.1f}件（约{count / max(expected, 0.01):.1f}倍，校正后q={q:.2g}）"
        chains = sorted(
            {party_totals[key] for key in fact.period_parties if party_totals[key][1] >= REPEAT_MIN},
            key=lambda item: (-item[1], item[0]),
        )
        reasons = []
        if fact.group_cases:
            reasons.append(f"涉及群体性纠纷{len(fact.group_cases)}件")
        if chains:
            reasons.append("重复纠纷当事人" + "、".join(f"{name}（累计{n}件）" for name, n in chains[:3]))
        if reasons:
            return "红", f"显著激增：{base}；" + "；".join(reasons)
        return "橙", f"显著激增：{base}"
    if rising:
        return "黄", f"上升趋势：近{TREND_WINDOW}期发案率为此前的{ratio:.1f}倍（本期{count}件）"
    repeaters = [(party_totals[key][0], n) for key, n in fact.parties.most_common() if n >= REPEAT_MIN]
    latent = []
    if repeaters:
        latent.append("同一当事人反复发案：" + "、".join(f"{name}{n}件" for name, n in repeaters[:3]))
    if fact.stale_unresolved >= UNRESOLVED_MIN:
        latent.append(f"{fact.stale_unresolved}件超过{STALE_DAYS}天仍处理中")
    if latent:
        return "蓝", "潜在风险：" + "；".join(latent)
    return None, ""


def _cell_of(table: CountTable, row: tuple) -> Cell:
    path_columns = LEVELS[: LEVELS.index(table.level) + 1]
    names = row[: len(path_columns)]
    path = tuple((lvl, name) for lvl, name in zip(path_columns, names) if name)
    subtype = row[len(path_columns) + 1] if table.type_level == "subtype" else None
    return Cell(table.level, path, row[len(path_columns)], subtype)


def _case_facts(store: Store, table: CountTable, tested: str, start: int, area: Area | None) -> dict[Cell, _CaseFacts]:
    """Cases of the tested period, group disputes, stale unresolved cases and parties per cell (of ``area``'s
    cases only, if given: a 区县 cell seen from one 镇街 holds that town's cases), in one pass."""
    path_columns = LEVELS[: LEVELS.index(table.level) + 1]
    window_start = period_start(table.periods[start], table.period)
    tested_day = period_start(tested, table.period)
    end = period_end(tested, table.period)
    stale_before = (dt.date.fromisoformat(end) - dt.timedelta(days=STALE_DAYS)).isoformat()
    rows = cell_case_rows(store, path_columns, window_start, end, area)
    facts: dict[Cell, _CaseFacts] = defaultdict(_CaseFacts)
    ids_by_cell: dict[str, Cell] = {}
    for row in rows:
        if table.type_level == "subtype" and row["subtype"] is None:
            continue
        cell = _cell_of(table, tuple(row))
        fact = facts[cell]
        case_id, date, outcome, has_group = row["id"], row["case_date"], row["outcome"], row["has_group"]
        ids_by_cell[case_id] = cell
        if date >= tested_day:
            fact.period_cases.append(case_id)
            if has_group:
                fact.group_cases.append(case_id)
        if date < stale_before and outcome == UNRESOLVED:
            fact.stale_unresolved += 1
    for case_id, key, case_date in party_case_dates(store, _parties(store), window_start, end):
        if case_id in ids_by_cell:
            fact = facts[ids_by_cell[case_id]]
            fact.parties[key] += 1
            if case_date >= tested_day:
                fact.period_parties.add(key)
    return facts


def _parties(store: Store) -> str:
    """SQL for (case_id, name, identity) of every identified party.

    The graph's resolved entities when its resolution has seen every change in
    the store; otherwise name + ID number or phone (parties with neither left out).
    """
    if resolution_is_current(store):
        return RESOLVED_PARTIES_SQL
    return IDENTIFIED_PARTIES_SQL


def _party_case_totals(store: Store, last: str, area: Area | None) -> dict[str, tuple[str, int]]:
    """For every identified party: (a name it goes by, its cases up to ``last``, of ``area`` only if given)."""
    rows = party_case_totals(store, _parties(store), last, area)
    # Registers write names with stray spaces (王　庆斌); say them without.
    return {identity: ("".join(name.split()), n) for identity, name, n in rows}


def repeat_hotspots(store: Store, *, min_cases: int = REPEAT_MIN, limit: int = 50,
                    area: Area | None = None) -> dict[str, list[dict[str, object]]]:
    """Parties and addresses with ``min_cases`` or more cases (counting those of ``area`` only, if given), most cases first."""
    parties = repeat_parties(store, _parties(store), min_cases, limit, area)
    # Addresses are counted as everywhere else (leian.graph.repeats.place_cases): by street part in their place.
    has_places = store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'graph_places'").fetchone()
    addresses = address_counts(store, min_cases, limit, area) if has_places else []
    return {
        "parties": [
            {"name": "".join(r[0].split()), "cases": r[2], "case_ids": sorted(r[3].split(",")), "first": r[4], "last": r[5]}
            for r in parties
        ],
        "addresses": addresses,
    }
