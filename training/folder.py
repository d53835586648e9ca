"""A plain paired-folder format for your own RGB-D recordings, and NW-UCLA.

Paired folder (``python -m training.rosbag_convert`` writes it from a rosbag2 file)::

    root/labels.yaml             labels: [...] (label-id order), alarm_labels: [...], camera_fps: (optional)
    root/clips.csv               clip,label,subject,view        one row per clip
    root/<clip>/depth/000000.png 16-bit PNG, millimetres, 0 = no reading
    root/<clip>/rgb/000000.jpg   colour, registered to depth (same size or resized onto it), same count
    root/<clip>/times.txt        each frame's time in seconds (the depth header stamp), one per line

``times.txt`` is what the clip timing rests on; a folder without it must state its camera's frame rate
(``camera_fps`` in labels.yaml, frame ``k`` then being at ``k / camera_fps``).

Northwestern-UCLA Multiview Action 3D (NW-UCLA)::

    root/view_1/a01_s01_e00/frame_00_depth.png + frame_00_rgb.jpg (names as in the published set)

ten actions; the ``nwucla`` benchmark (training/benchmarks.py) trains on views 1 and 2 and tests on view 3.
Frame ``n`` (the number in its name) is at ``n / camera_fps``; 30 fps, the Kinect v1's nominal rate, is
assumed (not checked against the published set here: pass ``camera_fps`` if your copy says otherwise).

Clip timing, for both: each clip is sampled at the model's ``fps`` by the recognizer's own
:class:`~depth_action_recognition.sampling.FrameSampler`, and a training clip is ``frames`` consecutive
sampled frames, a random run in training and the centre one in evaluation, exactly what the recognizer's
clip buffer would cut from the same stream. A recording shorter than that is padded with its last frame
repeated (counted in ``padded``).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import yaml

from depth_action_recognition.sampling import video_window
from training.errors import DataError

NWUCLA_LABELS = ['pick up with one hand', 'pick up with two hands', 'drop trash', 'walk around', 'sit down',
                 'stand up', 'donning', 'doffing', 'throw', 'carry']
NWUCLA_ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)   # the published action ids, in label order
NWUCLA_TRAIN_VIEWS = (1, 2)
NWUCLA_FRAME = re.compile(r'^frame_(\d+)_')


def nwucla_split(record: dict) -> str:
    """'train' (views 1 and 2) or 'test' (view 3): NW-UCLA's cross-view protocol."""
    return 'train' if record['view'] in NWUCLA_TRAIN_VIEWS else 'test'


def _read_pairs(depth_files: list, rgb_files: list, times: np.ndarray, frames: int, fps: float, rng, where,
                spread=None) -> tuple:
    """The one clip of a recording that the sampler picks, read from its files. Returns (depth, rgb, padded)."""
    if not depth_files:
        raise DataError(f'{where}: no depth frames')
    if len(rgb_files) != len(depth_files):
        raise DataError(f'{where}: {len(depth_files)} depth frames but {len(rgb_files)} RGB frames (not paired)')
    if len(times) != len(depth_files):
        raise DataError(f'{where}: {len(times)} frame times for {len(depth_files)} frames')
    if np.any(np.diff(times) <= 0):
        raise DataError(f'{where}: frame times do not increase')
    pick, padded = video_window(times, fps, frames, rng, spread=spread)
    read = {}
    for i in np.unique(pick):
        d = cv2.imread(str(depth_files[i]), cv2.IMREAD_ANYDEPTH)
        c = cv2.imread(str(rgb_files[i]), cv2.IMREAD_COLOR)
        if d is None or d.dtype != np.uint16:
            raise DataError(f'{depth_files[i]}: unreadable or not a 16-bit depth PNG')
        if c is None:
            raise DataError(f'{rgb_files[i]}: unreadable image')
        if c.shape[:2] != d.shape:
            c = cv2.resize(c, (d.shape[1], d.shape[0]), interpolation=cv2.INTER_AREA)
        read[i] = d, cv2.cvtColor(c, cv2.COLOR_BGR2RGB)
    return np.stack([read[i][0] for i in pick]), np.stack([read[i][1] for i in pick]), padded


def _read_times(path: Path) -> np.ndarray:
    try:
        return np.array([float(line) for line in path.read_text().split()], dtype=np.float64)
    except ValueError as e:
        raise DataError(f'{path}: not one time in seconds per line ({e})') from None


