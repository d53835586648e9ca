"""The one preprocessing path shared by training and serving.

A :class:`PreprocessSpec` is stored inside every checkpoint; the recognizer applies
:func:`preprocess_frame` to each incoming depth frame (in two halves: :func:`reduce_frame` as it arrives,
:func:`finish_frames` on a few frames at once) and training applies :func:`preprocess_clip` (the same two
halves) to its clips, so the two cannot drift apart.

Per frame: the frame is fitted to the model's input (``crop``, below), downsampled by a *masked* area
average (missing pixels do not drag edges towards zero), converted to metres and range-mapped so that
near is 1, far (>= ``max_depth_m``) is 0 and "no reading" is 0.

Fitting a frame whose aspect differs from the model's (a 16:9 848x480 or a 640x576 camera in front of
an 80x60 model): ``'pad'`` keeps the whole field of view at its true proportions and fills the rest of
the input with "no reading" (letterbox) — nothing a person does near the edge of the image is cut off
and no body is stretched, and a model trained across aspect ratios sees the same geometry at every
resolution. ``'center'`` crops to the model's aspect (loses the sides), ``'none'`` stretches (the
behaviour of models made before ``'pad'``, which saw only 4:3 frames). :func:`fit_box` is the geometry;
the RGB teacher's input is fitted by the same box (training/data.py), so RGB and depth stay aligned.

``'extend'`` keeps the scale of ``'pad'`` without its bands: a frame wider than the model's aspect widens
the input instead (same height, width following the frame's aspect, at most :data:`MAX_EXTEND` times the
model's: a 16:9 frame in front of an 80x60 model becomes a 106x60 input), and a frame of the model's aspect
or narrower is letterboxed exactly as by ``'pad'``. The network ends in a global average pool, so it takes
any width; letterboxed into 80x60, a 16:9 frame becomes 80x45, a quarter of the input is bands and all it
shows is 0.75 times the size that 'extend' gives it (docs/streaming.md measures what that cost).
:func:`input_size` says which input a frame size gets. A student trains with ``'extend'`` by drawing each batch
from clips of one width (training/distill.py); a letterbox-trained one can be served with ``'extend'``
(``training.export --fit extend``): on frames of the model's aspect or narrower the two are the same. The
RGB teacher letterboxes (:data:`TRAIN_FITS`): its RGB input must line up with a depth box of one size.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from .errors import ConfigError

FITS = ('pad', 'center', 'none', 'extend')
TRAIN_FITS = ('pad', 'center', 'none')         # the fits that give every frame the same input size (the teacher's)
# An 'extend' input is at most this many times as wide as the model's own (2:1 in front of a 4:3 model);
# a frame wider still is letterboxed in that.
MAX_EXTEND = 2.0


@dataclass(frozen=True)
class PreprocessSpec:
    """How a depth stream becomes a model input clip of shape (1, frames, height, width)."""

    height: int = 60
    width: int = 80
    frames: int = 16          # clip length T
    fps: float = 10.0         # frames are sampled at this rate from the camera stream
    min_depth_m: float = 0.3
    max_depth_m: float = 8.0
    crop: str = 'none'        # fitting another aspect: 'pad' (letterbox), 'center' (crop), 'none' (stretch) or
                              # 'extend' (wider input for a wider frame)

    def __post_init__(self):
        if self.height < 8 or self.width < 8:
            raise ConfigError(f'preprocess size {self.height}x{self.width} is too small (>= 8x8)')
        if self.frames < 1:
            raise ConfigError(f'preprocess frames must be >= 1, got {self.frames}')
        if not self.fps > 0:
            raise ConfigError(f'preprocess fps must be > 0, got {self.fps}')
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ConfigError(f'preprocess depth range [{self.min_depth_m}, {self.max_depth_m}] is empty')
        if self.crop not in FITS:
            raise ConfigError(f"preprocess crop must be one of {FITS}, got {self.crop!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'PreprocessSpec':
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f'unknown preprocess fields: {sorted(unknown)}')
        return cls(**d)


@functools.lru_cache(maxsize=64)        # a camera sends one size: the geometry is worked out once per size
def fit_box(h0: int, w0: int, height: int, width: int, crop: str) -> tuple:
    """Where a (h0, w0) frame goes in a (height, width) input: (source rows, source cols, target rows, target
    cols) as slices. ``'pad'`` scales the whole frame into a centred box; ``'center'`` takes the centred
    part of the frame with the input's aspect; ``'none'`` maps the whole frame onto the whole input.
    ``'extend'`` is ``'pad'`` here: (height, width) is then already the input :func:`input_size` chose."""
    full_src, full_dst = (slice(0, h0), slice(0, w0)), (slice(0, height), slice(0, width))
    if crop in ('pad', 'extend'):
        scale = min(height / h0, width / w0)
        bh, bw = min(height, max(1, round(h0 * scale))), min(width, max(1, round(w0 * scale)))
        y, x = (height - bh) // 2, (width - bw) // 2
        return full_src + (slice(y, y + bh), slice(x, x + bw))
    if crop == 'center':
        target = width / height
        if w0 / h0 > target:
            cw = int(round(h0 * target))
            x0 = (w0 - cw) // 2
            return (slice(0, h0), slice(x0, x0 + cw)) + full_dst
        ch = int(round(w0 / target))
        y0 = (h0 - ch) // 2
        return (slice(y0, y0 + ch), slice(0, w0)) + full_dst
    return full_src + full_dst


def max_input_width(spec: PreprocessSpec) -> int:
    """The widest input a frame may get: the model's width, or under ``'extend'`` :data:`MAX_EXTEND` times it."""
    return int(MAX_EXTEND * spec.width) if spec.crop == 'extend' else spec.width


