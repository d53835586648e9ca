"""Continuous scenarios: one camera, one room, a person going from action to action.

:class:`ScenarioCamera` is what the simulated camera node plays live and what the dataset writer cuts
training windows from, so training clips look like what serving sees: windows at any phase of an
action, across the cut from one action to the next, at many resolutions and fields of view.

Each playlist segment is a fresh :class:`~depth_action_recognition.synthetic.scene.Scene` in the same
room, seen by the same camera (``world_seed``), performed by the same subject; one-shot actions (a fall,
sitting down) begin 0.3 s into their segment, periodic ones are under way. The ground truth of a time is
the segment playing then; the ground truth of a window is :func:`window_label`.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from .actions import ACTIONS, LABELS
from .scene import N_SUBJECTS, N_VIEWS, WORLD, WORLDS, Scene

# Depth camera modes seen in the field: (width, height, nominal horizontal field of view in degrees).
CAMERA_MODES = {
    'sim160': (160, 120, 60.0),        # the simulator's default
    'qvga': (320, 240, 58.0),          # structured light at QVGA
    'd4xx-424': (424, 240, 87.0),      # stereo depth, 16:9 low-power mode
    'vga': (640, 480, 58.0),           # Kinect v1 / Astra class
    'd4xx-848': (848, 480, 87.0),      # stereo depth, 16:9
    'azure-nfov': (640, 576, 75.0),    # time of flight, narrow field
    'kinect2': (512, 424, 70.6),       # time of flight
}


def window_label(labels) -> str:
    """Ground truth of a window: the action of most of its frames; a tie goes to the later action.

    The later one because a window that is half fall is the start of a fall: what the alarm must catch.
    """
    counts = {}
    for k, label in enumerate(labels):
        n, _ = counts.get(label, (0, 0))
        counts[label] = (n + 1, k)
    return max(counts, key=lambda lab: counts[lab])        # (frames, last index): ties broken by lateness


@dataclass
class Segment:
    action: str
    start: float
    duration: float


class ScenarioCamera:
    """A fixed camera and room, a subject, and a playlist of ``(action, seconds)`` played from time 0.

    ``loop`` restarts the playlist at its end (each pass draws fresh scenes), otherwise the camera is
    finished after it. ``hfov`` (degrees) overrides the view's field of view; ``native_step`` renders a
    camera of ``native_step`` times the given size, decimated as the preprocessing would (see
    :class:`~depth_action_recognition.synthetic.scene.Scene`). ``partners`` names the subjects the second
    person of a scene (partner or bystander) is drawn from; default any other of the 40. ``world``: the world
    round its scenes are rendered in (:data:`~depth_action_recognition.synthetic.scene.WORLDS`).
    """

    def __init__(self, playlist, *, seed: int, index: int = 0, size=(120, 160), subject: int = 0, view: int = -1,
                 loop: bool = True, hfov: float | None = None, native_step: int = 1, partners=None,
                 world: int = WORLD):
        self.playlist = [(str(a), float(d)) for a, d in playlist]
        for action, seconds in self.playlist:
            if action not in ACTIONS:
                raise ValueError(f'unknown action {action!r}; expected one of {LABELS}')
            if not seconds > 0:
                raise ValueError(f'{action}: duration must be > 0, got {seconds}')
        if not self.playlist:
            raise ValueError('empty playlist')
        self.seed, self.index, self.size, self.loop = int(seed), int(index), tuple(size), loop
        self.hfov, self.native_step = hfov, native_step
        if world not in WORLDS:
            raise ValueError(f'world must be one of the rounds {WORLDS}, got {world!r}')
        self.world = int(world)
        self.partners = None if partners is None else tuple(int(p) for p in partners)
        self.rng = np.random.default_rng([self.seed, self.index])
        self.subject = subject if subject > 0 else int(self.rng.integers(1, N_SUBJECTS + 1))
        self.view = view if view >= 0 else int(self.rng.integers(0, N_VIEWS))
        self.world_seed = self.seed * 1000 + self.index
        self.segments: list = []          # every segment started so far, in order
        self._scenes: dict = {}           # segment number -> Scene (the last few only)
        self._starts: list = []

    @property
    def period(self) -> float:
        return sum(d for _, d in self.playlist)

    def _extend_to(self, t: float) -> bool:
        """Lay out segments until one covers ``t``; False when a non-looping playlist ends before it."""
        while not self.segments or t >= self.segments[-1].start + self.segments[-1].duration:
            k = len(self.segments)
            if k >= len(self.playlist) and not self.loop:
                return False
            action, seconds = self.playlist[k % len(self.playlist)]
            start = self.segments[-1].start + self.segments[-1].duration if self.segments else 0.0
            self.segments.append(Segment(action, start, seconds))
            self._starts.append(start)
        return True

    def segment_number(self, t: float):
        """Index of the segment playing at ``t`` (None after a non-looping playlist)."""
        if t < 0 or not self._extend_to(t):
            return None
        return bisect.bisect_right(self._starts, t) - 1

    def segment_at(self, t: float):
        k = self.segment_number(t)
        return None if k is None else self.segments[k]

    def label_at(self, t: float):
        seg = self.segment_at(t)
        return None if seg is None else seg.action

    def scene(self, k: int) -> Scene:
        """Scene of segment ``k``; scenes are drawn in segment order, so the same camera replays identically."""
        while len(self._scenes) == 0 or max(self._scenes) < k:
            n = max(self._scenes) + 1 if self._scenes else 0
            seg = self.segments[n]
            one_shot = ACTIONS[seg.action].duration > 0      # happens once: start it right away
            self._scenes[n] = Scene(seg.action, int(self.rng.integers(1 << 30)), size=self.size, subject=self.subject,
                                    view=self.view, world_seed=self.world_seed, onset=0.3 if one_shot else None,
                                    clip_seconds=seg.duration, hfov=self.hfov, native_step=self.native_step,
                                    partners=self.partners, world=self.world)
            for old in [j for j in self._scenes if j < n - 3]:
                del self._scenes[old]
        if k not in self._scenes:
            raise ValueError(f'segment {k} was dropped from the cache; scenes are rendered in order')
        return self._scenes[k]

    def render(self, t: float, frame_index: int, rgb: bool = False):
        """(depth uint16 mm, RGB or None) at scenario time ``t``, or None after a non-looping playlist."""
        k = self.segment_number(t)
        if k is None:
            return None
        return self.scene(k).render(t - self.segments[k].start, frame_index, rgb=rgb)


@dataclass
class Window:
    """A training window cut from a continuous scenario, as the recognizer would cut it from the stream."""

    depth: np.ndarray          # (T, H, W) uint16 mm
    rgb: np.ndarray | None     # (T, H, W, 3) uint8
    label: str                 # window_label of the frames' ground truth
    meta: dict


def plan_window(label: str, seed: int, *, frames: int = 16, fps: float = 10.0, camera_fps: float = 30.0,
                size=(120, 160), hfov: float | None = None, native_step: int = 1, subject: int = 0, view: int = -1,
                neighbours=None, partners=None, world: int = WORLD):
    """:func:`render_window`'s scenario and frames, drawn without rendering a pixel.

    Returns ``(camera, times, idx, truth, target)``: the :class:`ScenarioCamera`, its frame times, the
    window's frame indices into them, their ground truth, and the segment of ``label``.
    """
    from ..sampling import window_indices, window_seconds
    rng = np.random.default_rng([int(seed), 4242])
    pool = [a for a in (neighbours or LABELS) if a != label]
    playlist = [(str(rng.choice(pool)), float(np.round(rng.uniform(3.0, 6.0), 1))) for _ in range(3)]
    playlist[1] = (label, playlist[1][1])
    cam = ScenarioCamera(playlist, seed=int(rng.integers(1 << 30)), size=size, subject=subject, view=view,
                         loop=False, hfov=hfov, native_step=native_step, partners=partners, world=world)
    cam.segment_at(cam.period - 1e-6)                       # lay the three segments out
    target = cam.segments[1]
    span = window_seconds(fps, frames)
    phase = rng.uniform(0, 1 / camera_fps)
    times = phase + np.arange(int(cam.period * camera_fps) - 1) / camera_fps
    for _ in range(1000):
        start = rng.uniform(target.start - span, target.start + target.duration)
        idx = window_indices(times, fps, frames, start)
        if idx is None:
            continue
        truth = [cam.label_at(times[i]) for i in idx]
        if window_label(truth) == label:
            return cam, times, idx, truth, target
    raise RuntimeError(f'no window with majority {label!r} found (seed {seed})')


def render_window(label: str, seed: int, *, frames: int = 16, fps: float = 10.0, camera_fps: float = 30.0,
                  size=(120, 160), native_size=None, hfov: float | None = None, native_step: int = 1,
                  subject: int = 0, view: int = -1, rgb: bool = True, neighbours=None, partners=None,
                  world: int = WORLD) -> Window:
    """A window of ``frames`` frames at ``fps`` whose ground truth is ``label``, at a random phase of it.

    The scenario is three actions of 3-6 s (the simulator's random playlists): a neighbour, ``label``,
    a neighbour (``neighbours`` picks them; default any other class). A camera at ``camera_fps`` with a
    random frame phase films it, and the recognizer's own sampler (sampling.window_indices) picks the
    window's frames from a random start at which ``label`` is the window's majority — so a third or so of
    the windows straddle the cut to a neighbour, and the rest show any part of the action, its end included.
    """
    cam, times, idx, truth, target = plan_window(label, seed, frames=frames, fps=fps, camera_fps=camera_fps,
                                                 size=size, hfov=hfov, native_step=native_step, subject=subject,
                                                 view=view, neighbours=neighbours, partners=partners, world=world)
    depth = np.empty((frames,) + tuple(size), np.uint16)
    colour = np.empty((frames,) + tuple(size) + (3,), np.uint8) if rgb else None
    for j, i in enumerate(idx):
        d, c = cam.render(times[i], int(i), rgb=rgb)
        depth[j] = d
        if rgb:
            colour[j] = c
    scene = cam.scene(1)
    meta = {'subject': cam.subject, 'view': cam.view, 'seed': int(seed), 'people': scene.people,
            'partner': scene.partner, 'world': scene.world,
            'size': list(size), 'native_size': list(native_size or size), 'hfov': round(float(np.degrees(
                2 * np.arctan(size[1] / 2 / scene.camera.f))), 2), 'fps': fps, 'frames': frames,
            'phase': round(float(times[idx[0]] - target.start), 3), 'share': round(truth.count(label) / frames, 3),
            'straddle': len(set(truth)) > 1, 'actions': [a for a, _ in cam.playlist]}
    return Window(depth=depth, rgb=colour, label=label, meta=meta)
