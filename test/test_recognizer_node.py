"""End to end over real rclpy + Fast DDS: depth frames in, events, alarms and diagnostics out."""
import json
from pathlib import Path
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from conftest import make_checkpoint
from depth_action_recognition.errors import ConfigError
from depth_action_recognition.events import ALARM_KEYS, EVENT_KEYS, EVENT_SCHEMA
from depth_action_recognition.recognizer_node import LifecycleRecognizerNode, RecognizerNode
from ros_helpers import RosHarness, depth_msg, reliable_qos


@pytest.fixture
def ros():
    h = RosHarness()
    yield h
    h.close()


def start_recognizer(ros, model, **params):
    overrides = [Parameter('model_path', value=str(model)), Parameter('device', value='cpu')]
    overrides += [Parameter(k, value=v) for k, v in params.items()]
    return ros.add(RecognizerNode(context=ros.context, parameter_overrides=overrides))


def person_frames(n, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.full((n, h, w), 3000, np.uint16)
    for i in range(n):
        x = 10 + i % 30
        frames[i, 10:40, x:x + 12] = 1500 + rng.integers(0, 20, (30, 12))
    return frames


def matched_publishers(ros, *topics):
    """Reliable depth publishers on ``topics``, each matched by the recognizer's subscription."""
    pubs = [ros.probe.create_publisher(Image, t, reliable_qos()) for t in topics]
    for pub in pubs:
        ros.wait_matched(pub)
    return pubs


def publish_stream(ros, pub, frames, *, fps=30.0, t0=None, frame_id='cam', realtime=True, encoding='16UC1'):
    t0 = time.time() if t0 is None else t0
    for i, f in enumerate(frames):
        pub.publish(depth_msg(f, t0 + i / fps, frame_id=frame_id, encoding=encoding))
        if realtime:
            time.sleep(1.0 / fps)
    return t0


def test_events_arrive_with_every_schema_field(ros, checkpoint):
    node = start_recognizer(ros, checkpoint, depth_topics=['/cam0/depth'], stride=2)
    events = ros.collect(String, '/action_events')
    pub = ros.probe.create_publisher(Image, '/cam0/depth', reliable_qos())
    ros.wait_matched(pub)
    # 10 fps sampling of a 30 fps stream: 8-frame clips need 24 frames, then one more clip every 6.
    publish_stream(ros, pub, person_frames(60), frame_id='depth_optical')
    assert ros.wait_for(lambda: len(events) >= 3, 10), f'only {len(events)} events'
    ev = json.loads(events[0].data)
    assert set(ev) == EVENT_KEYS
    assert ev['schema'] == EVENT_SCHEMA
    assert ev['camera'] == '/cam0/depth' and ev['frame_id'] == 'depth_optical'
    assert ev['label'] in node.labels and node.labels[ev['label_id']] == ev['label']
    assert ev['window']['frames'] == 8 and ev['window']['end'] > ev['window']['start']
    assert set(ev['stamp']) == {'sec', 'nanosec'}
    assert len(ev['top_k']) == 3 and ev['top_k'][0]['label'] == ev['label']
    assert 0 <= ev['score'] <= 1 and ev['latency_ms'] >= 0
    assert ev['model'].startswith('test-student@')
    assert abs(ev['window']['end'] - (ev['stamp']['sec'] + ev['stamp']['nanosec'] * 1e-9)) < 1e-3
    # Nothing that could hold pixels or an embedding: small documents of scalars, one short list.
    for e in events:
        doc = json.loads(e.data)
        assert len(e.data) < 1024
        leaves = list(_leaves(doc))
        assert all(isinstance(v, (str, int, float, bool)) for v in leaves) and len(leaves) <= 30


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        assert len(value) <= 3, value          # top_k is the only list, at most top_k long
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_alarm_raised_and_cleared(ros, tmp_path):
    model = make_checkpoint(tmp_path / 'fall.safetensors', bias_label='falling_down')
    start_recognizer(ros, model, depth_topics=['/cam0/depth'], stride=1, alarm_k=2, alarm_n=3, smooth_clips=1,
                     clear_after_s=0.5, cooldown_s=0.0)
    events, alarms = ros.collect(String, '/action_events'), ros.collect(String, '/action_alarms')
    pub = ros.probe.create_publisher(Image, '/cam0/depth', reliable_qos())
    ros.wait_matched(pub)
    publish_stream(ros, pub, person_frames(40))
    assert ros.wait_for(lambda: any(json.loads(a.data)['state'] == 'raised' for a in alarms), 10)
    raised = json.loads(alarms[0].data)
    assert set(raised) == ALARM_KEYS and raised['label'] == 'falling_down' and raised['camera'] == '/cam0/depth'
    assert any(json.loads(e.data)['alarm'] for e in events)
    # The camera goes quiet: the expiry timer clears the alarm.
    assert ros.wait_for(lambda: any(json.loads(a.data)['state'] == 'cleared' for a in alarms), 5)


def test_with_the_default_smoothing_the_first_clip_of_a_run_does_not_raise(ros, tmp_path):
    # Defaults: the mean of 2 clips, raise on 1 of 1. A model certain of falling_down from the first clip on
    # raises on the second clip, not the first, and the reason says the score is a mean.
    model = make_checkpoint(tmp_path / 'fall.safetensors', bias_label='falling_down')
    start_recognizer(ros, model, depth_topics=['/cam0/depth'], stride=1)
    events, alarms = ros.collect(String, '/action_events'), ros.collect(String, '/action_alarms')
    pub = ros.probe.create_publisher(Image, '/cam0/depth', reliable_qos())
    ros.wait_matched(pub)
    publish_stream(ros, pub, person_frames(40))
    assert ros.wait_for(lambda: any(json.loads(a.data)['state'] == 'raised' for a in alarms), 10)
    assert ros.wait_for(lambda: len(events) >= 2, 5)
    first, second = (json.loads(e.data) for e in events[:2])
    raised = json.loads(alarms[0].data)
    assert first['label'] == 'falling_down' and first['score'] > 0.9 and not first['alarm']
    assert second['alarm'] and raised['stamp'] == second['stamp']
    assert raised['reason'] == 'falling_down won with score >= 0.6 (mean of 2 clips) in 1 of the last 1 clips'


def test_two_cameras_share_batches(ros, checkpoint):
    node = start_recognizer(ros, checkpoint, depth_topics=['/a/depth', '/b/depth'], stride=1)
    events = ros.collect(String, '/action_events')
    pa, pb = matched_publishers(ros, '/a/depth', '/b/depth')
    # Slow the engine down so both cameras' clips are pending when the worker wakes up.
    infer = node.engine.infer
    node.engine.infer = lambda clips: (time.sleep(0.05), infer(clips))[1]
    t0 = time.time()
    frames = person_frames(45)
    for i, f in enumerate(frames):
        pa.publish(depth_msg(f, t0 + i / 30))
        pb.publish(depth_msg(f, t0 + i / 30))
        time.sleep(1 / 30)
    assert ros.wait_for(lambda: {json.loads(e.data)['camera'] for e in events} == {'/a/depth', '/b/depth'}, 10)
    assert ros.wait_for(lambda: any(size >= 2 for size in node.batch_sizes), 5), dict(node.batch_sizes)


def test_an_extend_model_serves_a_4_3_and_a_16_9_camera_side_by_side(ros, tmp_path):
    """Under fit 'extend' the 16:9 camera's clips are wider than the 4:3 one's: each camera gets its events, the
    wide clips reach the model at the frame's aspect, and no batch fails for mixing the two."""
    from depth_action_recognition.preprocess import PreprocessSpec
    model = make_checkpoint(tmp_path / 'wide.safetensors',
                            spec=PreprocessSpec(height=24, width=32, frames=8, fps=10.0, crop='extend'))
    node = start_recognizer(ros, model, depth_topics=['/a/depth', '/b/depth'], stride=1)
    events = ros.collect(String, '/action_events')
    pa, pb = matched_publishers(ros, '/a/depth', '/b/depth')
    shapes = []
    infer = node.engine.infer
    node.engine.infer = lambda clips: (shapes.append(clips.shape[1:]), time.sleep(0.05), infer(clips))[2]
    t0 = time.time()
    four_three, wide = person_frames(45), person_frames(45, h=45, w=80, seed=1)     # 4:3 and 16:9
    for i in range(45):
        pa.publish(depth_msg(four_three[i], t0 + i / 30))
        pb.publish(depth_msg(wide[i], t0 + i / 30))
        time.sleep(1 / 30)
    assert ros.wait_for(lambda: {json.loads(e.data)['camera'] for e in events} == {'/a/depth', '/b/depth'}, 10)
    assert {(8, 24, 32), (8, 24, 43)} <= set(shapes)
    assert node.infer_errors == 0 and not node.last_error


def test_malformed_frames_are_counted_while_serving(ros, checkpoint):
    start_recognizer(ros, checkpoint, depth_topics=['/cam0/depth'], stride=2, diagnostics_period_s=0.2)
    events = ros.collect(String, '/action_events')
    diags = ros.collect(DiagnosticArray, '/diagnostics')
    pub = ros.probe.create_publisher(Image, '/cam0/depth', reliable_qos())
    ros.wait_matched(pub)
    t0 = time.time()
    bad = depth_msg(np.zeros((48, 64), np.uint16), t0)
    bad.data = bytes(100)                 # truncated
    pub.publish(bad)
    colour = depth_msg(np.zeros((48, 64), np.uint16), t0)
    colour.encoding = 'rgb8'              # colour is never accepted
    pub.publish(colour)
    publish_stream(ros, pub, person_frames(45), t0=t0 + 0.1)
    assert ros.wait_for(lambda: len(events) >= 2, 10)

    def camera_status():
        for arr in reversed(diags):
            for st in arr.status:
                if st.name.endswith('/cam0/depth'):
                    return {kv.key: kv.value for kv in st.values}
        return {}
    assert ros.wait_for(lambda: camera_status().get('frames_received') == '47', 5), camera_status()
    status = camera_status()
    assert status['dropped_truncated'] == '1' and status['dropped_colour'] == '1'
    assert status['frames_dropped'] == '2'


def test_auto_reliability_matches_best_effort_publisher(ros, checkpoint):
    node = start_recognizer(ros, checkpoint, depth_topics=['/cam0/depth'], stride=2)
    events = ros.collect(String, '/action_events')
    pub = ros.probe.create_publisher(Image, '/cam0/depth', qos_profile_sensor_data)
    assert ros.wait_for(lambda: node.cameras['/cam0/depth'].reliability == 'best_effort', 5)
    ros.wait_matched(pub)
    publish_stream(ros, pub, person_frames(45))
    assert ros.wait_for(lambda: len(events) >= 2, 10)


def test_subscribes_to_depth_only_and_publishes_only_its_outputs(ros, checkpoint):
    node = start_recognizer(ros, checkpoint, depth_topics=['/cam0/depth', '/cam1/depth'])
    ros.probe.create_publisher(Image, '/camera/color/image_raw', reliable_qos())   # a colour topic exists
    time.sleep(0.5)

    def of_node(info):
        return {name: types for name, types in node.get_topic_names_and_types()
                if any(i.node_name == node.get_name() for i in info(name))}
    subscribed, published = of_node(node.get_subscriptions_info_by_topic), of_node(node.get_publishers_info_by_topic)
    assert set(subscribed) - {'/parameter_events'} == {'/cam0/depth', '/cam1/depth'}
    assert subscribed['/cam0/depth'] == ['sensor_msgs/msg/Image']
    assert set(published) - {'/parameter_events', '/rosout'} == {
        '/action_events', '/action_alarms', '/action_alarms/active', '/diagnostics'}


def test_runtime_reconfiguration_is_validated(ros, checkpoint):
    node = start_recognizer(ros, checkpoint)
    ok = node.set_parameters([Parameter('score_threshold', value=0.8), Parameter('alarm_k', value=1)])
    assert all(r.successful for r in ok)
    assert node.policy.config.threshold == 0.8 and node.policy.config.k == 1
    bad = node.set_parameters([Parameter('alarm_labels', value=['not_a_label'])])
    assert not bad[0].successful and 'not_a_label' in bad[0].reason
    bad = node.set_parameters([Parameter('alarm_k', value=5)])
    assert not bad[0].successful and 'alarm_k' in bad[0].reason
    bad = node.set_parameters([Parameter('score_threshold', value=1.5)])           # refused by its range
    assert not bad[0].successful and node.policy.config.threshold == 0.8
    fixed = node.set_parameters([Parameter('stride', value=3)])
    assert not fixed[0].successful and 'read-only' in fixed[0].reason
    assert node.get_parameter('stride').value == 5


def test_parameter_descriptors_carry_ranges_and_read_only(ros, checkpoint):
    node = start_recognizer(ros, checkpoint)
    d = {p.name: p for p in node.describe_parameters(['score_threshold', 'alarm_k', 'stride', 'clear_after_s',
                                                      'model_path', 'alarm_labels'])}
    r = d['score_threshold'].floating_point_range[0]
    assert (r.from_value, r.to_value) == (0.0, 1.0) and not d['score_threshold'].read_only
    assert d['alarm_k'].integer_range[0].from_value == 1 and not d['alarm_k'].read_only
    assert d['stride'].integer_range[0].from_value == 1 and d['stride'].read_only
    assert d['clear_after_s'].floating_point_range[0].from_value > 0
    assert d['model_path'].read_only and not d['alarm_labels'].read_only
    assert all(p.description for p in d.values())
    lc = ros.add(LifecycleRecognizerNode(context=ros.context, node_name='lc_describe'))
    # The lifecycle node takes new fixed parameters between cleanup and configure: not read-only there.
    assert not lc.describe_parameters(['stride'])[0].read_only
    assert lc.describe_parameters(['stride'])[0].integer_range[0].from_value == 1


@pytest.mark.parametrize('name,value', [('score_threshold', 1.5), ('stride', 0), ('qos_depth', 1000)])
def test_out_of_range_parameter_at_startup_is_named(ros, checkpoint, name, value):
    with pytest.raises(ConfigError, match=f"parameter '{name}'"):
        RecognizerNode(context=ros.context, parameter_overrides=[
            Parameter('model_path', value=str(checkpoint)), Parameter('device', value='cpu'),
            Parameter(name, value=value)])


def test_lifecycle_configure_activate_deactivate(ros, checkpoint, tmp_path):
    node = ros.add(LifecycleRecognizerNode(context=ros.context, parameter_overrides=[
        Parameter('model_path', value=str(tmp_path / 'missing.safetensors')), Parameter('device', value='cpu'),
        Parameter('depth_topics', value=['/lc/depth']), Parameter('stride', value=2)]))
    from rclpy.lifecycle import TransitionCallbackReturn
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE          # missing model: stays unconfigured
    assert node.set_parameters([Parameter('model_path', value=str(checkpoint))])[0].successful
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert not node.get_subscriptions_info_by_topic('/lc/depth')                 # configured, not subscribed
    events = ros.collect(String, '/action_events')
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    pub = ros.probe.create_publisher(Image, '/lc/depth', reliable_qos())
    ros.wait_matched(pub)
    publish_stream(ros, pub, person_frames(40))
    assert ros.wait_for(lambda: len(events) >= 1, 10)
    (source,) = node.cameras['/lc/depth'].sources.values()
    assert len(source.buffer) > 0
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert len(source.buffer) == 0 and source.clock.stamp is None                # buffers and clocks cleared
    assert ros.wait_for(lambda: pub.get_subscription_count() == 0, 5)
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.loaded is None


def test_label_preset_checks_the_model_and_sets_alarms(ros, tmp_path):
    import yaml
    root = Path(__file__).resolve().parents[1] / 'config' / 'labels'
    preset = yaml.safe_load((root / 'ntu60.yaml').read_text())
    model = make_checkpoint(tmp_path / 'ntu.safetensors', labels=preset['labels'], alarms=['falling'])

    def node_with(name, **params):
        return start_recognizer(ros, model, **params) if name is None else RecognizerNode(
            context=ros.context, node_name=name, parameter_overrides=[
                Parameter('model_path', value=str(model)), Parameter('device', value='cpu')]
            + [Parameter(k, value=v) for k, v in params.items()])

    node = node_with(None, labels_file=str(root / 'ntu60.yaml'))
    assert list(node.policy.config.alarm_labels) == preset['alarm_labels']
    with pytest.raises(ConfigError, match="'labels_file'.*120 labels"):
        node_with('wrong_preset', labels_file=str(root / 'ntu120.yaml'))
    # alarm_labels set: it wins, and the preset is still checked against the model.
    with pytest.raises(ConfigError, match="'labels_file'.*120 labels"):
        node_with('wrong_preset_with_alarms', labels_file=str(root / 'ntu120.yaml'), alarm_labels=['falling'])
    chosen = ros.add(node_with('chosen', labels_file=str(root / 'ntu60.yaml'), alarm_labels=['falling']))
    assert chosen.policy.config.alarm_labels == ('falling',)
    # A preset that lists no alarms means no alarms, not "the model's alarms".
    quiet = tmp_path / 'quiet.yaml'
    quiet.write_text(yaml.safe_dump({'labels': preset['labels'], 'alarm_labels': []}))
    silent = ros.add(node_with('silent', labels_file=str(quiet)))
    assert silent.policy.config.alarm_labels == ()
    # Set to an empty list (it can be, at runtime): no alarms either.
    assert node.set_parameters([Parameter('alarm_labels', Parameter.Type.STRING_ARRAY, [])])[0].successful
    assert node.policy.config.alarm_labels == ()


def test_foreign_stream_on_a_camera_topic_does_not_stop_recognition(ros, checkpoint):
    """A second publisher on the camera's topic sends 32FC1 frames of another size, on its own clock, between
    every two genuine frames. The genuine stream's events go on at the rate of a topic without intruder."""
    node = start_recognizer(ros, checkpoint, depth_topics=['/alone/depth', '/mixed/depth'], stride=2,
                            diagnostics_period_s=0.2)
    events, diags = ros.collect(String, '/action_events'), ros.collect(DiagnosticArray, '/diagnostics')
    alone = ros.probe.create_publisher(Image, '/alone/depth', reliable_qos())
    mixed = ros.probe.create_publisher(Image, '/mixed/depth', reliable_qos())
    intruder = ros.probe.create_publisher(Image, '/mixed/depth', reliable_qos())
    for p in (alone, mixed, intruder):
        ros.wait_matched(p)
    frames = person_frames(120)
    foreign = np.full((30, 40), 2.5, np.float32)
    t0 = time.time()
    for i, f in enumerate(frames):                      # 4 s at 30 fps, genuine and foreign 1:1
        alone.publish(depth_msg(f, t0 + i / 30, frame_id='cam'))
        mixed.publish(depth_msg(f, t0 + i / 30, frame_id='cam'))
        intruder.publish(depth_msg(foreign, t0 - 1000 + i / 30, frame_id='cam', encoding='32FC1'))
        time.sleep(1 / 30)

    def genuine(topic):          # events of the genuine stream: stamped on its clock, not the intruder's
        docs = [json.loads(e.data) for e in list(events)]
        return sum(d['camera'] == topic and d['stamp']['sec'] >= int(t0) for d in docs)
    # 120 frames sampled at 10 fps: 40; clips of 8 every 2: 17 per stream
    assert ros.wait_for(lambda: genuine('/alone/depth') >= 17, 10), genuine('/alone/depth')
    ros.wait_for(lambda: genuine('/mixed/depth') >= 17, 3)
    assert genuine('/mixed/depth') >= 0.9 * genuine('/alone/depth')
    cam = node.cameras['/mixed/depth']
    assert len(cam.sources) == 2
    assert not cam.sources[('cam', '16UC1', 48, 64)].buffer.resets

    def statuses():
        return {s.name: {kv.key: kv.value for kv in s.values} for s in (diags[-1].status if diags else [])}
    assert ros.wait_for(lambda: sum('/mixed/depth source' in n for n in statuses()) == 2, 5), list(statuses())
    status = statuses()
    assert status[f'{node.get_name()}: /mixed/depth']['sources'] == '2'
    foreign_status = status[f'{node.get_name()}: /mixed/depth source cam 32FC1 40x30']
    assert int(foreign_status['frames_received']) >= 100 and foreign_status['encoding'] == '32FC1'
    assert sum('/alone/depth source' in n for n in status) == 1


def test_event_scores_are_the_mean_of_the_last_two_clips_of_a_run(ros, tmp_path):
    # Two recognizers side by side on copies of one stream: /raw scores each clip alone, /smooth averages two.
    # A 2 s hole in the stamps (over max_gap_s) restarts the clip buffers: the next clip is not averaged over it.
    from conftest import LABELS
    checkpoint = make_checkpoint(tmp_path / 'decisive.safetensors', head_gain=50.0)
    for topic, smooth in (('/raw/depth', 1), ('/smooth/depth', 2)):
        start_recognizer(ros, checkpoint, depth_topics=[topic], stride=2, smooth_clips=smooth, top_k=len(LABELS))
    events = ros.collect(String, '/action_events')
    pubs = matched_publishers(ros, '/raw/depth', '/smooth/depth')
    # Depth noise of a brightness that drifts: clips the untrained network scores apart.
    rng = np.random.default_rng(3)
    frames = (rng.integers(500, 6000, (120, 48, 64)) * np.linspace(0.2, 1.0, 120)[:, None, None]).astype(np.uint16)
    t0 = time.time()
    hole = t0 + 60 / 30.0 + 1.0                    # stamps after it belong to the second run
    for i, f in enumerate(frames):
        stamp = t0 + i / 30.0 + (2.0 if i >= 60 else 0.0)
        for pub in pubs:
            pub.publish(depth_msg(f, stamp))
        time.sleep(1.0 / 30.0)

    def of(camera):
        docs = [json.loads(e.data) for e in list(events)]
        return [(d['window']['end'], np.array([dict((k['label'], k['score']) for k in d['top_k'])[label]
                                               for label in LABELS])) for d in docs if d['camera'] == camera]
    # 7 clips a run per camera (20 sampled frames, 8 a clip, one more every 2); a skipped clip makes fewer.
    # Wait for both cameras' events to stop coming.
    counts = []
    assert ros.wait_for(lambda: counts.append(len(events)) or (len(counts) > 25 and counts[-1] == counts[-26]
                                                                  and len(of('/smooth/depth')) >= 8), 20)
    raw = {round(end, 4): p for end, p in of('/raw/depth')}
    smooth = of('/smooth/depth')
    averaged, alone = 0, []
    for j, (end, p) in enumerate(smooth):
        if round(end, 4) not in raw:
            continue                                       # a clip the raw node skipped
        expected = raw[round(end, 4)]
        if j > 0 and (smooth[j - 1][0] > hole) == (end > hole):     # the clip before is of the same run
            prev = raw.get(round(smooth[j - 1][0], 4))
            if prev is None:
                continue
            expected = (prev + expected) / 2
            averaged += 1
        else:
            alone.append(end)
        np.testing.assert_allclose(p, expected, atol=3e-4)
    first_after_hole = min(end for end, _ in smooth if end > hole)
    assert averaged >= 4, averaged
    assert first_after_hole in alone, (first_after_hole, alone)     # the mean restarted after the hole
    # The averaging is visible: consecutive raw clips disagree by more than the rounding.
    ends = sorted(raw)
    assert max(np.abs(raw[a] - raw[b]).max() for a, b in zip(ends, ends[1:])) > 1e-2


def test_flip_average_scores_a_clip_as_the_mean_of_it_and_its_mirror_image(ros, tmp_path):
    # Three recognizers, each clip alone: /plain and /mirror without the option, fed a stream and its mirror image;
    # /flip with it, fed the stream. Each /flip event is the mean of the /plain and /mirror events of its window.
    from conftest import LABELS
    checkpoint = make_checkpoint(tmp_path / 'decisive.safetensors', head_gain=50.0)
    for topic, flip in (('/plain/depth', False), ('/mirror/depth', False), ('/flip/depth', True)):
        start_recognizer(ros, checkpoint, depth_topics=[topic], stride=2, smooth_clips=1, top_k=len(LABELS),
                         flip_average=flip)
    events = ros.collect(String, '/action_events')
    pubs = matched_publishers(ros, '/plain/depth', '/mirror/depth', '/flip/depth')
    rng = np.random.default_rng(5)
    frames = (rng.integers(500, 6000, (60, 48, 64)) * np.linspace(0.2, 1.0, 64)[None, None, :]).astype(np.uint16)
    t0 = time.time()
    for i, f in enumerate(frames):
        for pub, frame in zip(pubs, (f, f[:, ::-1], f)):
            pub.publish(depth_msg(np.ascontiguousarray(frame), t0 + i / 30.0))
        time.sleep(1.0 / 30.0)

    def of(camera):
        docs = [json.loads(e.data) for e in list(events)]
        return {round(d['window']['end'], 4): np.array([dict((k['label'], k['score']) for k in d['top_k'])[label]
                                                        for label in LABELS]) for d in docs if d['camera'] == camera}
    assert ros.wait_for(lambda: len(of('/flip/depth')) >= 4, 20)
    time.sleep(1.0)
    plain, mirror, flip = of('/plain/depth'), of('/mirror/depth'), of('/flip/depth')
    both = [end for end in flip if end in plain and end in mirror]
    assert len(both) >= 3, (sorted(flip), sorted(plain), sorted(mirror))
    for end in both:
        np.testing.assert_allclose(flip[end], (plain[end] + mirror[end]) / 2, atol=3e-4)
    # the mirror image is scored otherwise (a left-right gradient of depth), so the mean is not either one alone
    assert max(np.abs(plain[e] - mirror[e]).max() for e in both) > 1e-2
