"""The recognizer node: depth topics in, ``/action_events``, ``/action_alarms`` and ``/diagnostics`` out.

Thin wiring over the ROS-free core: ``depth.decode_depth`` -> ``ClipBuffer.admit`` ->
``preprocess_frame`` -> ``ClipBuffer.add`` on the executor thread (cheap, per frame), then an
``EngineWorker`` thread batches ready clips across cameras and publishes the results.
"""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from .checkpoint import load_checkpoint
from .clip_buffer import ClipBuffer
from .depth import decode_depth
from .engine import EngineWorker, InferenceEngine
from .node_main import spin_node
from .errors import ConfigError, DepthActionError, DepthDecodeError
from .events import AlarmConfig, AlarmPolicy, dumps, make_event
from .preprocess import preprocess_frame
from .resources import default_model_path
from .stats import Percentiles, RateMeter

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE, 'best_effort': ReliabilityPolicy.BEST_EFFORT}
# Frames larger than this do not survive a best-effort link on Fast DDS here (environment.md).
LARGE_FRAME_BYTES = 256 * 1024

_T = ParameterType
PARAMS = {  # name: (type, description); defaults are filled in from the model where it has one
    'depth_topics': (_T.PARAMETER_STRING_ARRAY, 'depth image topics (sensor_msgs/Image 16UC1, 32FC1 or mono16)'),
    'model_path': (_T.PARAMETER_STRING, "student .safetensors file; '' = the packaged default model"),
    'device': (_T.PARAMETER_STRING, "inference device: 'auto' (CUDA if available), 'cuda' or 'cpu'"),
    'clip_length': (_T.PARAMETER_INTEGER, 'frames per clip; 0 = what the model was trained on'),
    'stride': (_T.PARAMETER_INTEGER, 'sampled frames between two inferences of one camera'),
    'target_fps': (_T.PARAMETER_DOUBLE, 'rate frames are sampled from each camera; 0 = the model\'s rate'),
    'score_threshold': (_T.PARAMETER_DOUBLE, 'minimum winning score for a clip to count towards an alarm'),
    'alarm_labels': (_T.PARAMETER_STRING_ARRAY, 'labels that raise alarms; empty = the model\'s alarm classes'),
    'alarm_k': (_T.PARAMETER_INTEGER, 'an alarm is raised when its label wins in k of the last n clips'),
    'alarm_n': (_T.PARAMETER_INTEGER, 'window n of the k-of-n alarm rule'),
    'clear_after_s': (_T.PARAMETER_DOUBLE, 'an alarm clears after this long without its label'),
    'cooldown_s': (_T.PARAMETER_DOUBLE, 'minimum time between two raises of one alarm on one camera'),
    'max_gap_s': (_T.PARAMETER_DOUBLE, 'a longer gap between frames restarts the clip'),
    'max_future_s': (_T.PARAMETER_DOUBLE, 'frames stamped further ahead of the node clock are dropped'),
    'reliability': (_T.PARAMETER_STRING, "depth QoS reliability: 'auto' (match the publishers), 'reliable', "
                    "'best_effort'"),
    'qos_depth': (_T.PARAMETER_INTEGER, 'keep-last depth of the depth subscriptions'),
    'max_batch': (_T.PARAMETER_INTEGER, 'largest inference batch'),
    'top_k': (_T.PARAMETER_INTEGER, 'labels listed in each event'),
    'diagnostics_period_s': (_T.PARAMETER_DOUBLE, 'period of /diagnostics'),
    'labels_file': (_T.PARAMETER_STRING, "label preset YAML (labels, alarm_labels), e.g. config/labels/ntu60.yaml: "
                    "checked against the model; its alarms are the default alarm_labels"),
    'cpu_fallback': (_T.PARAMETER_BOOL, 'move inference to the CPU when CUDA fails (out of memory, lost device)'),
}
DEFAULTS = {
    'depth_topics': ['/camera/depth/image_raw'], 'model_path': '', 'device': 'auto', 'clip_length': 0,
    'stride': 5, 'target_fps': 0.0, 'score_threshold': 0.6, 'alarm_labels': [], 'alarm_k': 2, 'alarm_n': 3,
    'clear_after_s': 3.0, 'cooldown_s': 10.0, 'max_gap_s': 1.0, 'max_future_s': 5.0, 'reliability': 'auto',
    'qos_depth': 5, 'max_batch': 32, 'top_k': 3, 'diagnostics_period_s': 1.0, 'cpu_fallback': True,
    'labels_file': '',
}
# Parameters applied live through the parameter callback; the rest need a restart.
RUNTIME_PARAMS = ('score_threshold', 'alarm_labels', 'alarm_k', 'alarm_n', 'clear_after_s', 'cooldown_s')


