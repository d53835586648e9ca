"""Scoring events and alarms against the simulator's ground truth: one scorer for the live and offline runs.

``depth-action-monitor --demo --evaluate`` feeds it what crosses the topics; ``python -m
depth_action_recognition.stream_eval`` feeds it a scenario played through the node's own clip buffer,
preprocessing, model and alarm policy without waiting for the wall clock.

Windows: an event covers the window [start, end] of its clip. It is *pure* when every ground-truth frame
in it shows one action (the clip lies wholly inside that action); every window also has a ground truth,
its majority action with ties going to the later one (``synthetic.stream.window_label``, what training
labels windows by). ``top1_pure`` is the accuracy over pure windows, ``accuracy_all`` over all of them.

Alarms: a ground-truth alarm *episode* is a run of frames of one alarm action on one camera. It is
detected (recall) when an alarm *of its label* is raised on that camera between its start and
``tolerance_s`` after its end, or is *held*: the alarm raised for the episode of its label just before it
on that camera is still up (not cleared) when a recognizer could first raise this one (``detect_s`` into it,
or at its end if sooner) — two falls in a row under one standing alarm, which the policy keeps up while the
label keeps winning, so the person watching has it in front of them. Only that one alarm can hold an
episode (a lost "cleared" cannot hold every later one), and a fall in the cooldown after the alarm was
cleared is missed. A raised alarm is correct (precision) when it lies within ``tolerance_s``
of an episode of its label on its camera. An alarm of the wrong class is a false alarm, and the episode
it fell in is missed unless its own label was raised too (or held it). An episode the ground truth cuts off (it runs
to its camera's last ground-truth frame) after less than ``detect_s`` — the earliest a recognizer can
raise it, :func:`earliest_alarm_s` — could not have been raised by any recognizer: it is listed as
``cut_off`` and counts neither as detected nor as missed (an alarm raised in it is still correct).
"""
from __future__ import annotations

import bisect
from collections import defaultdict

from .events import stamp_seconds
from .synthetic.stream import window_label

TOLERANCE_S = 1.0


def earliest_alarm_s(frames: int, fps: float, stride: int, k: int) -> float:
    """Seconds into an alarm action before a recognizer can raise it: the action must fill the majority of a
    clip (half a window), then the k-of-n rule needs k - 1 more clips, ``stride`` sampled frames apart. A lower
    bound also under smoothing (smoothing.py): the clip before may already have scored the action."""
    return (frames - 1) / fps / 2 + (k - 1) * stride / fps


