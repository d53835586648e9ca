"""Bad input never takes the node down: fuzzed images, timestamp chaos, inference faults; nothing on disk."""
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String

from depth_action_recognition.depth import decode_depth
from depth_action_recognition.errors import DepthDecodeError
from depth_action_recognition.recognizer_node import RecognizerNode
from ros_helpers import RosHarness, depth_msg, reliable_qos
from fault_injection import FaultedModel

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / 'depth_action_recognition'

images = st.builds(
    lambda enc, h, w, step_extra, n_extra, big, fill: _image(enc, h, w, step_extra, n_extra, big, fill),
    st.sampled_from(['16UC1', 'mono16', '32FC1', 'rgb8', 'bgra8', '8UC1', '16SC1', 'garbage', '']),
    st.integers(0, 40), st.integers(0, 40), st.integers(-4, 6), st.integers(-50, 50), st.booleans(),
    st.sampled_from([0.0, np.nan, np.inf, -1.0, 1500.0]))


def _image(enc, h, w, step_extra, n_extra, big, fill):
    msg = Image()
    msg.encoding, msg.height, msg.width, msg.is_bigendian = enc, h, w, big
    msg.step = max(0, w * 2 + step_extra)
    n = max(0, h * msg.step + n_extra)
    raw = np.full(n // 4 + 1, fill, np.float32).tobytes()[:n]
    msg.data = raw
    return msg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images)
def test_decoder_raises_only_its_own_error(msg):
    try:
        img = decode_depth(msg)
    except DepthDecodeError as e:
        assert e.reason in {'colour', 'encoding', 'size', 'step', 'truncated', 'oversized'}
        return
    assert img.array.shape == (msg.height, msg.width)
    m = img.to_metres()
    assert np.all(np.isfinite(m)) and np.all(m >= 0)


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


def start(ros, checkpoint, **params):
    over = [Parameter('model_path', value=str(checkpoint)), Parameter('device', value='cpu'),
            Parameter('depth_topics', value=['/cam/depth'])] + [Parameter(k, value=v) for k, v in params.items()]
    return ros.add(RecognizerNode(context=ros.context, parameter_overrides=over))


def dropped(topic) -> dict:
    """Frames dropped on a topic by reason (resampling is not a drop)."""
    return {k[len('dropped_'):]: v for k, v in topic.counts().items() if k.startswith('dropped_') and v}


def test_fuzzed_messages_are_counted_and_the_node_keeps_serving(ros, checkpoint):
    node = start(ros, checkpoint, stride=2, diagnostics_period_s=0.2)
    events = ros.collect(String, '/action_events')
    rng = np.random.default_rng(0)
    t0 = time.time()
    bad = 0
    encodings = ['16UC1', 'mono16', '32FC1', 'rgb8', 'bgra8', '8UC1', 'garbage', '']
    for i in range(200):   # straight into the callback: every path of the real node, no DDS in between
        if i % 2:
            msg = _image(encodings[rng.integers(len(encodings))], int(rng.integers(0, 40)), int(rng.integers(0, 40)),
                         int(rng.integers(-4, 7)), int(rng.integers(-50, 51)), bool(rng.integers(2)),
                         float(rng.choice([0.0, np.nan, np.inf, -1.0, 1500.0])))
            msg.header.stamp.sec = int(t0)
        else:
            msg = depth_msg(rng.integers(0, 4000, (12, 16)).astype(np.uint16), t0 + i / 30)
        before = dropped(node.cameras['/cam/depth'])
        node.depth_callback(msg, '/cam/depth')
        bad += sum(dropped(node.cameras['/cam/depth']).values()) > sum(before.values())
    cam = node.cameras['/cam/depth']
    assert cam.received == 200 and bad > 0
    assert set(dropped(cam)) <= {'colour', 'encoding', 'size', 'step', 'truncated', 'oversized'}
    # Damaged frames of the known 12x16 source (viewed through its WireLayout, not decoded field by field),
    # stamped to be sampled: each is refused for what is wrong with it, on that source.
    src = cam.sources['cam', '16UC1', 12, 16]
    for i, (data, step, reason) in enumerate(((bytes(383), 32, 'truncated'), (bytes(386), 32, 'oversized'),
                                              (bytes(12 * 34), 34, None), (bytes(12 * 30), 30, 'step'))):
        msg = depth_msg(np.zeros((12, 16), np.uint16), t0 + 7 + i / 5)
        msg.data, msg.step = data, step
        before = src.dropped.copy()
        node.depth_callback(msg, '/cam/depth')
        assert src.dropped - before == (Counter({reason: 1}) if reason else Counter()), (reason, src.dropped)
    pub = ros.probe.create_publisher(Image, '/cam/depth', reliable_qos())
    ros.wait_matched(pub)
    t0 = time.time() + 1
    for i in range(40):
        pub.publish(depth_msg(np.full((24, 32), 2000, np.uint16), t0 + i / 30))
        time.sleep(1 / 30)
    assert ros.wait_for(lambda: len(events) >= 2, 10)


