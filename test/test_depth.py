import numpy as np
import pytest

from depth_action_recognition.depth import WireLayout, decode_depth, depth_to_metres
from depth_action_recognition.errors import DepthDecodeError
from ros_helpers import depth_msg


@pytest.mark.parametrize('encoding,dtype,scale', [('16UC1', np.uint16, 0.001), ('mono16', np.uint16, 0.001),
                                                  ('32FC1', np.float32, 1.0)])
@pytest.mark.parametrize('bigendian', [False, True])
@pytest.mark.parametrize('pad', [0, 4, 3])
def test_decodes_every_depth_encoding(encoding, dtype, scale, bigendian, pad):
    rng = np.random.default_rng(1)
    raw = (rng.integers(0, 8000, (7, 11)) if dtype == np.uint16 else rng.uniform(0, 8, (7, 11))).astype(dtype)
    img = decode_depth(depth_msg(raw, 1.0, encoding=encoding, bigendian=bigendian, pad=pad))
    assert img.array.shape == (7, 11) and img.scale == scale and img.encoding == encoding
    np.testing.assert_array_equal(img.array, raw)
    np.testing.assert_allclose(img.to_metres(), raw.astype(np.float32) * scale, rtol=1e-6)


def test_little_endian_unpadded_frame_is_a_view_not_a_copy():
    msg = depth_msg(np.arange(12, dtype=np.uint16).reshape(3, 4), 1.0)
    img = decode_depth(msg)
    assert not img.array.flags.owndata
    assert np.shares_memory(img.array, np.frombuffer(msg.data, np.uint8))


def test_nan_inf_zero_negative_become_no_reading():
    raw = np.array([[np.nan, np.inf, -np.inf], [0.0, -1.0, 2.5]], np.float32)
    metres = decode_depth(depth_msg(raw, 1.0, encoding='32FC1')).to_metres()
    np.testing.assert_array_equal(metres, [[0, 0, 0], [0, 0, 2.5]])
    np.testing.assert_allclose(depth_to_metres(np.array([[0, 1500]], np.uint16), 0.001), [[0.0, 1.5]])


@pytest.mark.parametrize('encoding,reason', [('rgb8', 'colour'), ('bgr8', 'colour'), ('bgra8', 'colour'),
                                             ('yuv422', 'colour'), ('8UC1', 'encoding'), ('', 'encoding')])
def test_colour_and_unknown_encodings_are_rejected(encoding, reason):
    msg = depth_msg(np.zeros((4, 4), np.uint16), 1.0)
    msg.encoding = encoding
    with pytest.raises(DepthDecodeError) as e:
        decode_depth(msg)
    assert e.value.reason == reason and repr(encoding) in str(e.value)


def test_malformed_messages_are_rejected_with_a_reason():
    def broken(**fields):
        msg = depth_msg(np.zeros((4, 6), np.uint16), 1.0)
        for k, v in fields.items():
            setattr(msg, k, v)
        return msg
    cases = {'size': [broken(height=0), broken(width=0)], 'step': [broken(step=10)],
             'truncated': [broken(data=bytes(47)), broken(data=b'')], 'oversized': [broken(data=bytes(49))]}
    for reason, msgs in cases.items():
        for msg in msgs:
            with pytest.raises(DepthDecodeError) as e:
                decode_depth(msg)
            assert e.value.reason == reason, (reason, str(e.value))


@pytest.mark.parametrize('encoding,dtype,pads', [('16UC1', np.uint16, (1, 3, 5)), ('32FC1', np.float32, (1, 2, 6))])
@pytest.mark.parametrize('height,width', [(7, 11), (48, 64), (60, 80), (120, 160), (239, 321), (480, 640)])
def test_row_padding_that_splits_an_element_works_at_every_frame_size(encoding, dtype, pads, height, width):
    """Padding of any byte count (REP 117 allows it) decodes to an array OpenCV takes as it is (it refuses
    rows that do not start on an element boundary: "Step must be a multiple of esz1"), and to the same model
    input as no padding."""
    import cv2
    from depth_action_recognition.preprocess import PreprocessSpec, preprocess_frame
    spec = PreprocessSpec(height=30, width=40, frames=8, fps=10.0)
    rng = np.random.default_rng(height)
    raw = (rng.integers(0, 8000, (height, width)) if dtype == np.uint16 else rng.uniform(0, 8, (height, width)))
    raw = raw.astype(dtype)
    plain = decode_depth(depth_msg(raw, 1.0, encoding=encoding))
    expected = preprocess_frame(plain.array, plain.scale, spec)
    for pad in pads:
        img = decode_depth(depth_msg(raw, 1.0, encoding=encoding, pad=pad))
        np.testing.assert_array_equal(img.array, raw)
        np.testing.assert_array_equal(cv2.resize(img.array, (5, 4), interpolation=cv2.INTER_AREA),
                                      cv2.resize(raw, (5, 4), interpolation=cv2.INTER_AREA))
        np.testing.assert_array_equal(preprocess_frame(img.array, img.scale, spec), expected)


