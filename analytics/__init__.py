"""Analytics for the centre: counts per place, type and period, hotspot tests with red/orange/yellow/blue risk
levels, topical clusters that keep their ids as cases arrive, and the analyst report (charts and Markdown).

The names below are imported on first use, so ``import leian.analytics`` stays cheap.
"""
from __future__ import annotations

import importlib
from typing import Any

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
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
