"""depth-action-events and the monitor read topics anyone can publish on: bad documents are counted and
skipped, and the spin loop (inside the monitor it also runs the recognizer) goes on."""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from std_msgs.msg import String

from conftest import make_checkpoint
from depth_action_recognition.events import dumps, make_alarm, make_event
from depth_action_recognition.events_node import EventsNode
from depth_action_recognition.preprocess import PreprocessSpec
from depth_action_recognition.stamps import stamp_dict
from depth_action_recognition.synthetic import ALARM_LABELS, LABELS
from ros_helpers import RosHarness, reliable_qos

GARBAGE = ['hello', '', '[1, 2]', '{"schema": "depth_action_recognition/ActionEvent/1"}', '[' * 50_000,
           json.dumps({'schema': 'depth_action_recognition/ActionEvent/1', 'camera': 3})]


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


def valid_event(i):
    return dumps(make_event(camera='/cam', frame_id='f', stamp=stamp_dict(1_795_000_000 + i), window_start=0.0,
                            window_end=1.0, frames=8, labels=['walking', 'falling_down'],
                            probs=np.array([0.9, 0.1]), alarm=False, latency_ms=1.0, model='m@1', top_k=2))


def test_events_node_counts_and_skips_malformed_documents(ros):
    out = io.StringIO()
    node = ros.add(EventsNode('lines', out=out, context=ros.context))
    ev_pub = ros.probe.create_publisher(String, '/action_events', reliable_qos(100))
    al_pub = ros.probe.create_publisher(String, '/action_alarms', reliable_qos(100))
    ros.wait_matched(ev_pub)
    ros.wait_matched(al_pub)
    ev_pub.publish(String(data=valid_event(0)))
    for text in GARBAGE:
        ev_pub.publish(String(data=text))
        al_pub.publish(String(data=text))
    al_pub.publish(String(data=dumps(make_alarm(state='raised', label='falling_down', score=0.9, camera='/cam',
                                                stamp=1_795_000_001.0, reason='test'))))
    ev_pub.publish(String(data=valid_event(1)))
    assert ros.wait_for(lambda: node.malformed['/action_events'] == len(GARBAGE)
                        and node.malformed['/action_alarms'] == len(GARBAGE), 10), dict(node.malformed)
    assert ros.wait_for(lambda: out.getvalue().count('/cam: walking') == 2, 5), out.getvalue()
    assert 'ALARM RAISED  falling_down on /cam' in out.getvalue()
    assert 'skipped malformed messages: /action_alarms 6, /action_events 6' in node.view.screen()


def test_monitor_keeps_recognizing_after_a_bad_string(tmp_path, ros):
    """The outside client's attack: `ros2 topic pub /action_events std_msgs/String "data: hello"` while the
    monitor runs. The monitor's recognizer keeps publishing events, and it exits 0 at --duration."""
    model = make_checkpoint(tmp_path / 'm.safetensors', labels=LABELS, alarms=ALARM_LABELS,
                            spec=PreprocessSpec(height=30, width=40, frames=8, fps=10.0))
    events = ros.collect(String, '/action_events')
    proc = subprocess.Popen([sys.executable, '-m', 'depth_action_recognition.monitor', '--demo', '--duration', '12',
                             '--model', str(model), '--device', 'cpu', '--view', 'lines'],
                            env=dict(os.environ, PYTHONUNBUFFERED='1'), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        bad = ros.probe.create_publisher(String, '/action_events', reliable_qos(10))
        assert ros.wait_for(lambda: len(events) >= 2, 60), 'the monitor published no events'
        for text in GARBAGE:
            bad.publish(String(data=text))
        before = len(events)
        assert ros.wait_for(lambda: len(events) >= before + len(GARBAGE) + 3, 10)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert 'Traceback' not in err
    recognized = [json.loads(e.data) for e in events if e.data not in GARBAGE]
    assert len(recognized) >= before + 3
