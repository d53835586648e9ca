"""Paired RGB-D clip data behind one small interface, splits by subject and view, aligned augmentation.

A *source* knows its clips' records (``label_id``, ``subject``, ``view``) and loads one pair of raw
clips: depth (T, H, W) uint16 millimetres and RGB (T, H, W, 3) uint8. :class:`PairedClips` turns a
source into tensors: the depth half through the runtime's own ``preprocess_clip`` (so training sees
exactly what the recognizer will), the RGB half resized and normalised for the teacher.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from depth_action_recognition.preprocess import PreprocessSpec, fit_box, preprocess_clip
from depth_action_recognition.synthetic.dataset import SyntheticDataset, parse_range
from training.errors import DataError, SkippedSample  # noqa: F401  (DataError is imported from here too)
from training.folder import FolderSource, NWUCLASource
from training.ntu import NTUSource

# torchvision's video models were trained on Kinetics with these statistics.
KINETICS_MEAN = np.array([0.43216, 0.394666, 0.37645], np.float32)
KINETICS_STD = np.array([0.22803, 0.22145, 0.216989], np.float32)


class SyntheticSource:
    """The synthetic world's dataset folders (see depth_action_recognition.synthetic.dataset)."""

    recorded = False              # a clip is exactly one window: its phase was drawn when it was rendered

    def __init__(self, root):
        try:
            self.ds = SyntheticDataset.open(root)
        except ValueError as e:
            raise DataError(f'--data {root}: {e}') from None
        self.labels = list(self.ds.info['labels'])
        self.alarm_labels = list(self.ds.info['alarm_labels'])
        self.records = self.ds.records
        self.fps = float(self.ds.info['fps'])
        self.frames = int(self.ds.info['frames'])

    def load(self, i: int, rng=None, spread=None):
        """Clip ``i`` as rendered: a synthetic clip is exactly one window at the dataset's fps (no other to pick)."""
        try:
            depth, rgb, _ = self.ds.load(i)
        except ValueError as e:
            raise DataError(str(e)) from None
        return depth, rgb

    def files(self, i: int) -> list:
        """The files clip ``i`` is read from (caches key on their size and modification time)."""
        return [self.ds.root / self.records[i]['path']]


def open_source(path, *, ntu_classes: int = 60, frames: int = 16, cache_dir=None, fps=None):
    """Pick the source type from what is at ``path``: NTU RGB+D, a paired folder, NW-UCLA or synthetic.

    ``fps`` is the rate recorded videos are sampled at (None: the source's default); synthetic clips are
    rendered at their dataset's rate and cannot be resampled.
    """
    from pathlib import Path
    root = Path(path)
    rate = {} if fps is None else {'fps': fps}
    if (root / 'nturgb+d_depth_masked').is_dir() or (root / 'nturgb+d_depth').is_dir():
        return NTUSource(root, classes=ntu_classes, frames=frames, cache_dir=cache_dir, **rate)
    if (root / 'clips.csv').is_file():
        return FolderSource(root, frames=frames, **rate)
    if any(root.glob('view_*')):
        return NWUCLASource(root, frames=frames, **rate)
    source = SyntheticSource(path)
    if fps is not None and abs(fps - source.fps) > 1e-6:
        raise DataError(f'--data {path}: synthetic clips are rendered at {source.fps:g} fps, not {fps:g}')
    return source


