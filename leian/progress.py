"""How far a long step is (index building, graph sync): count, rate and ETA, in a terminal and to a listener.

A step opens a :func:`progress_bar`; in a terminal (``enabled``) it is a tqdm
bar. Whatever runs the step in a thread of its own — the web server's ingest
job — may also listen (:func:`listening`): each update hands it a
:class:`Progress`, so the page shows the same count, rate and ETA.

>>> seen = []
>>> with listening(seen.append):
...     bar = progress_bar(200, "写入图谱")
...     bar.update(50)
...     bar.close()
>>> [(p.step, p.done, p.total) for p in seen]
[('写入图谱', 0, 200), ('写入图谱', 50, 200), ('写入图谱', 50, 200)]
>>> seen[1].to_dict()["rate"] > 0
True
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

__all__ = ["Progress", "progress_bar", "listening", "ProgressBar"]

_listeners = threading.local()


@dataclass(frozen=True)
class Progress:
    """One step's progress: done of total units, the rate so far, and the seconds left at that rate."""

    step: str
    done: int
    total: int
    unit: str
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate else None

    def to_dict(self) -> dict[str, Any]:
        eta = self.eta_seconds
        return {"step": self.step, "done": self.done, "total": self.total, "unit": self.unit,
                "rate": round(self.rate, 1), "eta_seconds": None if eta is None else round(eta)}


@contextmanager
def listening(listener: Callable[[Progress], None]) -> Iterator[None]:
    """Hand every progress update of the steps run in this thread to ``listener``."""
    before = getattr(_listeners, "listener", None)
    _listeners.listener = listener
    try:
        yield
    finally:
        _listeners.listener = before


class ProgressBar:
    """A tqdm bar (when enabled) that also tells this thread's listener, if any."""

    def __init__(self, total: int, step: str, *, unit: str = "件", enabled: bool = False):
        self.step, self.total, self.unit, self.done = step, total, unit, 0
        self._started = time.monotonic()
        self._bar = tqdm(total=total, desc=step, unit=unit, disable=not (enabled and total))
        self._listener: Callable[[Progress], None] | None = getattr(_listeners, "listener", None)
        self._tell()

    def update(self, n: int) -> None:
        self.done += n
        self._bar.update(n)
        self._tell()

    def close(self) -> None:
        self._bar.close()
        self._tell()

    def _tell(self) -> None:
        if self._listener is not None:
            self._listener(Progress(self.step, self.done, self.total, self.unit, time.monotonic() - self._started))


def progress_bar(total: int, step: str, *, unit: str = "件", enabled: bool = False) -> ProgressBar:
    """A progress bar for ``total`` units of ``step``: drawn in a terminal when ``enabled``, always told to a listener."""
    return ProgressBar(total, step, unit=unit, enabled=enabled)
