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
the person: the bounding box of the masked depth's foreground over the whole sample, with a margin.

Clip timing: the depth frames are 30 fps (frame ``n`` of ``MDepth-n.png`` is at (n - 1) / 30 s). A sample is
sampled at the model's ``fps`` (10 by default, as the runtime's: every third frame, so 16 frames span 1.5 s) by the
recognizer's own :class:`~depth_action_recognition.sampling.FrameSampler`, and a clip is ``frames``
consecutive sampled frames: a random one of them in training, the centre one in evaluation
(:func:`~depth_action_recognition.sampling.clip_positions`). A sample shorter than a clip gives its
sampled frames and then the last one repeated (counted in ``padded``). The RGB frame of each sampled depth
frame is the one at the same share of the video (both sensors run from one trigger at 30 fps; their
lengths differ by a frame or two at the ends).

Decoding 1920x1080 video is the expensive part, so the video is read once from the start and only the
sampled frames are converted and kept (each shrunk onto the depth grid at once): memory stays at the
size of the sampled stream, not of the video. With ``cache_dir`` each sample's sampled stream is decoded
once into a compact npz (cropped, at ``cache_size``), written under a temporary name and renamed, so
processes that share the cache never read half a file.
"""
from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import yaml

from depth_action_recognition.files import atomic_path
from depth_action_recognition.resources import share_dir
from depth_action_recognition.sampling import clip_positions, sampled_frames
from training.errors import DataError, SkippedSample

NAME = re.compile(r'^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$')
FRAME_NUMBER = re.compile(r'-(\d+)\.png$')
CAMERA_FPS = 30.0
CACHE_FORMAT = 2          # bump when what a cache file holds changes: old files are then never read
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
    """The source interface of training.data for NTU RGB+D: ``labels``, ``records``, ``fps``, ``load(i, rng)``."""

    recorded = True

    def __init__(self, root, *, classes: int = 60, frames: int = 16, fps: float = 10.0, cache_dir=None,
                 cache_size=(120, 160), skip_list=None, on_error: str = 'skip', margin: float = 0.15):
        self.root = Path(root)
        if classes not in (60, 120):
            raise DataError(f'classes must be 60 or 120, got {classes}')
        if on_error not in ('skip', 'raise'):
            raise DataError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        if not fps > 0:
            raise DataError(f'fps must be > 0, got {fps}')
        depth_root = next((self.root / d for d in ('nturgb+d_depth_masked', 'nturgb+d_depth')
                           if (self.root / d).is_dir()), None)
        if depth_root is None:
            raise DataError(f'{self.root}: no nturgb+d_depth_masked/ or nturgb+d_depth/ folder')
        self.masked = depth_root.name.endswith('masked')
        self.prefix = 'MDepth' if self.masked else 'Depth'
        self.depth_root, self.rgb_root = depth_root, self.root / 'nturgb+d_rgb'
        preset = label_preset(classes)
        self.labels, self.alarm_labels = preset['labels'], preset['alarm_labels']
        self.frames, self.fps = frames, float(fps)
        self.cache_size, self.margin, self.on_error = tuple(cache_size), margin, on_error
        # Everything that changes a cached stream is in the folder name: other settings never read it.
        self.cache_dir = (Path(cache_dir) / f'{self.prefix}_{self.fps:g}fps_{self.cache_size[0]}x{self.cache_size[1]}'
                          f'_margin{margin:g}_v{CACHE_FORMAT}') if cache_dir else None
        skip = set()
        if skip_list:
            skip = {line.strip() for line in Path(skip_list).read_text().splitlines() if line.strip()}
        self.skipped = {}        # record index -> why it was skipped
        self.padded = 0          # clips of samples shorter than a clip (last frame repeated)
        self.decoded = 0         # samples decoded from their files (not read from the cache folder)
        self._last = None        # (path, stream) of the last sample read: its other windows come next
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

    def files(self, i: int) -> list:
        """What sample ``i`` is read from (its depth folder and RGB video), for caches keyed on them."""
        name = self.records[i]['path']
        return [p for p in (self.depth_root / name, self.rgb_root / f'{name}_rgb.avi') if p.exists()]

    # -------------------------------------------------------------------------------------------
    def _depth_frames(self, name: str) -> tuple:
        """The sample's depth files in frame order and their times (s); a missing number is a dropped frame."""
        files = []
        for f in (self.depth_root / name).glob(f'{self.prefix}-*.png'):
            m = FRAME_NUMBER.search(f.name)
            if m:
                files.append((int(m.group(1)), f))
        if not files:
            raise DataError(f'{self.depth_root / name}: no {self.prefix}-########.png frames')
        files.sort()
        return [f for _, f in files], np.array([(n - 1) / CAMERA_FPS for n, _ in files])

    def _read_depth(self, files: list) -> np.ndarray:
        out = None
        for k, f in enumerate(files):
            img = cv2.imread(str(f), cv2.IMREAD_ANYDEPTH)
            if img is None or img.dtype != np.uint16:
                raise DataError(f'{f}: unreadable or not a 16-bit depth PNG')
            if out is None:
                out = np.empty((len(files),) + img.shape, np.uint16)     # filled in place: no second copy
            elif img.shape != out.shape[1:]:
                raise DataError(f'{f}: {img.shape[1]}x{img.shape[0]}, the sample\'s first frame is '
                                f'{out.shape[2]}x{out.shape[1]}')
            out[k] = img
        return out

    def _read_rgb(self, name: str, shares: np.ndarray, fit) -> np.ndarray:
        """The RGB frames at ``shares`` (0 = first frame, 1 = last) of the video, each brought to the cached
        crop and size by ``fit`` as soon as it is decoded.

        The video is read from its start: the frames in between are only grabbed (decoded, never
        converted or kept), which is exact for every codec, where seeking is not.
        """
        path = self.rgb_root / f'{name}_rgb.avi'
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise DataError(f'{path}: missing or unreadable video')
        try:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if n <= 0:
                raise DataError(f'{path}: the video states no frame count')
            want = np.round(shares * (n - 1)).astype(int)
            out, pos, last = [], 0, None
            for j in want:
                while pos <= j and cap.grab():
                    pos += 1
                    if pos - 1 == j:
                        ok, f = cap.retrieve()
                        if not ok:
                            raise DataError(f'{path}: frame {j} does not decode')
                        last = fit(f)
                # The stated count can exceed what decodes by a frame or two at the end; more is damage.
                if pos <= j and (last is None or j - pos >= 2):
                    raise DataError(f'{path}: ends after {pos} frames, frame {j} needed ({n} stated)')
                out.append(last)
            return np.stack(out)
        finally:
            cap.release()

    def _decode(self, rec: dict) -> tuple:
        """The sample's sampled stream: (times (S,), depth (S, h, w) uint16, rgb (S, h, w, 3) uint8), cropped."""
        files, times = self._depth_frames(rec['path'])
        keep = sampled_frames(times, self.fps)
        depth = self._read_depth([files[k] for k in keep])
        # Common field of view: the central rows of depth, the central columns of RGB (put onto the depth grid).
        h, w = depth.shape[1:]
        keep_h = int(round(h * DEPTH_HEIGHT_SHARE))
        y0 = (h - keep_h) // 2
        depth = depth[:, y0:y0 + keep_h]
        # The person: foreground of the masked depth over the whole sample (all valid pixels in the full set).
        top, left, bottom, right = 0, 0, keep_h, w
        fg = (depth > 0).any(axis=0)
        if fg.any():
            ys, xs = np.nonzero(fg)
            bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
            side_h = int(max(bh, bw * 3 / 4) * (1 + 2 * self.margin))
            side_w = int(side_h * 4 / 3)
            cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
            top, left = max(0, cy - side_h // 2), max(0, cx - side_w // 2)
            bottom, right = min(keep_h, top + side_h), min(w, left + side_w)
        ch, cw = self.cache_size
        depth = np.stack([cv2.resize(f, (cw, ch), interpolation=cv2.INTER_NEAREST)
                          for f in depth[:, top:bottom, left:right]])

        def fit(frame):
            """One decoded 1080p frame to its final crop and size at once, so no full frame is kept."""
            rw = frame.shape[1]
            keep_w = int(round(rw * RGB_WIDTH_SHARE))
            x0 = (rw - keep_w) // 2
            grid = cv2.resize(frame[:, x0:x0 + keep_w], (w, keep_h), interpolation=cv2.INTER_AREA)
            person = cv2.cvtColor(grid[top:bottom, left:right], cv2.COLOR_BGR2RGB)
            return cv2.resize(person, (cw, ch), interpolation=cv2.INTER_AREA)

        shares = (times[keep] - times[0]) / max(times[-1] - times[0], 1e-9)
        return times[keep], depth, self._read_rgb(rec['path'], shares, fit)

    def _stream(self, rec: dict) -> tuple:
        # The windows of one sample are read one after another (data.RecordingWindows): one sample's stream
        # (a few MB at the cache size) is kept so that they cost one decode, not one each.
        if self._last is not None and self._last[0] == rec['path']:
            return self._last[1]
        stream = self._read_stream(rec)
        self._last = rec['path'], stream
        return stream

    def _read_stream(self, rec: dict) -> tuple:
        cached = self.cache_dir / f'{rec["path"]}.npz' if self.cache_dir else None
        if cached is not None and cached.is_file():
            try:
                with np.load(cached) as z:
                    return z['times'], z['depth'], z['rgb']
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
                print(f'ntu: {cached} is damaged ({e}); decoding the sample again', file=sys.stderr, flush=True)
        stream = self._decode(rec)
        self.decoded += 1
        if cached is not None:
            write_npz_atomic(cached, times=stream[0], depth=stream[1], rgb=stream[2])
        return stream

    def load(self, i: int, rng: np.random.Generator | None = None, spread: tuple | None = None) -> tuple:
        """One clip of sample ``i``: a random one of its clips with ``rng``, the ``k``-th of ``K`` spread over
        the sample with ``spread=(k, K)`` (training), else the centre one."""
        rec = self.records[i]
        if i in self.skipped:
            raise SkippedSample(self.skipped[i])
        try:
            _, depth, rgb = self._stream(rec)
        except DataError as e:
            if self.on_error == 'raise':
                raise
            self.skipped[i] = f'{rec["path"]}: {e}'
            print(f'ntu: skipped {self.skipped[i]}', file=sys.stderr, flush=True)
            raise SkippedSample(self.skipped[i]) from None
        pos, padded = clip_positions(len(depth), self.frames, rng, spread=spread)
        self.padded += padded > 0
        return depth[pos], rgb[pos]


def write_npz_atomic(path: Path, **arrays) -> None:
    """np.savez under a name of this process's own, then a rename: readers see the whole file or none,
    and processes that write the same sample at once each write their own file (the last rename wins)."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        np.savez(f, **arrays)
