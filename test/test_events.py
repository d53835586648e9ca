"""The published documents: allow-listed keys that match the README, normalised stamps, strict readers."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from depth_action_recognition.events import (ACTIVE_ALARM_KEYS, ACTIVE_ALARMS_KEYS, ALARM_KEYS, EVENT_KEYS,
                                             DocumentError, dumps, make_active_alarms, make_alarm, make_event,
                                             read_active_alarms, read_alarm, read_event)
from depth_action_recognition.stamps import stamp_dict, stamp_seconds

README = Path(__file__).resolve().parents[1] / 'README.md'


def documented(topic: str) -> dict:
    """The JSON example the README gives under a topic's heading (its '...' elisions removed)."""
    text = README.read_text()
    block = re.search(re.escape(f'`{topic}`') + r'[^`]*?```json\n(.*?)```', text, re.S)
    assert block, f'no JSON example for {topic} in the README'
    return json.loads(re.sub(r',\s*\.\.\.', '', block.group(1)))


def event(**over):
    kw = dict(camera='/c', frame_id='f', stamp=stamp_dict(12.25), window_start=10.0, window_end=12.25, frames=16,
              labels=['a', 'b', 'c', 'd'], probs=np.array([0.1, 0.6, 0.2, 0.1]), alarm=False, latency_ms=3.21,
              model='m@1234', top_k=3)
    kw.update(over)
    return make_event(**kw)


def test_documents_carry_exactly_the_keys_the_readme_documents():
    # The allow-lists are the privacy contract: a key added to a document (or to a list) without the README
    # saying so fails here, and so does a README example the readers would refuse.
    ev, al, active = documented('/action_events'), documented('/action_alarms'), documented('/action_alarms/active')
    assert set(ev) == EVENT_KEYS == set(event())
    assert set(al) == ALARM_KEYS == set(make_alarm(state='raised', label='x', score=0.9, camera='/c', stamp=1.0,
                                                   reason='r'))
    made = make_active_alarms([{'camera': '/c', 'frame_id': 'f', 'label': 'x', 'score': 0.9, 'since': 3.0}], 4.0)
    assert set(active) == ACTIVE_ALARMS_KEYS == set(made)
    assert set(active['alarms'][0]) == ACTIVE_ALARM_KEYS == set(made['alarms'][0])
    for doc, read in ((ev, read_event), (al, read_alarm), (active, read_active_alarms)):
        assert read(json.dumps(doc)) == doc


def test_event_lists_top_k_by_score_ties_by_label_id():
    ev = event()
    assert ev['label'] == 'b' and ev['label_id'] == 1 and ev['score'] == 0.6
    # 'a' and 'd' tie at 0.1: the lower label id is listed first, as argmax would pick it.
    assert [t['label'] for t in ev['top_k']] == ['b', 'c', 'a']
    tie = event(probs=np.array([0.3, 0.3, 0.2, 0.2]), top_k=4)
    assert tie['label'] == 'a' and [t['label'] for t in tie['top_k']] == ['a', 'b', 'c', 'd']
    assert stamp_seconds(ev['stamp']) == pytest.approx(12.25)


@pytest.mark.parametrize('t,sec,nanosec', [(5.9999999999, 6, 0), (5.0, 5, 0), (12.25, 12, 250_000_000),
                                           (-0.5, -1, 500_000_000), (1795634718.1, 1795634718, 100_000_000)])
def test_stamp_dict_is_normalised(t, sec, nanosec):
    d = stamp_dict(t)
    assert d['sec'] == sec
    assert abs(d['nanosec'] - nanosec) <= 256          # a float64 near 1.8e9 s resolves ~240 ns


def test_stamp_dict_never_overflows_nanoseconds():
    rng = np.random.default_rng(0)
    for t in np.concatenate([rng.uniform(0, 2e9, 2000), np.arange(1, 2000) - 1e-10]):
        d = stamp_dict(float(t))
        assert 0 <= d['nanosec'] < 1_000_000_000 and abs(stamp_seconds(d) - t) < 1e-6


MALFORMED = ['hello', '', '[]', '42', 'null', '"text"', '{}', '[' * 100_000, '{"schema": "x"}',
             json.dumps({'schema': 'depth_action_recognition/ActionEvent/1'}),
             dumps(dict(event(), score='high')), dumps(dict(event(), stamp={'sec': 1.5, 'nanosec': 0})),
             dumps(dict(event(), stamp={'sec': 1, 'nanosec': 10 ** 9})),
             dumps(dict(event(), stamp={'sec': 10 ** 30, 'nanosec': 0})),
             dumps(dict(event(), top_k=[{'label': 1}])), dumps(dict(event(), alarm='yes')),
             dumps(dict(event(), latency_ms=10 ** 400)), dumps(dict(event(), window=None)),
             dumps(dict(event(), label_id=True)), '{"schema": "depth_action_recognition/ActionEvent/1", "score": NaN}']


@pytest.mark.parametrize('text', MALFORMED, ids=range(len(MALFORMED)))
def test_readers_refuse_malformed_documents(text):
    with pytest.raises(DocumentError):
        read_event(text)
    with pytest.raises(DocumentError):
        read_alarm(text.replace('ActionEvent', 'ActionAlarm'))


def test_readers_accept_what_the_runtime_publishes():
    ev = event()
    assert read_event(dumps(ev)) == json.loads(dumps(ev))
    al = make_alarm(state='cleared', label='fall', score=0.8, camera='/c', stamp=5.9999999999, reason='quiet')
    assert read_alarm(dumps(al))['stamp'] == {'sec': 6, 'nanosec': 0}
    with pytest.raises(DocumentError):
        read_alarm(dumps(dict(al, state='maybe')))
    with pytest.raises(DocumentError):
        read_active_alarms(dumps({'schema': 'depth_action_recognition/ActiveAlarms/1', 'stamp': stamp_dict(1.0),
                                  'alarms': [{'label': 'fall'}]}))