def test_a_source_whose_arrival_failed_half_way_still_serves_its_later_frames(ros, checkpoint):
    """A new source is stored before the rest of its arrival (evicting another, publishing the clearing of the
    evicted one's alarms) runs; if that rest fails, the frame is counted as an error, and the source must
    still be whole: its later frames sampled and buffered like any other's, not each dropped as an error."""
    node = start(ros, checkpoint, stride=2, max_sources_per_topic=1)
    cam, t0 = node.cameras['/cam/depth'], time.time()
    frame = np.full((12, 16), 1500, np.uint16)
    node.depth_callback(depth_msg(frame, t0, frame_id='a'), '/cam/depth')
    forget = node.policy.forget                 # called on eviction only (the timer never reaches it)

    def fail_once(*args):
        node.policy.forget = forget
        raise RuntimeError('alarm state gone')
    node.policy.forget = fail_once              # the eviction of 'a' by 'b' fails after 'b' is stored
    node.depth_callback(depth_msg(frame, t0 + 0.1, frame_id='b'), '/cam/depth')
    assert cam.dropped == Counter({'error': 1}) and node.policy.forget == forget
    for i in range(1, 40):
        node.depth_callback(depth_msg(frame, t0 + 0.1 + i / 30, frame_id='b'), '/cam/depth')
    b = cam.sources['b', '16UC1', 12, 16]
    assert not b.dropped and b.received == 39 and b.buffer.accepted >= 12 and b.buffer.clips >= 1, b.counts()


def test_timestamp_chaos_resets_and_recovers(ros, checkpoint):
    node = start(ros, checkpoint, stride=1, target_fps=30.0)
    frame = np.full((24, 32), 2000, np.uint16)
    now = time.time()
    stamps = [now - 5 + i / 30 for i in range(12)]              # fine
    stamps += [now - 6, now - 6, 0.0, now + 3600]                # backwards, repeated, zero, far future
    stamps += [now - 2 + i / 30 for i in range(12)]              # a long gap forward, then fine again
    for t in stamps:
        node.depth_callback(depth_msg(frame, t), '/cam/depth')
    (src,) = node.cameras['/cam/depth'].sources.values()
    buf = src.buffer
    assert buf.resets['stamp_backwards'] == 1 and buf.resets['gap'] == 1
    assert buf.dropped['repeated_stamp'] == 1 and buf.dropped['zero_stamp'] == 1 and src.dropped['future_stamp'] == 1
    assert buf.clips >= 2                                        # clips again after each reset


