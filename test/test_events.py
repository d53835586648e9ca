import json

import numpy as np
import pytest

from depth_action_recognition.errors import ConfigError
from depth_action_recognition.events import (ALARM_KEYS, EVENT_KEYS, AlarmConfig, AlarmPolicy, make_event,
                                             stamp_dict, stamp_seconds)


def run(policy, seq, camera='c', t0=100.0, dt=0.5):
    """seq: list of (label, score); returns [(t, state, label)] transitions."""
    out = []
    for i, (label, score) in enumerate(seq):
        _, tr = policy.update(camera, label, score, t0 + i * dt)
        out += [(t0 + i * dt, a['state'], a['label']) for a in tr]
    return out


def test_k_of_n_raise_needs_k_hits_above_threshold():
    p = AlarmPolicy(AlarmConfig(['fall'], threshold=0.6, k=2, n=3, clear_after_s=10, cooldown_s=0))
    assert run(p, [('fall', 0.9), ('walk', 0.9), ('walk', 0.9), ('fall', 0.9)]) == []   # 1 of 3 each time
    assert run(p, [('fall', 0.5), ('fall', 0.59)], t0=200) == []                        # below threshold
    assert run(p, [('fall', 0.9), ('walk', 0.9), ('fall', 0.7)], t0=300) == [(301.0, 'raised', 'fall')]


def test_clear_after_quiet_period_and_cooldown():
    p = AlarmPolicy(AlarmConfig(['fall'], threshold=0.5, k=1, n=1, clear_after_s=1.0, cooldown_s=5.0))
    seq = [('fall', 0.9), ('walk', 0.9), ('walk', 0.9), ('walk', 0.9), ('fall', 0.9)]  # t = 0, .5, 1, 1.5, 2
    assert run(p, seq, t0=0.0) == [(0.0, 'raised', 'fall'), (1.0, 'cleared', 'fall')]  # re-raise blocked
    assert run(p, [('fall', 0.9)], t0=5.0) == [(5.0, 'raised', 'fall')]                # cooldown over


def test_alarm_stays_up_while_label_continues_and_flag_on_events():
    p = AlarmPolicy(AlarmConfig(['fall'], threshold=0.5, k=1, n=2, clear_after_s=1.0, cooldown_s=0))
    flags = [p.update('c', 'fall', 0.9, t)[0] for t in (0, 0.5, 1.0, 1.5)]
    assert flags == [True] * 4 and p.active() == [('c', 'fall')]


def test_cameras_and_labels_are_independent():
    p = AlarmPolicy(AlarmConfig(['fall', 'punch'], threshold=0.5, k=1, n=1, clear_after_s=5, cooldown_s=0))
    assert run(p, [('fall', 0.9)], camera='a') == [(100.0, 'raised', 'fall')]
    assert run(p, [('punch', 0.9)], camera='b') == [(100.0, 'raised', 'punch')]
    assert p.active() == [('a', 'fall'), ('b', 'punch')]


def test_expire_clears_silent_cameras_and_reconfigure():
    p = AlarmPolicy(AlarmConfig(['fall', 'punch'], threshold=0.5, k=1, n=1, clear_after_s=2, cooldown_s=0))
    run(p, [('fall', 0.9)], camera='a')
    run(p, [('punch', 0.9)], camera='b')
    assert p.expire(101.0) == []
    assert [a['label'] for a in p.expire(102.5)] == ['fall', 'punch']
    run(p, [('fall', 0.9)], camera='a', t0=200)
    cleared = p.reconfigure(AlarmConfig(['punch'], threshold=0.5, k=1, n=1, clear_after_s=2, cooldown_s=0))
    assert [(a['state'], a['label']) for a in cleared] == [('cleared', 'fall')]


@pytest.mark.parametrize('kwargs', [dict(threshold=1.5), dict(k=0), dict(k=4, n=3), dict(clear_after_s=0),
                                    dict(cooldown_s=-1)])
def test_invalid_alarm_config(kwargs):
    with pytest.raises(ConfigError):
        AlarmConfig(['fall'], **kwargs)


def test_event_document_is_allow_listed_json():
    ev = make_event(camera='/c', frame_id='f', stamp=stamp_dict(12.25), window_start=10.0, window_end=12.25,
                    frames=16, labels=['a', 'b', 'c', 'd'], probs=np.array([0.1, 0.6, 0.2, 0.1]), alarm=False,
                    latency_ms=3.21, model='m@1234', top_k=3)
    assert set(ev) == EVENT_KEYS and ev['label'] == 'b' and ev['label_id'] == 1
    assert [t['label'] for t in ev['top_k']] == ['b', 'c', 'a'] or [t['label'] for t in ev['top_k']][:2] == ['b', 'c']
    assert stamp_seconds(ev['stamp']) == pytest.approx(12.25)
    json.dumps(ev)
    p = AlarmPolicy(AlarmConfig(['fall'], k=1, n=1))
    _, [alarm] = p.update('/c', 'fall', 0.9, 1.0)
    assert set(alarm) == ALARM_KEYS
