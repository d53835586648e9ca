"""The simulated camera node publishes valid depth frames and ground truth that follows its playlist."""
import json
import time

import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String

from depth_action_recognition.camera_sim_node import CameraSimNode
from depth_action_recognition.depth import decode_depth
from depth_action_recognition.errors import ConfigError
from ros_helpers import RosHarness, reliable_qos


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


def test_frames_and_ground_truth_follow_the_playlist(ros):
    frames0, frames1 = ros.collect(Image, '/sim0/depth', reliable_qos(200)), ros.collect(Image, '/sim1/depth', reliable_qos(200))
    gt = ros.collect(String, '/sim/ground_truth')
    node = ros.add(CameraSimNode(context=ros.context, parameter_overrides=[
        Parameter('topics', value=['/sim0/depth', '/sim1/depth']), Parameter('ground_truth_topic', value='/sim/ground_truth'),
        Parameter('fps', value=20.0), Parameter('playlist', value=['waving:1.0', 'falling_down:1.0']),
        Parameter('loop', value=False), Parameter('frame_id', value='sim_optical')]))
    assert ros.wait_for(lambda: node.finished, 10)
    time.sleep(0.3)
    # 2 s of playlist at 20 fps: 40 frames on an idle machine; the playlist runs on the wall clock, so a busy
    # machine gets fewer frames over the same two seconds, never a longer playlist
    assert 20 <= len(frames0) <= 44 and abs(len(frames0) - len(frames1)) <= 2
    img = decode_depth(frames0[5])
    assert img.array.shape == (120, 160) and img.encoding == '16UC1' and frames0[5].header.frame_id == 'sim_optical'
    assert (img.array > 0).mean() > 0.5
    stamps = [f.header.stamp.sec + f.header.stamp.nanosec * 1e-9 for f in frames0]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    docs = [json.loads(m.data) for m in gt if json.loads(m.data)['camera'] == '/sim0/depth']
    labels = [d['label'] for d in docs]
    first_fall = labels.index('falling_down')
    assert set(labels[:first_fall]) == {'waving'} and set(labels[first_fall:]) == {'falling_down'}
    assert docs[first_fall]['alarm'] and not docs[0]['alarm']
    t_switch = docs[first_fall]['stamp']['sec'] + docs[first_fall]['stamp']['nanosec'] * 1e-9
    assert abs(t_switch - stamps[0] - 1.0) < 0.15 and abs(stamps[-1] - stamps[0] - 2.0) < 0.2


@pytest.mark.parametrize('name,value,match', [('fps', 0.0, 'fps'), ('playlist', ['flying:3'], 'flying'),
                                              ('scenario', 'chaos', 'scenario'), ('view', 9, 'view'),
                                              ('world', 3, 'world rounds')])
def test_bad_parameters_name_the_culprit(ros, name, value, match):
    with pytest.raises(ConfigError, match=match):
        CameraSimNode(context=ros.context, parameter_overrides=[Parameter(name, value=value)])


def test_the_world_round_parameter_reaches_every_camera(ros):
    nodes = [CameraSimNode(context=ros.context, parameter_overrides=over)
             for over in ([], [Parameter('world', value=4), Parameter('topics', value=['/w0/depth', '/w1/depth'])])]
    try:
        assert [c.scenario.world for c in nodes[0].cameras] == [5]                   # the newest round by default
        assert [c.scenario.world for c in nodes[1].cameras] == [4, 4]
    finally:
        for node in nodes:
            node.destroy_node()
