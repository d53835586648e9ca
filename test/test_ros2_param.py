"""`ros2 run` of the colcon-installed executables and `ros2 param` on the running recognizer, through the
real CLI: every runtime parameter changes what the alarm policy does, bad values are refused with their
reason and change nothing, `ros2 param describe` shows the ranges."""
import json
import re
import time

import pytest
from rclpy.parameter import parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from std_msgs.msg import String

from depth_action_recognition.recognizer_node import RUNTIME_PARAMS
from ros2_workspace import FrameStream, command, user_files
from ros_helpers import RosHarness

NODE = '/depth_action_recognizer'


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


class Alarms:
    """The /action_alarms documents of falling_down, and waits on the ones after a mark."""

    def __init__(self, ros):
        self.ros, self.msgs = ros, ros.collect(String, '/action_alarms')

    def mark(self) -> int:
        return len(self.msgs)

    def after(self, mark, state):
        docs = [json.loads(m.data) for m in self.msgs[mark:]]
        return [d for d in docs if d['state'] == state and d['label'] == 'falling_down']

    def wait(self, mark, state, timeout=15.0):
        assert self.ros.wait_for(lambda: self.after(mark, state), timeout), \
            f'no {state} falling_down alarm; got {[m.data for m in self.msgs[mark:]]}'
        return self.after(mark, state)[0]


def get_params(ros, names):
    client = AsyncParameterClient(ros.probe, NODE)
    assert client.wait_for_services(10)
    future = client.get_parameters(names)
    assert ros.wait_for(future.done, 10)
    return {n: parameter_value_to_python(v) for n, v in zip(names, future.result().values)}


def param_set(ws, name, value, *, line=None):
    # A fresh `ros2` process (and the daemon it starts) discovers the graph on its own: right after the node
    # appears it can still answer 'Node not found'. Ask again until it sees the node; any other answer counts.
    deadline = time.monotonic() + 30
    while True:
        out = ws.run(line or f'ros2 param set {NODE} {name} {value}', timeout=60).output
        if not out.startswith('Node not found') or time.monotonic() > deadline:
            return out
        time.sleep(1)


def test_runtime_parameters_take_effect_through_ros2_param(ros2_ws, ros, launched):
    user_files(ros2_ws)                  # my.yaml: /test_cam/depth, stride 1; my_student: falling_down at 0.7
    alarms = Alarms(ros)
    events = ros.collect(String, '/action_events')
    recognizer = launched(command('run_recognizer'))
    printer = launched(command('run_events'))
    camera = FrameStream(ros, '/test_cam/depth')
    changed = {}

    def accept(name, value, **kw):
        out = param_set(ros2_ws, name, value, **kw)
        assert out.startswith('Set parameter successful'), out
        changed[name] = value

    try:
        assert ros.wait_for(lambda: camera.pub.get_subscription_count() >= 1, 60), recognizer.output[-3000:]
        assert ros.wait_for(lambda: ros.probe.count_subscribers('/action_alarms') >= 2, 30), printer.output
        camera.start()
        first = alarms.wait(0, 'raised', timeout=30)
        assert '>= 0.6' in first['reason'], first                      # the params file's threshold

        # score 0.7 stops counting at 0.8: the alarm clears after clear_after_s, not the file's 3 s
        accept('cooldown_s', '3600.0')
        accept('clear_after_s', '0.5')
        mark = alarms.mark()
        accept('score_threshold', '0.8', line=command('param_set'))
        cleared = alarms.wait(mark, 'cleared')
        assert '0.5 s' in cleared['reason'], cleared
        n = len(events)
        assert ros.wait_for(lambda: len(events) >= n + 5, 10)
        assert all(json.loads(e.data)['label'] == 'falling_down' and not json.loads(e.data)['alarm']
                   for e in events[n:])

        # back at 0.6 every clip counts again, but the hour-long cooldown holds the alarm back
        mark = alarms.mark()
        accept('score_threshold', '0.6')
        n = len(events)
        assert ros.wait_for(lambda: len(events) >= n + 20, 15)      # 2 s of clips, 2 of 3 needed
        assert not alarms.after(mark, 'raised')

        # one clip in one is enough once the cooldown is gone
        accept('alarm_k', '1')
        accept('alarm_n', '1')
        accept('cooldown_s', '0.0')
        raised = alarms.wait(mark, 'raised')
        assert re.search(r'\b1 of the last 1\b', raised['reason']), raised

        # falling_down is no alarm class any more: its alarm clears and stays cleared
        mark = alarms.mark()
        accept('alarm_labels', "\"['punching']\"")
        alarms.wait(mark, 'cleared')
        n = len(events)
        assert ros.wait_for(lambda: len(events) >= n + 10, 10)
        assert not alarms.after(mark, 'raised')
        assert set(changed) == set(RUNTIME_PARAMS), 'a runtime parameter the test does not change'

        expected = {'score_threshold': 0.6, 'alarm_labels': ['punching'], 'alarm_k': 1, 'alarm_n': 1,
                    'clear_after_s': 0.5, 'cooldown_s': 0.0}
        assert get_params(ros, list(expected)) == expected

        # bad values: refused with a reason naming the parameter, nothing changes (run side by side)
        bad = {'score_threshold': '1.5', 'alarm_k': '2', 'alarm_n': '0', 'clear_after_s': '0.0',
               'cooldown_s': '-1.0', 'alarm_labels': "\"['nope']\"", 'stride': '2', 'model_path': 'other.safetensors'}
        refused = {name: ros2_ws.popen(f'ros2 param set {NODE} {name} {value}') for name, value in bad.items()}
        for name, proc in refused.items():
            rc = proc.wait(60)
            assert re.search(rf'^Setting parameter failed: .*{name}', proc.output, re.M), (name, rc, proc.output)
        assert 'nope' in refused['alarm_labels'].output
        assert get_params(ros, list(expected)) == expected
        assert get_params(ros, ['stride', 'model_path']) == {'stride': 1, 'model_path': 'my_student.safetensors'}

        # ranges, as `ros2 param describe` shows them
        described = ros2_ws.run(command('param_describe'), timeout=60).output
        blocks = dict(re.findall(r'^Parameter name: (\w+)\n((?:  .*\n?)*)', described, re.M))
        assert set(blocks) == {'score_threshold', 'alarm_k', 'alarm_n', 'clear_after_s', 'cooldown_s'}, described
        ranges = {name: tuple(float(v) for v in re.findall(r'(?:Min|Max) value: (\S+)', text))
                  for name, text in blocks.items()}
        assert ranges['score_threshold'] == (0.0, 1.0), described
        for name, values in ranges.items():
            assert len(values) == 2 and values[0] <= expected[name] <= values[1], (name, described)
        assert ranges['alarm_k'][0] >= 1 and ranges['alarm_n'][0] >= 1 and ranges['clear_after_s'][0] > 0

        # Ctrl-C in the terminal reaches the whole process group: both nodes end with status 0
        for proc in (recognizer, printer):
            proc.interrupt(group=True)
        assert recognizer.wait(10) == 0 and printer.wait(10) == 0, (recognizer.output[-2000:], printer.output[-2000:])
        assert 'Traceback' not in recognizer.output + printer.output
        # the events printer saw what the probe saw: events of the camera and the alarm transitions
        assert re.search(r'/test_cam/depth: falling_down +0\.70', printer.output), printer.output[-2000:]
        assert re.search(r'ALARM RAISED +falling_down on /test_cam/depth', printer.output), printer.output[-2000:]
        assert re.search(r'ALARM CLEARED falling_down on /test_cam/depth', printer.output), printer.output[-2000:]
    finally:
        camera.close()
