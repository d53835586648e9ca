"""Playlists for the simulated camera: which action plays when, scripted or random."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .actions import ACTIONS, LABELS

# About a minute of ordinary life with a fall and a fight in it: what `make demo` shows.
DEMO = [('walking', 5.0), ('waving', 4.0), ('drinking', 5.0), ('sitting_down', 3.0), ('standing_up', 3.0),
        ('falling_down', 6.0), ('clapping', 4.0), ('phone_call', 5.0), ('punching', 6.0), ('walking', 4.0),
        ('picking_up', 3.0), ('brushing_teeth', 5.0), ('staggering', 5.0), ('pushing', 5.0)]


@dataclass(frozen=True)
class Segment:
    action: str
    duration: float

    @property
    def alarm(self) -> bool:
        return ACTIONS[self.action].alarm


def parse_playlist(entries) -> list:
    """['walking:4', 'falling_down:5.5'] -> [Segment, ...], with errors that name the entry."""
    out = []
    for e in entries:
        name, _, dur = str(e).partition(':')
        if name not in ACTIONS:
            raise ValueError(f'playlist entry {e!r}: unknown action {name!r}; expected one of {LABELS}')
        try:
            seconds = float(dur) if dur else 4.0
        except ValueError:
            raise ValueError(f'playlist entry {e!r}: duration {dur!r} is not a number') from None
        if not 0.5 <= seconds <= 600:
            raise ValueError(f'playlist entry {e!r}: duration must be within 0.5..600 s')
        out.append(Segment(name, seconds))
    return out


def demo_playlist() -> list:
    return [Segment(a, d) for a, d in DEMO]


def random_playlist(rng: np.random.Generator, n: int = 50, alarm_share: float = 0.3) -> list:
    """Random actions of 3-6 s; ``alarm_share`` of them dangerous, never two alarms in a row."""
    ordinary = [a for a in LABELS if not ACTIONS[a].alarm]
    alarms = [a for a in LABELS if ACTIONS[a].alarm]
    out, prev_alarm = [], True
    for _ in range(n):
        alarm = not prev_alarm and rng.random() < alarm_share / (1 - alarm_share + 1e-9)
        name = rng.choice(alarms if alarm else ordinary)
        out.append(Segment(str(name), float(np.round(rng.uniform(3.0, 6.0), 1))))
        prev_alarm = alarm
    return out
