"""Convert a rosbag2 recording of depth + RGB topics into the paired-folder training format.

    python -m training.rosbag_convert my_recording/ --depth-topic /camera/depth/image_raw \
        --rgb-topic /camera/color/image_raw --segments segments.csv --labels labels.yaml --out my_data

``segments.csv`` has rows ``start_s,end_s,label,subject,view`` (seconds from the bag's first message);
each segment becomes one clip. Every depth frame is paired with the RGB frame nearest in header stamp
(at most ``--max-skew-ms`` apart; farther frames are dropped and counted). This is the offline,
training-side tool: the runtime itself never records or writes frames.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

from depth_action_recognition.depth import decode_depth
from depth_action_recognition.errors import DepthDecodeError


def rgb_array(msg) -> np.ndarray:
    """sensor_msgs/Image rgb8/bgr8/rgba8/bgra8 -> (H, W, 3) RGB uint8 (training data only)."""
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4}
    if msg.encoding not in channels:
        raise ValueError(f'unsupported colour encoding {msg.encoding!r}')
    c = channels[msg.encoding]
    a = np.frombuffer(bytes(msg.data), np.uint8, count=msg.height * msg.step).reshape(msg.height, msg.step)
    a = a[:, :msg.width * c].reshape(msg.height, msg.width, c)[..., :3]
    return a[..., ::-1] if msg.encoding.startswith('bgr') else a


def convert(bag, out, *, depth_topic, rgb_topic, segments, labels_file, max_skew_ms=50.0) -> dict:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(labels_file, out / 'labels.yaml')
    depth, rgb = [], []
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        conns = [c for c in reader.connections if c.topic in (depth_topic, rgb_topic)]
        missing = {depth_topic, rgb_topic} - {c.topic for c in conns}
        if missing:
            raise SystemExit(f'rosbag_convert: {bag} has no topic(s) {sorted(missing)}')
        t_first = None
        for conn, t, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            t_first = t * 1e-9 if t_first is None else t_first
            if conn.topic == depth_topic:
                try:
                    img = decode_depth(msg)
                except DepthDecodeError as e:
                    print(f'rosbag_convert: depth frame at {stamp:.3f} skipped: {e}', file=sys.stderr)
                    continue
                mm = img.array if img.scale == 0.001 else np.round(img.to_metres() * 1000)
                depth.append((stamp - t_first, stamp, mm.astype(np.uint16)))
            else:
                rgb.append((stamp, rgb_array(msg)))
    rgb_stamps = np.array([s for s, _ in rgb])
    stats = {'clips': 0, 'frames': 0, 'unpaired': 0}
    rows = []
    for n, seg in enumerate(csv.DictReader(open(segments, newline=''))):
        start, end = float(seg['start_s']), float(seg['end_s'])
        clip = f'clip_{n:05d}'
        frames = [(s, d) for rel, s, d in depth if start <= rel < end]
        (out / clip / 'depth').mkdir(parents=True, exist_ok=True)
        (out / clip / 'rgb').mkdir(parents=True, exist_ok=True)
        k = 0
        for s, d in frames:
            j = int(np.argmin(np.abs(rgb_stamps - s))) if len(rgb_stamps) else -1
            if j < 0 or abs(rgb_stamps[j] - s) * 1000 > max_skew_ms:
                stats['unpaired'] += 1
                continue
            cv2.imwrite(str(out / clip / 'depth' / f'{k:06d}.png'), d)
            cv2.imwrite(str(out / clip / 'rgb' / f'{k:06d}.jpg'), cv2.cvtColor(rgb[j][1], cv2.COLOR_RGB2BGR))
            k += 1
        stats['frames'] += k
        stats['clips'] += 1
        rows.append({'clip': clip, 'label': seg['label'], 'subject': seg.get('subject', 0), 'view': seg.get('view', 0)})
    with open(out / 'clips.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=['clip', 'label', 'subject', 'view'])
        w.writeheader()
        w.writerows(rows)
    return stats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', help='rosbag2 folder (sqlite3 or mcap)')
    p.add_argument('--depth-topic', required=True)
    p.add_argument('--rgb-topic', required=True)
    p.add_argument('--segments', required=True, help='CSV: start_s,end_s,label,subject,view')
    p.add_argument('--labels', required=True, help='labels.yaml (labels, alarm_labels)')
    p.add_argument('--max-skew-ms', type=float, default=50.0, help='largest depth/RGB stamp difference paired')
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    stats = convert(a.bag, a.out, depth_topic=a.depth_topic, rgb_topic=a.rgb_topic, segments=a.segments,
                    labels_file=a.labels, max_skew_ms=a.max_skew_ms)
    print(f'wrote {stats["clips"]} clips, {stats["frames"]} paired frames to {a.out} ({stats["unpaired"]} depth frames '
          'without an RGB partner dropped)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