@pytest.mark.parametrize('encoding,dtype', [('16UC1', np.uint16), ('32FC1', np.float32)])
@pytest.mark.parametrize('first_pad,first_bigendian', [(0, False), (4, False), (3, False), (0, True)])
def test_a_known_layout_decodes_every_later_frame_as_decode_depth_does(encoding, dtype, first_pad, first_bigendian,
                                                                       monkeypatch):
    """A source's WireLayout (from its first frame) views later frames of that layout without decode_depth;
    every other frame — damaged, padded differently, big-endian — goes through decode_depth and gets exactly
    what it gives: the same array, or the same refusal."""
    from depth_action_recognition import depth
    monkeypatch.setattr(depth, '_BRIDGE', None)          # a real ROS install's cv_bridge: decode_depth's business
    rng = np.random.default_rng(3)

    def frame(**kw):
        raw = (rng.integers(0, 8000, (6, 10)) if dtype == np.uint16 else rng.uniform(0, 8, (6, 10))).astype(dtype)
        return raw, depth_msg(raw, 1.0, encoding=encoding, **kw)

    _, first = frame(pad=first_pad, bigendian=first_bigendian)
    layout = WireLayout(first, decode_depth(first))
    assert layout.viewable == (not first_bigendian and first_pad % np.dtype(dtype).itemsize == 0)
    decoded = []
    monkeypatch.setattr(depth, 'decode_depth', lambda msg: decoded.append(msg) or decode_depth(msg))
    same = dict(pad=first_pad, bigendian=first_bigendian)
    for kw in (same, dict(pad=0, bigendian=False), dict(pad=4, bigendian=False), dict(pad=3, bigendian=False),
               dict(pad=first_pad, bigendian=not first_bigendian)):
        raw, msg = frame(**kw)
        decoded.clear()
        np.testing.assert_array_equal(layout.view(msg), raw)
        # Only a frame of the layout, of a source whose layout numpy can view, skips decode_depth.
        assert decoded == ([] if kw == same and layout.viewable else [msg]), kw
        if not decoded:
            assert np.shares_memory(layout.view(msg), np.frombuffer(msg.data, np.uint8))
    row = 10 * np.dtype(dtype).itemsize + first_pad
    for data, reason in ((bytes(6 * row - 1), 'truncated'), (bytes(6 * row + 1), 'oversized'),
                         (bytes(6 * row + np.dtype(dtype).itemsize), 'oversized'), (b'', 'truncated'),
                         (bytes(5 * row), 'truncated')):
        _, msg = frame(**same)
        msg.data = data
        with pytest.raises(DepthDecodeError) as e:
            layout.view(msg)
        assert e.value.reason == reason
    _, msg = frame(**same)
    msg.step = 10 * np.dtype(dtype).itemsize - 1
    with pytest.raises(DepthDecodeError) as e:
        layout.view(msg)
    assert e.value.reason == 'step'


def test_decode_errors_cross_process_boundaries_whole():
    """Loader workers decode in other processes: the error must come back with its reason and message."""
    import pickle
    from depth_action_recognition.errors import FinishError
    e = pickle.loads(pickle.dumps(DepthDecodeError('truncated', 'data has 3 bytes')))
    assert type(e) is DepthDecodeError and e.reason == 'truncated' and str(e) == 'data has 3 bytes'
    f = pickle.loads(pickle.dumps(FinishError('4 frames dropped', frames=4)))
    assert type(f) is FinishError and f.frames == 4 and str(f) == '4 frames dropped'
