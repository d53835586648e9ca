import numpy as np
import pytest

from depth_action_recognition.clip_buffer import ClipBuffer
from depth_action_recognition.errors import ConfigError, FinishError


def push(buf, frame, stamp, key='k'):
    """What the node does with each frame: admit by stamp, then add the (preprocessed) frame."""
    return buf.add(frame, stamp) if buf.admit(stamp, key) else None


def feed(buf, stamps, key='k'):
    clips = []
    for i, t in enumerate(stamps):
        clip = push(buf, np.full((2, 3), i, np.float32), t, key)
        if clip is not None:
            clips.append(clip)
    return clips


def test_window_and_stride():
    buf = ClipBuffer(4, 2)
    clips = feed(buf, [1 + i * 0.1 for i in range(10)])
    # clips end at frames 4, 6, 8, 10 (1-based) and each holds 4 consecutive frames in order
    assert [c.frames[:, 0, 0].tolist() for c in clips] == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert clips[0].start_stamp == pytest.approx(1.0) and clips[0].end_stamp == pytest.approx(1.3)


def test_clip_owns_its_memory():
    buf = ClipBuffer(2, 1)
    clips = feed(buf, [1.0, 1.1, 1.2])
    assert clips[0].frames[:, 0, 0].tolist() == [0, 1]   # not overwritten by the third frame


def test_resampling_to_target_fps():
    buf = ClipBuffer(3, 3, target_fps=10)
    stamps = [1 + i / 30 for i in range(30)]             # 1 s of a 30 fps camera
    clips = feed(buf, stamps)
    assert buf.accepted == 10 and buf.dropped['resampled'] == 20
    assert np.diff([c.end_stamp for c in clips]) == pytest.approx([0.3, 0.3])


def test_resets_on_format_change_backwards_and_gap():
    buf = ClipBuffer(3, 1, max_gap_s=0.5)
    feed(buf, [1.0, 1.1])
    push(buf, np.zeros((2, 3), np.float32), 1.2, key='other')
    assert buf.resets['format_change'] == 1 and len(buf) == 1
    push(buf, np.zeros((2, 3), np.float32), 1.0, key='other')
    assert buf.resets['stamp_backwards'] == 1 and len(buf) == 1
    push(buf, np.zeros((2, 3), np.float32), 2.0, key='other')
    assert buf.resets['gap'] == 1 and len(buf) == 1
    clips = feed(buf, [2.1, 2.2], key='other')
    assert len(clips) == 1                                 # recovers after each reset


def test_bad_stamps_are_dropped_and_counted():
    buf = ClipBuffer(2, 1)
    assert not buf.admit(0.0) and not buf.admit(float('nan')) and not buf.admit(-1.0) and not buf.admit(float('inf'))
    assert buf.admit(5.0)
    assert not buf.admit(5.0)
    assert dict(buf.dropped) == {'zero_stamp': 4, 'repeated_stamp': 1}


def test_shape_change_inside_one_key_reallocates():
    buf = ClipBuffer(2, 1)
    push(buf, np.zeros((2, 3), np.float32), 1.0)
    assert push(buf, np.zeros((4, 5), np.float32), 1.1) is None     # a new ring of one frame: no clip yet
    clip = push(buf, np.zeros((4, 5), np.float32), 1.2)
    assert clip is not None and clip.frames.shape == (2, 4, 5)


@pytest.mark.parametrize('kwargs', [dict(clip_length=0, stride=1), dict(clip_length=2, stride=0),
                                    dict(clip_length=2, stride=1, target_fps=0), dict(clip_length=2, stride=1, max_gap_s=0)])
def test_invalid_configuration(kwargs):
    with pytest.raises(ConfigError):
        ClipBuffer(**kwargs)


def scaled(frames):
    """A finish step whose output shows which frames it was given (x10), as preprocess.finish_frames would."""
    return np.stack(frames).astype(np.float32) * 10


@pytest.mark.parametrize('clip_length,stride', [(4, 1), (4, 2), (16, 5), (3, 20)])
def test_finished_in_batches_the_clips_are_those_of_finished_frames(clip_length, stride):
    # Stamps with a gap (reset) in the middle and a 30 fps camera sampled at 10 fps.
    stamps = [1 + i / 30 for i in range(200)] + [20 + i / 30 for i in range(150)]
    plain = ClipBuffer(clip_length, stride, target_fps=10)
    calls = []
    batched = ClipBuffer(clip_length, stride, target_fps=10, max_pending=8,
                         finish=lambda s: calls.append(len(s)) or scaled(s))
    want, got = [], []
    for i, t in enumerate(stamps):
        frame = np.full((2, 3), i, np.float32)
        for buf, out, f in ((plain, want, scaled([frame])[0]), (batched, got, frame)):
            clip = push(buf, f, t)
            if clip is not None:
                out.append(clip)
    assert len(got) == len(want) > 1
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.frames, b.frames)
        assert (a.start_stamp, a.end_stamp) == (b.start_stamp, b.end_stamp)
    assert batched.resets == plain.resets and batched.resets['gap'] == 1
    assert max(calls) <= 8
    if stride > 1:
        assert len(calls) < batched.accepted          # frames were finished several at a time
    assert len(batched) <= clip_length + 7            # the ring and at most max_pending - 1 waiting


def test_a_failing_finish_drops_the_pending_frames_counted_and_starts_again():
    def finish(frames):
        if any(f[0, 0] == 3 for f in frames):
            raise ValueError('bad frame')
        return scaled(frames)
    buf = ClipBuffer(4, 1, finish=finish, max_pending=2)
    clips, errors = [], 0
    for i in range(10):
        try:
            clip = push(buf, np.full((2, 3), i, np.float32), 1 + i * 0.1)
        except FinishError as e:
            errors += 1
            assert e.frames == 2 and isinstance(e.__cause__, ValueError)
            continue
        if clip is not None:
            clips.append(clip)
    # frames 2 and 3 were finished together: both lost, counted; the ring of frames 0-1 was reset, so the
    # next clip is of frames 4-7 and none spans the hole
    assert errors == 1 and buf.dropped['finish_error'] == 2 and buf.resets['finish_error'] == 1
    assert clips[0].frames[:, 0, 0].tolist() == [40, 50, 60, 70]
    # A failure with nothing in the ring yet still counts its reset (the waiting frames were the buffer).
    first = ClipBuffer(4, 1, finish=finish, max_pending=2)
    push(first, np.full((2, 3), 2, np.float32), 1.0)
    with pytest.raises(FinishError):
        push(first, np.full((2, 3), 3, np.float32), 1.1)
    assert first.dropped['finish_error'] == 2 and first.resets['finish_error'] == 1 and len(first) == 0
