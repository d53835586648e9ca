"""Class probabilities averaged over a source's last clips, and what that does to the shipped alarm rule."""
import numpy as np
import pytest

from depth_action_recognition.alarm_policy import AlarmConfig, AlarmPolicy
from depth_action_recognition.errors import ConfigError
from depth_action_recognition.resources import default_params_file
from depth_action_recognition.smoothing import ClipSmoother
from depth_action_recognition.stream_eval import recognizer_params

A, B, C = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.2, 0.2, 0.6])


def clips(t0, n, length=1.5, step=0.5):
    """Windows of ``length`` seconds, ``step`` apart: a stream's consecutive clips."""
    return [(t0 + i * step, t0 + i * step + length) for i in range(n)]


def test_mean_of_the_last_n_overlapping_clips():
    s = ClipSmoother(2)
    w = clips(10.0, 3)
    np.testing.assert_allclose(s.update('cam', A, *w[0]), A)                 # alone at first
    np.testing.assert_allclose(s.update('cam', B, *w[1]), (A + B) / 2)
    np.testing.assert_allclose(s.update('cam', C, *w[2]), (B + C) / 2)       # A has left the mean
    s3 = ClipSmoother(3)
    out = [s3.update('cam', p, *win) for p, win in zip((A, B, C, A), clips(10.0, 4))]
    np.testing.assert_allclose(out[2], (A + B + C) / 3)
    np.testing.assert_allclose(out[3], (B + C + A) / 3)


def test_one_clip_is_each_clip_alone():
    s = ClipSmoother(1)
    for p, win in zip((A, B, C), clips(0.0, 3)):
        np.testing.assert_allclose(s.update('cam', p, *win), p)


def test_a_gap_or_a_clock_jumping_back_restarts_the_mean():
    s = ClipSmoother(2)
    s.update('cam', A, 10.0, 11.5)
    # The next window starts after this one ended (the camera was silent; the clip buffer restarted).
    np.testing.assert_allclose(s.update('cam', B, 13.0, 14.5), B)
    np.testing.assert_allclose(s.update('cam', C, 13.5, 15.0), (B + C) / 2)
    # A window that ends before the last one (the camera's clock jumped back): not averaged with the past.
    np.testing.assert_allclose(s.update('cam', A, 3.0, 4.5), A)
    # Clips skipped while inference lagged: still averaged while the windows overlap.
    np.testing.assert_allclose(s.update('cam', B, 4.0, 5.5), (A + B) / 2)


def test_sources_are_averaged_apart_and_forgotten():
    s = ClipSmoother(2)
    w = clips(0.0, 2)
    s.update('a', A, *w[0])
    s.update('b', B, *w[0])
    np.testing.assert_allclose(s.update('a', C, *w[1]), (A + C) / 2)
    s.forget('b')
    np.testing.assert_allclose(s.update('b', C, *w[1]), C)
    s.reset()
    np.testing.assert_allclose(s.update('a', B, *clips(0.5, 1)[0]), B)


@pytest.mark.parametrize('n', [0, 17, -1])
def test_out_of_range_is_refused(n):
    with pytest.raises(ConfigError, match='smooth_clips'):
        ClipSmoother(n)


def shipped_rule():
    params = recognizer_params(default_params_file())
    rule = AlarmConfig(['fall'], threshold=params['score_threshold'], k=params['alarm_k'], n=params['alarm_n'],
                       clear_after_s=params['clear_after_s'], cooldown_s=params['cooldown_s'])
    return ClipSmoother(params['smooth_clips']), AlarmPolicy(rule)


def feed(smoother, policy, scores):
    """Clips 0.5 s apart whose 'fall' probability is each of ``scores``; the stamps of the raises."""
    raised = []
    for (start, end), fall in zip(clips(100.0, len(scores)), scores):
        p = smoother.update('cam', np.array([fall, 1.0 - fall]), start, end)
        label = ('fall', 'walk')[int(np.argmax(p))]
        raised += [a['stamp'] for a in policy.update('cam', label, float(p.max()), end)[1] if a['state'] == 'raised']
    return raised


def test_the_shipped_rule_needs_two_clips_to_agree():
    # config/monitor.yaml: one certain clip among others does not raise; two in a row do, on the second.
    assert feed(*shipped_rule(), [0.0, 1.0, 0.0, 0.0, 1.0, 0.1, 0.0]) == []
    raised = feed(*shipped_rule(), [0.0, 0.0, 0.9, 0.8, 0.9, 0.0])
    # Clip 3 (window 101.5-103.0 s) is the second of the two.
    assert len(raised) == 1 and raised[0]['sec'] == 103 and raised[0]['nanosec'] < 1000