class ConcatSource:
    """Several sources read as one, in the order given.

    For more clips of one world or one site: a second rendering of the synthetic world (another seed,
    training subjects and views only), a second recording session. Splits by subject and view apply to
    the union, so a folder holding only training subjects adds training clips and nothing else. The first
    source names the classes (and the alarm classes); a later one may hold some of them only (more clips of the
    classes a model confuses), its records' ``label_id`` renumbered by name into the first one's list.
    """

    def __init__(self, sources, names):
        first, name0 = sources[0], names[0]
        for s, name in zip(sources[1:], names[1:]):
            unknown = [label for label in s.labels if label not in first.labels]
            if unknown:
                raise DataError(f'--data {name}: labels {unknown} are not among those of {name0} (the first '
                                f'folder names the classes; a later one may hold some of them only)')
            if abs(float(s.fps) - float(first.fps)) > 1e-6:
                raise DataError(f'--data {name}: {s.fps} fps, but {name0} has {first.fps} fps')
        self.labels, self.alarm_labels, self.fps = list(first.labels), list(first.alarm_labels), first.fps
        self.frames = getattr(first, 'frames', None)
        self.recorded = any(getattr(s, 'recorded', False) for s in sources)
        self.records, self._where, self.spans = [], [], []
        for s, name in zip(sources, names):
            # Paths stay unique and readable in error messages: each names the folder it came from, spelt one
            # way (`./data/x/` is `data/x`: the records are hashed into a run's fingerprint for --resume).
            name = os.path.normpath(str(name))
            self.spans.append((name, len(self.records), len(self.records) + len(s.records)))
            ids = [first.labels.index(label) for label in s.labels]     # this source's label_id -> the union's
            for k, r in enumerate(s.records):
                if not 0 <= r['label_id'] < len(ids):
                    raise DataError(f'--data {name}: {r.get("path", k)} has label id {r["label_id"]}, not one of '
                                    f'its {len(ids)} labels')
            self.records += [{**r, 'path': f'{name}/{r.get("path", k)}', 'label_id': ids[r['label_id']]}
                             for k, r in enumerate(s.records)]
            self._where += [(s, k) for k in range(len(s.records))]

    def load(self, i: int, rng=None, spread=None):
        source, k = self._where[i]
        return source.load(k, rng, spread)

    def files(self, i: int) -> list:
        source, k = self._where[i]
        return source.files(k) if hasattr(source, 'files') else []


def open_sources(paths: list, **kwargs):
    """One source for one path, a :class:`ConcatSource` for several (same keyword arguments as open_source)."""
    if not paths:
        raise DataError('--data: no dataset folder given')
    if len(paths) == 1:
        return open_source(paths[0], **kwargs)
    return ConcatSource([open_source(p, **kwargs) for p in paths], [str(p) for p in paths])


@dataclass(frozen=True)
class Split:
    subjects: tuple = ()
    views: tuple = ()

    def select(self, records) -> list:
        return [i for i, r in enumerate(records)
                if (not self.subjects or r['subject'] in self.subjects) and (not self.views or r['view'] in self.views)]


def split_from_flags(subjects: str, views: str) -> Split:
    return Split(tuple(parse_range(subjects)) if subjects else (), tuple(parse_range(views)) if views else ())


def per_class_subset(records, indices, per_class: int, seed: int) -> list:
    """At most ``per_class`` clips of each class (the small paired set), chosen reproducibly."""
    if per_class <= 0:
        return list(indices)
    rng = np.random.default_rng(seed)
    by_class = {}
    for i in indices:
        by_class.setdefault(records[i]['label_id'], []).append(i)
    out = []
    for k in sorted(by_class):
        out += sorted(rng.permutation(by_class[k])[:per_class].tolist())
    return out


def rgb_clip(rgb: np.ndarray, size: tuple, frame_step: int = 1, fit: str = 'none') -> np.ndarray:
    """(T, H, W, 3) uint8 -> (3, T / frame_step, h, w) float32, Kinetics-normalised, fitted to (h, w) by the
    depth preprocessing's own geometry (``fit``: 'pad', 'center' or 'none'), so RGB and depth stay aligned.
    A letterbox's margin is the mean colour (0 after normalisation)."""
    h, w = size
    rows, cols, out_rows, out_cols = fit_box(rgb.shape[1], rgb.shape[2], h, w, fit)
    bh, bw = out_rows.stop - out_rows.start, out_cols.stop - out_cols.start
    frames = np.stack([cv2.resize(np.ascontiguousarray(f[rows, cols]), (bw, bh), interpolation=cv2.INTER_AREA)
                       for f in rgb[::frame_step]])
    frames = ((frames.astype(np.float32) / 255 - KINETICS_MEAN) / KINETICS_STD).transpose(3, 0, 1, 2)
    if (bh, bw) == (h, w):
        return np.ascontiguousarray(frames)
    out = np.zeros((3, frames.shape[1], h, w), np.float32)
    out[:, :, out_rows, out_cols] = frames
    return out


