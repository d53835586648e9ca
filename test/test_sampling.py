"""Clip timing: training's window sampler and the live clip buffer pick the very same frames."""
import numpy as np
import pytest

from depth_action_recognition.clip_buffer import ClipBuffer
from depth_action_recognition.errors import ConfigError
from depth_action_recognition.sampling import (FrameSampler, clip_positions, sampled_frames, video_window, window_indices,
                                                window_starts)


def live_clip_stamps(times, fps, frames):
    """Stamps of the first clip a recognizer's buffer emits for a stream with these frame times."""
    buf = ClipBuffer(frames, 1, target_fps=fps, max_gap_s=10.0)
    for t in times:
        if buf.admit(t):
            clip = buf.add(np.zeros((2, 2), np.float32), t, meta={'t': t})
            if clip is not None:
                stamps = buf._stamps[np.r_[buf._head:frames, 0:buf._head]]
                return stamps
    return None


@pytest.mark.parametrize('camera_fps,jitter', [(30.0, 0.0), (30.0, 0.004), (25.0, 0.0), (15.0, 0.002), (10.0, 0.0)])
def test_training_windows_are_the_frames_the_live_buffer_keeps(camera_fps, jitter):
    rng = np.random.default_rng(3)
    times = 100.0 + np.arange(400) / camera_fps + rng.uniform(-jitter, jitter, 400)
    for start in (100.0, 100.37, 103.1):
        idx = window_indices(times, 10.0, 16, start=start)
        live = live_clip_stamps(times[times >= start - 1e-9], 10.0, 16)
        assert idx is not None and live is not None
        np.testing.assert_array_equal(times[idx], live)
        # The clip spans what the model was trained on: 15 periods of 0.1 s, give or take a camera frame.
        assert abs((times[idx[-1]] - times[idx[0]]) - 1.5) <= 1.0 / camera_fps + 2 * jitter


def test_thirty_fps_camera_keeps_every_third_frame():
    times = np.arange(90) / 30.0
    np.testing.assert_array_equal(window_indices(times, 10.0, 16), np.arange(0, 48, 3))


@pytest.mark.parametrize('t0', [0.0, 100.0, 1234.567, 1.7e9, 6e8, 3e9])
def test_a_limit_that_falls_on_a_camera_frame_is_not_decided_by_rounding(t0):
    # 30 fps into 7.5 fps: 3/4 of a period (the early limit) is a camera frame; every 4th frame is kept at any
    # stamp magnitude over 10 minutes, never the one before it (a running sum of periods drifted into it).
    times = t0 + np.arange(18_000) / 30.0
    np.testing.assert_array_equal(sampled_frames(times, 7.5), np.arange(0, 18_000, 4))
    # 30 fps into 15 fps with frame 2 dropped: frame 3 is exactly 6/4 of a period late, so the grid restarts
    # there and the kept frames stay evenly spaced (0, 3, 5, 7), not two of them one camera frame apart
    times = t0 + np.array([0, 1, 3, 4, 5, 6, 7, 8]) / 30.0
    assert times[sampled_frames(times, 15.0)].round(6).tolist() == (t0 + np.array([0, 3, 5, 7]) / 30.0).round(6).tolist()


def test_dropped_frame_restarts_the_grid_at_the_next_frame():
    s = FrameSampler(10.0)
    kept = [t for t in (0.0, 0.1, 0.2, 0.37, 0.4, 0.47, 0.57) if s.admit(t)]
    assert kept == [0.0, 0.1, 0.2, 0.37, 0.47, 0.57]


def test_short_video_gives_no_window_and_starts_cover_the_stream():
    assert window_indices(np.arange(10) / 30.0, 10.0, 16) is None
    starts = window_starts(4.0, 10.0, 16, 5)
    np.testing.assert_allclose(starts, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert len(window_starts(1.0, 10.0, 16, 5)) == 0
    with pytest.raises(ConfigError):
        FrameSampler(0.0)


@pytest.mark.parametrize('camera_fps,jitter', [(30.0, 0.0), (30.0, 0.004), (15.0, 0.002)])
def test_a_recorded_videos_clips_are_the_clips_the_live_buffer_emits(camera_fps, jitter):
    """video_window's clips are, one for one, those a stride-1 clip buffer cuts from the same frame times."""
    rng = np.random.default_rng(7)
    times = 50.0 + np.arange(120) / camera_fps + rng.uniform(-jitter, jitter, 120)
    buf = ClipBuffer(16, 1, target_fps=10.0, max_gap_s=10.0)
    live = []
    for i, t in enumerate(times):
        clip = buf.add(np.full((1, 1), i, np.float32), t) if buf.admit(t) else None
        if clip is not None:
            live.append(clip.frames[:, 0, 0].astype(int).tolist())
    stream = sampled_frames(times, 10.0)
    assert len(live) == len(stream) - 15
    for k, clip in enumerate(live):
        assert video_window(times, 10.0, 16, index=k)[0].tolist() == clip
    assert video_window(times, 10.0, 16)[0].tolist() == live[(len(live) - 1) // 2]       # evaluation: the centre
    picks = {video_window(times, 10.0, 16, rng=np.random.default_rng(s))[0][0] for s in range(100)}
    assert picks <= {c[0] for c in live} and len(picks) > len(live) // 2              # training: any of them


def test_a_video_shorter_than_a_clip_holds_its_last_frame():
    idx, padded = video_window(np.arange(10) / 30.0, 10.0, 6)
    assert idx.tolist() == [0, 3, 6, 9, 9, 9] and padded == 2
    assert clip_positions(3, 3)[0].tolist() == [0, 1, 2] and clip_positions(5, 3)[0].tolist() == [1, 2, 3]
    with pytest.raises(ConfigError):
        clip_positions(5, 3, index=3)