def input_size(h0: int, w0: int, spec: PreprocessSpec) -> tuple:
    """(height, width) of the input a (h0, w0) frame is fitted into: the model's own, except under ``'extend'``
    for a frame wider than the model's aspect, whose input keeps the model's height and takes the frame's aspect
    (rounded to whole pixels, at most :func:`max_input_width`)."""
    if spec.crop != 'extend' or w0 * spec.height <= h0 * spec.width:
        return spec.height, spec.width
    return spec.height, min(max_input_width(spec), round(spec.height * w0 / h0))


@functools.lru_cache(maxsize=64)        # a camera sends one size: worked out once per size
def frame_box(h0: int, w0: int, spec: PreprocessSpec) -> tuple:
    """Where a (h0, w0) frame goes in the input :func:`input_size` gives it: (source rows, source cols, target
    rows, target cols, (height, width)), the first four as :func:`fit_box` gives them."""
    size = input_size(h0, w0, spec)
    return fit_box(h0, w0, *size, spec.crop) + (size,)


def decimation_step(h0: int, w0: int, h: int, w: int) -> int:
    """Every how many pixels a (h0, w0) region is sampled before the area average down to (h, w): the
    largest power of two that leaves at least twice the target size in both directions."""
    step = 1
    while h0 >= 4 * step * h and w0 >= 4 * step * w:
        step *= 2
    return step


def preprocess_frame(raw: np.ndarray, scale: float, spec: PreprocessSpec) -> np.ndarray:
    """One depth frame (H0, W0) in wire units -> float32 (height, width) model input in [0, 1]."""
    return finish_frames([reduce_frame(raw, spec)], raw.shape, scale, spec)[0]


