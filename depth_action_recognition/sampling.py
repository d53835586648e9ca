"""Clip timing: the one definition of which frames of a stream make up a model's clip.

A model is trained on clips of ``frames`` frames taken at ``fps`` from a camera stream; the recognizer
must cut the same clips out of a live stream, and every training loader must cut them out of recorded
videos the same way. Both go through :class:`FrameSampler`: frames are kept on a grid of period
``1 / fps`` (a quarter-period of slack absorbs camera jitter; a frame more than half a period late
restarts the grid at itself), so a 30 fps camera feeding a 10 fps model keeps every third frame.

* Serving: :class:`~depth_action_recognition.clip_buffer.ClipBuffer` asks :meth:`FrameSampler.admit`
  for every incoming frame.
* Training and evaluation on recorded video: :func:`window_indices` runs the same sampler over a
  video's frame times from a start time (random phase in training, fixed starts in evaluation), and
  :func:`window_starts` lists the starts of the windows a live stream would produce.
* Training loaders of recorded videos (NTU RGB+D, paired folders, NW-UCLA): :func:`sampled_frames` is the
  stream the recognizer would keep if the video were its camera, and :func:`video_window` picks one of
  the clips a stride-1 clip buffer cuts out of it (a random one in training, the centre one in
  evaluation), so a loader's frames are exactly those of a live clip.
Nothing here knows about ROS or about files: times are float seconds.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .errors import ConfigError

# A frame is kept once it is at least this share of a period after the last kept one...
EARLY_SLACK = 0.75
# ...and the grid restarts at a frame this many periods after the last grid point (a dropped frame).
LATE_LIMIT = 1.5
# Both limits can fall exactly on a camera frame (a 30 fps camera and a 7.5 fps model: 3/4 and 6/4 of a period
# are camera frames). Rounding must not decide such a tie: a frame within a microsecond of the early limit is
# too early, one within a microsecond of the late limit is late (after a dropped frame the grid restarts
# there, which keeps the kept frames evenly spaced), whatever the stamps' magnitude. Grid points are
# origin + n * period, never a running sum, so no rounding error builds up over a long stream.
TIE_S = 1e-6


class FrameSampler:
    """Keep frames on a grid of ``1 / fps`` seconds; ``fps`` None keeps every frame."""

    def __init__(self, fps: Optional[float]):
        if fps is not None and not fps > 0:
            raise ConfigError(f'target_fps must be > 0, got {fps}')
        self.fps = fps
        self.period = None if fps is None else 1.0 / fps
        self.reset()

    def reset(self) -> None:
        self._anchor = None        # time of the last grid point: origin + n periods
        self._origin, self._n = None, 0

    def admit(self, stamp: float) -> bool:
        """True when the frame at ``stamp`` belongs to the sampled stream (stamps must increase)."""
        if self.period is not None and self._anchor is not None:
            if stamp - self._anchor < EARLY_SLACK * self.period + TIE_S:
                return False
            if stamp - self._anchor >= LATE_LIMIT * self.period - TIE_S:
                self._origin, self._n = stamp, 0
            else:
                self._n += 1
            self._anchor = self._origin + self._n * self.period
        else:
            self._origin, self._n, self._anchor = stamp, 0, stamp
        return True


def window_indices(times: Sequence[float], fps: float, frames: int, start: float = 0.0) -> Optional[np.ndarray]:
    """Indices of the ``frames`` frames the recognizer would put in a clip that begins at ``start``.

    ``times`` are a video's frame times (seconds, increasing). Returns None when the video ends before
    the clip is full. The same :class:`FrameSampler` as the live node picks the frames.
    """
    if frames < 1:
        raise ConfigError(f'frames must be >= 1, got {frames}')
    times = np.asarray(times, dtype=np.float64)
    sampler = FrameSampler(fps)
    first = int(np.searchsorted(times, start - 1e-9))
    out = []
    for i in range(first, len(times)):
        if sampler.admit(float(times[i])):
            out.append(i)
            if len(out) == frames:
                return np.asarray(out)
    return None


def window_seconds(fps: float, frames: int) -> float:
    """Time a clip of ``frames`` frames at ``fps`` spans, first frame to last."""
    return (frames - 1) / fps


def window_starts(duration: float, fps: float, frames: int, stride: int) -> np.ndarray:
    """Start times of the clips a stream of ``duration`` seconds yields: one every ``stride`` sampled frames.

    What the recognizer's clip buffer emits on an uninterrupted stream (its first clip once the ring is
    full, then one per ``stride`` sampled frames), for evaluations that score every window of a video.
    """
    span = window_seconds(fps, frames)
    if duration < span:
        return np.zeros(0)
    return np.arange(0.0, duration - span + 1e-9, stride / fps)


def sampled_frames(times: Sequence[float], fps: float) -> np.ndarray:
    """Indices of the frames a recognizer keeps from a stream with these frame times, the first frame on."""
    sampler = FrameSampler(fps)
    return np.asarray([i for i, t in enumerate(times) if sampler.admit(float(t))], dtype=np.int64)


def spread_index(n_clips: int, k: int, windows: int) -> int:
    """The ``k``-th of ``windows`` clips spread evenly over a video with ``n_clips`` clips: the centre clip
    of the ``k``-th of ``windows`` equal parts, so the phases cover the recording from start to end."""
    if not 0 <= k < windows:
        raise ConfigError(f'window {k} of {windows}')
    return min(n_clips - 1, int((k + 0.5) * n_clips / windows))


def clip_positions(n_sampled: int, frames: int, rng: Optional[np.random.Generator] = None,
                   index: Optional[int] = None, spread: Optional[tuple] = None) -> tuple:
    """Positions in a sampled stream of ``n_sampled`` frames of one clip. Returns (positions, padded).

    The clips are the runs of ``frames`` consecutive sampled frames, i.e. those a
    :class:`~depth_action_recognition.clip_buffer.ClipBuffer` with stride 1 emits. ``index`` picks clip
    ``index``, ``spread=(k, K)`` the ``k``-th of ``K`` evenly spread ones (:func:`spread_index`: training
    with a fixed set of phases per video), ``rng`` a uniformly random one (training), none of them the
    centre one (evaluation).
    A stream too short for one clip gives all its frames followed by the last one repeated, as if the
    scene had held still; ``padded`` says how many were repeated, so a loader can count them.
    """
    if frames < 1:
        raise ConfigError(f'frames must be >= 1, got {frames}')
    if n_sampled < 1:
        raise ConfigError('a video without frames has no clip')
    if n_sampled < frames:
        return np.minimum(np.arange(frames), n_sampled - 1), frames - n_sampled
    n = n_sampled - frames + 1
    if index is None and spread is not None:
        index = spread_index(n, *spread)
    if index is None:
        index = int(rng.integers(n)) if rng is not None else (n - 1) // 2
    if not 0 <= index < n:
        raise ConfigError(f'clip {index} of a video that has {n}')
    return np.arange(index, index + frames), 0


def video_window(times: Sequence[float], fps: float, frames: int, rng: Optional[np.random.Generator] = None,
                 index: Optional[int] = None, spread: Optional[tuple] = None) -> tuple:
    """Indices into a recorded video of one clip, cut as the recognizer cuts a live stream: the video is
    sampled by :func:`sampled_frames`, the clip chosen by :func:`clip_positions`. Returns (indices, padded)."""
    stream = sampled_frames(times, fps)
    pos, padded = clip_positions(len(stream), frames, rng, index, spread)
    return stream[pos], padded
