"""Print /action_events and /action_alarms for people: one line per event, or a live status screen.

``depth-action-events`` is the ``ros2 topic echo`` of this package; the monitor uses the same view.
Anyone can publish on these topics, so every message is read through the document checks of events.py:
a malformed one (``std_msgs/String "hello"``, a missing field, a wrong type) is counted, logged and
skipped. Nothing a publisher sends ends the spin loop — inside the monitor that loop also runs the
recognizer.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, deque

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from .events import (DocumentError, is_stamp, read_active_alarms, read_alarm, read_document, read_event,
                     stamp_seconds)
from .node_main import spin_node


def _clock(t: float) -> str:
    return time.strftime('%H:%M:%S', time.localtime(t)) + f'.{int((t % 1) * 10)}'


class EventView:
    """ROS-free state of what the operator sees: per camera the current action, and recent alarms."""

    def __init__(self, max_alarms: int = 8):
        self.cameras = {}                 # camera -> latest event
        self.truth = {}                   # camera -> latest ground truth label (demo only)
        self.alarms = deque(maxlen=max_alarms)
        self.rates = {}                   # camera -> input rate text
        self.inference = {}
        self.active = None                # the latched ActiveAlarms document, once one arrived
        self.malformed = Counter()        # topic -> documents skipped because they were not valid

    def event_line(self, ev: dict) -> str:
        mark = ' ALARM' if ev['alarm'] else ''
        top = ', '.join(f'{t["label"]} {t["score"]:.2f}' for t in ev['top_k'][1:])
        return (f'{_clock(stamp_seconds(ev["stamp"]))} {ev["camera"]}: {ev["label"]:<15} {ev["score"]:.2f}{mark}'
                f'  ({top})  {ev["latency_ms"]:.0f} ms')

    def alarm_line(self, al: dict) -> str:
        return (f'{_clock(stamp_seconds(al["stamp"]))} ALARM {al["state"].upper():<7} {al["label"]} on {al["camera"]}'
                f' (score {al["score"]:.2f}; {al["reason"]})')

    def on_event(self, ev: dict) -> None:
        self.cameras[ev['camera']] = ev

    def on_alarm(self, al: dict) -> None:
        self.alarms.append(al)

    def on_active(self, doc: dict) -> None:
        self.active = doc

    def active_line(self, doc: dict) -> str:
        names = ', '.join(f'{a["label"]} on {a["camera"]}' for a in doc['alarms']) or 'none'
        return f'{_clock(stamp_seconds(doc["stamp"]))} ACTIVE ALARMS: {names}'

    def on_diagnostics(self, arr) -> None:
        for st in arr.status:
            values = {kv.key: kv.value for kv in st.values}
            if 'input_rate_hz' in values:
                self.rates[st.name.split(': ', 1)[-1]] = values
            elif 'inference_ms_p50' in values:
                self.inference = values

    def screen(self) -> str:
        lines = ['depth_action_recognition monitor  (Ctrl-C to stop)', '']
        inf = self.inference
        if inf:
            lines.append(f'model {inf.get("model")} on {inf.get("device")}: inference p50 {inf.get("inference_ms_p50")} ms,'
                         f' frame->event p50 {inf.get("latency_ms_p50")} / p95 {inf.get("latency_ms_p95")} ms')
        lines += ['', f'{"camera":<28}{"now":<18}{"score":>6}  {"truth":<16}{"input":>9}  {"skipped":>7}']
        for cam in sorted(set(self.cameras) | set(self.rates)):
            ev = self.cameras.get(cam)
            r = self.rates.get(cam, {})
            label = (ev['label'] + (' (!)' if ev['alarm'] else '')) if ev else '-'
            score = f'{ev["score"]:.2f}' if ev else ''
            lines.append(f'{cam:<28}{label:<18}{score:>6}  {self.truth.get(cam, ""):<16}'
                         f'{r.get("input_rate_hz", "?"):>6} fps  {r.get("clips_skipped", "0"):>7}')
        if self.active is not None:
            active = ', '.join(f'{a["label"]} on {a["camera"]}' for a in self.active['alarms'])
            lines += ['', f'active alarms: {active or "none"}']
        lines += ['', 'recent alarms:'] + ([f'  {self.alarm_line(a)}' for a in reversed(self.alarms)] or ['  none'])
        if self.malformed:
            skipped = ', '.join(f'{t} {n}' for t, n in sorted(self.malformed.items()))
            lines += ['', f'skipped malformed messages: {skipped}']
        return '\n'.join(lines)


def _read_ground_truth(text: str) -> dict:
    from .camera_sim_node import GT_SCHEMA      # the simulator's document; imported only by its users
    fields = {'camera': lambda v: isinstance(v, str), 'stamp': is_stamp, 'label': lambda v: isinstance(v, str),
              'alarm': lambda v: isinstance(v, bool)}
    return read_document(text, GT_SCHEMA, fields)


class EventsNode(Node):
    """Subscribes to the outputs and prints them (lines), or redraws a status screen (live)."""

    def __init__(self, mode: str = 'lines', node_name: str = 'depth_action_events', out=sys.stdout,
                 ground_truth_topic: str | None = None, evaluator=None, **kwargs):
        super().__init__(node_name, **kwargs)
        self.mode, self.out, self.view, self.evaluator = mode, out, EventView(), evaluator
        qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(String, '/action_events', self.event_callback, qos)
        self.create_subscription(String, '/action_alarms', self.alarm_callback, qos)
        self.create_subscription(String, '/action_alarms/active', self.active_callback, latched)
        self.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics_callback, 10)
        if ground_truth_topic:
            self.create_subscription(String, ground_truth_topic, self.truth_callback, qos)
        if mode == 'live':
            self.create_timer(0.5, self.redraw_callback)

    @property
    def malformed(self) -> Counter:
        return self.view.malformed

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _handle(self, topic: str, msg: String, read, remember, evaluate=None, line=None) -> None:
        try:
            doc = read(msg.data)
            remember(doc)
            if evaluate is not None:
                evaluate(doc)
            if self.mode == 'json':
                self._print(msg.data)
            elif self.mode == 'lines' and line is not None:
                self._print(line(doc))
        except Exception as e:  # noqa: BLE001 - DocumentError above all, but no message may end the spin loop
            self.view.malformed[topic] += 1
            reason = str(e) if isinstance(e, DocumentError) else f'{type(e).__name__}: {e}'
            self.get_logger().warning(f'{topic}: message skipped ({self.view.malformed[topic]} so far): {reason}',
                                      throttle_duration_sec=5.0)

    def event_callback(self, msg: String) -> None:
        self._handle('/action_events', msg, read_event, self.view.on_event,
                     self.evaluator and self.evaluator.add_event, self.view.event_line)

    def alarm_callback(self, msg: String) -> None:
        self._handle('/action_alarms', msg, read_alarm, self.view.on_alarm,
                     self.evaluator and self.evaluator.add_alarm, self.view.alarm_line)

    def active_callback(self, msg: String) -> None:
        self._handle('/action_alarms/active', msg, read_active_alarms, self.view.on_active, None, self.view.active_line)

    def truth_callback(self, msg: String) -> None:
        def remember(doc):
            self.view.truth[doc['camera']] = doc['label']
        self._handle('ground_truth', msg, _read_ground_truth, remember,
                     self.evaluator and self.evaluator.add_ground_truth)

    def diagnostics_callback(self, arr: DiagnosticArray) -> None:
        try:
            self.view.on_diagnostics(arr)
        except Exception as e:  # noqa: BLE001 - someone else's diagnostics must not stop ours
            self.view.malformed['/diagnostics'] += 1
            self.get_logger().warning(f'/diagnostics: message skipped: {e!r}', throttle_duration_sec=5.0)

    def redraw_callback(self) -> None:
        self.out.write('\x1b[H\x1b[2J' + self.view.screen() + '\n')
        self.out.flush()


def main(args=None) -> int:
    parser = argparse.ArgumentParser(description='Print /action_events and /action_alarms.')
    parser.add_argument('--mode', choices=('lines', 'live', 'json'), default='lines',
                        help='one line per message, a live status screen, or the raw JSON')
    parsed, ros_args = parser.parse_known_args(args if args is not None else sys.argv[1:])
    return spin_node(lambda: EventsNode(parsed.mode), 'depth-action-events', ros_args)


if __name__ == '__main__':
    sys.exit(main())
