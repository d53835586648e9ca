"""Alarms through the real node: one time base (camera clocks off, sim time), the latched active set, and
clearing on deactivate and shutdown."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from conftest import make_checkpoint
from depth_action_recognition.events import read_active_alarms, read_alarm
from depth_action_recognition.recognizer_node import LifecycleRecognizerNode, RecognizerNode
from ros_helpers import RosHarness, depth_msg, reliable_qos

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
FRAME = np.full((24, 32), 2000, np.uint16)


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


@pytest.fixture
def fall_model(tmp_path):
    return make_checkpoint(tmp_path / 'fall.safetensors', bias_label='falling_down')


def overrides(model, **params):
    base = dict(model_path=str(model), device='cpu', stride=1, alarm_k=2, alarm_n=3, smooth_clips=1)
    base.update(params)
    return [Parameter(k, value=v) for k, v in base.items()]


def alarms_of(msgs, camera=None):
    docs = [read_alarm(m.data) for m in list(msgs)]
    return [(d['state'], d['camera']) for d in docs if camera is None or d['camera'] == camera]


def stream(pubs_and_clocks, seconds, fps=30.0):
    """Publish to each (publisher, stamp of frame 0) at ``fps`` for ``seconds``; returns each last stamp."""
    n = int(seconds * fps)
    for i in range(n):
        for pub, t0 in pubs_and_clocks:
            pub.publish(depth_msg(FRAME, t0 + i / fps))
        time.sleep(1 / fps)
    return [t0 + (n - 1) / fps for _, t0 in pubs_and_clocks]


def test_camera_clocks_ten_seconds_off_raise_once_and_clear_on_their_own_clock(ros, fall_model):
    """An ongoing fall on cameras whose clocks are 10 s ahead of and behind the node's: raised once, held
    while it goes on (clear_after_s 0.5, so a wrong clock would clear it at the next tick and the cooldown
    would block the re-raise), cleared once the camera goes quiet, stamped on the camera's clock."""
    ros.add(RecognizerNode(context=ros.context, parameter_overrides=overrides(
        fall_model, depth_topics=['/ahead/depth', '/behind/depth'], clear_after_s=0.5, cooldown_s=60.0)))
    alarms = ros.collect(String, '/action_alarms')
    ahead = ros.probe.create_publisher(Image, '/ahead/depth', reliable_qos())
    behind = ros.probe.create_publisher(Image, '/behind/depth', reliable_qos())
    ros.wait_matched(ahead)
    ros.wait_matched(behind)
    now = time.time()
    last_ahead, last_behind = stream([(ahead, now + 10.0), (behind, now - 10.0)], 4.0)
    for camera in ('/ahead/depth', '/behind/depth'):
        assert alarms_of(alarms, camera) == [('raised', camera)], (camera, alarms_of(alarms))
    assert ros.wait_for(lambda: len(alarms_of(alarms)) == 4, 5), alarms_of(alarms)
    for camera, last in (('/ahead/depth', last_ahead), ('/behind/depth', last_behind)):
        assert alarms_of(alarms, camera) == [('raised', camera), ('cleared', camera)]
        cleared = [read_alarm(m.data) for m in alarms if read_alarm(m.data)['camera'] == camera][-1]
        stamp = cleared['stamp']['sec'] + cleared['stamp']['nanosec'] * 1e-9
        assert last + 0.4 <= stamp <= last + 2.0, (camera, stamp - last)     # the camera's clock, not the node's


def test_sim_time_before_clock_arrives_frames_are_served(ros, fall_model):
    """use_sim_time and no /clock yet (the node's clock reads 0): frames stamped on a recording's clock are
    neither dropped as "future" nor stuck, and an alarm still clears when the stream stops."""
    node = ros.add(RecognizerNode(context=ros.context, parameter_overrides=overrides(
        fall_model, depth_topics=['/bag/depth'], clear_after_s=0.5, cooldown_s=0.0)
        + [Parameter('use_sim_time', value=True)]))
    assert node.get_clock().now().nanoseconds == 0
    events, alarms = ros.collect(String, '/action_events'), ros.collect(String, '/action_alarms')
    pub = ros.probe.create_publisher(Image, '/bag/depth', reliable_qos())
    ros.wait_matched(pub)
    stream([(pub, 1_700_000_000.0)], 3.0)
    assert ros.wait_for(lambda: len(events) >= 5, 5), len(events)
    assert alarms_of(alarms)[0] == ('raised', '/bag/depth')
    assert ros.wait_for(lambda: alarms_of(alarms)[-1] == ('cleared', '/bag/depth'), 5), alarms_of(alarms)
    assert json.loads(events[0].data)['stamp']['sec'] >= 1_700_000_000


