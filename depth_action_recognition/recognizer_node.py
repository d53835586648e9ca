"""The recognizer node: depth topics in; ``/action_events``, ``/action_alarms``, the latched
``/action_alarms/active`` and ``/diagnostics`` out.

Wiring over the ROS-free core. Per frame, on the executor thread, the header decides all it can before
a pixel is touched: which source of the topic sent it (``sources.py``: frame_id, encoding, size) and,
from the stamp alone, whether it is sampled at all. Only sampled frames are decoded (``depth.py``),
preprocessed (``preprocess.py``) and buffered (``clip_buffer.py``); an unsampled frame costs a few
attribute reads. Ready clips go to the :class:`EngineWorker` thread (``engine.py``), whose results
are averaged over each source's last clips (``smoothing.py``) and become events and, through the alarm
policy (``alarm_policy.py``), alarms. Parameters are declared and
checked in ``params.py``, ``/diagnostics`` is assembled in ``diagnostics.py``.
"""
from __future__ import annotations

import sys
import threading
import time
from functools import partial
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from . import diagnostics, params
from .alarm_policy import AlarmPolicy
from .checkpoint import load_checkpoint
from .clip_buffer import ClipBuffer
from .depth import COLOUR_ENCODINGS, DEPTH_ENCODINGS, WireLayout, decode_depth
from .engine import EngineWorker, InferenceEngine
from .errors import ConfigError, DepthActionError, DepthDecodeError, FinishError
from .events import dumps, make_active_alarms, make_event
from .node_main import spin_node
from .smoothing import ClipSmoother
from .params import PARAMS, RUNTIME_PARAMS  # noqa: F401 - the parameter table, importable from the node
from .preprocess import finish_frames, reduce_frame
from .resources import default_model_path
from .sources import Topic
from .stamps import seconds
from .stats import Percentiles, RateMeter

RELIABILITY = {'reliable': ReliabilityPolicy.RELIABLE, 'best_effort': ReliabilityPolicy.BEST_EFFORT}
# Frames larger than this do not survive a best-effort link on Fast DDS here (environment.md).
LARGE_FRAME_BYTES = 256 * 1024
OUTPUT_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                        durability=DurabilityPolicy.VOLATILE)
# The current set of active alarms, kept for subscribers that join later (transient local, the last one).
ACTIVE_ALARMS_TOPIC = '/action_alarms/active'
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