@dataclass
class CameraState:
    topic: str
    buffer: ClipBuffer
    rate: RateMeter = field(default_factory=RateMeter)
    received: int = 0
    dropped: Counter = field(default_factory=Counter)   # decode/processing drops by reason
    events: int = 0
    reliability: str = 'none'
    warned_best_effort: bool = False
    last_frame_monotonic: float = 0.0


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f'parameter {name!r}: {message}')


class RecognizerCore:
    """The recognizer's wiring, in lifecycle steps: declare -> configure -> activate <-> deactivate -> cleanup.

    :class:`RecognizerNode` runs all steps at construction (the plain node of the pip-world monitor);
    :class:`LifecycleRecognizerNode` runs them on ROS 2 lifecycle transitions.
    """

    def declare_recognizer_parameters(self) -> None:
        for name, (ptype, desc) in PARAMS.items():
            # rclpy infers an empty list's type as a byte array; declare those by type, without a value.
            default = DEFAULTS[name] if DEFAULTS[name] != [] else Parameter.Type.STRING_ARRAY
            self.declare_parameter(name, default, ParameterDescriptor(type=ptype, description=desc))
        self.add_on_set_parameters_callback(self._parameters_callback)
        self.loaded = None
        self.cameras = {}
        self._subs = {}
        self.worker = None
        self._timer = None

    def configure(self) -> None:
        """Read and validate every parameter, load and warm up the model, create the publishers."""
        p = {name: self._param(name) for name in PARAMS}
        model_path = Path(p['model_path']) if p['model_path'] else default_model_path()
        self.loaded = load_checkpoint(model_path)
        meta = self.loaded.meta
        self.labels = list(meta.labels)
        self.spec = meta.preprocess

        topics = list(p['depth_topics'])
        _require(len(topics) > 0, 'depth_topics', 'needs at least one topic')
        _require(len(set(topics)) == len(topics), 'depth_topics', f'has duplicates: {topics}')
        _require(all(t.strip() for t in topics), 'depth_topics', 'contains an empty topic name')
        _require(p['device'] in ('auto', 'cuda', 'cpu') or p['device'].startswith('cuda:'), 'device',
                 f"must be 'auto', 'cuda', 'cuda:N' or 'cpu', got {p['device']!r}")
        self.clip_length = p['clip_length'] or self.spec.frames
        _require(self.clip_length >= 8, 'clip_length', f'must be 0 (model default) or >= 8, got {p["clip_length"]}')
        _require(p['stride'] >= 1, 'stride', f'must be >= 1, got {p["stride"]}')
        fps = p['target_fps'] or self.spec.fps
        _require(fps > 0, 'target_fps', f'must be >= 0, got {p["target_fps"]}')
        _require(p['max_gap_s'] > 0, 'max_gap_s', f'must be > 0, got {p["max_gap_s"]}')
        _require(p['max_future_s'] > 0, 'max_future_s', f'must be > 0, got {p["max_future_s"]}')
        _require(p['reliability'] in ('auto', 'reliable', 'best_effort'), 'reliability',
                 f"must be 'auto', 'reliable' or 'best_effort', got {p['reliability']!r}")
        _require(1 <= p['qos_depth'] <= 100, 'qos_depth', f'must be in 1..100, got {p["qos_depth"]}')
        _require(1 <= p['max_batch'] <= 256, 'max_batch', f'must be in 1..256, got {p["max_batch"]}')
        _require(1 <= p['top_k'] <= len(self.labels), 'top_k', f'must be in 1..{len(self.labels)}, got {p["top_k"]}')
        _require(p['diagnostics_period_s'] > 0, 'diagnostics_period_s', 'must be > 0')
        if self.clip_length != self.spec.frames:
            self.get_logger().warning(f'clip_length {self.clip_length} differs from the {self.spec.frames} frames '
                                      'the model was trained on; accuracy may suffer')
        self.policy = AlarmPolicy(self._alarm_config(p))
        self.top_k = p['top_k']
        self.reliability_mode = p['reliability']
        self.qos_depth = p['qos_depth']
        self.engine = InferenceEngine(self.loaded, p['device'], max_batch=p['max_batch'],
                                      clip_length=self.clip_length)
        self.infer_ms = Percentiles()
        self.latency_ms = Percentiles()
        self.infer_errors = 0
        self.last_error = ''
        self.batch_sizes = Counter()
        out_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                             durability=DurabilityPolicy.VOLATILE)
        self.events_pub = self.create_publisher(String, '/action_events', out_qos)
        self.alarms_pub = self.create_publisher(String, '/action_alarms', out_qos)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.cameras = {topic: CameraState(topic, ClipBuffer(
            self.clip_length, p['stride'], target_fps=fps, max_gap_s=p['max_gap_s'], max_future_s=p['max_future_s']))
            for topic in topics}
        self._diag_period = p['diagnostics_period_s']
        self.get_logger().info(
            f'loaded {self.loaded.short_id} ({len(self.labels)} labels, alarms: {list(self.policy.config.alarm_labels)}) '
            f'on {self.engine.device} for {topics}; clips of {self.clip_length} frames at {fps:g} fps, '
            f'stride {p["stride"]}')

    def activate(self) -> None:
        """Start the inference worker, subscribe to the depth topics, start housekeeping."""
        self.worker = EngineWorker(self.engine, self._result_callback, self._error_callback,
                                   cpu_fallback=self._param('cpu_fallback')).start()
        for topic in self.cameras:
            self._subscribe(topic, 'reliable' if self.reliability_mode == 'auto' else self.reliability_mode)
        # One housekeeping timer rather than three: every entity of the node is walked by the executor on
        # every wake-up, i.e. once per depth frame.
        self._next_diag = self._next_qos = 0.0
        self._timer = self.create_timer(0.25, self.housekeeping_callback)

    def deactivate(self) -> None:
        """Unsubscribe, stop the worker and forget every buffered frame (nothing stale survives a pause)."""
        for topic in list(self._subs):
            self.destroy_subscription(self._subs.pop(topic))
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        for cam in self.cameras.values():
            cam.buffer.reset()
            cam.reliability = 'none'

    def cleanup(self) -> None:
        """Release the model and the publishers (back to unconfigured)."""
        for pub in ('events_pub', 'alarms_pub', 'diag_pub'):
            if getattr(self, pub, None) is not None:
                self.destroy_publisher(getattr(self, pub))
                setattr(self, pub, None)
        self.engine = self.loaded = None
        self.cameras = {}

    # ----------------------------------------------------------------------------------------- setup
    def _param(self, name: str):
        try:
            return self.get_parameter(name).value
        except ParameterUninitializedException:
            return DEFAULTS[name]

    def _preset_alarms(self):
        """Alarm labels of the labels_file preset (None without one); the preset must name the model's labels."""
        path = self._param('labels_file')
        if not path:
            return None
        try:
            preset = yaml.safe_load(Path(path).read_text())
            labels, alarms = list(preset['labels']), list(preset['alarm_labels'])
        except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
            raise ConfigError(f"parameter 'labels_file': {path}: not a label preset ({e})") from None
        if labels != self.labels:
            diff = next((i for i, (a, b) in enumerate(zip(labels, self.labels)) if a != b), min(len(labels), len(self.labels)))
            raise ConfigError(f"parameter 'labels_file': {path} lists {len(labels)} labels, the model "
                              f'{self.loaded.short_id} {len(self.labels)}; they differ from label {diff}')
        return alarms

    def _alarm_config(self, p: dict) -> AlarmConfig:
        labels = list(p['alarm_labels']) or self._preset_alarms() or list(self.loaded.meta.alarm_labels)
        unknown = [a for a in labels if a not in self.labels]
        _require(not unknown, 'alarm_labels', f'{unknown} are not labels of the model {self.loaded.short_id}')
        try:
            return AlarmConfig(labels, threshold=p['score_threshold'], k=p['alarm_k'], n=p['alarm_n'],
                               clear_after_s=p['clear_after_s'], cooldown_s=p['cooldown_s'])
        except ConfigError as e:
            names = {'score_threshold': 'score_threshold', 'k and n': 'alarm_k/alarm_n',
                     'clear_after_s': 'clear_after_s', 'cooldown_s': 'cooldown_s'}
            culprit = next((v for k, v in names.items() if k in str(e)), 'alarm')
            raise ConfigError(f'parameter {culprit!r}: {e}') from None

    def _subscribe(self, topic: str, reliability: str) -> None:
        if topic in self._subs:
            self.destroy_subscription(self._subs.pop(topic))
        qos = QoSProfile(depth=self.qos_depth, history=HistoryPolicy.KEEP_LAST,
                         reliability=RELIABILITY[reliability], durability=DurabilityPolicy.VOLATILE)
        self._subs[topic] = self.create_subscription(
            Image, topic, lambda msg, t=topic: self.depth_callback(msg, t), qos)
        self.cameras[topic].reliability = reliability

    # ------------------------------------------------------------------------------------- callbacks
    def housekeeping_callback(self) -> None:
        now = time.monotonic()
        self.expire_callback()
        if now >= self._next_diag:
            self._next_diag = now + self._diag_period
            self.diagnostics_callback()
        if self.reliability_mode == 'auto' and now >= self._next_qos:
            self._next_qos = now + 1.0
            self.qos_match_callback()

    def qos_match_callback(self) -> None:
        """Match each depth topic's publishers, as `ros2 bag record` does: reliable unless one of them is not."""
        for topic, cam in self.cameras.items():
            infos = self.get_publishers_info_by_topic(topic)
            if not infos:
                continue
            best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
            want = 'best_effort' if best_effort else 'reliable'
            if want != cam.reliability:
                self.get_logger().info(f'{topic}: publishers offer {want}; resubscribing {want}')
                self._subscribe(topic, want)

    def depth_callback(self, msg: Image, topic: str) -> None:
        t_recv = time.monotonic()
        cam = self.cameras[topic]
        cam.received += 1
        cam.last_frame_monotonic = t_recv
        cam.rate.tick(t_recv)
        try:
            img = decode_depth(msg)
            if cam.reliability == 'best_effort' and not cam.warned_best_effort and len(msg.data) > LARGE_FRAME_BYTES:
                cam.warned_best_effort = True
                self.get_logger().warning(
                    f'{topic}: {len(msg.data) // 1024} KiB frames over a best-effort subscription; most such '
                    'frames are lost on this DDS stack. Publish reliable (or set reliability:=reliable).')
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            now = self.get_clock().now().nanoseconds * 1e-9
            if not cam.buffer.admit(stamp, img.shape_key, now):
                return
            frame = preprocess_frame(img.array, img.scale, self.spec)
            clip = cam.buffer.add(frame, stamp, meta={
                'frame_id': msg.header.frame_id,
                'stamp': {'sec': msg.header.stamp.sec, 'nanosec': msg.header.stamp.nanosec},
                't_recv': t_recv})
        except DepthDecodeError as e:
            cam.dropped[e.reason] += 1
            self.get_logger().warning(f'{topic}: frame dropped: {e}', throttle_duration_sec=5.0)
            return
        except Exception as e:  # noqa: BLE001 - a frame must never take the node down
            cam.dropped['error'] += 1
            self.get_logger().error(f'{topic}: frame dropped by an unexpected error: {e!r}',
                                    throttle_duration_sec=5.0)
            return
        if clip is not None and self.worker is not None:
            self.worker.submit(topic, clip)

    def _result_callback(self, r) -> None:
        """Runs on the inference thread: one event per inferred clip, alarms on policy transitions."""
        best = int(np.argmax(r.probs))
        score = float(r.probs[best])
        alarm, transitions = self.policy.update(r.camera, self.labels[best], score, r.clip.end_stamp)
        meta = r.clip.meta
        latency_ms = (time.monotonic() - meta['t_recv']) * 1000.0
        event = make_event(camera=r.camera, frame_id=meta['frame_id'], stamp=meta['stamp'],
                           window_start=r.clip.start_stamp, window_end=r.clip.end_stamp,
                           frames=len(r.clip.frames), labels=self.labels, probs=r.probs, alarm=alarm,
                           latency_ms=latency_ms, model=self.loaded.short_id, top_k=self.top_k)
        self.events_pub.publish(String(data=dumps(event)))
        for doc in transitions:
            self._publish_alarm(doc)
        self.cameras[r.camera].events += 1
        self.infer_ms.add(r.infer_ms)
        self.latency_ms.add(latency_ms)
        self.batch_sizes[r.batch_size] += 1

    def _error_callback(self, e: Exception) -> None:
        self.infer_errors += 1
        self.last_error = f'{type(e).__name__}: {e}'
        self.get_logger().error(f'inference failed: {self.last_error}', throttle_duration_sec=5.0)

    def _publish_alarm(self, doc: dict) -> None:
        self.alarms_pub.publish(String(data=dumps(doc)))
        text = f'ALARM {doc["state"]}: {doc["label"]} on {doc["camera"]} ({doc["reason"]})'
        # rclpy ties a severity to each call site, hence two calls rather than one with a chosen level.
        if doc['state'] == 'raised':
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)

    def expire_callback(self) -> None:
        now = self.get_clock().now().nanoseconds * 1e-9
        for doc in self.policy.expire(now):
            self._publish_alarm(doc)

    def _parameters_callback(self, params) -> SetParametersResult:
        if self.loaded is None:        # unconfigured lifecycle node: everything is validated at configure
            return SetParametersResult(successful=True)
        changed = {p.name: p.value for p in params}
        fixed = sorted(set(changed) - set(RUNTIME_PARAMS))
        if fixed:
            return SetParametersResult(successful=False, reason=f'{fixed} cannot change at runtime (restart the node)')
        current = {n: self._param(n) for n in RUNTIME_PARAMS}
        current.update(changed)
        try:
            config = self._alarm_config(current)
        except ConfigError as e:
            return SetParametersResult(successful=False, reason=str(e))
        for doc in self.policy.reconfigure(config):
            self._publish_alarm(doc)
        self.get_logger().info(f'alarm policy reconfigured: {config}')
        return SetParametersResult(successful=True)

    def diagnostics_callback(self) -> None:
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        now = time.monotonic()
        for topic, cam in self.cameras.items():
            buf = cam.buffer
            skipped = self.worker.skipped[topic] if self.worker else 0
            drops = Counter(cam.dropped)
            drops.update({k: v for k, v in buf.dropped.items() if k != 'resampled'})
            values = {
                'input_rate_hz': f'{cam.rate.rate(now):.1f}',
                'frames_received': cam.received,
                'frames_sampled': buf.accepted,
                'frames_resampled_out': buf.dropped['resampled'],
                'frames_dropped': sum(drops.values()),
                **{f'dropped_{k}': v for k, v in sorted(drops.items())},
                **{f'resets_{k}': v for k, v in sorted(buf.resets.items())},
                'clips': buf.clips,
                'clips_skipped': skipped,
                'events': cam.events,
                'reliability': cam.reliability,
            }
            level = DiagnosticStatus.WARN if drops or skipped else DiagnosticStatus.OK
            message = 'ok' if level == DiagnosticStatus.OK else 'frames dropped or clips skipped'
            if cam.received == 0:
                level, message = DiagnosticStatus.WARN, 'no frames received yet'
            arr.status.append(self._status(f'{self.get_name()}: {topic}', level, message, values))
        values = {
            'device': str(self.engine.device), 'model': self.loaded.short_id,
            'inference_ms_p50': f'{self.infer_ms.percentile(50):.2f}',
            'inference_ms_p95': f'{self.infer_ms.percentile(95):.2f}',
            'latency_ms_p50': f'{self.latency_ms.percentile(50):.2f}',
            'latency_ms_p95': f'{self.latency_ms.percentile(95):.2f}',
            'batches': self.worker.batches if self.worker else 0, 'inference_errors': self.infer_errors,
            'batch_sizes': ','.join(f'{k}:{v}' for k, v in sorted(self.batch_sizes.items())),
            'active_alarms': ','.join(f'{c}:{lab}' for c, lab in self.policy.active()),
        }
        level = DiagnosticStatus.ERROR if self.infer_errors else DiagnosticStatus.OK
        message = self.last_error or 'ok'
        arr.status.append(self._status(f'{self.get_name()}: inference', level, message, values))
        self.diag_pub.publish(arr)

    def _status(self, name, level, message, values) -> DiagnosticStatus:
        return DiagnosticStatus(level=level, name=name, message=message, hardware_id=self.loaded.short_id,
                                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])

    def destroy_node(self):
        # Also called by rclpy's shutdown on a node whose __init__ failed half way.
        worker = getattr(self, 'worker', None)
        if worker is not None:
            worker.stop()
        return super().destroy_node()


