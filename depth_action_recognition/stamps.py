"""Stamps: the one conversion between ROS ``{sec, nanosec}`` stamps and float seconds.

Float seconds are what the core computes with (clip windows, alarm timing); ``{sec, nanosec}`` is what
ROS headers and the JSON documents carry. Nothing here knows about ROS: header stamps are read through
their ``sec``/``nanosec`` fields.
"""
from __future__ import annotations

import math

NS = 1_000_000_000


def seconds(sec: int, nanosec: int) -> float:
    """``builtin_interfaces/Time`` fields -> float seconds."""
    return sec + nanosec * 1e-9


def stamp_dict(t: float) -> dict:
    """Float seconds -> a normalised ``{sec, nanosec}`` (0 <= nanosec < 1e9, rounded to the nearest ns)."""
    sec = math.floor(t)
    nanosec = round((t - sec) * NS)
    if nanosec >= NS:          # 5.9999999999 rounds up to the next whole second, not to 5 s 0 ns
        sec, nanosec = sec + 1, nanosec - NS
    return {'sec': int(sec), 'nanosec': int(nanosec)}


def stamp_seconds(d: dict) -> float:
    """A ``{sec, nanosec}`` dict (as in the JSON documents) -> float seconds."""
    return seconds(d['sec'], d['nanosec'])
