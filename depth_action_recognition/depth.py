"""Read ``sensor_msgs/Image`` depth messages as numpy arrays, validated, without extra copies.

REP 118 depth encodings are accepted: ``16UC1`` and ``mono16`` (unsigned millimetres) and ``32FC1``
(float metres). Anything else — colour above all — is rejected: the runtime's privacy promise is that
it never looks at a colour pixel, so a colour image arriving on a depth topic is a counted drop, not
something we try to convert.

``decode_depth`` returns a *view* on the message buffer in the native type (``np.frombuffer`` plus
strides for ``step`` padding; a copy only where the wire cannot be viewed as OpenCV accepts it:
big-endian data, rows not starting on an element boundary), and the factor that turns it into metres.
Conversion to float metres happens later, after the frame has been shrunk to the model's input, where it
is ~100x cheaper.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DepthDecodeError

try:  # A real ROS 2 install has cv_bridge; the pip world does not (and PyPI's port is broken).
    from cv_bridge import CvBridge as _CvBridge
    _BRIDGE = _CvBridge()
except Exception:  # noqa: BLE001 - any import failure means "decode ourselves"
    _BRIDGE = None

# encoding -> (numpy little-endian dtype, metres per unit)
DEPTH_ENCODINGS = {
    '16UC1': (np.dtype('<u2'), 0.001),
    'mono16': (np.dtype('<u2'), 0.001),
    '32FC1': (np.dtype('<f4'), 1.0),
}
COLOUR_ENCODINGS = frozenset({
    'rgb8', 'rgba8', 'rgb16', 'rgba16', 'bgr8', 'bgra8', 'bgr16', 'bgra16',
    'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8', 'yuv422', 'yuv422_yuy2', 'nv21', 'nv24',
})
# A frame larger than this is not a depth camera (16k x 16k); refusing it bounds the work per message.
MAX_PIXELS = 16384 * 16384


@dataclass(frozen=True)
class DepthImage:
    """A decoded depth frame: ``array`` is (H, W) in the wire's unit, ``scale`` turns it into metres."""

    array: np.ndarray
    scale: float
    encoding: str

    @property
    def shape_key(self) -> tuple:
        """What must stay constant for frames to belong to one clip."""
        return (self.array.shape, self.encoding)

    def to_metres(self) -> np.ndarray:
        """Float32 metres, with NaN, inf, zero and negative readings all mapped to 0 (no reading)."""
        return depth_to_metres(self.array, self.scale)


def depth_to_metres(array: np.ndarray, scale: float) -> np.ndarray:
    """Convert a raw depth array to float32 metres; 0 means "no reading"."""
    out = array.astype(np.float32, copy=True)
    if scale != 1.0:
        out *= np.float32(scale)
    if out.dtype.kind == 'f':
        bad = ~np.isfinite(out) | (out < 0)
        if bad.any():
            out[bad] = 0.0
    return out


