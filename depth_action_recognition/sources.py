"""The streams of frames that arrive on one depth topic, each with its own clip buffer and clock.

A topic normally carries one camera, but anything can publish on it: a second driver, a replayed bag, a
node sending 32FC1 frames between the genuine 16UC1 ones. Had those frames shared the camera's clip
buffer, every foreign frame would reset it (a format change, time running backwards) and a trickle of
foreign frames would stop all recognition on the topic. So a topic's frames are split by *source* —
header ``frame_id``, encoding and size — and each :class:`Source` has its own buffer, clock and
counters (and, in the node, its own alarm state). A :class:`Topic` keeps at most ``max_sources``; a
new source evicts the one that has been silent longest.

Each source also keeps a :class:`StreamClock`: the source's own time, followed from its stamps. It
decides which stamps are believable and it is the time base of the alarm policy, so a camera whose clock
is off from the node's, or a recording replayed under sim time, needs no agreement with the node clock.
Nothing here knows about ROS: stamps are float seconds, arrivals are ``time.monotonic()`` seconds.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Optional

from .clip_buffer import ClipBuffer
from .errors import ConfigError

# Unbelieved stamps that must agree with each other before the clock follows them (a clock that jumped).
CONFIRM_FRAMES = 5


class StreamClock:
    """A stream's clock: its last believed stamp, carried forward by the steady clock since it arrived.

    A stamp more than ``max_jump_s`` ahead of (or behind) that is not believed — one bogus stamp must
    neither poison the clip buffer nor hold an alarm up — unless :data:`CONFIRM_FRAMES` such stamps in a
    row agree with each other: then the stream's clock itself jumped (a driver restart, an NTP step, a
    paused replay) and the clock follows it.
    """

    def __init__(self, max_jump_s: float):
        if not max_jump_s > 0:
            raise ConfigError(f'max_future_s must be > 0, got {max_jump_s}')
        self.max_jump_s = max_jump_s
        self.stamp: Optional[float] = None      # last believed stamp...
        self.arrival = 0.0                      # ...and when it arrived
        self.jumps = 0
        self._suspect = None
        self._suspects = 0

    def check(self, stamp: float, arrival: float) -> Optional[str]:
        """None if ``stamp`` is believable (the clock moves to it), else the drop reason."""
        if self.stamp is not None:
            ahead = stamp - (self.stamp + (arrival - self.arrival))
            if not -self.max_jump_s <= ahead <= self.max_jump_s:
                s = self._suspect
                agrees = s is not None and abs(stamp - (s[0] + (arrival - s[1]))) <= self.max_jump_s
                self._suspects = self._suspects + 1 if agrees else 1
                self._suspect = (stamp, arrival)
                if self._suspects < CONFIRM_FRAMES:
                    return 'future_stamp' if ahead > 0 else 'past_stamp'
                self.jumps += 1
        self.stamp, self.arrival = stamp, arrival
        self._suspect, self._suspects = None, 0
        return None

    def now(self, monotonic_now: float) -> Optional[float]:
        """The stream's time now, or None before its first believed stamp."""
        return None if self.stamp is None else self.stamp + (monotonic_now - self.arrival)


