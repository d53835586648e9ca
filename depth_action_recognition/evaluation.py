"""Online evaluation: compare the recognizer's events and alarms with the simulator's ground truth.

Clip accuracy: an event is correct when its label is the ground-truth action that covers most of the
event's window. Alarms: a ground-truth alarm *episode* is a run of alarm actions on one camera; it is
detected (recall) when an alarm is raised on that camera between its start and 1 s after its end, and a
raised alarm is correct (precision) when it lies within 1 s of an episode.
"""
from __future__ import annotations

import bisect
from collections import defaultdict

from .events import stamp_seconds

TOLERANCE_S = 1.0


class OnlineEvaluator:
    def __init__(self, tolerance_s: float = TOLERANCE_S):
        self.tolerance_s = tolerance_s
        self.gt = defaultdict(list)        # camera -> [(stamp, label, alarm)] in arrival (= time) order
        self.events = []
        self.raised = []                   # (camera, stamp, label)

    def add_ground_truth(self, doc: dict) -> None:
        self.gt[doc['camera']].append((stamp_seconds(doc['stamp']), doc['label'], bool(doc['alarm'])))

    def add_event(self, doc: dict) -> None:
        self.events.append(doc)

    def add_alarm(self, doc: dict) -> None:
        if doc['state'] == 'raised':
            self.raised.append((doc['camera'], stamp_seconds(doc['stamp']), doc['label']))

    def _majority(self, camera: str, start: float, end: float):
        rows = self.gt.get(camera, [])
        times = [r[0] for r in rows]
        lo, hi = bisect.bisect_left(times, start - 1e-6), bisect.bisect_right(times, end + 1e-6)
        counts = defaultdict(int)
        for _, label, _ in rows[lo:hi]:
            counts[label] += 1
        return max(counts, key=counts.get) if counts else None

    def episodes(self) -> list:
        """(camera, start, end, label) of every ground-truth alarm episode."""
        out = []
        for camera, rows in self.gt.items():
            cur = None
            for t, label, alarm in rows:
                if alarm and cur is None:
                    cur = [camera, t, t, label]
                elif alarm:
                    cur[2] = t
                elif cur is not None:
                    out.append(tuple(cur))
                    cur = None
            if cur is not None:
                out.append(tuple(cur))
        return out

    def report(self) -> dict:
        judged = correct = 0
        per_class = defaultdict(lambda: [0, 0])
        for ev in self.events:
            truth = self._majority(ev['camera'], ev['window']['start'], ev['window']['end'])
            if truth is None:
                continue
            judged += 1
            ok = ev['label'] == truth
            correct += ok
            per_class[truth][0] += ok
            per_class[truth][1] += 1
        eps = self.episodes()
        tol = self.tolerance_s
        missed = [ep for ep in eps
                  if not any(c == ep[0] and ep[1] <= t <= ep[2] + tol for c, t, _ in self.raised)]
        false = [(c, t, label) for c, t, label in self.raised
                 if not any(c == cam and start - tol <= t <= end + tol for cam, start, end, _ in eps)]
        detected, good = len(eps) - len(missed), len(self.raised) - len(false)
        # Times relative to the first ground-truth message: what a reader can find in the scenario.
        t0 = min((rows[0][0] for rows in self.gt.values() if rows), default=0.0)
        return {
            'events': len(self.events), 'events_judged': judged,
            'clip_accuracy': correct / judged if judged else None,
            'per_class_accuracy': {k: v[0] / v[1] for k, v in sorted(per_class.items())},
            'alarm_episodes': len(eps), 'alarms_raised': len(self.raised),
            'alarm_recall': detected / len(eps) if eps else None,
            'alarm_precision': good / len(self.raised) if self.raised else None,
            'false_alarms': [{'camera': c, 'label': label, 't_s': round(t - t0, 2)} for c, t, label in false],
            'missed_episodes': [{'camera': c, 'label': label, 'start_s': round(a - t0, 2), 'end_s': round(b - t0, 2)}
                                for c, a, b, label in missed],
        }


def format_report(r: dict) -> str:
    def pct(x):
        return 'n/a' if x is None else f'{100 * x:.1f}%'
    lines = [f'clip accuracy   {pct(r["clip_accuracy"])} of {r["events_judged"]} events',
             f'alarm recall    {pct(r["alarm_recall"])} of {r["alarm_episodes"]} ground-truth alarm episodes',
             f'alarm precision {pct(r["alarm_precision"])} of {r["alarms_raised"]} raised alarms']
    if 'clips' in r:
        lines.append(f'clips skipped   {r["clips_skipped"]} of {r["clips"]} (inference slower than input)')
    lines += [f'  false alarm   {a["label"]} at {a["t_s"]:.1f} s on {a["camera"]}' for a in r.get('false_alarms', [])]
    lines += [f'  missed        {e["label"]} {e["start_s"]:.1f}-{e["end_s"]:.1f} s on {e["camera"]}'
              for e in r.get('missed_episodes', [])]
    lines += [f'  {k:<16} {pct(v)}' for k, v in r['per_class_accuracy'].items()]
    return '\n'.join(lines)
