"""Class probabilities averaged over a source's last few clips: what each event and the alarm rule see.

One clip is 1.6 s of a person; a stream offers a new one every stride (0.5 s at the defaults), each sharing
most of its frames with the one before. Averaging the probabilities of the last ``clips`` clips of one source
steadies the label inside an action (one clip that mistakes a hand at the mouth for a phone is outvoted by the
next) at the cost of reacting later at a change of action: with 2 clips an event speaks for its own 1.6 s
window and the stride before it. Measured on the stream in docs/streaming.md ("Smoothing").

Only clips of one unbroken run are averaged: a clip whose window does not overlap the newest one's (a gap in
the camera restarted the clip buffer, or inference lagged so far behind that the clips between were skipped)
leaves the average, and a clip stamped before the one it follows (a camera clock that jumped back) starts it
anew. ``clips=1`` is every clip on its own.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Hashable

import numpy as np

from .errors import ConfigError


class ClipSmoother:
    """Per-source running mean of the last ``clips`` probability vectors whose windows overlap; thread-safe."""

    def __init__(self, clips: int):
        if not 1 <= int(clips) <= 16:
            raise ConfigError(f'smooth_clips must be in 1..16, got {clips}')
        self.clips = int(clips)
        self._lock = threading.Lock()
        self._recent: dict = {}        # source -> deque of (start, end, probs), oldest first

    def update(self, source: Hashable, probs: np.ndarray, start: float, end: float) -> np.ndarray:
        """Add one clip's probabilities (window ``start``..``end`` in the source's clock); return the mean."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.clips == 1:
            return probs.astype(np.float32)
        with self._lock:
            recent = self._recent.get(source)
            if recent is None:
                recent = self._recent[source] = deque(maxlen=self.clips)
            # Keep only clips of the same run: each overlaps the new window and comes before it.
            while recent and not (recent[0][1] > start and recent[-1][1] < end):
                recent.popleft()
            recent.append((start, end, probs))
            mean = np.mean([p for _, _, p in recent], axis=0)
        return mean.astype(np.float32)

    def forget(self, source: Hashable) -> None:
        with self._lock:
            self._recent.pop(source, None)

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
