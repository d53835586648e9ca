"""Sources on one topic and their clocks: foreign streams kept apart, believable stamps, bounded sources."""

import numpy as np
import pytest

from depth_action_recognition.clip_buffer import ClipBuffer
from depth_action_recognition.errors import ConfigError
from depth_action_recognition.sources import CONFIRM_FRAMES, StreamClock, Topic

GENUINE = ('cam', '16UC1', 48, 64)
FOREIGN = ('cam', '32FC1', 48, 64)


def topic(max_sources=4, clip_length=4, stride=1):
    return Topic('/t', lambda key: ClipBuffer(clip_length, stride, max_gap_s=1.0), max_jump_s=5.0,
                 max_sources=max_sources)


def deliver(t, key, stamp, arrival):
    """What the node does with a frame's header; returns a clip when one is due."""
    t.received += 1
    src = t.sources.get(key) or t.source(key, arrival, layout=None)[0]     # these frames are never viewed
    return src.buffer.add(np.zeros((2, 2), np.float32), stamp) if src.admit(stamp, arrival) else None


def test_foreign_frames_interleaved_do_not_touch_the_genuine_buffer():
    alone, mixed = topic(), topic()
    clips_alone = clips_mixed = 0
    for i in range(40):
        clips_alone += deliver(alone, GENUINE, 100 + i / 10, i / 10) is not None
        clips_mixed += deliver(mixed, GENUINE, 100 + i / 10, i / 10) is not None
        # a foreign publisher: another encoding, its own (older) clock, between every two genuine frames
        deliver(mixed, FOREIGN, 50 + i / 10, i / 10 + 0.05)
    genuine = mixed.sources[GENUINE]
    assert clips_mixed == clips_alone == 37
    assert not genuine.buffer.resets and not genuine.dropped
    assert len(mixed.sources) == 2 and mixed.counts()['frames_received'] == 80


def test_a_new_source_evicts_the_longest_silent_and_totals_survive():
    t = topic(max_sources=2)
    for i in range(10):
        deliver(t, GENUINE, 100 + i / 10, i / 10)
    deliver(t, ('other', '16UC1', 48, 64), 100.0, 1.0)
    deliver(t, GENUINE, 101.0, 1.05)
    src, evicted = t.source(('third', '16UC1', 48, 64), 1.1, layout=None)
    assert evicted.key == ('other', '16UC1', 48, 64) and evicted.evicted
    assert set(t.sources) == {GENUINE, ('third', '16UC1', 48, 64)} and t.evictions == 1
    assert t.counts()['frames_received'] == 12 and t.clips == 8       # the evicted source's counts are kept


def test_asking_for_a_known_source_returns_it_and_evicts_nothing():
    t = topic(max_sources=1)
    for i in range(6):
        deliver(t, GENUINE, 100 + i / 10, i / 10)
    src = t.sources[GENUINE]
    again, evicted = t.source(GENUINE, 9.0, layout=None)
    assert again is src and evicted is None and t.evictions == 0
    # its buffer, counts and last arrival kept, not rebuilt: 6 frames made 3 clips of 4
    assert src.buffer.clips == 3 and src.received == 6 and src.last_arrival == pytest.approx(0.5)


def test_a_source_that_cannot_be_made_evicts_nothing():
    """The new source is built before the oldest is evicted: if building it fails, the topic keeps every source
    it had (their buffers, clocks and, in the node, alarms), instead of losing one for nothing."""
    def make_buffer(key):
        if key[0] == 'broken':
            raise MemoryError('no room for a ring')
        return ClipBuffer(4, 1, max_gap_s=1.0)
    t = Topic('/t', make_buffer, max_jump_s=5.0, max_sources=1)
    deliver(t, GENUINE, 100.0, 0.0)
    with pytest.raises(MemoryError):
        t.source(('broken', '16UC1', 48, 64), 1.0, layout=None)
    assert list(t.sources) == [GENUINE] and not t.sources[GENUINE].evicted and t.evictions == 0
    assert not t.retired                  # nothing counted twice (retired and still live)
    src, evicted = t.source(('next', '16UC1', 48, 64), 2.0, layout=None)
    assert evicted.key == GENUINE and list(t.sources) == [('next', '16UC1', 48, 64)] and t.evictions == 1


def test_clock_drops_stamps_far_from_the_stream_but_not_the_stream():
    c = StreamClock(max_jump_s=5.0)
    assert c.check(1000.0, 0.0) is None
    assert c.check(1000.1, 0.1) is None
    assert c.check(4600.0, 0.2) == 'future_stamp'          # one bogus stamp an hour ahead
    assert c.check(10.0, 0.25) == 'past_stamp'             # and one far back
    assert c.check(1000.3, 0.3) is None                    # the stream goes on, undisturbed
    assert c.now(2.3) == pytest.approx(1002.3)
    # A camera 10 s off the node's clock, or silent for a minute, is no anomaly: only its own clock counts.
    assert c.check(1060.3, 60.3) is None


def test_clock_follows_a_jump_the_stream_keeps_to():
    c = StreamClock(max_jump_s=5.0)
    c.check(1000.0, 0.0)
    results = [c.check(2000.0 + i / 30, i / 30) for i in range(CONFIRM_FRAMES + 2)]
    assert results == ['future_stamp'] * (CONFIRM_FRAMES - 1) + [None] * 3 and c.jumps == 1
    # Bogus stamps that do not agree with each other never move it.
    c = StreamClock(max_jump_s=5.0)
    c.check(1000.0, 0.0)
    assert all(c.check(5000.0 + 100 * i, 0.01 * i) == 'future_stamp' for i in range(1, 20))
    assert c.jumps == 0


def test_invalid_limits():
    with pytest.raises(ConfigError):
        StreamClock(0.0)
    with pytest.raises(ConfigError):
        topic(max_sources=0)