class OnlineEvaluator:
    def __init__(self, tolerance_s: float = TOLERANCE_S, detect_s: float = 0.0):
        self.tolerance_s = tolerance_s
        self.detect_s = detect_s
        self.gt = defaultdict(list)        # camera -> [(stamp, label, alarm)] in arrival (= time) order
        self.events = []
        self.raised = []                   # (camera, stamp, label)
        self.cleared = []                  # (camera, stamp, label)

    def add_ground_truth(self, doc: dict) -> None:
        self.gt[doc['camera']].append((stamp_seconds(doc['stamp']), doc['label'], bool(doc['alarm'])))

    def add_event(self, doc: dict) -> None:
        self.events.append(doc)

    def add_alarm(self, doc: dict) -> None:
        if doc['state'] in ('raised', 'cleared'):
            (self.raised if doc['state'] == 'raised' else self.cleared).append(
                (doc['camera'], stamp_seconds(doc['stamp']), doc['label']))

    def extend(self, other: 'OnlineEvaluator') -> None:
        """Take in everything ``other`` was given (its cameras must be others than this one's: each camera's
        ground truth stays in time order)."""
        shared = self.gt.keys() & other.gt.keys()
        if shared:
            raise ValueError(f'cameras {sorted(shared)} are in both evaluators')
        for camera, rows in other.gt.items():
            self.gt[camera].extend(rows)
        self.events.extend(other.events)
        self.raised.extend(other.raised)
        self.cleared.extend(other.cleared)

    def _truth(self, camera: str, start: float, end: float, times: dict | None = None):
        """(majority label, pure) of the ground-truth frames in [start, end]; (None, False) without any.
        ``times``: camera -> its ground-truth stamps, made once per report rather than once per event."""
        rows = self.gt.get(camera, [])
        times = [r[0] for r in rows] if times is None else times.get(camera, [])
        lo, hi = bisect.bisect_left(times, start - 1e-6), bisect.bisect_right(times, end + 1e-6)
        labels = [label for _, label, _ in rows[lo:hi]]
        if not labels:
            return None, False
        return window_label(labels), len(set(labels)) == 1

    def episodes(self) -> list:
        """(camera, start, end, label) of every ground-truth alarm episode."""
        out = []
        for camera, rows in self.gt.items():
            cur = None
            for t, label, alarm in rows:
                if cur is not None and (not alarm or label != cur[3]):
                    out.append(tuple(cur))
                    cur = None
                if alarm and cur is None:
                    cur = [camera, t, t, label]
                elif alarm:
                    cur[2] = t
            if cur is not None:
                out.append(tuple(cur))
        return out

    def held(self, ep: tuple, eps: list) -> bool:
        """Whether episode ``ep`` (camera, start, end, label) is held: the last alarm raised for the episode of its
        label just before it on its camera (within ``tolerance_s`` of it) is not cleared at ``detect_s`` into ``ep``
        (or at its end if sooner)."""
        camera, start, end, label = ep
        before = [e for e in eps if e[0] == camera and e[3] == label and e[2] < start]
        if not before:
            return False
        prev = max(before, key=lambda e: e[1])
        t = min(start + self.detect_s, end)
        raises = [r for c, r, lab in self.raised
                  if c == camera and lab == label and prev[1] - self.tolerance_s <= r <= prev[2] + self.tolerance_s
                  and r < start]
        if not raises:
            return False
        last = max(raises)
        return not any(c == camera and lab == label and last < x <= t for c, x, lab in self.cleared)

    def hours(self) -> float:
        """Ground-truth time covered, summed over cameras."""
        return sum(rows[-1][0] - rows[0][0] for rows in self.gt.values() if rows) / 3600.0

    def report(self) -> dict:
        tally = {'all': defaultdict(lambda: [0, 0]), 'pure': defaultdict(lambda: [0, 0])}
        times = {camera: [r[0] for r in rows] for camera, rows in self.gt.items()}
        for ev in self.events:
            truth, pure = self._truth(ev['camera'], ev['window']['start'], ev['window']['end'], times)
            if truth is None:
                continue
            ok = ev['label'] == truth
            for kind in ('all', 'pure') if pure else ('all',):
                tally[kind][truth][0] += ok
                tally[kind][truth][1] += 1

        def acc(kind):
            n = sum(v[1] for v in tally[kind].values())
            return (sum(v[0] for v in tally[kind].values()) / n if n else None), n

        top1_pure, n_pure = acc('pure')
        accuracy_all, n_all = acc('all')
        eps = self.episodes()
        tol = self.tolerance_s
        last = {camera: rows[-1][0] for camera, rows in self.gt.items() if rows}
        cut_off = [ep for ep in eps if ep[2] >= last[ep[0]] and ep[2] - ep[1] < self.detect_s]
        scored = [ep for ep in eps if ep not in cut_off]

        def matches(cam, t, label, ep):
            return cam == ep[0] and label == ep[3] and ep[1] - tol <= t <= ep[2] + tol

        unraised = [ep for ep in scored if not any(c == ep[0] and label == ep[3] and ep[1] <= t <= ep[2] + tol
                                               for c, t, label in self.raised)]
        held = [ep for ep in unraised if self.held(ep, eps)]
        missed = [ep for ep in unraised if ep not in held]
        false = [(c, t, label) for c, t, label in self.raised if not any(matches(c, t, label, ep) for ep in eps)]
        detected, good = len(scored) - len(missed), len(self.raised) - len(false)
        hours = self.hours()
        # Times relative to the first ground-truth message: what a reader can find in the scenario.
        t0 = min((rows[0][0] for rows in self.gt.values() if rows), default=0.0)
        per_class = {k: {'pure': (tally['pure'][k][0] / tally['pure'][k][1]) if tally['pure'][k][1] else None,
                         'n_pure': tally['pure'][k][1], 'all': tally['all'][k][0] / tally['all'][k][1],
                         'n_all': tally['all'][k][1]} for k in sorted(tally['all'])}
        def listed(episodes):
            return [{'camera': c, 'label': label, 'start_s': round(a - t0, 2), 'end_s': round(b - t0, 2)}
                    for c, a, b, label in episodes]

        return {
            'events': len(self.events), 'windows': n_all, 'windows_pure': n_pure,
            'top1_pure': top1_pure, 'accuracy_all': accuracy_all, 'per_class': per_class,
            'alarm_episodes': len(scored), 'alarms_raised': len(self.raised), 'alarm_episodes_held': len(held),
            'alarm_recall': detected / len(scored) if scored else None,
            'alarm_precision': good / len(self.raised) if self.raised else None,
            'hours': hours, 'false_alarms_per_hour': len(false) / hours if hours > 0 else None,
            'false_alarms': [{'camera': c, 'label': label, 't_s': round(t - t0, 2)} for c, t, label in false],
            'missed_episodes': listed(missed), 'held_episodes': listed(held), 'cut_off_episodes': listed(cut_off),
        }


def format_report(r: dict) -> str:
    def pct(x):
        return 'n/a' if x is None else f'{100 * x:.1f}%'
    fph = r.get('false_alarms_per_hour')
    lines = [f'top-1, windows inside one action  {pct(r["top1_pure"])} of {r["windows_pure"]}',
             f'accuracy, all windows             {pct(r["accuracy_all"])} of {r["windows"]}',
             f'alarm recall    {pct(r["alarm_recall"])} of {r["alarm_episodes"]} ground-truth alarm episodes (labels matched'
             + (f'; {r["alarm_episodes_held"]} held by an alarm raised before them' if r.get('alarm_episodes_held') else '')
             + ')',
             f'alarm precision {pct(r["alarm_precision"])} of {r["alarms_raised"]} raised alarms'
             + ('' if fph is None else f'; {fph:.1f} false alarms per hour over {60 * r["hours"]:.1f} min')]
    if 'clips' in r:
        lines.append(f'clips skipped   {r["clips_skipped"]} of {r["clips"]} (inference slower than input)')
    lines += [f'  false alarm   {a["label"]} at {a["t_s"]:.1f} s on {a["camera"]}' for a in r.get('false_alarms', [])]
    lines += [f'  missed        {e["label"]} {e["start_s"]:.1f}-{e["end_s"]:.1f} s on {e["camera"]}'
              for e in r.get('missed_episodes', [])]
    lines += [f'  not scored    {e["label"]} {e["start_s"]:.1f}-{e["end_s"]:.1f} s on {e["camera"]}: cut off by the end '
              'of the stream before any recognizer could raise it' for e in r.get('cut_off_episodes', [])]
    lines.append(f'  {"class":<16} {"inside one action":>20} {"all windows":>16}')
    for k, v in r['per_class'].items():
        lines.append(f'  {k:<16} {pct(v["pure"]):>11} of {v["n_pure"]:<5} {pct(v["all"]):>8} of {v["n_all"]:<5}')
    return '\n'.join(lines)