def test_a_preprocessing_failure_in_the_buffer_is_counted_once_and_the_node_serves_on(ros, checkpoint):
    node = start(ros, checkpoint, stride=1, target_fps=30.0)
    frame = np.full((24, 32), 2000, np.uint16)
    t0 = time.time() - 3
    node.depth_callback(depth_msg(frame, t0), '/cam/depth')
    (src,) = node.cameras['/cam/depth'].sources.values()
    finish = src.buffer.finish
    src.buffer.finish = lambda frames: 1 / 0                    # the next batch fails below the node
    for i in range(1, 9):                                       # max_pending 8: the batch of 8 fails
        node.depth_callback(depth_msg(frame, t0 + i / 30), '/cam/depth')
    src.buffer.finish = finish
    counts = node.cameras['/cam/depth'].counts()
    assert counts['dropped_finish_error'] == 8 and counts['resets_finish_error'] == 1
    assert counts['dropped_error'] == 0                         # not counted a second time by the node
    for i in range(9, 9 + 20):                                  # and it goes on making clips
        node.depth_callback(depth_msg(frame, t0 + i / 30), '/cam/depth')
    assert src.buffer.clips >= 1


def inference_status(diags):
    for arr in reversed(diags):
        for s in arr.status:
            if s.name.endswith('inference'):
                return s


def feed(node, n=60, t0=None):
    frame = np.full((24, 32), 2000, np.uint16)
    t0 = time.time() - 3 if t0 is None else t0
    for i in range(n):
        node.depth_callback(depth_msg(frame, t0 + i / 30), '/cam/depth')
        time.sleep(0.01)
    return t0 + n / 30


def test_cuda_fault_below_the_engine_moves_inference_to_a_cpu_copy(ros, checkpoint):
    """The model itself faults as a CUDA device does (forward and moving its weights both raise): the
    worker reloads the model from its file onto the CPU and events go on; /diagnostics says what happened."""
    node = start(ros, checkpoint, stride=1, diagnostics_period_s=0.2)
    events = ros.collect(String, '/action_events')
    diags = ros.collect(DiagnosticArray, '/diagnostics')
    faulted = node.engine.model = FaultedModel(node.engine.model)
    feed(node)
    assert ros.wait_for(lambda: len(events) >= 3, 10)
    assert faulted.calls == 1 and node.worker.fell_back and node.worker.alive
    assert ros.wait_for(lambda: (inference_status(diags) is not None
                                 and {kv.key: kv.value for kv in inference_status(diags).values}.get(
                                     'cpu_fallback_active') == 'True'), 5)
    status = inference_status(diags)
    assert status.level == DiagnosticStatus.ERROR and 'illegal memory access' in status.message


def test_dead_inference_worker_turns_diagnostics_to_error(ros, checkpoint, tmp_path):
    """The model file is gone when a device fault needs it: the worker cannot go on, and says so."""
    model = tmp_path / 'served.safetensors'
    shutil.copy(checkpoint, model)
    node = start(ros, model, stride=1, diagnostics_period_s=0.2)
    events = ros.collect(String, '/action_events')
    diags = ros.collect(DiagnosticArray, '/diagnostics')
    node.engine.model = FaultedModel(node.engine.model)
    model.unlink()
    t = feed(node, 30)
    assert ros.wait_for(lambda: node.worker is not None and not node.worker.alive, 10)
    assert ros.wait_for(lambda: inference_status(diags) is not None
                        and 'inference stopped' in inference_status(diags).message, 5)
    status = inference_status(diags)
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.ERROR and values['worker'] == 'stopped'
    assert 'model file not found' in status.message and events == []
    feed(node, 10, t0=t)                       # frames still arrive and are counted; nothing raises
    assert node.cameras['/cam/depth'].received == 40