class FolderSource:
    """The paired-folder format as a training source."""

    recorded = True               # recordings longer than a clip: a window can be chosen (``spread``)

    def __init__(self, root, *, frames: int = 16, fps: float = 10.0):
        self.root = Path(root)
        try:
            preset = yaml.safe_load((self.root / 'labels.yaml').read_text())
            self.labels, self.alarm_labels = list(preset['labels']), list(preset.get('alarm_labels', []))
            self.camera_fps = preset.get('camera_fps')
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f'{self.root / "labels.yaml"}: missing or not a label list ({e})') from None
        if not fps > 0:
            raise DataError(f'fps must be > 0, got {fps}')
        self.frames, self.fps = frames, float(fps)
        self.padded = 0
        self.records = []
        try:
            rows = list(csv.DictReader(open(self.root / 'clips.csv', newline='')))
        except OSError as e:
            raise DataError(f'{self.root / "clips.csv"}: {e}') from None
        for n, row in enumerate(rows, 2):
            if row.get('label') not in self.labels:
                raise DataError(f'{self.root / "clips.csv"}:{n}: label {row.get("label")!r} is not in labels.yaml')
            self.records.append({'path': row['clip'], 'label_id': self.labels.index(row['label']),
                                 'subject': int(row.get('subject') or 0), 'view': int(row.get('view') or 0)})

    def files(self, i: int) -> list:
        clip = self.root / self.records[i]['path']
        return [p for p in (clip / 'depth', clip / 'rgb', clip / 'times.txt') if p.exists()]

    def load(self, i: int, rng: np.random.Generator | None = None, spread: tuple | None = None) -> tuple:
        """One clip of recording ``i``: a random one with ``rng``, the ``k``-th of ``K`` spread over the
        recording with ``spread=(k, K)`` (training), else the centre one."""
        clip = self.root / self.records[i]['path']
        depth_files, rgb_files = sorted((clip / 'depth').glob('*.png')), sorted((clip / 'rgb').glob('*.jpg'))
        if (clip / 'times.txt').is_file():
            times = _read_times(clip / 'times.txt')
        elif self.camera_fps:
            times = np.arange(len(depth_files)) / float(self.camera_fps)
        else:
            raise DataError(f'{clip}: no times.txt (frame times), and {self.root / "labels.yaml"} states no camera_fps')
        depth, rgb, padded = _read_pairs(depth_files, rgb_files, times, self.frames, self.fps, rng, clip, spread)
        self.padded += padded > 0
        return depth, rgb


class NWUCLASource:
    """NW-UCLA: per-frame depth PNG + RGB JPG per sample folder, one folder per view."""

    NAME = re.compile(r'^a(\d+)_s(\d+)_e(\d+)$')
    benchmark = 'nwucla'          # the split a run uses unless told otherwise
    recorded = True

    def __init__(self, root, *, frames: int = 16, fps: float = 10.0, camera_fps: float = 30.0):
        self.root = Path(root)
        self.labels, self.alarm_labels = list(NWUCLA_LABELS), []
        if not fps > 0 or not camera_fps > 0:
            raise DataError(f'fps and camera_fps must be > 0, got {fps} and {camera_fps}')
        self.frames, self.fps, self.camera_fps = frames, float(fps), float(camera_fps)
        self.padded = 0
        self.records = []
        for view_dir in sorted(self.root.glob('view_*')):
            view = int(view_dir.name.split('_')[1])
            for d in sorted(p for p in view_dir.iterdir() if p.is_dir()):
                m = self.NAME.match(d.name)
                if not m or int(m.group(1)) not in NWUCLA_ACTIONS:
                    continue
                self.records.append({'path': f'{view_dir.name}/{d.name}', 'view': view, 'subject': int(m.group(2)),
                                     'label_id': NWUCLA_ACTIONS.index(int(m.group(1)))})
        if not self.records:
            raise DataError(f'{self.root}: no view_*/aNN_sNN_eNN samples (NW-UCLA layout)')

    def files(self, i: int) -> list:
        return [self.root / self.records[i]['path']]

    @staticmethod
    def _numbered(folder: Path, suffix: str) -> dict:
        """frame number -> file; by number, since the published names are not zero-padded to one width."""
        out = {}
        for f in folder.glob(f'*{suffix}'):
            m = NWUCLA_FRAME.match(f.name)
            if m:
                out[int(m.group(1))] = f
        return out

    def load(self, i: int, rng: np.random.Generator | None = None, spread: tuple | None = None) -> tuple:
        """One clip of sample ``i``: a random one with ``rng``, the ``k``-th of ``K`` with ``spread=(k, K)``
        (training), else the centre one."""
        d = self.root / self.records[i]['path']
        depth, rgb = self._numbered(d, '_depth.png'), self._numbered(d, '_rgb.jpg')
        if set(depth) != set(rgb):
            raise DataError(f'{d}: frames {sorted(set(depth) ^ set(rgb))[:5]} have depth or RGB, not both (not paired)')
        numbers = sorted(depth)
        times = np.array(numbers, dtype=np.float64) / self.camera_fps
        out = _read_pairs([depth[n] for n in numbers], [rgb[n] for n in numbers], times, self.frames, self.fps, rng, d,
                          spread)
        self.padded += out[2] > 0
        return out[0], out[1]
