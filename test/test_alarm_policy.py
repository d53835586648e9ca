"""The alarm policy on its own: k-of-n, clearing, cooldown, per source, one time base."""
import pytest

from depth_action_recognition.alarm_policy import AlarmConfig, AlarmPolicy
from depth_action_recognition.errors import ConfigError


def run(policy, seq, source='c', t0=100.0, dt=0.5):
    """seq: list of (label, score); returns [(t, state, label)] transitions."""
    out = []
    for i, (label, score) in enumerate(seq):
        _, tr = policy.update(source, label, score, t0 + i * dt)
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
    assert flags == [True] * 4
    assert [(a.source, a.label, a.since) for a in p.active()] == [('c', 'fall', 0)]


def test_sources_and_labels_are_independent():
    p = AlarmPolicy(AlarmConfig(['fall', 'punch'], threshold=0.5, k=1, n=1, clear_after_s=5, cooldown_s=0))
    assert run(p, [('fall', 0.9)], source='a') == [(100.0, 'raised', 'fall')]
    assert run(p, [('punch', 0.9)], source='b') == [(100.0, 'raised', 'punch')]
    assert [(a.source, a.label) for a in p.active()] == [('a', 'fall'), ('b', 'punch')]


def test_expiry_runs_on_each_sources_own_clock():
    """Two cameras 20 s apart: each alarm clears clear_after_s after its own last hit, on its own clock."""
    p = AlarmPolicy(AlarmConfig(['fall'], threshold=0.5, k=1, n=1, clear_after_s=2, cooldown_s=30))
    clocks = {'ahead': 1010.0, 'behind': 990.0}
    assert run(p, [('fall', 0.9)], source='ahead', t0=1010.0) and run(p, [('fall', 0.9)], source='behind', t0=990.0)
    assert p.expire(clocks.get) == []                           # neither camera has been quiet yet
    clocks = {'ahead': 1011.0, 'behind': 991.0}
    assert p.expire(clocks.get) == []
    clocks = {'ahead': 1012.5, 'behind': 991.5}
    cleared = p.expire(clocks.get)
    assert [(a['camera'], a['stamp']['sec']) for a in cleared] == [('ahead', 1012)]
    assert p.expire(lambda source: None) == []                  # a clock not yet known clears nothing
    assert [a['camera'] for a in p.expire({'behind': 992.0}.get)] == ['behind']


def test_clear_all_and_forget_clear_active_alarms():
    p = AlarmPolicy(AlarmConfig(['fall', 'punch'], threshold=0.5, k=1, n=1, clear_after_s=2, cooldown_s=0))
    run(p, [('fall', 0.9)], source='a')
    run(p, [('punch', 0.9)], source='b')
    forgotten = p.forget('a', 100.5, 'source evicted')
    assert [(a['state'], a['label'], a['reason']) for a in forgotten] == [('cleared', 'fall', 'source evicted')]
    cleared = p.clear_all({'b': 101.0}.get, 'recognizer deactivated')
    assert [(a['label'], a['stamp']['sec'], a['reason']) for a in cleared] == [('punch', 101, 'recognizer deactivated')]
    assert p.active() == [] and p.clear_all({}.get, 'again') == []


def test_reconfigure_clears_labels_no_longer_alarms():
    p = AlarmPolicy(AlarmConfig(['fall', 'punch'], threshold=0.5, k=1, n=1, clear_after_s=2, cooldown_s=0))
    run(p, [('fall', 0.9)], source='a', t0=200)
    cleared = p.reconfigure(AlarmConfig(['punch'], threshold=0.5, k=1, n=1, clear_after_s=2, cooldown_s=0))
    assert [(a['state'], a['label']) for a in cleared] == [('cleared', 'fall')]


@pytest.mark.parametrize('kwargs', [dict(threshold=1.5), dict(k=0), dict(k=4, n=3), dict(clear_after_s=0),
                                    dict(cooldown_s=-1)])
def test_invalid_alarm_config(kwargs):
    good = dict(threshold=0.6, k=1, n=1, clear_after_s=3.0, cooldown_s=4.0)
    AlarmConfig(['fall'], **good)
    with pytest.raises(ConfigError):
        AlarmConfig(['fall'], **{**good, **kwargs})


def test_the_reason_says_what_the_score_is():
    each = AlarmPolicy(AlarmConfig(['fall'], threshold=0.6, k=2, n=3, clear_after_s=1, cooldown_s=0))
    mean = AlarmPolicy(AlarmConfig(['fall'], threshold=0.6, k=1, n=1, clear_after_s=1, cooldown_s=0, averaged=2))
    raised = [next(a for t in (0.0, 0.5) for a in p.update('c', 'fall', 0.9, t)[1]) for p in (each, mean)]
    assert raised[0]['reason'] == 'fall won with score >= 0.6 in 2 of the last 2 clips'
    assert raised[1]['reason'] == 'fall won with score >= 0.6 (mean of 2 clips) in 1 of the last 1 clips'
