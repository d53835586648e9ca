"""The JSON documents the recognizer publishes, and the checks a reader applies to them.

``ActionEvent`` (``/action_events``), ``ActionAlarm`` (``/action_alarms``) and ``ActiveAlarms``
(``/action_alarms/active``, latched) are allow-listed (``EVENT_KEYS``, ``ALARM_KEYS``,
``ACTIVE_ALARMS_KEYS``/``ACTIVE_ALARM_KEYS``): they carry labels, scores, stamps and timing — never
pixels, crops or embeddings. Tests hold the runtime to these lists.

Readers (``depth-action-events``, the monitor) take documents from a topic anyone can publish on:
:func:`read_event`, :func:`read_alarm` and :func:`read_active_alarms` turn a malformed one into a
:class:`DocumentError` for the reader to count and skip. When an alarm is raised or cleared is
decided in :mod:`~depth_action_recognition.alarm_policy`.
"""
from __future__ import annotations

import json
import math

import numpy as np

from .errors import DepthActionError
from .stamps import stamp_dict, stamp_seconds  # noqa: F401 - re-exported: the documents' stamp helpers

EVENT_SCHEMA = 'depth_action_recognition/ActionEvent/1'
ALARM_SCHEMA = 'depth_action_recognition/ActionAlarm/1'
ACTIVE_ALARMS_SCHEMA = 'depth_action_recognition/ActiveAlarms/1'
EVENT_KEYS = frozenset({'schema', 'camera', 'frame_id', 'stamp', 'window', 'label', 'label_id', 'score',
                        'top_k', 'alarm', 'latency_ms', 'model'})
ALARM_KEYS = frozenset({'schema', 'state', 'label', 'score', 'camera', 'stamp', 'reason'})
ACTIVE_ALARMS_KEYS = frozenset({'schema', 'stamp', 'alarms'})
ACTIVE_ALARM_KEYS = frozenset({'camera', 'frame_id', 'label', 'score', 'since'})


class DocumentError(DepthActionError):
    """A message on an events topic is not the document its schema promises."""


def make_event(*, camera: str, frame_id: str, stamp: dict, window_start: float, window_end: float,
               frames: int, labels: list, probs: np.ndarray, alarm: bool, latency_ms: float, model: str,
               top_k: int = 3) -> dict:
    # Stable, so that tied scores list the lower label id first, the same as argmax picks the winner.
    order = np.argsort(-np.asarray(probs), kind='stable')[:top_k]
    best = int(order[0])
    return {
        'schema': EVENT_SCHEMA,
        'camera': camera,
        'frame_id': frame_id,
        'stamp': stamp,
        'window': {'start': round(window_start, 6), 'end': round(window_end, 6), 'frames': int(frames)},
        'label': labels[best],
        'label_id': best,
        'score': round(float(probs[best]), 4),
        'top_k': [{'label': labels[int(i)], 'score': round(float(probs[int(i)]), 4)} for i in order],
        'alarm': bool(alarm),
        'latency_ms': round(float(latency_ms), 3),
        'model': model,
    }


def make_alarm(*, state: str, label: str, score: float, camera: str, stamp: float, reason: str) -> dict:
    return {'schema': ALARM_SCHEMA, 'state': state, 'label': label, 'score': round(float(score), 4),
            'camera': camera, 'stamp': stamp_dict(stamp), 'reason': reason}


def make_active_alarms(alarms: list, stamp: float) -> dict:
    """The latched state: every alarm raised and not yet cleared. ``alarms``: dicts with camera,
    frame_id, label, score and since (float seconds, the raise's stamp)."""
    return {'schema': ACTIVE_ALARMS_SCHEMA, 'stamp': stamp_dict(stamp),
            'alarms': [{'camera': a['camera'], 'frame_id': a['frame_id'], 'label': a['label'],
                        'score': round(float(a['score']), 4), 'since': stamp_dict(a['since'])} for a in alarms]}


def dumps(doc: dict) -> str:
    return json.dumps(doc, separators=(',', ':'))


# ------------------------------------------------------------------------------------------ reading
def is_number(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 53


def is_stamp(v) -> bool:
    """``{sec, nanosec}`` as builtin_interfaces/Time holds it: int32 seconds, 0 <= nanosec < 1e9."""
    return (isinstance(v, dict) and type(v.get('sec')) is int and -2 ** 31 <= v['sec'] < 2 ** 31
            and type(v.get('nanosec')) is int and 0 <= v['nanosec'] < 1_000_000_000)


def _str(v) -> bool:
    return isinstance(v, str)


def _window(v) -> bool:
    return isinstance(v, dict) and is_number(v.get('start')) and is_number(v.get('end')) and \
        type(v.get('frames')) is int


def _top_k(v) -> bool:
    return isinstance(v, list) and all(isinstance(t, dict) and _str(t.get('label')) and is_number(t.get('score'))
                                       for t in v)


_EVENT_FIELDS = {'camera': _str, 'frame_id': _str, 'stamp': is_stamp, 'window': _window, 'label': _str,
                 'label_id': lambda v: type(v) is int, 'score': is_number, 'top_k': _top_k,
                 'alarm': lambda v: isinstance(v, bool), 'latency_ms': is_number, 'model': _str}
_ALARM_FIELDS = {'state': lambda v: v in ('raised', 'cleared'), 'label': _str, 'score': is_number, 'camera': _str,
                 'stamp': is_stamp, 'reason': _str}
_ACTIVE_FIELDS = {'camera': _str, 'frame_id': _str, 'label': _str, 'score': is_number, 'since': is_stamp}


def read_document(text, schema: str, fields: dict) -> dict:
    """Parse ``text`` as a JSON object of ``schema`` whose ``fields`` pass their checks, or raise DocumentError."""
    try:
        doc = json.loads(text)
    except (TypeError, ValueError, RecursionError) as e:     # RecursionError: '[[[[...' nested too deeply
        raise DocumentError(f'not JSON ({type(e).__name__})') from None
    if not isinstance(doc, dict):
        raise DocumentError(f'a JSON {type(doc).__name__}, not an object')
    if doc.get('schema') != schema:
        raise DocumentError(f'schema {doc.get("schema")!r} is not {schema!r}')
    bad = [k for k, ok in fields.items() if not ok(doc.get(k))]
    if bad:
        raise DocumentError(f'{schema}: missing or invalid {", ".join(bad)}')
    return doc


def read_event(text: str) -> dict:
    """Parse and check an ActionEvent document; :class:`DocumentError` if it is not one."""
    return read_document(text, EVENT_SCHEMA, _EVENT_FIELDS)


def read_alarm(text: str) -> dict:
    """Parse and check an ActionAlarm document; :class:`DocumentError` if it is not one."""
    return read_document(text, ALARM_SCHEMA, _ALARM_FIELDS)


def read_active_alarms(text: str) -> dict:
    """Parse and check an ActiveAlarms document; :class:`DocumentError` if it is not one."""
    doc = read_document(text, ACTIVE_ALARMS_SCHEMA, {'stamp': is_stamp, 'alarms': lambda v: isinstance(v, list)})
    for a in doc['alarms']:
        if not isinstance(a, dict) or not all(ok(a.get(k)) for k, ok in _ACTIVE_FIELDS.items()):
            raise DocumentError(f'{ACTIVE_ALARMS_SCHEMA}: an entry of alarms is not an active alarm')
    return doc
