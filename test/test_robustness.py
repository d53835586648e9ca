"""Bad input never takes the node down: fuzzed images, timestamp chaos, inference faults, and privacy."""
import ast
import json
import os
import subprocess
import sys
import time
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
        before = sum(node.cameras['/cam/depth'].dropped.values())
        node.depth_callback(msg, '/cam/depth')
        bad += sum(node.cameras['/cam/depth'].dropped.values()) > before
    cam = node.cameras['/cam/depth']
    assert cam.received == 200 and bad > 0
    assert set(cam.dropped) <= {'colour', 'encoding', 'size', 'step', 'truncated', 'oversized'}
    pub = ros.probe.create_publisher(Image, '/cam/depth', reliable_qos())
    ros.wait_matched(pub)
    t0 = time.time() + 1
    for i in range(40):
        pub.publish(depth_msg(np.full((24, 32), 2000, np.uint16), t0 + i / 30))
        time.sleep(1 / 30)
    assert ros.wait_for(lambda: len(events) >= 2, 10)


def test_timestamp_chaos_resets_and_recovers(ros, checkpoint):
    node = start(ros, checkpoint, stride=1, target_fps=30.0)
    frame = np.full((24, 32), 2000, np.uint16)
    now = time.time()
    stamps = [now - 5 + i / 30 for i in range(12)]              # fine
    stamps += [now - 6, now - 6, 0.0, now + 3600]                # backwards, repeated, zero, far future
    stamps += [now - 2 + i / 30 for i in range(12)]              # a long gap forward, then fine again
    for t in stamps:
        node.depth_callback(depth_msg(frame, t), '/cam/depth')
    buf = node.cameras['/cam/depth'].buffer
    assert buf.resets['stamp_backwards'] == 1 and buf.resets['gap'] == 1
    assert buf.dropped['repeated_stamp'] == 1 and buf.dropped['zero_stamp'] == 1 and buf.dropped['future_stamp'] == 1
    assert buf.clips >= 2                                        # clips again after each reset


def test_inference_exception_gives_error_diagnostic_and_node_keeps_running(ros, checkpoint):
    node = start(ros, checkpoint, stride=1, diagnostics_period_s=0.2)
    events = ros.collect(String, '/action_events')
    diags = ros.collect(DiagnosticArray, '/diagnostics')
    real = node.engine.infer
    calls = {'n': 0}

    def flaky(clips):             # fault injection: the first batch fails as a CUDA OOM would
        calls['n'] += 1
        if calls['n'] == 1:
            raise RuntimeError('CUDA out of memory (injected)')
        return real(clips)
    node.engine.infer = flaky
    frame = np.full((24, 32), 2000, np.uint16)
    t0 = time.time() - 3
    for i in range(60):
        node.depth_callback(depth_msg(frame, t0 + i / 30), '/cam/depth')
        time.sleep(0.01)
    assert ros.wait_for(lambda: len(events) >= 1, 10)

    def inference_status():
        for arr in reversed(diags):
            for s in arr.status:
                if s.name.endswith('inference'):
                    return s
    assert ros.wait_for(lambda: inference_status() is not None and inference_status().level == DiagnosticStatus.ERROR, 5)
    assert 'injected' in inference_status().message


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


def test_runtime_has_no_code_path_that_writes_files():
    """Static check: outside the offline synthetic tooling, no runtime module opens files for writing."""
    writers = {'imwrite', 'save', 'savez', 'savez_compressed', 'tofile', 'VideoWriter', 'write_bytes', 'write_text',
               'save_file', 'dump'}
    offenders = []
    for path in RUNTIME.rglob('*.py'):
        rel = path.relative_to(RUNTIME).as_posix()
        if rel.startswith('synthetic/') or rel in ('checkpoint.py', 'monitor.py'):
            continue      # offline dataset tools; checkpoint *saving* (training); the --report-json option
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', '')
                if name in writers:
                    offenders.append(f'{rel}:{node.lineno} {name}')
                if name == 'open' and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and \
                        any(c in str(node.args[1].value) for c in 'wax+'):
                    offenders.append(f'{rel}:{node.lineno} open(..., {node.args[1].value!r})')
    assert offenders == []
    subscriptions = []
    for path in RUNTIME.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, 'attr', '') == 'create_subscription':
                subscriptions.append((path.name, ast.unparse(node.args[0])))
    # Images are only ever subscribed to by the recognizer, and only as depth (the decoder rejects colour).
    assert ('recognizer_node.py', 'Image') in subscriptions
    assert {t for f, t in subscriptions if f != 'recognizer_node.py'} <= {'String', 'DiagnosticArray'}
    for path in RUNTIME.glob('*.py'):
        if path.name != 'depth.py':
            assert not any(f"'{c}'" in path.read_text() for c in ('rgb8', 'bgr8', 'rgba8', 'bgra8')), path


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
    pending_max = 0
    for i in range(300):                                                      # 2 s at 150 fps
        pub.publish(depth_msg(frame, t0 + i / 150))
        pending_max = max(pending_max, node.worker.pending())
        time.sleep(1 / 150)
    cam = node.cameras['/cam/depth']
    # every clip ends as an event or a counted skip (wait for the batch in flight)
    assert ros.wait_for(lambda: cam.buffer.clips == cam.events + node.worker.skipped['/cam/depth'], 5)
    assert pending_max <= 1                                                   # one slot per camera, never a queue
    assert node.worker.skipped['/cam/depth'] > 0
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
