import numpy as np
import pytest

from depth_action_recognition.errors import ConfigError
from depth_action_recognition.preprocess import (PreprocessSpec, finish_frames, input_size, preprocess_clip,
                                                  preprocess_frame, reduce_frame)


def test_range_mapping_near_is_one_far_and_missing_are_zero():
    spec = PreprocessSpec(height=8, width=8, min_depth_m=1.0, max_depth_m=5.0)
    raw = np.array([[0, 1000, 3000, 5000, 9000, 500, 1000, 1000]] * 8, np.uint16)
    out = preprocess_frame(raw, 0.001, spec)
    np.testing.assert_allclose(out[0], [0, 1, 0.5, 0, 0, 1, 1, 1], atol=1e-6)
    assert out.dtype == np.float32


def test_masked_downsampling_ignores_missing_pixels():
    spec = PreprocessSpec(height=8, width=8, min_depth_m=0.0, max_depth_m=4.0)
    raw = np.full((16, 16), 2000, np.uint16)
    raw[::2, ::2] = 0                                       # a quarter of the pixels missing
    out = preprocess_frame(raw, 0.001, spec)
    np.testing.assert_allclose(out, 0.5, atol=1.5e-3)  # the valid share is averaged in 1/255 steps                # not dragged towards "far"
    holes = np.zeros((16, 16), np.uint16)
    holes[0, 0] = 2000                                      # a lone reading in a 2x2 cell of holes
    assert preprocess_frame(holes, 0.001, spec)[0, 0] == 0.0


def reference_frame(raw_mm: np.ndarray, spec: PreprocessSpec, step: int, cell: int) -> np.ndarray:
    """The documented transform written plainly in float64: decimate by ``step``, masked mean of each
    ``cell`` x ``cell`` block (a cell whose valid share is 0.3 or less is a hole), then near -> 1, far -> 0."""
    x = raw_mm[::step, ::step].astype(np.float64)
    h, w = spec.height, spec.width
    cells = x.reshape(h, cell, w, cell).transpose(0, 2, 1, 3).reshape(h, w, cell * cell)
    n = (cells > 0).sum(-1)
    mean = cells.sum(-1) / np.maximum(n, 1)
    lo, hi = spec.min_depth_m * 1000, spec.max_depth_m * 1000
    out = (hi - np.clip(mean, lo, hi)) / (hi - lo)
    holes = n / cell ** 2 <= 0.3
    out[holes] = 0.0
    return out, holes


@pytest.mark.parametrize('shape,step,cell', [((120, 160), 1, 2), ((480, 640), 4, 2), ((240, 320), 2, 2),
                                             ((180, 240), 1, 3)])
def test_frames_match_the_plain_reference_transform(shape, step, cell):
    spec = PreprocessSpec()
    rng = np.random.default_rng(shape[0])
    raw = rng.integers(200, 9500, shape).astype(np.uint16)      # below min, in range and beyond max depth
    raw[rng.random(shape) < 0.45] = 0                           # holes, so that every count of valid pixels occurs
    want, holes = reference_frame(raw, spec, step, cell)
    # 3x3 cells: 2 of 9 valid (0.22) is a hole, 3 of 9 (0.33) is not: the 0.3 rule itself, not a quarter
    if cell == 3:
        n = (raw.reshape(60, 3, 80, 3) > 0).sum((1, 3))
        assert (n == 2).any() and (n == 3).any() and (holes == (n <= 2)).all()
    for got in (preprocess_frame(raw, 0.001, spec), preprocess_frame(raw.astype(np.float32) / 1000, 1.0, spec)):
        assert got.dtype == np.float32 and got.shape == want.shape
        assert (got[holes] == 0).all() and (got[want > 4e-3] > 0).all()     # holes where the rule puts them
        # uint16 area sums round to whole millimetres and the valid share to 1/255 steps (a half-valid cell's
        # 127.5 becomes 128: 0.4% of the depth, at most 0.0042 of the range at 8 m)
        np.testing.assert_allclose(got, want, atol=5e-3)


