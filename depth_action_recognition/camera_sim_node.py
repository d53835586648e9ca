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
from .synthetic.scene import N_SUBJECTS, N_VIEWS, Scene

GT_SCHEMA = 'depth_action_recognition/GroundTruth/1'


class SimCamera:
    """One simulated camera: a fixed viewpoint and room, a subject, and a playlist it walks through."""

    def __init__(self, index: int, playlist: list, *, seed: int, size: tuple, subject: int, view: int, loop: bool):
        self.index = index
        self.playlist = playlist
        self.seed = seed
        self.size = size
        self.rng = np.random.default_rng([seed, index])
        self.subject = subject if subject > 0 else int(self.rng.integers(1, N_SUBJECTS + 1))
        self.view = view if view >= 0 else int(self.rng.integers(0, N_VIEWS))
        self.loop = loop
        self.pos = -1
        self.scene = None
        self.segment = None
        self.segment_start = 0.0
        self.frame = 0
        self.finished = False

    def _next(self, now: float) -> None:
        self.pos += 1
        if self.pos >= len(self.playlist):
            if not self.loop:
                self.finished = True
                return
            self.pos = 0
        self.segment = self.playlist[self.pos]
        one_shot = ACTIONS[self.segment.action].duration > 0      # happens once: start it right away
        self.scene = Scene(self.segment.action, int(self.rng.integers(1 << 30)), size=self.size,
                           subject=self.subject, view=self.view, world_seed=self.seed * 1000 + self.index,
                           onset=0.3 if one_shot else None, clip_seconds=self.segment.duration)
        self.segment_start = now

    def render(self, now: float):
        """Depth frame (uint16 mm) at wall time ``now``, or None when a non-looping playlist is over."""
        if self.scene is None or now - self.segment_start >= self.segment.duration:
            self._next(now)
        if self.finished:
            return None
        self.frame += 1
        depth, _ = self.scene.render(now - self.segment_start, self.frame, rgb=False)
        return depth


class CameraSimNode(Node):
    def __init__(self, node_name: str = 'depth_action_camera_sim', **kwargs):
        super().__init__(node_name, **kwargs)
        d = ParameterDescriptor
        self.declare_parameter('topics', ['/camera/depth/image_raw'], d(description='one depth topic per simulated camera'))
        self.declare_parameter('ground_truth_topic', '/camera/ground_truth', d(description='JSON ground truth per frame'))
        self.declare_parameter('fps', 30.0, d(description='frames per second per camera'))
        self.declare_parameter('width', 160, d(description='image width in pixels'))
        self.declare_parameter('height', 120, d(description='image height in pixels'))
        self.declare_parameter('frame_id', 'camera_depth_optical_frame', d(description='header frame_id'))
        self.declare_parameter('scenario', 'demo', d(description="'demo' (scripted, ~1 min) or 'random'"))
        self.declare_parameter('playlist', [''], d(description="overrides scenario: ['walking:4', 'falling_down:5', ...]"))
        self.declare_parameter('loop', True, d(description='start the playlist again at its end'))
        self.declare_parameter('seed', 0, d(description='seed of subjects, cameras and random playlists'))
        self.declare_parameter('subject', 0, d(description='subject id 1..40; 0 = random per camera'))
        self.declare_parameter('view', -1, d(description='camera view 0..4; -1 = random per camera'))
        self.declare_parameter('reliability', 'reliable', d(description="'reliable' or 'best_effort'"))
        g = lambda n: self.get_parameter(n).value  # noqa: E731
        topics, fps, w, h = list(g('topics')), g('fps'), g('width'), g('height')
        if not topics or any(not t for t in topics):
            raise ConfigError("parameter 'topics': needs at least one non-empty topic")
        if not 0.5 <= fps <= 120:
            raise ConfigError(f"parameter 'fps': must be within 0.5..120, got {fps}")
        if not (16 <= w <= 640 and 16 <= h <= 480):
            raise ConfigError(f"parameters 'width'/'height': must be within 16..640 x 16..480, got {w}x{h}")
        if g('reliability') not in ('reliable', 'best_effort'):
            raise ConfigError(f"parameter 'reliability': must be 'reliable' or 'best_effort', got {g('reliability')!r}")
        if not 0 <= g('subject') <= N_SUBJECTS:
            raise ConfigError(f"parameter 'subject': must be 0 (random) or 1..{N_SUBJECTS}, got {g('subject')}")
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
                                          view=g('view'), loop=g('loop')))
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
                'alarm': seg.alarm, 'segment_start': stamp_dict(cam.segment_start),
                'segment_duration': seg.duration, 'subject': cam.subject, 'view': cam.view})))


def main(args=None) -> int:
    return spin_node(CameraSimNode, 'depth-action-camera-sim', args)


if __name__ == '__main__':
    sys.exit(main())
