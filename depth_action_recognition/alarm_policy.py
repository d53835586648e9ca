"""When an alarm is raised and when it is cleared: k-of-n, clear after a quiet period, cooldown.

The policy works per *source* (one camera stream; see :mod:`~depth_action_recognition.sources`) and per
alarm label. An alarm is *raised* when the label wins with ``score >= threshold`` in at least ``k`` of
the last ``n`` clips (one noisy clip does not wake the night nurse); it stays up while the label keeps
appearing and is *cleared* once ``clear_after_s`` pass without it; a new raise of the same label on the
same source waits ``cooldown_s`` after the last raise.

One time base: every time the policy sees is in its source's own clock — the header stamps of the
clips, and for expiry the source's clock carried forward from its last frame (``now_of``). A camera
whose clock is off from the node's, or a recording replayed under sim time, is raised, cleared and
cooled down on the same clock; the node's clock never enters.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable, NamedTuple, Optional

from .errors import ConfigError
from .events import make_alarm


@dataclass(frozen=True)
class AlarmConfig:
    # No defaults: the node's parameter table (params.PARAMS, written out in config/monitor.yaml) is the one place
    # the packaged values live; a second set here had drifted from it (k=2 of n=3 against 1 of 1).
    alarm_labels: tuple
    threshold: float
    k: int
    n: int
    clear_after_s: float
    cooldown_s: float
    averaged: int = 1           # clips each score is a mean of (the node's smooth_clips): said in the reason

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
        if self.averaged < 1:
            raise ConfigError(f'averaged must be >= 1, got {self.averaged}')


class ActiveAlarm(NamedTuple):
    source: Hashable
    camera: str
    label: str
    score: float
    since: float          # stamp of the raise, in the source's clock


class _LabelState:
    __slots__ = ('camera', 'hits', 'active', 'last_hit', 'last_raise', 'score')

    def __init__(self, camera: str, n: int):
        self.camera = camera
        self.hits = deque(maxlen=n)
        self.active = False
        self.last_hit = None
        self.last_raise = None
        self.score = 0.0


class AlarmPolicy:
    """k-of-n raise, clear after a quiet period, cooldown between raises; thread-safe.

    ``source`` is any hashable naming one stream; ``camera`` is what the ActionAlarm documents call it.
    Methods return the ActionAlarm documents of the transitions they caused, for the caller to publish.
    """

    def __init__(self, config: AlarmConfig):
        self._lock = threading.Lock()
        self._states: dict = {}       # (source, label) -> _LabelState
        self.config = config

    def reconfigure(self, config: AlarmConfig) -> list:
        """Swap the configuration at runtime; alarms of labels no longer in the set are cleared."""
        with self._lock:
            old, self.config = self.config, config
            cleared = []
            for (source, label), st in list(self._states.items()):
                if label not in config.alarm_labels:
                    if st.active:
                        cleared.append(self._clear(st, label, st.last_hit, 'no longer an alarm label'))
                    del self._states[(source, label)]
                elif config.n != old.n:
                    st.hits = deque(st.hits, maxlen=config.n)
            return cleared

    def update(self, source: Hashable, label: str, score: float, stamp: float, camera: Optional[str] = None) -> tuple:
        """Feed one inferred clip. Returns (alarm flag for this clip's event, list of ActionAlarm dicts)."""
        c = self.config
        out = []
        with self._lock:
            for alarm_label in c.alarm_labels:
                key = (source, alarm_label)
                st = self._states.get(key)
                if st is None:
                    st = self._states[key] = _LabelState(str(source) if camera is None else camera, c.n)
                hit = label == alarm_label and score >= c.threshold
                st.hits.append(hit)
                if hit:
                    st.last_hit, st.score = stamp, score
                if st.active and not hit and stamp - st.last_hit >= c.clear_after_s:
                    out.append(self._clear(st, alarm_label, stamp, f'no {alarm_label} for {c.clear_after_s:g} s'))
                if not st.active and sum(st.hits) >= c.k and (
                        st.last_raise is None or stamp - st.last_raise >= c.cooldown_s):
                    st.active, st.last_raise = True, stamp
                    out.append(make_alarm(state='raised', label=alarm_label, score=score, camera=st.camera,
                                          stamp=stamp, reason=f'{alarm_label} won with score >= {c.threshold}'
                                          + (f' (mean of {c.averaged} clips)' if c.averaged > 1 else '')
                                          + f' in {sum(st.hits)} of the last {len(st.hits)} clips'))
            st = self._states.get((source, label))
            active = st is not None and st.active
        return active, out

    def expire(self, now_of: Callable[[Hashable], Optional[float]]) -> list:
        """Clear alarms whose label has not been seen for clear_after_s, also on sources gone silent.

        ``now_of(source)`` is the source's clock now (None: unknown, nothing expires).
        """
        out = []
        with self._lock:
            for (source, label), st in self._states.items():
                if not st.active:
                    continue
                now = now_of(source)
                if now is not None and now - st.last_hit >= self.config.clear_after_s:
                    out.append(self._clear(st, label, now, f'no {label} for {self.config.clear_after_s:g} s'))
        return out

    def clear_all(self, now_of: Callable[[Hashable], Optional[float]], reason: str) -> list:
        """Clear every active alarm (the recognizer stops watching); the k-of-n history is forgotten."""
        out = []
        with self._lock:
            for (source, label), st in self._states.items():
                if st.active:
                    now = now_of(source)
                    out.append(self._clear(st, label, st.last_hit if now is None else now, reason))
            self._states.clear()
        return out

    def forget(self, source: Hashable, now: Optional[float], reason: str) -> list:
        """Drop a source's state (it is no longer watched), clearing its active alarms."""
        out = []
        with self._lock:
            for key in [k for k in self._states if k[0] == source]:
                st = self._states.pop(key)
                if st.active:
                    out.append(self._clear(st, key[1], st.last_hit if now is None else now, reason))
        return out

    @staticmethod
    def _clear(st: _LabelState, label: str, stamp: float, reason: str) -> dict:
        st.active = False
        st.hits.clear()
        return make_alarm(state='cleared', label=label, score=st.score, camera=st.camera, stamp=stamp, reason=reason)

    def active(self) -> list:
        """The active alarms, ordered by camera and label."""
        with self._lock:
            out = [ActiveAlarm(source, st.camera, label, st.score, st.last_raise)
                   for (source, label), st in self._states.items() if st.active]
        return sorted(out, key=lambda a: (a.camera, a.label, str(a.source)))