def aligned_crop_flip(depth: np.ndarray, rgb: np.ndarray, rng: np.random.Generator, scale=(0.8, 1.0)):
    """The same random crop box and horizontal flip on both modalities, so the pair stays pixel-aligned."""
    _, h, w = depth.shape
    s = np.sqrt(rng.uniform(*scale))
    ch, cw = int(round(h * s)), int(round(w * s))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    depth, rgb = depth[:, y0:y0 + ch, x0:x0 + cw], rgb[:, y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        depth, rgb = depth[:, :, ::-1], rgb[:, :, ::-1]
    return np.ascontiguousarray(depth), np.ascontiguousarray(rgb)


class PairedClips(Dataset):
    """Tensors for training: {'depth': (1,T,H,W), 'rgb': (3,T,h,w), 'label', 'index'}.

    ``modalities`` limits the work to what a run needs (a depth student with a cached teacher never
    decodes RGB). ``augment`` applies the aligned crop/flip and, on recorded videos, a random window;
    ``window=(k, K)`` takes the ``k``-th of ``K`` windows spread over each recording instead (the fixed
    phases that training.distill draws from, one per epoch, and whose teacher outputs it caches).
    """

    def __init__(self, source, indices, spec: PreprocessSpec, *, rgb_size=(60, 80), modalities=('depth', 'rgb'),
                 augment=False, seed=0, rgb_frame_step=1, window: tuple | None = None):
        if 'rgb' in modalities and spec.crop == 'extend':
            # The teacher's input has one size: a 16:9 frame's RGB would be letterboxed while its depth is not.
            raise DataError("RGB with fit 'extend' would not line up with the depth (a wider depth input, a "
                            "letterboxed RGB one): train with --fit pad")
        self.source, self.indices, self.spec, self.window = source, list(indices), spec, window
        self.rgb_frame_step = rgb_frame_step
        self.depth_frame_step = 1
        self.rgb_size, self.modalities, self.augment, self.seed = tuple(rgb_size), tuple(modalities), augment, seed
        self.epoch = 0
        frames = None
        for i in self.indices:
            try:
                d, r = source.load(i)
            except SkippedSample:
                continue                 # counted where the dataset is built (InMemory)
            frames = d.shape[0]
            if r.shape[:3] != d.shape:
                raise DataError(f'clip {i}: depth {d.shape} and RGB {r.shape[:3]} are not paired frame for frame')
            break
        if frames is not None and frames != spec.frames and 'depth' in modalities:
            raise DataError(f'clips have {frames} frames, the student expects {spec.frames} (--frames)')

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> dict:
        i = self.indices[k]
        # Recorded videos: a random window in training (its own stream, so the crop draws stay as they were),
        # or the fixed window asked for.
        rng = np.random.default_rng([self.seed, self.epoch, k, 1]) if self.augment and not self.window else None
        depth, rgb = self.source.load(i, rng, self.window)
        if depth.shape != rgb.shape[:3]:
            raise DataError(f'clip {i} ({self.source.records[i].get("path", "?")}): depth {depth.shape} and RGB '
                            f'{rgb.shape} differ in length or size')
        if self.augment:
            depth, rgb = aligned_crop_flip(depth, rgb, np.random.default_rng([self.seed, self.epoch, k]))
        item = {'label': self.source.records[i]['label_id'], 'index': k}
        if 'depth' in self.modalities:
            item['depth'] = torch.from_numpy(preprocess_clip(depth[::self.depth_frame_step], 0.001, self.spec)).unsqueeze(0)
        if 'rgb' in self.modalities:
            item['rgb'] = torch.from_numpy(rgb_clip(rgb, self.rgb_size, self.rgb_frame_step, self.spec.crop))
        return item


class RecordingWindows(Dataset):
    """The ``windows`` windows of every recording, recording by recording: item ``j`` is window ``j % K`` of the
    ``j // K``-th clip (``PairedClips(window=(w, K))``), with ``'window'`` added and ``'index'`` the clip's
    position. In this order a source that keeps the recording it read last (NTU: a whole decoded sample)
    decodes each recording once for all its windows, not once per window."""

    def __init__(self, source, indices, spec: PreprocessSpec, windows: int, **kwargs):
        self.windows = windows
        first = PairedClips(source, indices, spec, window=(0, windows) if windows > 1 else None, **kwargs)
        # The other windows differ only in ``window``: copies, so the first-clip check is not read K times.
        self.parts = [first] + [copy.copy(first) for _ in range(1, windows)]
        for w, part in enumerate(self.parts[1:], 1):
            part.window = (w, windows)
        self.indices = first.indices

    def __len__(self) -> int:
        return len(self.indices) * self.windows

    def __getitem__(self, j: int) -> dict:
        k, w = divmod(j, self.windows)
        return {**self.parts[w][k], 'window': w}


class Readable(Dataset):
    """``ds`` with each sample its source skips returned as the :class:`SkippedSample` itself instead of raised,
    so that loader workers can hand it back in order and whoever collects the samples leaves it out and counts it."""

    def __init__(self, ds: Dataset):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, k):
        try:
            return self.ds[k]
        except SkippedSample as e:
            return e


