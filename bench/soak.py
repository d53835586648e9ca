"""Soak: 2 simulated cameras x 30 fps into the recognizer for a long time; memory and event accounting.

    .venv/bin/python bench/soak.py --minutes 30

Reports resident memory sampled every 30 s and its slope (MB per 10 minutes, least squares after the
first minute of warm-up), GPU memory when on CUDA, and checks that every inferred clip produced exactly
one event received on /action_events (clips = events received + clips skipped).
"""
import argparse
import json
import threading
import time

from common import loopback_dds, rss_mb

loopback_dds()

import numpy as np  # noqa: E402
import rclpy  # noqa: E402
import torch  # noqa: E402
from depth_action_recognition.node_main import make_executor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from depth_action_recognition.camera_sim_node import CameraSimNode  # noqa: E402
from depth_action_recognition.recognizer_node import RecognizerNode  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--minutes', type=float, default=30.0)
    p.add_argument('--device', default='auto')
    args = p.parse_args()
    topics = ['/soak0/depth', '/soak1/depth']
    rclpy.init()
    sim = CameraSimNode(parameter_overrides=[Parameter('topics', value=topics), Parameter('scenario', value='random'),
                                             Parameter('ground_truth_topic', value='/soak/gt')])
    rec = RecognizerNode(parameter_overrides=[Parameter('depth_topics', value=topics),
                                              Parameter('device', value=args.device)])
    probe = rclpy.create_node('soak_probe')
    received = {t: 0 for t in topics}

    def on_event(msg):
        received[json.loads(msg.data)['camera']] += 1
    probe.create_subscription(String, '/action_events', on_event,
                              QoSProfile(depth=200, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE))
    ex = make_executor()                    # the executor the executables ship with
    for n in (sim, rec, probe):
        ex.add_node(n)
    stop = threading.Event()
    samples = []

    def sampler():
        t0 = time.monotonic()
        while not stop.wait(30.0):
            gpu = torch.cuda.memory_allocated() / 2**20 if rec.engine.device.type == 'cuda' else float('nan')
            samples.append((time.monotonic() - t0, rss_mb(), gpu))
            print(f'{samples[-1][0] / 60:5.1f} min  RSS {samples[-1][1]:7.1f} MB  GPU {gpu:7.1f} MB  events {received}',
                  flush=True)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.1)
    stop.set()
    for _ in range(50):                     # drain the last events
        ex.spin_once(timeout_sec=0.02)
    t, rss, gpu = (np.array(v) for v in zip(*samples))
    warm = t >= 60
    slope = np.polyfit(t[warm], rss[warm], 1)[0] * 600 if warm.sum() >= 2 else float('nan')
    print(f'\nsoak {args.minutes:g} min, 2 cameras x 30 fps, device {rec.engine.device}: RSS {rss[warm][0]:.1f} -> '
          f'{rss[-1]:.1f} MB, slope {slope:+.2f} MB per 10 min'
          + (f'; GPU memory {gpu[warm].min():.1f}-{gpu[warm].max():.1f} MB' if rec.engine.device.type == 'cuda' else ''))
    for topic in topics:
        cam = rec.cameras[topic]
        ok = cam.clips == received[topic] + cam.skipped
        dropped = {k: v for k, v in cam.counts().items() if k.startswith('dropped_') and v}
        print(f'{topic}: frames {cam.received}, clips {cam.clips}, events received {received[topic]}, '
              f'skipped {cam.skipped}, dropped {dropped}: every clip accounted for: {"PASS" if ok else "FAIL"}')
    for n in (sim, rec, probe):
        n.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
