"""ActionEvent / ActionAlarm JSON and the alarm policy that decides when an alarm is raised or cleared.

Both documents are allow-listed (``EVENT_KEYS``, ``ALARM_KEYS``): they carry labels, scores, stamps
and timing — never pixels, crops or embeddings. Tests hold the runtime to these lists.

:class:`AlarmPolicy` works per camera and per alarm label: an alarm is *raised* when the label wins
with ``score >= threshold`` in at least ``k`` of the last ``n`` clips (one noisy clip does not wake the
night nurse), it stays up while the label keeps appearing and is *cleared* once ``clear_after_s`` pass
without it; a new raise of the same label on the same camera waits ``cooldown_s`` after the last raise.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from .errors import ConfigError

EVENT_SCHEMA = 'depth_action_recognition/ActionEvent/1'
ALARM_SCHEMA = 'depth_action_recognition/ActionAlarm/1'
EVENT_KEYS = frozenset({'schema', 'camera', 'frame_id', 'stamp', 'window', 'label', 'label_id', 'score',
                        'top_k', 'alarm', 'latency_ms', 'model'})
ALARM_KEYS = frozenset({'schema', 'state', 'label', 'score', 'camera', 'stamp', 'reason'})


def stamp_dict(t: float) -> dict:
    sec = int(np.floor(t))
    return {'sec': sec, 'nanosec': int(round((t - sec) * 1e9)) % 1_000_000_000}


def stamp_seconds(d: dict) -> float:
    return d['sec'] + d['nanosec'] * 1e-9


def make_event(*, camera: str, frame_id: str, stamp: dict, window_start: float, window_end: float,
               frames: int, labels: list, probs: np.ndarray, alarm: bool, latency_ms: float, model: str,
               top_k: int = 3) -> dict:
    order = np.argsort(probs)[::-1][:top_k]
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


def dumps(doc: dict) -> str:
    return json.dumps(doc, separators=(',', ':'))


@dataclass(frozen=True)
class AlarmConfig:
    alarm_labels: tuple
    threshold: float = 0.6
    k: int = 2
    n: int = 3
    clear_after_s: float = 3.0
    cooldown_s: float = 10.0

    def __post_init__(self):
        object.__setattr__(self, 'alarm_labels', tuple(self.alarm_labels))
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f'score_threshold must be in [0, 1], got {self.threshold}')
        if not 1 <= self.k <= self.n:
            raise ConfigError(f'alarm k and n need 1 <= k <= n, got k={self.k}, n={self.n}')
        if self.clear_after_s <= 0:
            raise ConfigError(f'clear_after_s must be > 0, got {self.clear_after_s}')
        if self.cooldown_s < 0:
            raise ConfigError(f'cooldown_s must be >= 0, got {self.cooldown_s}')


class _LabelState:
    __slots__ = ('hits', 'active', 'last_hit', 'last_raise', 'score')

    def __init__(self, n: int):
        self.hits = deque(maxlen=n)
        self.active = False
        self.last_hit = None
        self.last_raise = None
        self.score = 0.0


class AlarmPolicy:
    """k-of-n raise, clear after a quiet period, cooldown between raises; thread-safe."""

    def __init__(self, config: AlarmConfig):
        self._lock = threading.Lock()
        self._states: dict = {}
        self.config = config

    def reconfigure(self, config: AlarmConfig) -> list:
        """Swap the configuration at runtime; alarms of labels no longer in the set are cleared."""
        with self._lock:
            old, self.config = self.config, config
            cleared = []
            for (camera, label), st in list(self._states.items()):
                if label not in config.alarm_labels:
                    if st.active:
                        cleared.append(make_alarm(state='cleared', label=label, score=st.score, camera=camera,
                                                  stamp=st.last_hit, reason='no longer an alarm label'))
                    del self._states[(camera, label)]
                elif config.n != old.n:
                    st.hits = deque(st.hits, maxlen=config.n)
            return cleared

    def _state(self, camera: str, label: str) -> _LabelState:
        key = (camera, label)
        if key not in self._states:
            self._states[key] = _LabelState(self.config.n)
        return self._states[key]

    def update(self, camera: str, label: str, score: float, stamp: float) -> tuple:
        """Feed one inferred clip. Returns (alarm flag for this clip's event, list of ActionAlarm dicts)."""
        c = self.config
        out = []
        with self._lock:
            for alarm_label in c.alarm_labels:
                st = self._state(camera, alarm_label)
                hit = label == alarm_label and score >= c.threshold
                st.hits.append(hit)
                if hit:
                    st.last_hit, st.score = stamp, score
                if st.active and not hit and stamp - st.last_hit >= c.clear_after_s:
                    out.append(self._clear(camera, alarm_label, st, stamp))
                if not st.active and sum(st.hits) >= c.k and (
                        st.last_raise is None or stamp - st.last_raise >= c.cooldown_s):
                    st.active, st.last_raise = True, stamp
                    out.append(make_alarm(state='raised', label=alarm_label, score=score, camera=camera,
                                          stamp=stamp, reason=f'{alarm_label} won with score >= {c.threshold} in '
                                          f'{sum(st.hits)} of the last {len(st.hits)} clips'))
            active = label in c.alarm_labels and self._state(camera, label).active
        return active, out

    def expire(self, now: float, cameras: Optional[Iterable[str]] = None) -> list:
        """Clear alarms whose label has not been seen for clear_after_s (also for cameras gone silent)."""
        out = []
        with self._lock:
            for (camera, label), st in self._states.items():
                if cameras is not None and camera not in cameras:
                    continue
                if st.active and now - st.last_hit >= self.config.clear_after_s:
                    out.append(self._clear(camera, label, st, now))
        return out

    def _clear(self, camera, label, st, stamp) -> dict:
        st.active = False
        st.hits.clear()
        return make_alarm(state='cleared', label=label, score=st.score, camera=camera, stamp=stamp,
                          reason=f'no {label} for {self.config.clear_after_s:g} s')

    def active(self) -> list:
        with self._lock:
            return sorted(k for k, st in self._states.items() if st.active)
