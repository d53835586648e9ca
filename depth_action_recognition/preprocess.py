"""The one preprocessing path shared by training and serving.

A :class:`PreprocessSpec` is stored inside every checkpoint; the recognizer applies
:func:`preprocess_frame` to each incoming depth frame and training applies :func:`preprocess_clip`
(the same function per frame) to its clips, so the two cannot drift apart.

Per frame: optional centre crop to the model's aspect, downsampling to the model size by a *masked*
area average (missing pixels do not drag edges towards zero), conversion to metres, and a range
mapping where near is 1, far (>= ``max_depth_m``) is 0 and "no reading" is 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from .errors import ConfigError


@dataclass(frozen=True)
class PreprocessSpec:
    """How a depth stream becomes a model input clip of shape (1, frames, height, width)."""

    height: int = 60
    width: int = 80
    frames: int = 16          # clip length T
    fps: float = 10.0         # frames are sampled at this rate from the camera stream
    min_depth_m: float = 0.3
    max_depth_m: float = 8.0
    crop: str = 'none'        # 'none' (resize the whole frame) or 'center' (crop to the aspect first)

    def __post_init__(self):
        if self.height < 8 or self.width < 8:
            raise ConfigError(f'preprocess size {self.height}x{self.width} is too small (>= 8x8)')
        if self.frames < 1:
            raise ConfigError(f'preprocess frames must be >= 1, got {self.frames}')
        if not self.fps > 0:
            raise ConfigError(f'preprocess fps must be > 0, got {self.fps}')
        if not 0 <= self.min_depth_m < self.max_depth_m:
            raise ConfigError(f'preprocess depth range [{self.min_depth_m}, {self.max_depth_m}] is empty')
        if self.crop not in ('none', 'center'):
            raise ConfigError(f"preprocess crop must be 'none' or 'center', got {self.crop!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> 'PreprocessSpec':
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f'unknown preprocess fields: {sorted(unknown)}')
        return cls(**d)

    @property
    def clip_seconds(self) -> float:
        return self.frames / self.fps


def _center_crop(array: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = array.shape[:2]
    target = width / height
    if w / h > target:
        cw = int(round(h * target))
        x0 = (w - cw) // 2
        return array[:, x0:x0 + cw]
    ch = int(round(w / target))
    y0 = (h - ch) // 2
    return array[y0:y0 + ch, :]


def preprocess_frame(raw: np.ndarray, scale: float, spec: PreprocessSpec) -> np.ndarray:
    """One depth frame (H0, W0) in wire units -> float32 (height, width) model input in [0, 1]."""
    if spec.crop == 'center':
        raw = _center_crop(raw, spec.height, spec.width)
    if raw.dtype.kind == 'f':
        # NaN/inf would poison the area sums; negative readings mean nothing either.
        raw = np.where(np.isfinite(raw) & (raw > 0), raw, 0).astype(np.float32)
    size = (spec.width, spec.height)
    step = 1
    while raw.shape[0] >= 4 * step * spec.height and raw.shape[1] >= 4 * step * spec.width:
        step *= 2
    if step > 1:
        # Large frames are decimated to twice the input size first (640x480 -> 160x120 for 80x60), so a
        # cell averages 2x2 samples, as for the 160x120 frames the default model was trained on, and the
        # full-resolution frame is never converted: a tenth of the cost per frame.
        raw = np.ascontiguousarray(raw[::step, ::step])
    if raw.shape != (spec.height, spec.width):
        # Masked area average: mean of the cell / share of valid pixels in it = mean of the valid depths.
        # Both resizes run on the wire type (uint16 mm stays uint16), so the full-resolution frame is
        # read twice and never converted: the 8x smaller result is what becomes float metres.
        valid = cv2.compare(raw, 0, cv2.CMP_GT)                     # 0 / 255, uint8
        total = cv2.resize(raw, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        share = cv2.resize(valid, size, interpolation=cv2.INTER_AREA).astype(np.float32) * np.float32(1 / 255)
        # Cells that are mostly holes stay holes; otherwise the edge of a person would smear outwards.
        has = share > 0.3
        metres = np.divide(total, share, out=np.zeros_like(total), where=has)
    else:
        metres = raw.astype(np.float32)
        has = metres > 0
    if scale != 1.0:
        metres *= np.float32(scale)
    lo, hi = np.float32(spec.min_depth_m), np.float32(spec.max_depth_m)
    out = (hi - np.clip(metres, lo, hi)) / (hi - lo)
    out[~has] = 0.0
    return out


def preprocess_clip(frames: np.ndarray, scale: float, spec: PreprocessSpec) -> np.ndarray:
    """(T, H0, W0) raw depth -> (T, height, width) float32, frame by frame through preprocess_frame."""
    return np.stack([preprocess_frame(f, scale, spec) for f in frames])