def reduce_frame(raw: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """The first half of :func:`preprocess_frame`: the part of a (H0, W0) frame that the model's input shows,
    decimated to between two and four times the input size, as a contiguous array of the wire type (float
    readings that are not finite or not positive set to 0). The only step that reads the full-size frame:
    the node runs it as a frame arrives and :func:`finish_frames` on several frames at once. Always a copy:
    the clip buffer keeps it past the callback, and a caller may reuse its frame's memory."""
    rows, cols, out_rows, out_cols, _ = frame_box(raw.shape[0], raw.shape[1], spec)
    raw = raw[rows, cols]
    step = decimation_step(raw.shape[0], raw.shape[1], out_rows.stop - out_rows.start,
                           out_cols.stop - out_cols.start)
    if step > 1:
        # Large frames are decimated to between two and four times the input size first (640x480 -> 160x120
        # for 80x60), so a cell averages 2x2 to 4x4 samples, and the full-resolution frame is never
        # converted: a tenth of the cost per frame.
        raw = raw[::step, ::step]
    if raw.dtype.kind == 'f':
        # NaN/inf would poison the area sums; negative readings mean nothing either.
        return np.where(np.isfinite(raw) & (raw > 0), raw, 0).astype(np.float32, copy=False)
    # One copy, contiguous: OpenCV wants each row to start on an element boundary (a view of an oddly padded
    # buffer or a slice may not), and the decimated copy of a large frame is small.
    return np.array(raw, order='C', copy=True)


def finish_frames(reduced, shape: tuple, scale: float, spec: PreprocessSpec) -> np.ndarray:
    """The second half of :func:`preprocess_frame`, for N frames of one camera at once: a sequence of
    :func:`reduce_frame` results of frames of ``shape`` (H0, W0) -> float32 (N, height, width), the input
    :func:`input_size` gives that shape.

    Four integer frames go through OpenCV as the four channels of one image (the rest, and float frames, one
    by one): the work per frame is small and the calls are what cost. Four channels and one give every frame exactly the single-frame
    result (OpenCV's area resize takes at most four channels at a scale that is not a whole number, and with
    two or three it can round differently by one unit: seen here for float and for uint16 frames), so a
    frame is preprocessed the same whatever it is batched with."""
    _, _, out_rows, out_cols, (height, width) = frame_box(shape[0], shape[1], spec)
    n = len(reduced)
    out = np.zeros((n, height, width), np.float32)                  # letterbox: the rest reads "no reading"
    # Float frames (32FC1) one by one: at a whole-number scale OpenCV's area sums of four float channels can
    # differ from one channel's in the last bit at the right edge (seen at 212 -> 106 columns, a 16:9 frame's
    # 'extend' input); integer sums are exact at every scale. The price: one OpenCV call per 32FC1 frame here,
    # off the per-frame path (finishing runs a few times a second per camera).
    fours = n - n % 4 if n and reduced[0].dtype.kind != 'f' else 0
    for a, b in [(i, i + 4) for i in range(0, fours, 4)] + [(i, i + 1) for i in range(fours, n)]:
        if b - a == 1:
            out[a, out_rows, out_cols] = _finish(reduced[a], out_rows, out_cols, scale, spec)
        else:
            out[a:b, out_rows, out_cols] = _finish(np.stack(reduced[a:b], axis=-1), out_rows, out_cols, scale,
                                                   spec).transpose(2, 0, 1)
    return out


def _finish(raw: np.ndarray, out_rows: slice, out_cols: slice, scale: float, spec: PreprocessSpec) -> np.ndarray:
    """A reduced frame (h', w') or four as channels (h', w', 4) -> the content box of the input, float32."""
    h, w = out_rows.stop - out_rows.start, out_cols.stop - out_cols.start
    valid = cv2.compare(raw, 0, cv2.CMP_GT)                         # 0 / 255, uint8
    if raw.shape[:2] != (h, w):
        # Masked area average: mean of the cell / share of valid pixels in it = mean of the valid depths.
        # Both resizes run on the wire type (uint16 mm stays uint16), so the full-resolution frame is never
        # converted. Cells that are mostly holes (valid share <= 0.3, i.e. < 77 of 255) stay holes;
        # otherwise the edge of a person would smear outwards.
        total = cv2.resize(raw, (w, h), interpolation=cv2.INTER_AREA)
        share = cv2.resize(valid, (w, h), interpolation=cv2.INTER_AREA)
        holes = share < 77
    else:
        total, share, holes = raw, valid, valid == 0
    # One OpenCV call gives total / (share / 255) as float32 in wire units (x / 0 may give inf or NaN: every
    # such cell has share 0, is a hole and is zeroed below);
    # then in place: near (min_depth) -> 1, far (max_depth and beyond) -> 0, holes -> 0. Few, fused
    # operations: this runs for every sampled frame of every camera.
    content = cv2.divide(total, share, scale=255.0, dtype=cv2.CV_32F)
    lo, hi = np.float32(spec.min_depth_m / scale), np.float32(spec.max_depth_m / scale)
    k = np.float32(1.0 / (hi - lo))
    np.multiply(content, -k, out=content)
    content += hi * k                                                # (hi - x) / (hi - lo)
    np.maximum(content, 0.0, out=content)
    np.minimum(content, 1.0, out=content)
    content[holes] = 0.0
    return content


def preprocess_clip(frames: np.ndarray, scale: float, spec: PreprocessSpec) -> np.ndarray:
    """(T, H0, W0) raw depth -> (T, height, width) float32: :func:`preprocess_frame` of each frame."""
    return finish_frames([reduce_frame(f, spec) for f in frames], frames.shape[1:], scale, spec)
