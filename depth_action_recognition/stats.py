"""Small counters for /diagnostics: input rate between two readings and latency percentiles."""
from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class RateMeter:
    """Rate of a running count between two readings, e.g. frames received per second between two
    ``/diagnostics`` messages. Nothing happens per event: the count is read, not ticked, so the
    per-frame path pays nothing for it."""

    def __init__(self, now: float | None = None):
        self._t = time.monotonic() if now is None else now
        self._count = 0
        self._rate = 0.0

    def rate(self, count: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if now - self._t >= 1e-3:
            self._rate = (count - self._count) / (now - self._t)
            self._t, self._count = now, count
        return self._rate


class Percentiles:
    """The last ``size`` samples; p50/p95/p99 on demand. Bounded memory whatever the run length."""

    def __init__(self, size: int = 1000):
        self._values = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(value)

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float:
        with self._lock:
            if not self._values:
                return float('nan')
            return float(np.percentile(np.fromiter(self._values, dtype=np.float64), q))