def test_float_and_uint16_paths_agree_and_center_crop():
    spec = PreprocessSpec(height=16, width=16, crop='center')
    mm = np.random.default_rng(0).integers(500, 6000, (48, 64)).astype(np.uint16)
    a = preprocess_frame(mm, 0.001, spec)
    b = preprocess_frame(mm.astype(np.float32) / 1000, 1.0, spec)
    np.testing.assert_allclose(a, b, atol=2e-3)   # uint16 area sums round to whole millimetres
    assert preprocess_clip(np.stack([mm, mm]), 0.001, spec).shape == (2, 16, 16)


def test_spec_round_trip_and_validation():
    spec = PreprocessSpec(height=30, width=40, frames=8, fps=15)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    for bad in [dict(height=2), dict(frames=0), dict(fps=0), dict(min_depth_m=5, max_depth_m=1), dict(crop='x')]:
        with pytest.raises(ConfigError):
            PreprocessSpec(**bad)
    with pytest.raises(ConfigError):
        PreprocessSpec.from_dict({**spec.to_dict(), 'colour': True})


def test_pad_fits_any_aspect_whole_and_undistorted():
    spec = PreprocessSpec(height=60, width=80, min_depth_m=0.0, max_depth_m=4.0, crop='pad')
    for h0, w0 in [(480, 848), (240, 424), (576, 640), (424, 512), (480, 640), (120, 160)]:
        frame = np.full((h0, w0), 3000, np.uint16)
        s = min(60 / h0, 80 / w0)
        side = int(0.4 * min(h0, w0))                        # a square near object in the middle
        y, x = (h0 - side) // 2, (w0 - side) // 2
        frame[y:y + side, x:x + side] = 1000
        out = preprocess_frame(frame, 0.001, spec)
        rows, cols = np.nonzero(out > 0)                     # the frame's whole field of view, centred
        bh, bw = round(h0 * s), round(w0 * s)
        assert rows.max() - rows.min() + 1 == bh and cols.max() - cols.min() + 1 == bw, (h0, w0)
        assert abs((rows.min() + rows.max()) / 2 - 29.5) <= 0.5 and abs((cols.min() + cols.max()) / 2 - 39.5) <= 0.5
        near = out > 0.6                                     # the square stays a square
        sh, sw = np.ptp(np.nonzero(near)[0]) + 1, np.ptp(np.nonzero(near)[1]) + 1
        assert abs(sh - sw) <= 1, (h0, w0, sh, sw)
    four_three = np.random.default_rng(1).integers(500, 6000, (480, 640)).astype(np.uint16)
    np.testing.assert_array_equal(preprocess_frame(four_three, 0.001, spec),
                                  preprocess_frame(four_three, 0.001, PreprocessSpec(height=60, width=80, min_depth_m=0.0,
                                                                                     max_depth_m=4.0)))


def test_extend_gives_wider_frames_a_wider_input_at_the_scale_of_the_model_height():
    """'extend': a frame wider than 4:3 keeps the input's height and scale and widens the input (no bands); a 4:3
    or narrower frame is fitted exactly as 'pad' fits it; the widest input is twice the model's."""
    spec = PreprocessSpec(height=60, width=80, min_depth_m=0.0, max_depth_m=4.0, crop='extend')
    pad = PreprocessSpec(height=60, width=80, min_depth_m=0.0, max_depth_m=4.0, crop='pad')
    assert input_size(240, 424, spec) == input_size(480, 848, spec) == (60, 106)
    assert input_size(480, 640, spec) == input_size(576, 640, spec) == input_size(424, 512, spec) == (60, 80)
    assert input_size(720, 2560, spec) == (60, 160)                 # 32:9, past the limit: letterboxed in 160x60
    assert input_size(720, 1280, spec) == input_size(360, 640, spec) == (60, 107)     # 16:9 is 106.7 columns
    assert input_size(240, 424, pad) == (60, 80)
    rng = np.random.default_rng(3)
    for h0, w0 in [(480, 640), (576, 640), (424, 512), (120, 160)]:
        frame = rng.integers(500, 3900, (h0, w0)).astype(np.uint16)
        np.testing.assert_array_equal(preprocess_frame(frame, 0.001, spec), preprocess_frame(frame, 0.001, pad))
    for h0, w0, width in [(240, 424, 106), (480, 848, 106), (720, 2560, 160)]:
        frame = np.full((h0, w0), 3000, np.uint16)
        side = h0 // 2                                      # a square near object in the middle, half the height
        y, x = (h0 - side) // 2, (w0 - side) // 2
        frame[y:y + side, x:x + side] = 1000
        out = preprocess_frame(frame, 0.001, spec)
        assert out.shape == (60, width)
        rows, cols = np.nonzero(out > 0)
        content_w = min(width, round(60 * w0 / h0))
        assert cols.max() - cols.min() + 1 == content_w          # no bands at the sides but beyond the limit
        near = out > 0.6
        sh, sw = np.ptp(np.nonzero(near)[0]) + 1, np.ptp(np.nonzero(near)[1]) + 1
        scale = min(60 / h0, width / w0)
        assert abs(sh - sw) <= 1 and abs(sh - side * scale) <= 1.5, (h0, w0, sh, sw)
        if width == 106:                                    # the height of a 4:3 frame's square: same scale
            assert abs(sh - 30) <= 1
    clip = np.stack([np.full((240, 424), 2000, np.uint16)] * 3)
    assert preprocess_clip(clip, 0.001, spec).shape == (3, 60, 106)


