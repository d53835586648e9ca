"""A plain paired-folder format for your own RGB-D recordings, and NW-UCLA.

Paired folder (``python -m training.rosbag_convert`` writes it from a rosbag2 file)::

    root/labels.yaml             labels: [...] (label-id order), alarm_labels: [...]
    root/clips.csv               clip,label,subject,view        one row per clip
    root/<clip>/depth/000000.png 16-bit PNG, millimetres, 0 = no reading
    root/<clip>/rgb/000000.jpg   colour, registered to depth (same size or resized onto it), same count

Northwestern-UCLA Multiview Action 3D (NW-UCLA)::

    root/view_1/a01_s01_e00/frame_00_depth.png + frame_00_rgb.jpg (names as in the published set)

ten actions, views 1 and 2 train, view 3 tests (``view`` in the records).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import yaml

from training.errors import DataError

NWUCLA_LABELS = ['pick up with one hand', 'pick up with two hands', 'drop trash', 'walk around', 'sit down',
                 'stand up', 'donning', 'doffing', 'throw', 'carry']
NWUCLA_ACTIONS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)   # the published action ids, in label order


def _sample(n: int, frames: int) -> np.ndarray:
    return np.linspace(0, n - 1, frames).round().astype(int)


def _read_pairs(depth_files: list, rgb_files: list, frames: int, where) -> tuple:
    if not depth_files:
        raise DataError(f'{where}: no depth frames')
    if len(rgb_files) != len(depth_files):
        raise DataError(f'{where}: {len(depth_files)} depth frames but {len(rgb_files)} RGB frames (not paired)')
    depth, rgb = [], []
    for i in _sample(len(depth_files), frames):
        d = cv2.imread(str(depth_files[i]), cv2.IMREAD_ANYDEPTH)
        c = cv2.imread(str(rgb_files[i]), cv2.IMREAD_COLOR)
        if d is None or d.dtype != np.uint16:
            raise DataError(f'{depth_files[i]}: unreadable or not a 16-bit depth PNG')
        if c is None:
            raise DataError(f'{rgb_files[i]}: unreadable image')
        if c.shape[:2] != d.shape:
            c = cv2.resize(c, (d.shape[1], d.shape[0]), interpolation=cv2.INTER_AREA)
        depth.append(d)
        rgb.append(cv2.cvtColor(c, cv2.COLOR_BGR2RGB))
    return np.stack(depth), np.stack(rgb)


class FolderSource:
    """The paired-folder format as a training source."""

    def __init__(self, root, *, frames: int = 16, fps: float = 10.0):
        self.root = Path(root)
        try:
            preset = yaml.safe_load((self.root / 'labels.yaml').read_text())
            self.labels, self.alarm_labels = list(preset['labels']), list(preset.get('alarm_labels', []))
        except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
            raise DataError(f'{self.root / "labels.yaml"}: missing or not a label list ({e})') from None
        self.frames, self.fps = frames, fps
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

    def load(self, i: int):
        clip = self.root / self.records[i]['path']
        return _read_pairs(sorted((clip / 'depth').glob('*.png')), sorted((clip / 'rgb').glob('*.jpg')), self.frames, clip)


class NWUCLASource:
    """NW-UCLA: per-frame depth PNG + RGB JPG per sample folder, one folder per view."""

    NAME = re.compile(r'^a(\d+)_s(\d+)_e(\d+)$')

    def __init__(self, root, *, frames: int = 16, fps: float = 10.0):
        self.root = Path(root)
        self.labels, self.alarm_labels = list(NWUCLA_LABELS), []
        self.frames, self.fps = frames, fps
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

    def load(self, i: int):
        d = self.root / self.records[i]['path']
        return _read_pairs(sorted(d.glob('*_depth.png')), sorted(d.glob('*_rgb.jpg')), self.frames, d)
