"""Class probabilities averaged over a source's last clips, and what that does to the shipped alarm rule."""
import dataclasses

import numpy as np
import pytest

from depth_action_recognition.alarm_policy import AlarmPolicy
from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.clip_buffer import ClipBuffer
from depth_action_recognition.errors import ConfigError
from depth_action_recognition.resources import default_model_path, default_params_file
from depth_action_recognition.smoothing import ClipSmoother
from depth_action_recognition.stream_eval import node_settings, recognizer_params

A, B, C = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.2, 0.2, 0.6])


def test_mean_of_the_last_n_clips_of_a_run():
    s = ClipSmoother(2)
    first = s.update('cam', A, run=1)
    np.testing.assert_allclose(first.probs, A)
    assert first.count == 1 and not first.full                     # alone at first, not yet a full mean
    second = s.update('cam', B, run=1)
    np.testing.assert_allclose(second.probs, (A + B) / 2)
    assert second.count == 2 and second.full
    np.testing.assert_allclose(s.update('cam', C, run=1).probs, (B + C) / 2)      # A has left the mean
    s3 = ClipSmoother(3)
    out = [s3.update('cam', p, run=7) for p in (A, B, C, A)]
    np.testing.assert_allclose(out[2].probs, (A + B + C) / 3)
    np.testing.assert_allclose(out[3].probs, (B + C + A) / 3)
    assert [o.full for o in out] == [False, False, True, True]


def test_one_clip_is_each_clip_alone_and_always_full():
    s = ClipSmoother(1)
    for p in (A, B, C):
        out = s.update('cam', p, run=1)
        np.testing.assert_allclose(out.probs, p)
        assert out.full


def test_a_new_run_restarts_the_mean():
    s = ClipSmoother(2)
    s.update('cam', A, run=1)
    s.update('cam', B, run=1)
    restarted = s.update('cam', C, run=2)
    np.testing.assert_allclose(restarted.probs, C)
    assert not restarted.full
    np.testing.assert_allclose(s.update('cam', A, run=2).probs, (C + A) / 2)


def test_the_clip_buffer_starts_a_new_run_after_a_gap_or_a_clock_jumping_back():
    buf = ClipBuffer(4, 2, max_gap_s=1.0)
    frame = np.zeros((2, 2), np.float32)

    def clips(stamps):
        out = []
        for t in stamps:
            if buf.admit(t):
                clip = buf.add(frame, t)
                if clip is not None:
                    out.append(clip.run)
        return out
    first = clips([10.0 + 0.1 * i for i in range(8)])                 # clips at frames 4, 6, 8: one run
    after_gap = clips([13.0 + 0.1 * i for i in range(6)])             # 2.3 s of silence: a new run
    after_jump = clips([5.0 + 0.1 * i for i in range(4)])             # the clock went back: another
    assert len(set(first)) == 1 and len(set(after_gap)) == 1 and len(set(after_jump)) == 1
    assert len({first[0], after_gap[0], after_jump[0]}) == 3


def test_sources_are_averaged_apart_and_forgotten():
    s = ClipSmoother(2)
    s.update('a', A, run=1)
    s.update('b', B, run=1)
    np.testing.assert_allclose(s.update('a', C, run=1).probs, (A + C) / 2)
    s.forget('b')
    np.testing.assert_allclose(s.update('b', C, run=1).probs, C)
    s.reset()
    np.testing.assert_allclose(s.update('a', B, run=1).probs, B)


@pytest.mark.parametrize('n', [0, 17, -1])
def test_out_of_range_is_refused(n):
    with pytest.raises(ConfigError, match='smooth_clips'):
        ClipSmoother(n)


def raises_of_the_shipped_rule(scores):
    """config/monitor.yaml's smoothing and alarm rule, as the node applies them, fed clips 0.5 s apart of one
    run whose 'fall' probability is each of ``scores``: the indices of the clips that raised."""
    settings = node_settings(recognizer_params(default_params_file()), load_checkpoint(default_model_path()))
    smoother = ClipSmoother(settings.smooth_clips)
    policy = AlarmPolicy(dataclasses.replace(settings.alarm, alarm_labels=('fall',)))
    raised = []
    for i, fall in enumerate(scores):
        best, _, alarm_score = smoother.update('cam', np.array([fall, 1.0 - fall]), run=1).winner()
        _, docs = policy.update('cam', ('fall', 'walk')[best], alarm_score, 100.0 + 0.5 * i)
        raised += [i for d in docs if d['state'] == 'raised']
    return raised


@pytest.mark.parametrize('scores,raised', [
    ([1.0], []),                                   # the first clip of a run, alone: never
    ([1.0, 0.0, 0.0], []),
    ([0.0, 1.0, 0.0, 0.0, 1.0, 0.1, 0.0], []),     # certain clips among others
    ([0.0, 0.0, 0.9, 0.8, 0.9, 0.0], [3]),         # two in a row: on the second
    ([0.0, 0.3, 1.0], [2]),                        # a mean of 0.65 over two clips that both lean to it
    ([0.0, 0.15, 1.0], []),                        # 0.575: under the threshold
])
def test_the_shipped_rule_raises_on_two_consecutive_clips(scores, raised):
    assert raises_of_the_shipped_rule(scores) == raised
