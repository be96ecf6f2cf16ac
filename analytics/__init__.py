"""Analytics for the centre: counts per place, type and period, hotspot tests with red/orange/yellow/blue risk
levels, topical clusters that keep their ids as cases arrive, and the analyst report (charts and Markdown).

The names below are imported on first use, so ``import leian.analytics`` stays cheap.
"""
from __future__ import annotations

from leian.lazy import lazy_exports

#: Public name -> the module that defines it.
_EXPORTS = {
    "count_cells": "leian.analytics.counts",
    "detect_hotspots": "leian.analytics.hotspots",
    "repeat_hotspots": "leian.analytics.hotspots",
    "HotspotReport": "leian.analytics.hotspots",
    "cluster_cases": "leian.analytics.clusters",
    "Clustering": "leian.analytics.clusters",
    "write_report": "leian.analytics.report",
}
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