def test_late_subscriber_learns_the_active_alarms(ros, fall_model):
    ros.add(RecognizerNode(context=ros.context, parameter_overrides=overrides(
        fall_model, depth_topics=['/ward/depth'], clear_after_s=30.0)))
    alarms = ros.collect(String, '/action_alarms')
    pub = ros.probe.create_publisher(Image, '/ward/depth', reliable_qos())
    ros.wait_matched(pub)
    stream([(pub, time.time())], 2.0)
    assert ros.wait_for(lambda: alarms_of(alarms) == [('raised', '/ward/depth')], 5)
    # Joins after the raise: the latched state tells it what is going on.
    late = ros.collect(String, '/action_alarms/active', LATCHED)
    assert ros.wait_for(lambda: len(late) >= 1, 5)
    doc = read_active_alarms(late[-1].data)
    assert [(a['label'], a['camera'], a['frame_id']) for a in doc['alarms']] == [('falling_down', '/ward/depth', 'cam')]


def test_deactivate_clears_every_active_alarm(ros, fall_model):
    node = ros.add(LifecycleRecognizerNode(context=ros.context, parameter_overrides=overrides(
        fall_model, depth_topics=['/a/depth', '/b/depth'], clear_after_s=30.0)))
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    alarms, active = ros.collect(String, '/action_alarms'), ros.collect(String, '/action_alarms/active', LATCHED)
    pa = ros.probe.create_publisher(Image, '/a/depth', reliable_qos())
    pb = ros.probe.create_publisher(Image, '/b/depth', reliable_qos())
    ros.wait_matched(pa)
    ros.wait_matched(pb)
    now = time.time()
    stream([(pa, now), (pb, now)], 2.0)
    assert ros.wait_for(lambda: len(alarms_of(alarms)) == 2, 5)
    assert ros.wait_for(lambda: active and len(read_active_alarms(active[-1].data)['alarms']) == 2, 5)
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert ros.wait_for(lambda: len(alarms_of(alarms)) == 4, 5)
    cleared = [read_alarm(m.data) for m in alarms][2:]
    assert {(d['state'], d['camera'], d['reason']) for d in cleared} == {
        ('cleared', '/a/depth', 'recognizer deactivated'), ('cleared', '/b/depth', 'recognizer deactivated')}
    assert ros.wait_for(lambda: read_active_alarms(active[-1].data)['alarms'] == [], 5)


def test_shutdown_clears_every_active_alarm(ros, fall_model):
    """The recognizer process is stopped as ros2 launch stops it (SIGINT) while an alarm is up: subscribers
    hear it cleared, and the latched state is left empty."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.Popen([sys.executable, '-m', 'depth_action_recognition.recognizer_node', '--ros-args',
                             '-p', f'model_path:={fall_model}', '-p', 'device:=cpu', '-p', 'stride:=1',
                             '-p', 'depth_topics:=[/shut/depth]', '-p', 'clear_after_s:=30.0'],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        alarms, active = ros.collect(String, '/action_alarms'), ros.collect(String, '/action_alarms/active', LATCHED)
        pub = ros.probe.create_publisher(Image, '/shut/depth', reliable_qos())
        ros.wait_matched(pub, timeout=60)
        stream([(pub, time.time())], 2.0)
        assert ros.wait_for(lambda: alarms_of(alarms) == [('raised', '/shut/depth')], 10), alarms_of(alarms)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert ros.wait_for(lambda: len(alarms) == 2, 5), alarms_of(alarms)
        assert read_alarm(alarms[-1].data)['state'] == 'cleared'
        assert read_alarm(alarms[-1].data)['reason'] == 'recognizer shutting down'
        assert ros.wait_for(lambda: read_active_alarms(active[-1].data)['alarms'] == [], 5)
    finally:
        proc.kill()
        proc.wait()
