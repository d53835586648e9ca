"""Simulated depth camera(s): synthetic people doing scripted or random actions, as sensor_msgs/Image.

Publishes 16UC1 depth (millimetres) with header stamps at ``fps`` on each of ``topics``, and the
ground truth of every frame (which action is playing) as JSON on ``ground_truth_topic`` so online
accuracy can be measured. Only depth leaves this node; RGB is never rendered here.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from .node_main import spin_node
from .errors import ConfigError
from .events import stamp_dict
from .synthetic.actions import ACTIONS
from .synthetic.scenario import demo_playlist, parse_playlist, random_playlist
from .synthetic.scene import N_SUBJECTS, N_VIEWS, WORLD, WORLDS
from .synthetic.stream import ScenarioCamera

GT_SCHEMA = 'depth_action_recognition/GroundTruth/1'


class SimCamera:
    """One simulated camera on the wall clock: a :class:`ScenarioCamera` whose time 0 is its first frame."""

    def __init__(self, index: int, playlist: list, *, seed: int, size: tuple, subject: int, view: int, loop: bool,
                 hfov: float | None = None, world: int = WORLD):
        self.scenario = ScenarioCamera([(s.action, s.duration) for s in playlist], seed=seed, index=index,
                                       size=size, subject=subject, view=view, loop=loop, hfov=hfov, world=world)
        self.subject, self.view = self.scenario.subject, self.scenario.view
        self.t0 = None
        self.frame = 0
        self.finished = False
        self.segment = None          # the playing segment (action, start, duration), start on the wall clock

    def render(self, now: float):
        """Depth frame (uint16 mm) at wall time ``now``, or None when a non-looping playlist is over."""
        if self.t0 is None:
            self.t0 = now
        self.frame += 1
        seg = self.scenario.segment_at(now - self.t0)
        out = self.scenario.render(now - self.t0, self.frame) if seg is not None else None
        if out is None:
            self.finished = True
            return None
        self.segment = seg
        return out[0]


class CameraSimNode(Node):
    def __init__(self, node_name: str = 'depth_action_camera_sim', **kwargs):
        super().__init__(node_name, **kwargs)
        d = ParameterDescriptor
        self.declare_parameter('topics', ['/camera/depth/image_raw'], d(description='one depth topic per simulated camera'))
        self.declare_parameter('ground_truth_topic', '/camera/ground_truth', d(description='JSON ground truth per frame'))
        self.declare_parameter('fps', 30.0, d(description='frames per second per camera'))
        self.declare_parameter('width', 160, d(description='image width in pixels'))
        self.declare_parameter('height', 120, d(description='image height in pixels'))
        self.declare_parameter('hfov', 0.0, d(description='horizontal field of view in degrees (30..120); '
                                               '0 = the view\'s own, 55-65'))
        self.declare_parameter('frame_id', 'camera_depth_optical_frame', d(description='header frame_id'))
        self.declare_parameter('scenario', 'demo', d(description="'demo' (scripted, ~1 min) or 'random'"))
        self.declare_parameter('playlist', [''], d(description="overrides scenario: ['walking:4', 'falling_down:5', ...]"))
        self.declare_parameter('loop', True, d(description='start the playlist again at its end'))
        self.declare_parameter('seed', 0, d(description='seed of subjects, cameras and random playlists'))
        self.declare_parameter('subject', 0, d(description='subject id 1..40; 0 = random per camera'))
        self.declare_parameter('view', -1, d(description='camera view 0..4; -1 = random per camera'))
        self.declare_parameter('reliability', 'reliable', d(description="'reliable' or 'best_effort'"))
        self.declare_parameter('world', WORLD, d(description=f'synthetic world round, one of {list(WORLDS)}'))
        g = lambda n: self.get_parameter(n).value  # noqa: E731
        topics, fps, w, h = list(g('topics')), g('fps'), g('width'), g('height')
        if not topics or any(not t for t in topics):
            raise ConfigError("parameter 'topics': needs at least one non-empty topic")
        if not 0.5 <= fps <= 120:
            raise ConfigError(f"parameter 'fps': must be within 0.5..120, got {fps}")
        if not (16 <= w <= 1920 and 16 <= h <= 1080):
            raise ConfigError(f"parameters 'width'/'height': must be within 16..1920 x 16..1080, got {w}x{h}")
        hfov = g('hfov')
        if hfov and not 30 <= hfov <= 120:
            raise ConfigError(f"parameter 'hfov': must be 0 (the view's own) or within 30..120 degrees, got {hfov}")
        if g('reliability') not in ('reliable', 'best_effort'):
            raise ConfigError(f"parameter 'reliability': must be 'reliable' or 'best_effort', got {g('reliability')!r}")
        if not 0 <= g('subject') <= N_SUBJECTS:
            raise ConfigError(f"parameter 'subject': must be 0 (random) or 1..{N_SUBJECTS}, got {g('subject')}")
        if g('world') not in WORLDS:
            raise ConfigError(f"parameter 'world': must be one of the world rounds {list(WORLDS)}, got {g('world')}")
        if not -1 <= g('view') < N_VIEWS:
            raise ConfigError(f"parameter 'view': must be -1 (random) or 0..{N_VIEWS - 1}, got {g('view')}")
        entries = [e for e in g('playlist') if e]
        try:
            if entries:
                playlist = parse_playlist(entries)
            elif g('scenario') == 'demo':
                playlist = demo_playlist()
            elif g('scenario') == 'random':
                playlist = None
            else:
                raise ConfigError(f"parameter 'scenario': must be 'demo' or 'random', got {g('scenario')!r}")
        except ValueError as e:
            raise ConfigError(f"parameter 'playlist': {e}") from None
        self.frame_id = g('frame_id')
        self.topics = topics
        self.cameras = []
        for i in range(len(topics)):
            pl = playlist if playlist is not None else random_playlist(np.random.default_rng([g('seed'), i, 7]))
            self.cameras.append(SimCamera(i, pl, seed=g('seed'), size=(h, w), subject=g('subject'),
                                          view=g('view'), loop=g('loop'), hfov=hfov or None, world=g('world')))
        qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.VOLATILE,
                         reliability=ReliabilityPolicy.RELIABLE if g('reliability') == 'reliable'
                         else ReliabilityPolicy.BEST_EFFORT)
        self.pubs = [self.create_publisher(Image, t, qos) for t in topics]
        gt_qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
        self.gt_pub = self.create_publisher(String, g('ground_truth_topic'), gt_qos)
        self.frames_published = 0
        self.render_ms = []
        self.timer = self.create_timer(1.0 / fps, self.timer_callback)
        self.get_logger().info(f'simulating {len(topics)} depth camera(s) {w}x{h} at {fps:g} fps on {topics}')

    @property
    def finished(self) -> bool:
        return all(c.finished for c in self.cameras)

    def timer_callback(self) -> None:
        stamp = self.get_clock().now()
        now = stamp.nanoseconds * 1e-9
        for cam, topic, pub in zip(self.cameras, self.topics, self.pubs):
            t0 = time.perf_counter()
            depth = cam.render(now)
            if depth is None:
                continue
            self.render_ms.append((time.perf_counter() - t0) * 1000)
            del self.render_ms[:-300]
            msg = Image()
            msg.header.stamp = stamp.to_msg()
            msg.header.frame_id = self.frame_id
            msg.height, msg.width = depth.shape
            msg.encoding = '16UC1'
            msg.is_bigendian = 0
            msg.step = depth.shape[1] * 2
            msg.data = depth.tobytes()
            pub.publish(msg)
            self.frames_published += 1
            seg = cam.segment
            self.gt_pub.publish(String(data=json.dumps({
                'schema': GT_SCHEMA, 'camera': topic, 'stamp': stamp_dict(now), 'label': seg.action,
                'alarm': ACTIONS[seg.action].alarm, 'segment_start': stamp_dict(cam.t0 + seg.start),
                'segment_duration': seg.duration, 'subject': cam.subject, 'view': cam.view})))


def main(args=None) -> int:
    return spin_node(CameraSimNode, 'depth-action-camera-sim', args)


if __name__ == '__main__':
    sys.exit(main())