def decode_depth(msg) -> DepthImage:
    """Validate a ``sensor_msgs/Image`` (or any object with its fields) and view it as depth.

    Raises :class:`DepthDecodeError` with a specific ``reason`` for colour or unknown encodings,
    zero or absurd sizes, a ``step`` too small for the row, and data shorter than ``height * step``.
    """
    encoding = str(msg.encoding)
    if encoding in COLOUR_ENCODINGS:
        raise DepthDecodeError('colour', f'colour encoding {encoding!r} rejected: the runtime only accepts '
                               f'depth ({", ".join(DEPTH_ENCODINGS)})')
    if encoding not in DEPTH_ENCODINGS:
        raise DepthDecodeError('encoding', f'unsupported encoding {encoding!r}; expected one of '
                               f'{", ".join(DEPTH_ENCODINGS)}')
    dtype, scale = DEPTH_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise DepthDecodeError('size', f'empty image: {width}x{height}')
    if height * width > MAX_PIXELS:
        raise DepthDecodeError('size', f'image {width}x{height} is larger than any depth camera')
    row_bytes = width * dtype.itemsize
    if step < row_bytes:
        raise DepthDecodeError('step', f'step {step} is smaller than one row ({width} x {dtype.itemsize} bytes)')
    data = msg.data
    nbytes = len(data) * getattr(data, 'itemsize', 1)
    # REP 117/118 publishers send exactly height*step bytes; anything else was damaged on the way (or is
    # a different image than the header says) and cannot be trusted.
    if nbytes < height * step:
        raise DepthDecodeError('truncated', f'data has {nbytes} bytes, header says {height} x {step} = '
                               f'{height * step}')
    if nbytes > height * step:
        raise DepthDecodeError('oversized', f'data has {nbytes} bytes, header says {height} x {step} = '
                               f'{height * step}')
    if msg.is_bigendian:
        dtype = dtype.newbyteorder('>')

    if _BRIDGE is not None:
        array = _BRIDGE.imgmsg_to_cv2(msg, desired_encoding='passthrough')
    else:
        buf = np.frombuffer(data, dtype=np.uint8, count=height * step)
        # Strides describe step padding without copying the rows...
        array = np.ndarray((height, width), dtype=dtype, buffer=buf, strides=(step, dtype.itemsize))
        if step % dtype.itemsize or not array.flags.aligned:
            # ...but OpenCV refuses rows that do not start on an element boundary ("Step must be a
            # multiple of esz1"): an odd padding costs one copy, so that every frame size works.
            array = array.copy()
    if array.dtype.byteorder == '>':
        # Big-endian on a little-endian host: one byte-swapping copy is unavoidable.
        array = array.astype(array.dtype.newbyteorder('<'))
    return DepthImage(array=array, scale=scale, encoding=encoding)


class WireLayout:
    """The byte layout of a source's frames, taken from its first frame once :func:`decode_depth` accepted it.

    A camera sends every frame with the same encoding, size, ``step`` and byte order, so a later frame of
    the source that matches exactly (and is little-endian with rows on element boundaries, the usual case)
    is viewed with one ``np.frombuffer`` and a reshape instead of being validated field by field again;
    anything else — a frame that is truncated, oversized, differently padded or big-endian — goes through
    :func:`decode_depth` and is refused or converted exactly as it would be without this. ``decode_depth``
    only looks at the layout (encoding, size, step, byte count, byte order), which is why matching it is
    enough: a check added there that looks at anything else must be added to :meth:`view` too. The caller
    passes only frames of the source (same encoding, height and width: the node's source key).
    """

    __slots__ = ('step', 'shape', 'size', 'width', 'dtype', 'viewable')

    def __init__(self, msg, img: DepthImage):
        height, self.width, self.step = img.array.shape[0], img.array.shape[1], int(msg.step)
        self.dtype = DEPTH_ENCODINGS[img.encoding][0]
        self.shape = (height, self.step // self.dtype.itemsize)     # rows of step bytes, padding included
        self.size = self.shape[0] * self.shape[1]
        # What np.frombuffer can view as it is: no cv_bridge to defer to, little-endian, rows starting on an
        # element boundary (decode_depth copies for the others, and so does every frame of such a source).
        self.viewable = _BRIDGE is None and not msg.is_bigendian and self.step % self.dtype.itemsize == 0

    def view(self, msg) -> np.ndarray:
        """The frame as (H, W) in the wire's type: a view on the message when it has this layout."""
        if self.viewable and msg.step == self.step and not msg.is_bigendian:
            try:
                flat = np.frombuffer(msg.data, self.dtype)
            except (TypeError, ValueError):     # not whole elements, not a buffer: decode_depth says what
                flat = None
            if flat is not None and flat.size == self.size and flat.flags.aligned:
                array = flat.reshape(self.shape)
                return array if self.shape[1] == self.width else array[:, :self.width]
        return decode_depth(msg).array