class Source:
    """One stream on a topic: its key (frame_id, encoding, height, width), buffer, clock and counters."""

    __slots__ = ('topic', 'key', 'buffer', 'clock', 'received', 'dropped', 'events', 'skipped', 'last_arrival',
                 'evicted', 'layout')

    def __init__(self, topic: str, key: tuple, buffer: ClipBuffer, clock: StreamClock, layout):
        self.topic, self.key, self.buffer, self.clock = topic, key, buffer, clock
        self.layout = layout           # depth.WireLayout of its frames, from the first one
        self.received = 0
        self.dropped = Counter()       # reason -> frames dropped here (stamps, decoding, processing)
        self.events = 0
        self.skipped = 0               # clips replaced before inference
        self.last_arrival = 0.0
        self.evicted = False

    @property
    def frame_id(self) -> str:
        return self.key[0]

    @property
    def name(self) -> str:
        frame_id, encoding, height, width = self.key
        return f'{frame_id or "(no frame_id)"} {encoding} {width}x{height}'

    def admit(self, stamp: float, arrival: float) -> bool:
        """Count the frame and decide, from its stamp alone, whether it is worth decoding."""
        self.received += 1
        self.last_arrival = arrival
        if 0.0 < stamp < math.inf:             # the buffer counts zero/NaN stamps itself
            reason = self.clock.check(stamp, arrival)
            if reason is not None:
                self.dropped[reason] += 1
                return False
        return self.buffer.admit(stamp)

    def counts(self) -> Counter:
        """Everything /diagnostics reports of this source, as one Counter (summable over sources)."""
        b = self.buffer
        c = Counter({'frames_received': self.received, 'frames_sampled': b.accepted,
                     'frames_resampled_out': b.dropped['resampled'], 'clips': b.clips,
                     'clips_skipped': self.skipped, 'events': self.events, 'clock_jumps': self.clock.jumps})
        c.update({f'dropped_{k}': v for k, v in self.dropped.items()})
        c.update({f'dropped_{k}': v for k, v in b.dropped.items() if k != 'resampled'})
        c.update({f'resets_{k}': v for k, v in b.resets.items()})
        return c


class Topic:
    """A depth topic: its sources (at most ``max_sources``) and the frames dropped before any source."""

    def __init__(self, name: str, make_buffer: Callable[[tuple], ClipBuffer], *, max_jump_s: float, max_sources: int = 4):
        if max_sources < 1:
            raise ConfigError(f'max_sources_per_topic must be >= 1, got {max_sources}')
        self.name = name
        self.make_buffer = make_buffer
        self.max_jump_s = max_jump_s
        self.max_sources = max_sources
        self.sources: dict = {}            # key -> Source
        self.received = 0
        self.dropped = Counter()           # frames no source was made for: colour, encoding, size
        self.evictions = 0
        self.retired = Counter()           # counts of evicted sources, so the topic's totals never shrink
        self.warned_sources = False
        self.reliability = 'none'
        self.warned_best_effort = False

    def source(self, key: tuple, arrival: float, layout) -> tuple:
        """The source for ``key``, made if new with ``layout`` (its frames' byte layout) set before anything
        else can fail, so no source in :attr:`sources` is without it. Returns (source, evicted source or None).
        The new source is built before the oldest is evicted: if building fails, nothing is lost."""
        if key in self.sources:
            return self.sources[key], None
        src = Source(self.name, key, self.make_buffer(key), StreamClock(self.max_jump_s), layout)
        src.last_arrival = arrival
        evicted = None
        if len(self.sources) >= self.max_sources:
            evicted = min(self.sources.values(), key=lambda s: s.last_arrival)
            del self.sources[evicted.key]
            evicted.evicted = True
            self.evictions += 1
            self.retired.update(evicted.counts())
        self.sources[key] = src
        return src, evicted

    def reset(self) -> None:
        """Forget every buffered frame and clock (nothing stale survives a pause); counters stay."""
        for src in self.sources.values():
            src.buffer.reset()
            src.clock = StreamClock(self.max_jump_s)

    def counts(self) -> Counter:
        c = Counter(self.retired)
        for src in self.sources.values():
            c.update(src.counts())
        c['frames_received'] = self.received
        c.update({f'dropped_{k}': v for k, v in self.dropped.items()})
        return c

    @property
    def clips(self) -> int:
        return self.retired['clips'] + sum(s.buffer.clips for s in self.sources.values())

    @property
    def events(self) -> int:
        return self.retired['events'] + sum(s.events for s in self.sources.values())

    @property
    def skipped(self) -> int:
        return self.retired['clips_skipped'] + sum(s.skipped for s in self.sources.values())
