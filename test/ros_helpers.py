"""A real rclpy context + executor thread for tests, and depth message builders."""
import threading
import time

import numpy as np
import rclpy
from depth_action_recognition.node_main import make_executor
from depth_action_recognition.stamps import stamp_dict
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def depth_msg(array: np.ndarray, stamp: float, *, encoding='16UC1', frame_id='cam', bigendian=False, pad=0):
    """Build a sensor_msgs/Image from a (H, W) array, optionally big-endian and with row padding."""
    msg = Image()
    t = stamp_dict(stamp)
    msg.header.stamp.sec, msg.header.stamp.nanosec = t['sec'], t['nanosec']
    msg.header.frame_id = frame_id
    msg.height, msg.width = array.shape
    msg.encoding = encoding
    msg.is_bigendian = bigendian
    arr = array.astype(array.dtype.newbyteorder('>' if bigendian else '<'))
    rows = arr.tobytes()
    row_bytes = array.shape[1] * array.dtype.itemsize
    if pad:
        rows = b''.join(rows[i * row_bytes:(i + 1) * row_bytes] + b'\xab' * pad for i in range(array.shape[0]))
    msg.step = row_bytes + pad
    msg.data = rows
    return msg


def reliable_qos(depth=10):
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                      durability=DurabilityPolicy.VOLATILE)


class RosHarness:
    """One context, one executor spinning in a thread, a probe node for publishers and subscribers."""

    def __init__(self, args=None):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=args)
        self.executor = make_executor(context=self.context)     # the executor the executables spin in
        self.probe = rclpy.create_node('test_probe', context=self.context)
        self.executor.add_node(self.probe)
        self.nodes = [self.probe]
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self):
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - shutdown races
                if not self.context.ok():
                    return
                raise

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def collect(self, msg_type, topic, qos=None):
        got = []
        self.probe.create_subscription(msg_type, topic, got.append, qos or reliable_qos(100))
        return got

    def wait_for(self, predicate, timeout=10.0, period=0.02):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(period)
        return predicate()

    def wait_matched(self, publisher, n=1, timeout=10.0):
        assert self.wait_for(lambda: publisher.get_subscription_count() >= n, timeout), 'no subscriber matched'

    def close(self):
        for node in reversed(self.nodes):
            self.executor.remove_node(node)
            node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=5)