class RecognizerCore:
    """The recognizer's wiring, in lifecycle steps: declare -> configure -> activate <-> deactivate -> cleanup.

    :class:`RecognizerNode` runs all steps at construction (the plain node of the pip-world monitor);
    :class:`LifecycleRecognizerNode` runs them on ROS 2 lifecycle transitions.
    """

    def declare_recognizer_parameters(self, *, read_only: bool) -> None:
        params.declare(self, read_only=read_only)
        self.add_on_set_parameters_callback(self._parameters_callback)
        self.loaded = None
        self.cameras = {}                 # topic -> sources.Topic
        self._subs = {}
        self.worker = None
        self._timer = None
        self.events_pub = self.alarms_pub = self.active_pub = self.diag_pub = None
        self._alarm_lock = threading.Lock()
        # Eviction (executor thread) against a result of the evicted source (inference thread): a source's
        # smoothing and alarm state is either updated before it is forgotten, or not at all. Alarm transitions
        # are also published under it (eviction, results, expiry, clear-all, reconfiguration), so that they go
        # out in the order the policy made them: a "raised" cannot follow the "cleared" that ended it.
        self._evict_lock = threading.Lock()
        self._worker_stop_logged = False

    def configure(self) -> None:
        """Read and check every parameter, load and warm up the model, create the publishers."""
        p = params.read(self)
        self.loaded = load_checkpoint(Path(p['model_path']) if p['model_path'] else default_model_path())
        self.labels = list(self.loaded.meta.labels)
        self.spec = self.loaded.meta.preprocess
        self.settings = s = params.resolve(p, self.loaded)
        if s.clip_length != self.spec.frames:
            self.get_logger().warning(f'clip_length {s.clip_length} differs from the {self.spec.frames} frames '
                                      'the model was trained on; accuracy may suffer')
        self.policy = AlarmPolicy(s.alarm)
        self.smoother = ClipSmoother(s.smooth_clips)
        try:
            self.engine = InferenceEngine(self.loaded, s.device, max_batch=s.max_batch, clip_length=s.clip_length,
                                          flip_average=s.flip_average)
        except ConfigError as e:
            raise ConfigError(f"parameter 'device': {e}") from None
        self.infer_ms = Percentiles()
        self.latency_ms = Percentiles()
        self.infer_errors = 0
        self.last_error = ''
        self.batch_sizes = {}
        self.events_pub = self.create_publisher(String, '/action_events', OUTPUT_QOS)
        self.alarms_pub = self.create_publisher(String, '/action_alarms', OUTPUT_QOS)
        self.active_pub = self.create_publisher(String, ACTIVE_ALARMS_TOPIC, LATCHED_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        def make_buffer(key):
            # Frames arrive half-preprocessed (reduce_frame in the callback) and are finished a few at a time:
            # a source's key fixes the frame size and the encoding's scale.
            _, encoding, height, width = key
            return ClipBuffer(s.clip_length, s.stride, target_fps=s.fps, max_gap_s=s.max_gap_s,
                              finish=partial(finish_frames, shape=(height, width),
                                             scale=DEPTH_ENCODINGS[encoding][1], spec=self.spec))
        self.cameras = {t: Topic(t, make_buffer, max_jump_s=s.max_future_s, max_sources=s.max_sources)
                        for t in s.topics}
        self._rates = {t: RateMeter() for t in s.topics}
        self.get_logger().info(
            f'loaded {self.loaded.short_id} ({len(self.labels)} labels, alarms: {list(s.alarm.alarm_labels)}) '
            f'on {self.engine.device} for {list(s.topics)}; clips of {s.clip_length} frames at {s.fps:g} fps, '
            f'stride {s.stride}{", each clip averaged with its mirror image" if s.flip_average else ""}')

    def activate(self) -> None:
        """Start the inference worker, subscribe to the depth topics, start housekeeping."""
        self.worker = EngineWorker(self.engine, self._result_callback, self._error_callback,
                                   cpu_fallback=self.settings.cpu_fallback, on_fallback=self._fallback_callback,
                                   on_stopped=self._stopped_callback).start()
        self._worker_stop_logged = False
        for topic in self.cameras:
            mode = self.settings.reliability
            self._subscribe(topic, 'reliable' if mode == 'auto' else mode)
        # One timer rather than three: the stock executor walks every entity of the node on every wake-up,
        # i.e. once per depth frame. On the steady clock: under use_sim_time a ROS-time timer would stand
        # still until /clock arrives, and alarms of silent cameras would never clear.
        self._next_diag = self._next_qos = 0.0
        self._timer = self.create_timer(0.25, self.housekeeping_callback, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._publish_active()

    def deactivate(self) -> None:
        """Unsubscribe, stop the worker, clear every active alarm and forget every buffered frame."""
        for topic in list(self._subs):
            self.destroy_subscription(self._subs.pop(topic))
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self._clear_all_alarms('recognizer deactivated')
        self.smoother.reset()
        for cam in self.cameras.values():
            cam.reset()
            cam.reliability = 'none'

    def cleanup(self) -> None:
        """Release the model and the publishers (back to unconfigured)."""
        for pub in ('events_pub', 'alarms_pub', 'active_pub', 'diag_pub'):
            if getattr(self, pub, None) is not None:
                self.destroy_publisher(getattr(self, pub))
                setattr(self, pub, None)
        self.engine = self.loaded = None
        self.cameras = {}

    # ----------------------------------------------------------------------------------------- setup
    def _subscribe(self, topic: str, reliability: str) -> None:
        if topic in self._subs:
            self.destroy_subscription(self._subs.pop(topic))
        qos = QoSProfile(depth=self.settings.qos_depth, history=HistoryPolicy.KEEP_LAST,
                         reliability=RELIABILITY[reliability], durability=DurabilityPolicy.VOLATILE)
        self._subs[topic] = self.create_subscription(
            Image, topic, lambda msg, t=topic: self.depth_callback(msg, t), qos)
        self.cameras[topic].reliability = reliability

    # ------------------------------------------------------------------------------------- callbacks
    def depth_callback(self, msg: Image, topic: str) -> None:
        t_recv = time.monotonic()
        cam = self.cameras[topic]
        cam.received += 1
        src = img = None
        try:
            encoding = msg.encoding
            if encoding not in DEPTH_ENCODINGS:        # colour never gets further than this
                raise DepthDecodeError('colour' if encoding in COLOUR_ENCODINGS else 'encoding',
                                       f'encoding {encoding!r} rejected: only depth ({", ".join(DEPTH_ENCODINGS)})')
            header = msg.header
            key = (header.frame_id, encoding, msg.height, msg.width)
            src = cam.sources.get(key)
            if src is None:
                img = decode_depth(msg)                # a new source must at least be a valid depth image
                src = self._add_source(cam, key, t_recv, WireLayout(msg, img))
            stamp = header.stamp
            sec, nanosec = stamp.sec, stamp.nanosec
            if not src.admit(seconds(sec, nanosec), t_recv):
                return                                 # not sampled, or a stamp not to be believed
            raw = src.layout.view(msg) if img is None else img.array
            if cam.reliability == 'best_effort' and not cam.warned_best_effort and len(msg.data) > LARGE_FRAME_BYTES:
                cam.warned_best_effort = True
                self.get_logger().warning(
                    f'{topic}: {len(msg.data) // 1024} KiB frames over a best-effort subscription; most such '
                    'frames are lost on this DDS stack. Publish reliable (or set reliability:=reliable).')
            frame = reduce_frame(raw, self.spec)
            clip = src.buffer.add(frame, seconds(sec, nanosec), meta={
                'stamp': {'sec': sec, 'nanosec': nanosec}, 't_recv': t_recv})
        except FinishError as e:                       # counted by the buffer, frames and reset
            self.get_logger().error(f'{topic}: {e}', throttle_duration_sec=5.0)
            return
        except DepthDecodeError as e:
            (cam.dropped if src is None else src.dropped)[e.reason] += 1
            self.get_logger().warning(f'{topic}: frame dropped: {e}', throttle_duration_sec=5.0)
            return
        except Exception as e:  # noqa: BLE001 - a frame must never take the node down
            (cam.dropped if src is None else src.dropped)['error'] += 1
            self.get_logger().error(f'{topic}: frame dropped by an unexpected error: {e!r}',
                                    throttle_duration_sec=5.0)
            return
        if clip is not None and self.worker is not None and self.worker.submit(src, clip):
            src.skipped += 1

    def _add_source(self, cam: Topic, key: tuple, t_recv: float, layout: WireLayout):
        with self._evict_lock:
            src, evicted = cam.source(key, t_recv, layout)
            if evicted is not None:
                self.smoother.forget(evicted)
                self._publish_alarms(self.policy.forget(evicted, evicted.clock.now(t_recv), 'source evicted'))
        if evicted is not None:
            self.get_logger().warning(f'{cam.name}: source {evicted.name} evicted (silent longest; at most '
                                      f'{cam.max_sources} sources per topic)', throttle_duration_sec=5.0)
        if len(cam.sources) > 1 and not cam.warned_sources:
            cam.warned_sources = True
            self.get_logger().warning(
                f'{cam.name} carries {len(cam.sources)} sources ({", ".join(s.name for s in cam.sources.values())}); '
                'a topic is meant to carry one camera. Each source gets its own clip buffer and alarms.')
        return src

    def _result_callback(self, r) -> None:
        """Runs on the inference thread: one event per inferred clip, alarms on policy transitions."""
        src = r.camera
        alarm, transitions = False, []
        with self._evict_lock:
            if src.evicted:         # a late result: published as it is, its source's state was forgotten with it
                probs = r.probs
            else:
                smoothed = self.smoother.update(src, r.probs, r.clip.run)
                # Alarms rest on a full mean: the first clip of a run, alone, counts as no hit (smoothing.py).
                best, _, alarm_score = smoothed.winner()
                probs = smoothed.probs
                alarm, transitions = self.policy.update(src, self.labels[best], alarm_score, r.clip.end_stamp,
                                                        camera=src.topic)
            meta = r.clip.meta
            latency_ms = (time.monotonic() - meta['t_recv']) * 1000.0
            event = make_event(camera=src.topic, frame_id=src.frame_id, stamp=meta['stamp'],
                               window_start=r.clip.start_stamp, window_end=r.clip.end_stamp,
                               frames=len(r.clip.frames), labels=self.labels, probs=probs, alarm=alarm,
                               latency_ms=latency_ms, model=self.loaded.short_id, top_k=self.settings.top_k)
            self.events_pub.publish(String(data=dumps(event)))      # the clip's event, then what it raised
            self._publish_alarms(transitions)
        src.events += 1
        self.infer_ms.add(r.infer_ms)
        self.latency_ms.add(latency_ms)
        self.batch_sizes[r.batch_size] = self.batch_sizes.get(r.batch_size, 0) + 1

    def _error_callback(self, e: Exception) -> None:
        self.infer_errors += 1
        self.last_error = f'{type(e).__name__}: {e}'
        self.get_logger().error(f'inference failed: {self.last_error}', throttle_duration_sec=5.0)

    def _fallback_callback(self, fault: Exception) -> None:
        self.get_logger().error(f'device fault ({type(fault).__name__}: {fault}): the model was reloaded from '
                                f'{self.loaded.path} and now runs on the CPU')

    def _stopped_callback(self, e: BaseException) -> None:
        self._worker_stop_logged = True
        self.get_logger().fatal(f'inference stopped: {type(e).__name__}: {e}; no more events until the node is '
                                'restarted')

    def _publish_alarms(self, docs: list) -> None:
        """Publish alarm transitions, then the active set they leave behind (one at a time: the latched
        message must be the newest state, whichever thread got there first)."""
        if not docs:
            return
        with self._alarm_lock:
            for doc in docs:
                self.alarms_pub.publish(String(data=dumps(doc)))
                text = f'ALARM {doc["state"]}: {doc["label"]} on {doc["camera"]} ({doc["reason"]})'
                # rclpy ties a severity to each call site, hence two calls rather than one with a chosen level.
                if doc['state'] == 'raised':
                    self.get_logger().warning(text)
                else:
                    self.get_logger().info(text)
            self._publish_active_locked()

    def _publish_active(self) -> None:
        with self._alarm_lock:
            self._publish_active_locked()

    def _publish_active_locked(self) -> None:
        alarms = [{'camera': a.camera, 'frame_id': getattr(a.source, 'frame_id', ''), 'label': a.label,
                   'score': a.score, 'since': a.since} for a in self.policy.active()]
        doc = make_active_alarms(alarms, seconds(*self.get_clock().now().seconds_nanoseconds()))
        self.active_pub.publish(String(data=dumps(doc)))

    def _clear_all_alarms(self, reason: str) -> int:
        if getattr(self, 'active_pub', None) is None:      # unconfigured: nothing was ever raised
            return 0
        now = time.monotonic()
        with self._evict_lock:
            docs = self.policy.clear_all(lambda src: src.clock.now(now), reason)
            self._publish_alarms(docs)
        return len(docs)

    def housekeeping_callback(self) -> None:
        now = time.monotonic()
        with self._evict_lock:
            self._publish_alarms(self.policy.expire(lambda src: src.clock.now(now)))
        if now >= self._next_diag:
            self._next_diag = now + self.settings.diagnostics_period_s
            self.diagnostics_callback()
        if self.settings.reliability == 'auto' and now >= self._next_qos:
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

    def _parameters_callback(self, changed_params) -> SetParametersResult:
        if self.loaded is None:        # unconfigured lifecycle node: everything is checked at configure
            return SetParametersResult(successful=True)
        changed = {p.name: p.value for p in changed_params}
        fixed = sorted(set(changed) - set(RUNTIME_PARAMS))
        if fixed:
            return SetParametersResult(successful=False, reason=f'{fixed} cannot change while the node is configured '
                                       '(restart it, or cleanup and configure again)')
        current = params.read(self)
        current.update(changed)
        try:
            config = params.alarm_config(current, self.loaded, self.settings.preset_alarms)
        except ConfigError as e:
            return SetParametersResult(successful=False, reason=str(e))
        with self._evict_lock:
            self._publish_alarms(self.policy.reconfigure(config))
        self.get_logger().info(f'alarm policy reconfigured: {config}')
        return SetParametersResult(successful=True)

    def diagnostics_callback(self) -> None:
        now = time.monotonic()
        prefix, hw = self.get_name(), self.loaded.short_id
        statuses = []
        for topic, cam in self.cameras.items():
            statuses.append(diagnostics.topic_status(prefix, cam, self._rates[topic].rate(cam.received, now), hw))
            statuses += [diagnostics.source_status(prefix, src, now, hw) for src in cam.sources.values()]
        worker = self.worker
        stopped = ''
        if worker is not None and not worker.alive:
            failure = worker.failure
            stopped = f'{type(failure).__name__}: {failure}' if failure is not None else 'the inference thread ended'
            if not self._worker_stop_logged:
                self._worker_stop_logged = True
                self.get_logger().fatal(f'inference stopped: {stopped}')
        statuses.append(diagnostics.inference_status(
            prefix, device=str(self.engine.device), model=self.loaded.short_id, infer_ms=self.infer_ms,
            latency_ms=self.latency_ms, batches=worker.batches if worker else 0, errors=self.infer_errors,
            last_error=self.last_error, batch_sizes=dict(self.batch_sizes),
            active_alarms=[f'{a.camera}:{a.label}' for a in self.policy.active()], stopped=stopped,
            fell_back=bool(worker and worker.fell_back), hardware_id=hw))
        self.diag_pub.publish(diagnostics.array(self.get_clock().now().to_msg(), statuses))

    def destroy_node(self):
        # Also called by rclpy's shutdown on a node whose __init__ failed half way.
        worker = getattr(self, 'worker', None)
        if worker is not None:
            worker.stop()
            self.worker = None
        try:
            if self._clear_all_alarms('recognizer shutting down'):
                for pub in (self.alarms_pub, self.active_pub):   # delivered before the node is gone
                    pub.wait_for_all_acked(Duration(seconds=1.0))
        except Exception as e:  # noqa: BLE001 - shutting down regardless; say what was lost
            self.get_logger().error(f'could not publish the clearing of active alarms: {e!r}')
        return super().destroy_node()


class RecognizerNode(RecognizerCore, Node):
    """Depth action recognizer, configured and active from construction (see the README for topics and parameters)."""

    def __init__(self, node_name: str = 'depth_action_recognizer', **kwargs):
        super().__init__(node_name, **kwargs)
        self.declare_recognizer_parameters(read_only=True)
        self.configure()
        self.activate()


class LifecycleRecognizerNode(RecognizerCore, LifecycleNode):
    """The same recognizer as a managed node: configure loads and checks the model, activate subscribes,
    deactivate unsubscribes, clears active alarms and all buffers, cleanup releases the model."""

    def __init__(self, node_name: str = 'depth_action_recognizer', **kwargs):
        super().__init__(node_name, **kwargs)
        self.declare_recognizer_parameters(read_only=False)   # may change between cleanup and configure

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
        if self.worker is not None:
            self.deactivate()
        return TransitionCallbackReturn.SUCCESS


def main(args=None) -> int:
    argv = list(sys.argv[1:] if args is None else args)
    lifecycle = '--lifecycle' in argv          # a managed node, driven by `ros2 lifecycle set` or a manager
    if lifecycle:
        argv.remove('--lifecycle')
    return spin_node(LifecycleRecognizerNode if lifecycle else RecognizerNode, 'depth-action-recognizer', argv)


if __name__ == '__main__':
    sys.exit(main())
