import numpy as np
import pytest

from depth_action_recognition.errors import ConfigError
from depth_action_recognition.preprocess import PreprocessSpec, preprocess_clip, preprocess_frame


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