class RecognizerNode(RecognizerCore, Node):
    """Depth action recognizer, configured and active from construction (see the README for topics and parameters)."""

    def __init__(self, node_name: str = 'depth_action_recognizer', **kwargs):
        super().__init__(node_name, **kwargs)
        self.declare_recognizer_parameters()
        self.configure()
        self.activate()


class LifecycleRecognizerNode(RecognizerCore, LifecycleNode):
    """The same recognizer as a managed node: configure loads and validates the model, activate subscribes,
    deactivate unsubscribes and clears all buffers, cleanup releases the model."""

    def __init__(self, node_name: str = 'depth_action_recognizer', **kwargs):
        super().__init__(node_name, **kwargs)
        self.declare_recognizer_parameters()

    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.configure()
        except DepthActionError as e:
            self.get_logger().error(f'configure failed: {e}')
            self.cleanup()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        self.activate()
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self.deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self.cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self.deactivate() if self.worker is not None else None
        return TransitionCallbackReturn.SUCCESS


def main(args=None) -> int:
    argv = list(sys.argv[1:] if args is None else args)
    lifecycle = '--lifecycle' in argv          # a managed node, driven by `ros2 lifecycle set` or a manager
    if lifecycle:
        argv.remove('--lifecycle')
    return spin_node(LifecycleRecognizerNode if lifecycle else RecognizerNode, 'depth-action-recognizer', argv)


if __name__ == '__main__':
    sys.exit(main())
