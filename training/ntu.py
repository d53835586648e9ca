"""NTU RGB+D 60 / 120 as a paired RGB-D source (the paper's benchmark), read from the published layout.

Expected layout under ``root`` (as the archives unpack; masked or full depth, either works)::

    nturgb+d_depth_masked/S001C001P001R001A001/MDepth-00000001.png   16-bit PNG, millimetres, 512x424, 1-based
    nturgb+d_depth/S001C001P001R001A001/Depth-00000001.png           (the full depth set, same naming)
    nturgb+d_rgb/S001C001P001R001A001_rgb.avi                        1920x1080

Sample names are SsssCcccPpppRrrrAaaa: setup, camera, performer, replication, action. Official splits:
NTU 60 cross-subject (training performers listed below) and cross-view (cameras 2, 3 train; 1 tests);
NTU 120 cross-subject and cross-setup (even setups train, odd test). ``skip_list`` takes the official
``NTU_RGBD_samples_with_missing_skeletons.txt`` (or any list of sample names) to leave those out; a
sample with missing or unreadable frames is reported with its path and skipped or raised (``on_error``).

RGB-depth pairing: the Kinect v2 depth camera (70.6 x 60 degrees) and colour camera (84.1 x 53.8
degrees) differ in field of view, so each is cropped to the common field: the RGB frame to its central
tan(35.3)/tan(42.05) = 78.6% of the width, the depth frame to its central tan(26.9)/tan(30) = 87.9% of the
height. The 5 cm baseline between the sensors is ignored (a few pixels at 3 m). Then both are cropped to
the person: the bounding box of the masked depth's foreground over the whole clip, with a margin.

Decoding 1920x1080 video and 16-bit PNGs is the expensive part of an epoch, so each sample is decoded
once into ``cache_dir`` as a compact npz (T sampled frames, cropped, at ``cache_size``).
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import yaml

from depth_action_recognition.resources import share_dir
from training.errors import DataError

NAME = re.compile(r'^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$')
NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN + (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83,
                                        84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103)
RGB_WIDTH_SHARE = np.tan(np.radians(35.3)) / np.tan(np.radians(42.05))
DEPTH_HEIGHT_SHARE = np.tan(np.radians(26.9)) / np.tan(np.radians(30.0))


def parse_name(name: str) -> dict:
    m = NAME.match(name)
    if not m:
        raise DataError(f'{name!r} is not an NTU sample name (SsssCcccPpppRrrrAaaa)')
    s, c, p, r, a = (int(g) for g in m.groups())
    return {'name': name, 'setup': s, 'camera': c, 'subject': p, 'replication': r, 'action': a}


def official_split(record: dict, benchmark: str) -> str:
    """'train' or 'test' for one of: ntu60-xsub, ntu60-xview, ntu120-xsub, ntu120-xset."""
    if benchmark == 'ntu60-xsub':
        return 'train' if record['subject'] in NTU60_XSUB_TRAIN else 'test'
    if benchmark == 'ntu60-xview':
        return 'train' if record['camera'] in (2, 3) else 'test'
    if benchmark == 'ntu120-xsub':
        return 'train' if record['subject'] in NTU120_XSUB_TRAIN else 'test'
    if benchmark == 'ntu120-xset':
        return 'train' if record['setup'] % 2 == 0 else 'test'
    raise DataError(f'unknown benchmark {benchmark!r}')


def label_preset(n_classes: int) -> dict:
    # The installed share directory, as the runtime finds its config: `training` is a top-level package.
    return yaml.safe_load((share_dir() / 'config' / 'labels' / f'ntu{n_classes}.yaml').read_text())


class NTUSource:
    """The source interface of training.data for NTU RGB+D: ``labels``, ``records``, ``load(i)``."""

    def __init__(self, root, *, classes: int = 60, frames: int = 16, cache_dir=None, cache_size=(120, 160),
                 skip_list=None, on_error: str = 'skip', margin: float = 0.15):
        self.root = Path(root)
        if classes not in (60, 120):
            raise DataError(f'classes must be 60 or 120, got {classes}')
        depth_root = next((self.root / d for d in ('nturgb+d_depth_masked', 'nturgb+d_depth')
                           if (self.root / d).is_dir()), None)
        if depth_root is None:
            raise DataError(f'{self.root}: no nturgb+d_depth_masked/ or nturgb+d_depth/ folder')
        self.masked = depth_root.name.endswith('masked')
        self.prefix = 'MDepth' if self.masked else 'Depth'
        self.depth_root, self.rgb_root = depth_root, self.root / 'nturgb+d_rgb'
        preset = label_preset(classes)
        self.labels, self.alarm_labels = preset['labels'], preset['alarm_labels']
        self.frames, self.cache_size, self.margin, self.on_error = frames, tuple(cache_size), margin, on_error
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.fps = 30.0 * frames / 64          # NTU clips are ~2-3 s at 30 fps; sampled to `frames` frames
        skip = set()
        if skip_list:
            skip = {line.strip() for line in Path(skip_list).read_text().splitlines() if line.strip()}
        self.skipped = []
        self.records = []
        for d in sorted(depth_root.iterdir()):
            if not d.is_dir() or d.name in skip:
                continue
            rec = parse_name(d.name)
            if rec['action'] > classes:
                continue
            rec.update(label_id=rec['action'] - 1, view=rec['camera'], path=d.name)
            self.records.append(rec)
        if not self.records:
            raise DataError(f'{depth_root}: no samples')

    # -------------------------------------------------------------------------------------------
    def _depth_frames(self, name: str) -> list:
        files = sorted((self.depth_root / name).glob(f'{self.prefix}-*.png'))
        if not files:
            raise DataError(f'{self.depth_root / name}: no {self.prefix}-########.png frames')
        return files

    def _read_depth(self, files: list, idx: np.ndarray) -> np.ndarray:
        out = []
        for i in idx:
            img = cv2.imread(str(files[i]), cv2.IMREAD_ANYDEPTH)
            if img is None or img.dtype != np.uint16:
                raise DataError(f'{files[i]}: unreadable or not a 16-bit depth PNG')
            out.append(img)
        return np.stack(out)

    def _read_rgb(self, name: str, idx: np.ndarray, n_depth: int) -> np.ndarray:
        path = self.rgb_root / f'{name}_rgb.avi'
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise DataError(f'{path}: missing or unreadable video')
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        cap.release()
        if not frames:
            raise DataError(f'{path}: no frames')
        # Both sensors run at 30 fps from the same trigger; lengths differ by a frame or two at the ends.
        pick = np.clip(np.round(idx * (len(frames) - 1) / max(1, n_depth - 1)).astype(int), 0, len(frames) - 1)
        return np.stack([cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB) for i in pick])

    def _decode(self, rec: dict):
        files = self._depth_frames(rec['path'])
        idx = np.linspace(0, len(files) - 1, self.frames).round().astype(int)
        depth = self._read_depth(files, idx)
        rgb = self._read_rgb(rec['path'], idx, len(files))
        # Common field of view: crop depth rows and RGB columns, then resize RGB onto the depth grid.
        h, w = depth.shape[1:]
        keep_h = int(round(h * DEPTH_HEIGHT_SHARE))
        y0 = (h - keep_h) // 2
        depth = depth[:, y0:y0 + keep_h]
        rw = rgb.shape[2]
        keep_w = int(round(rw * RGB_WIDTH_SHARE))
        x0 = (rw - keep_w) // 2
        rgb = np.stack([cv2.resize(f[:, x0:x0 + keep_w], (w, keep_h), interpolation=cv2.INTER_AREA) for f in rgb])
        # The person: foreground of the masked depth over the whole clip (all valid pixels in the full set).
        fg = (depth > 0).any(axis=0)
        if fg.any():
            ys, xs = np.nonzero(fg)
            bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            side_h = int(max(bh, bw * 3 / 4) * (1 + 2 * self.margin))
            side_w = int(side_h * 4 / 3)
            cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
            t, l_ = max(0, cy - side_h // 2), max(0, cx - side_w // 2)
            depth, rgb = depth[:, t:t + side_h, l_:l_ + side_w], rgb[:, t:t + side_h, l_:l_ + side_w]
        ch, cw = self.cache_size
        depth = np.stack([cv2.resize(f, (cw, ch), interpolation=cv2.INTER_NEAREST) for f in depth])
        rgb = np.stack([cv2.resize(f, (cw, ch), interpolation=cv2.INTER_AREA) for f in rgb])
        return depth, rgb

    def load(self, i: int):
        rec = self.records[i]
        cached = self.cache_dir / f'{rec["path"]}.npz' if self.cache_dir else None
        if cached is not None and cached.is_file():
            with np.load(cached) as z:
                return z['depth'], z['rgb']
        try:
            depth, rgb = self._decode(rec)
        except DataError as e:
            if self.on_error == 'raise':
                raise
            self.skipped.append(str(e))
            # Skipping keeps the epoch going; the clip becomes an all-missing one and is reported.
            print(f'ntu: skipped {rec["path"]}: {e}', flush=True)
            depth = np.zeros((self.frames,) + self.cache_size, np.uint16)
            rgb = np.zeros((self.frames,) + self.cache_size + (3,), np.uint8)
            return depth, rgb
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cached, depth=depth, rgb=rgb)
        return depth, rgb