def test_runtime_writes_nothing_to_disk(tmp_path, checkpoint):
    """The node runs in an empty directory with an empty HOME; afterwards both are still empty."""
    work, home = tmp_path / 'work', tmp_path / 'home'
    work.mkdir()
    home.mkdir()
    env = dict(os.environ, HOME=str(home), ROS_HOME=str(home / '.ros'), ROS_LOG_DIR=str(home / '.ros' / 'log'),
               PYTHONDONTWRITEBYTECODE='1')
    code = f'''
import time, numpy as np, rclpy, sys
sys.path.insert(0, {str(ROOT / "test")!r})
from rclpy.parameter import Parameter
from depth_action_recognition.recognizer_node import RecognizerNode
from ros_helpers import depth_msg
rclpy.init()
node = RecognizerNode(parameter_overrides=[Parameter('model_path', value={str(checkpoint)!r}),
                      Parameter('device', value='cpu'), Parameter('stride', value=1)])
t0 = time.time() - 5
for i in range(90):
    node.depth_callback(depth_msg(np.full((48, 64), 1500 + i, np.uint16), t0 + i / 30), '/camera/depth/image_raw')
time.sleep(1.0)
assert node.cameras['/camera/depth/image_raw'].events > 0
node.destroy_node(); rclpy.shutdown()
'''
    r = subprocess.run([sys.executable, '-c', code], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert list(work.iterdir()) == []
    written = [p for p in home.rglob('*') if p.is_file()]
    # ROS 2 itself writes its text log under ROS_LOG_DIR, as for every node; nothing else may appear, and the
    # log must be text (no frame ever ends up in it).
    logs = [p for p in written if p.parent == home / '.ros' / 'log' and p.suffix == '.log']
    assert written == logs, written
    for p in logs:
        p.read_bytes().decode('utf-8')
        assert p.stat().st_size < 64 * 1024


def test_bursts_stay_bounded_and_latest_wins(ros, checkpoint):
    """Frames at 5x the camera rate into a slow engine: queues stay bounded, old clips are skipped, not queued."""
    node = start(ros, checkpoint, stride=1, target_fps=150.0)
    events = ros.collect(String, '/action_events')
    real = node.engine.infer
    node.engine.infer = lambda clips: (time.sleep(0.1), real(clips))[1]      # inference slower than input
    pub = ros.probe.create_publisher(Image, '/cam/depth', reliable_qos())
    ros.wait_matched(pub)
    frame = np.full((48, 64), 2000, np.uint16)
    t0 = time.time()
    for i in range(300):                                                      # 2 s at 150 fps
        pub.publish(depth_msg(frame, t0 + i / 150))
        time.sleep(1 / 150)
    cam = node.cameras['/cam/depth']
    # every clip ends as an event or a counted skip (wait for the batch in flight): nothing is queued
    assert ros.wait_for(lambda: cam.clips == cam.events + cam.skipped, 5)
    assert cam.skipped > 0 and cam.events > 0
    assert ros.wait_for(lambda: len(events) == cam.events, 5)


def test_camera_process_killed_and_restarted(ros, checkpoint, tmp_path):
    """A camera driver dies (SIGKILL) and comes back: the node serves it again and never stopped serving the other."""
    import signal
    start(ros, checkpoint, stride=3, depth_topics=['/a/depth', '/b/depth'])
    events = ros.collect(String, '/action_events')
    pub_b = ros.probe.create_publisher(Image, '/b/depth', reliable_qos())

    def camera_a():
        return subprocess.Popen([sys.executable, '-m', 'depth_action_recognition.camera_sim_node', '--ros-args',
                                 '-p', 'topics:=[/a/depth]', '-p', 'ground_truth_topic:=/a/gt', '-p', 'fps:=30.0'],
                                env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def count(cam):
        return sum(json.loads(e.data)['camera'] == cam for e in list(events))

    frame = np.full((24, 32), 2000, np.uint16)
    t_b = [time.time()]

    def feed_b(seconds):
        end = time.time() + seconds
        while time.time() < end:
            t_b[0] += 1 / 30
            pub_b.publish(depth_msg(frame, t_b[0]))
            time.sleep(1 / 30)

    proc = camera_a()
    try:
        ros.wait_matched(pub_b)
        feed_b(6)
        assert count('/a/depth') > 0 and count('/b/depth') > 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        b_before = count('/b/depth')
        feed_b(2)
        a_after_kill = count('/a/depth')
        assert count('/b/depth') > b_before                                   # the other camera kept going
        proc = camera_a()
        feed_b(7)
        assert count('/a/depth') > a_after_kill                              # the restarted camera is served again
    finally:
        proc.kill()
        proc.wait(10)