def test_frames_with_odd_row_padding_and_strided_views_work_at_every_size():
    spec = PreprocessSpec(height=12, width=16)
    for h0, w0 in [(12, 16), (20, 30), (47, 65), (120, 160)]:
        buf = np.random.default_rng(2).integers(1, 256, h0 * (2 * w0 + 1), dtype=np.uint8).tobytes()
        odd = np.ndarray((h0, w0), np.uint16, buf, strides=(2 * w0 + 1, 2))   # a row step of 2*w0+1 bytes
        ref = preprocess_frame(np.array(odd), 0.001, spec)
        np.testing.assert_array_equal(preprocess_frame(odd, 0.001, spec), ref)


@pytest.mark.parametrize('shape', [(120, 160), (240, 424), (480, 640), (37, 53), (60, 80), (720, 1280), (360, 640),
                                   (100, 320)])
@pytest.mark.parametrize('dtype', [np.uint16, np.float32])
@pytest.mark.parametrize('crop', ['pad', 'center', 'none', 'extend'])
def test_frames_finished_together_are_each_exactly_the_single_frame_result(shape, dtype, crop):
    # The node reduces each frame as it arrives and finishes a few at once; training preprocesses a clip in
    # one call. Every frame must come out bit for bit as preprocess_frame makes it alone, whatever else is in
    # the batch (OpenCV's area resize rounds float sums differently with two or three channels).
    rng = np.random.default_rng(3)
    spec = PreprocessSpec(crop=crop)
    if dtype == np.uint16:
        frames = rng.integers(0, 7000, (9,) + shape).astype(np.uint16)
        frames[rng.random(frames.shape) < 0.2] = 0
        scale = 0.001
    else:
        frames = rng.uniform(-1, 9, (9,) + shape).astype(np.float32)
        frames[rng.random(frames.shape) < 0.1] = np.nan
        scale = 1.0
    single = np.stack([preprocess_frame(f, scale, spec) for f in frames])
    for n in range(1, 10):
        batch = finish_frames([reduce_frame(f, spec) for f in frames[:n]], shape, scale, spec)
        assert batch.dtype == np.float32 and batch.shape == (n,) + input_size(*shape, spec)
        np.testing.assert_array_equal(batch, single[:n])
    np.testing.assert_array_equal(preprocess_clip(frames, scale, spec), single)


@pytest.mark.parametrize('shape', [(60, 80), (120, 160), (480, 640)])
def test_a_reduced_frame_owns_its_memory(shape):
    # The clip buffer keeps reduced frames past the callback; a camera driver may reuse its frame buffer.
    frame = np.full(shape, 1500, np.uint16)
    reduced = reduce_frame(frame, PreprocessSpec())
    assert not np.shares_memory(reduced, frame)
    frame[:] = 0
    assert reduced.min() == 1500
