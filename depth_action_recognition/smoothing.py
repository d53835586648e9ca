"""Class probabilities averaged over a source's last few clips: what each event and the alarm rule see.

One clip is 1.6 s of a person; a stream offers a new one every stride (0.5 s at the defaults), each sharing
most of its frames with the one before. Averaging the probabilities of the last ``clips`` clips of one source
steadies the label inside an action (one clip that mistakes a hand at the mouth for a phone is outvoted by the
next) at the cost of reacting later at a change of action: with 2 clips an event speaks for its own 1.6 s
window and the stride before it. Measured on the stream in docs/streaming.md ("Smoothing").

Only clips of one unbroken run of the source's clip buffer are averaged (:attr:`Clip.run`): a gap in the
camera, a clock that jumped back or a change of format restarts the buffer, and the mean with it. Clips
skipped while inference lagged do not break a run: the mean is then over the clips that were inferred.
``clips=1`` is every clip on its own.

Alarms are raised on the mean only once it holds ``clips`` clips (:attr:`Smoothed.full`): the first clip of a
run, alone, never raises one. With 2 clips and a threshold of 0.6 a raise needs two consecutive clips whose
mean score for the label is at least 0.6 (each gave it 0.2 or more).
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Hashable, NamedTuple

import numpy as np

from .errors import ConfigError

MAX_CLIPS = 16


class Smoothed(NamedTuple):
    probs: np.ndarray       # (C,) float32: the mean of the last ``count`` clips' probabilities
    count: int              # clips in the mean
    full: bool              # the mean holds as many clips as the smoother averages

    def winner(self) -> tuple:
        """(label index, its score, the score the alarm rule is given): 0 for a mean that is not full yet."""
        best = int(np.argmax(self.probs))
        score = float(self.probs[best])
        return best, score, score if self.full else 0.0


class ClipSmoother:
    """Per-source running mean of the last ``clips`` probability vectors of one run; thread-safe."""

    def __init__(self, clips: int):
        if not 1 <= int(clips) <= MAX_CLIPS:
            raise ConfigError(f'smooth_clips must be in 1..{MAX_CLIPS}, got {clips}')
        self.clips = int(clips)
        self._lock = threading.Lock()
        self._recent: dict = {}        # source -> (run, deque of probabilities, oldest first)

    def update(self, source: Hashable, probs: np.ndarray, run: int) -> Smoothed:
        """Add one clip's probabilities, from run ``run`` of the source's clip buffer; return the mean."""
        if self.clips == 1:
            return Smoothed(np.asarray(probs, dtype=np.float32), 1, True)
        with self._lock:
            last = self._recent.get(source)
            if last is None or last[0] != run:
                last = self._recent[source] = (run, deque(maxlen=self.clips))
            last[1].append(np.asarray(probs, dtype=np.float64))
            mean, count = np.mean(last[1], axis=0), len(last[1])
        return Smoothed(mean.astype(np.float32), count, count == self.clips)

    def forget(self, source: Hashable) -> None:
        with self._lock:
            self._recent.pop(source, None)

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