def read_in_order(ds: Dataset, workers: int = 0, group: int = 1, per_batch: int = 32):
    """Lists of ``group`` consecutive samples of ``ds`` (a skipped one as its :class:`SkippedSample`), in order,
    decoded by ``workers`` processes (0: here). A worker gets whole groups (``RecordingWindows`` with ``group``
    = its windows keeps a recording's decode in one process), about ``per_batch`` samples at a time (one
    queue message per batch; each tensor still travels in shared memory of its own)."""
    batch = group * max(1, per_batch // group)
    for items in DataLoader(Readable(ds), batch_size=batch, num_workers=max(0, workers), collate_fn=list):
        for start in range(0, len(items), group):
            yield items[start:start + group]


class InMemory(Dataset):
    """Decode a (non-augmented) dataset once and serve it from memory: CPU training is compute-bound.

    A sample its source skips (unreadable, ``on_error='skip'``) is left out and counted: ``skipped`` holds
    the reasons, ``indices`` the source indices of the items kept (in order), for anything that must stay
    aligned with them (the teacher cache). ``workers`` processes decode (the items and their order are the
    same as with none).
    """

    def __init__(self, ds: Dataset, workers: int = 0):
        self.items, kept, self.skipped = [], [], []
        for k, (it,) in enumerate(read_in_order(ds, workers)):
            if isinstance(it, SkippedSample):
                self.skipped.append(str(it))
                continue
            # Copies (float16 for floats), made at once: a worker's shared-memory tensor is let go here, not held
            # (with a file descriptor) for the whole set.
            self.items.append({k2: (v.to(torch.float16, copy=True) if v.is_floating_point() else v.clone())
                               if torch.is_tensor(v) else v for k2, v in it.items()})
            kept.append(k)
        if self.skipped:
            print(f'data: {len(self.skipped)} of {len(ds)} clips skipped as unreadable (first: {self.skipped[0]})',
                  flush=True)
        self.indices = [ds.indices[k] for k in kept] if hasattr(ds, 'indices') else kept

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return {k2: (v.float() if torch.is_tensor(v) and v.dtype == torch.float16 else v) for k2, v in self.items[k].items()}
