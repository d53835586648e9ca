"""Per-camera ring buffer that turns a stream of (preprocessed, or half-preprocessed and finished here) frames
into overlapping clips.

A clip is ``clip_length`` frames; after the first, a new clip is emitted every ``stride`` accepted
frames. With ``target_fps`` set, frames are sampled from the stream at that rate by the same
:class:`~depth_action_recognition.sampling.FrameSampler` training uses (a 30 fps camera feeding a 10 fps
model keeps every third frame), so a clip always spans the time the model was trained on.

The buffer refuses to glue together frames that do not belong together: it resets (and counts why)
when the frame size or encoding changes, when a stamp goes backwards, or after a gap longer than
``max_gap_s``. Frames with a zero or repeated stamp are dropped and counted. (Whether a stamp is
believable at all — far ahead of or behind its stream — is the stream clock's call, in sources.py.)
Nothing here knows about ROS: stamps are float seconds.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Hashable, Optional

import numpy as np

from .errors import ConfigError, FinishError
from .sampling import FrameSampler


@dataclass
class Clip:
    """A ready clip: ``frames`` (T, H, W) float32, owned by the clip (safe to hand to another thread)."""

    frames: np.ndarray
    start_stamp: float
    end_stamp: float
    meta: dict = field(default_factory=dict)   # whatever the caller attached to the last frame
    run: int = 0                               # which unbroken run of the buffer (between resets) it is from


class ClipBuffer:
    """Ring buffer of one camera's frames: :meth:`admit` each stamp, :meth:`add` the admitted frames,
    and :meth:`add` returns a :class:`Clip` when one is due.

    With ``finish`` (a function of a list of N added frames -> (N, H, W) float32), added frames are
    held back and finished together: when a clip is due, and whenever ``max_pending`` are waiting. The node
    adds frames half-preprocessed (preprocess.reduce_frame) and finishes them here in one pass over several
    frames: the work per frame is small, and inside the receiving process each call costs several times what
it costs in a loop (docs/performance.md, "Where the ingest gap is")."""

    def __init__(self, clip_length: int, stride: int, *, target_fps: Optional[float] = None,
                 max_gap_s: float = 1.0, finish: Optional[Callable[[list], np.ndarray]] = None,
                 max_pending: int = 8):
        if clip_length < 1:
            raise ConfigError(f'clip_length must be >= 1, got {clip_length}')
        if stride < 1:
            raise ConfigError(f'stride must be >= 1, got {stride}')
        if not max_gap_s > 0:
            raise ConfigError(f'max_gap_s must be > 0, got {max_gap_s}')
        if not 1 <= max_pending <= 64:
            raise ConfigError(f'max_pending must be in [1, 64], got {max_pending}')
        self.finish = finish
        self.max_pending = max_pending if finish is not None else 1
        self._pending: list = []   # (frame, stamp) added but not finished yet
        self.clip_length = clip_length
        self.stride = stride
        self.sampler = FrameSampler(target_fps)
        self.max_gap_s = max_gap_s
        self.dropped = Counter()   # reason -> frames dropped
        self.resets = Counter()    # reason -> buffer resets
        self.accepted = 0
        self.clips = 0
        self._ring: Optional[np.ndarray] = None
        self._stamps = np.zeros(clip_length, dtype=np.float64)
        self._key: Hashable = None
        self.runs = 0              # resets so far: clips of one run follow each other without a break
        self.reset()

    def reset(self) -> None:
        """Forget all buffered frames (the ring's memory is kept for reuse); the next clip starts a new run."""
        self.runs += 1
        self._pending = []
        self._count = 0            # frames in the ring, up to clip_length
        self._head = 0             # next write position
        # Accepted frames since the last clip; starting at `stride` makes the first full ring emit at once.
        self._since_clip = self.stride
        self._last_stamp = None    # last stamp seen (accepted or skipped by resampling)
        self.sampler.reset()

    def __len__(self) -> int:
        """Frames held: in the ring and waiting to be finished (up to clip_length + max_pending - 1)."""
        return self._count + len(self._pending)

    def _reset(self, reason: str) -> None:
        if len(self):                              # frames in the ring or waiting to be finished
            self.resets[reason] += 1
        self.reset()

    def admit(self, stamp: float, key: Hashable = None) -> bool:
        """Decide whether a frame with this stamp is wanted, *before* anyone spends time preprocessing it.

        Returns False for frames that are dropped (counted by reason) or skipped by resampling.
        Resets the buffer when ``key`` (size/encoding) changes, time runs backwards or a gap is too long.
        """
        if not 0.0 < stamp < math.inf:          # also NaN; math, not numpy: this runs for every frame
            self.dropped['zero_stamp'] += 1
            return False
        if key != self._key:
            if self._key is not None:
                self._reset('format_change')
            self._key = key
        if self._last_stamp is not None:
            if stamp == self._last_stamp:
                self.dropped['repeated_stamp'] += 1
                return False
            if stamp < self._last_stamp:
                self._reset('stamp_backwards')
            elif stamp - self._last_stamp > self.max_gap_s:
                self._reset('gap')
        self._last_stamp = stamp
        if not self.sampler.admit(stamp):
            self.dropped['resampled'] += 1
            return False
        return True

    def add(self, frame: np.ndarray, stamp: float, meta: Optional[dict] = None) -> Optional[Clip]:
        """Take a frame that :meth:`admit` accepted; return a clip if one is due. Raises :class:`FinishError`
        (the frames waiting are counted as dropped and the buffer starts again) when ``finish`` fails."""
        self._since_clip += 1
        self.accepted += 1
        if self.finish is None:
            self._store(frame[None], (stamp,))
        else:
            self._pending.append((frame, stamp))
            if len(self) >= self.clip_length and self._since_clip >= self.stride \
                    or len(self._pending) >= self.max_pending:
                self._flush()
        # Decided on the ring itself: a frame of another shape starts a new ring, which is not full yet.
        if self._pending or self._count < self.clip_length or self._since_clip < self.stride:
            return None
        self._since_clip = 0
        self.clips += 1
        order = np.r_[self._head:self.clip_length, 0:self._head]
        return Clip(frames=self._ring[order], start_stamp=float(self._stamps[order[0]]),
                    end_stamp=float(stamp), meta=dict(meta or {}), run=self.runs)

    def _flush(self) -> None:
        pending = self._pending
        try:
            frames = self.finish([f for f, _ in pending])
            if len(frames) != len(pending):
                raise ValueError(f'finish returned {len(frames)} frames for {len(pending)}')
        except Exception as e:
            # The frames are gone and the ring would skip them: counted, and the sequence starts again.
            self.dropped['finish_error'] += len(pending)
            self.accepted -= len(pending)          # dropped, not sampled: counted once in /diagnostics
            self._reset('finish_error')
            raise FinishError(f'{len(pending)} frames dropped and the buffer reset: preprocessing failed: {e!r}',
                              frames=len(pending)) from e
        self._pending = []
        self._store(frames, [t for _, t in pending])

    def _store(self, frames: np.ndarray, stamps) -> None:
        if self._ring is None or self._ring.shape[1:] != frames.shape[1:]:
            self._ring = np.empty((self.clip_length,) + frames.shape[1:], dtype=np.float32)
            self._count = self._head = 0
        for frame, stamp in zip(frames, stamps):
            self._ring[self._head] = frame
            self._stamps[self._head] = stamp
            self._head = (self._head + 1) % self.clip_length
            self._count = min(self._count + 1, self.clip_length)
