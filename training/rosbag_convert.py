"""Convert a rosbag2 recording of depth + RGB topics into the paired-folder training format.

    python -m training.rosbag_convert my_recording/ --depth-topic /camera/depth/image_raw \
        --rgb-topic /camera/color/image_raw --segments segments.csv --labels labels.yaml --out my_data

``segments.csv`` has rows ``start_s,end_s,label,subject,view``: seconds from the header stamp of the
bag's first depth frame (one time base, the cameras' own stamps, for segments, pairing and the
``times.txt`` each clip gets). Each segment becomes one clip. Every depth frame is paired with the RGB
frame nearest in header stamp (at most ``--max-skew-ms`` apart; farther frames are dropped and counted).

The bag is streamed: a frame is written as soon as its RGB partner is known, and only the few frames
that may still pair are held (their number is reported as ``held_max``), so memory does not grow with
the bag. Topics must each be stamped in order; the two may be recorded out of step with each other.
This is the offline, training-side tool: the runtime itself never records or writes frames.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import sys
from collections import deque
from pathlib import Path

import cv2
import numpy as np
import yaml

from depth_action_recognition.depth import decode_depth
from depth_action_recognition.errors import DepthDecodeError
from training.errors import DataError

# An RGB frame stamped this long before the newest one can no longer be anyone's partner, even when the
# depth topic is recorded late: what bounds memory if a depth stream stalls.
HORIZON_S = 2.0


def rgb_array(msg) -> np.ndarray:
    """sensor_msgs/Image rgb8/bgr8/rgba8/bgra8 -> (H, W, 3) RGB uint8 (training data only)."""
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4}
    if msg.encoding not in channels:
        raise ValueError(f'unsupported colour encoding {msg.encoding!r}')
    c = channels[msg.encoding]
    a = np.frombuffer(bytes(msg.data), np.uint8, count=msg.height * msg.step).reshape(msg.height, msg.step)
    a = a[:, :msg.width * c].reshape(msg.height, msg.width, c)[..., :3]
    return a[..., ::-1] if msg.encoding.startswith('bgr') else a


def read_segments(path, labels: list) -> list:
    segments = []
    with open(path, newline='') as f:
        for n, row in enumerate(csv.DictReader(f), 2):
            try:
                start, end = float(row['start_s']), float(row['end_s'])
            except (KeyError, TypeError, ValueError):
                raise DataError(f'{path}:{n}: start_s and end_s must be numbers (columns start_s,end_s,label,subject,view)') from None
            if not end > start:
                raise DataError(f'{path}:{n}: end_s {end} is not after start_s {start}')
            if row.get('label') not in labels:
                raise DataError(f'{path}:{n}: label {row.get("label")!r} is not in the labels file')
            segments.append({'start': start, 'end': end, 'label': row['label'], 'subject': row.get('subject') or 0,
                             'view': row.get('view') or 0, 'clip': f'clip_{len(segments):05d}', 'stamps': []})
    return segments


class Pairer:
    """Pairs each depth frame with the RGB frame nearest in stamp while the bag streams past.

    A depth frame is settled once an RGB frame stamped at or after it has arrived (later ones are farther
    away) or the bag ends; RGB frames too old to pair with any depth frame still to come are let go.
    """

    def __init__(self, max_skew_s: float, emit):
        self.max_skew_s, self.emit = max_skew_s, emit
        self.rgb, self.depth = deque(), deque()       # (stamp, image), oldest first
        self.last_depth = None
        self.unpaired = 0
        self.held_max = 0

    def add_rgb(self, stamp: float, image: np.ndarray) -> None:
        self.rgb.append((stamp, image))
        self._settle(final=False)

    def add_depth(self, stamp: float, image: np.ndarray) -> None:
        self.depth.append((stamp, image))
        self.last_depth = stamp if self.last_depth is None else max(self.last_depth, stamp)
        self._settle(final=False)

    def finish(self) -> None:
        self._settle(final=True)

    def _settle(self, final: bool) -> None:
        self.held_max = max(self.held_max, len(self.rgb) + len(self.depth))
        newest_rgb = self.rgb[-1][0] if self.rgb else -np.inf
        while self.depth and (final or newest_rgb >= self.depth[0][0]
                              or self.depth[-1][0] - self.depth[0][0] > HORIZON_S):
            stamp, image = self.depth.popleft()
            best = min(self.rgb, key=lambda r: abs(r[0] - stamp), default=None)
            if best is None or abs(best[0] - stamp) > self.max_skew_s:
                self.unpaired += 1
            else:
                self.emit(stamp, image, best[1])
        # Depth frames still to come are stamped after the last one seen: older RGB cannot pair any more.
        needed = self.depth[0][0] if self.depth else self.last_depth
        floor = max(-np.inf if needed is None else needed - self.max_skew_s, newest_rgb - HORIZON_S)
        while self.rgb and self.rgb[0][0] < floor:
            self.rgb.popleft()

def convert(bag, out, *, depth_topic, rgb_topic, segments, labels_file, max_skew_ms=50.0) -> dict:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore
    out = Path(out)
    try:
        labels = list(yaml.safe_load(Path(labels_file).read_text())['labels'])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        raise DataError(f'{labels_file}: missing or not a label list ({e})') from None
    segs = read_segments(segments, labels)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(labels_file, out / 'labels.yaml')
    for seg in segs:
        (out / seg['clip'] / 'depth').mkdir(parents=True, exist_ok=True)
        (out / seg['clip'] / 'rgb').mkdir(parents=True, exist_ok=True)
    t0 = None

    def write(stamp, depth, rgb):
        rel = stamp - t0
        for seg in segs:
            if seg['start'] <= rel < seg['end']:
                k = len(seg['stamps'])
                cv2.imwrite(str(out / seg['clip'] / 'depth' / f'{k:06d}.png'), depth)
                cv2.imwrite(str(out / seg['clip'] / 'rgb' / f'{k:06d}.jpg'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                seg['stamps'].append(stamp)

    pairer = Pairer(max_skew_ms / 1000.0, write)
    bad_depth = 0
    with AnyReader([Path(bag)], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        conns = [c for c in reader.connections if c.topic in (depth_topic, rgb_topic)]
        missing = {depth_topic, rgb_topic} - {c.topic for c in conns}
        if missing:
            raise DataError(f'{bag} has no topic(s) {sorted(missing)}')
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            if conn.topic == depth_topic:
                try:
                    img = decode_depth(msg)
                except DepthDecodeError as e:
                    bad_depth += 1
                    print(f'rosbag_convert: depth frame at {stamp:.3f} skipped: {e}', file=sys.stderr)
                    continue
                t0 = stamp if t0 is None else t0
                mm = img.array if img.scale == 0.001 else np.round(img.to_metres() * 1000)
                pairer.add_depth(stamp, mm.astype(np.uint16))
            else:
                pairer.add_rgb(stamp, rgb_array(msg))
        pairer.finish()
    rows = []
    for seg in segs:
        if not seg['stamps']:
            shutil.rmtree(out / seg['clip'])
            print(f'rosbag_convert: segment {seg["start"]}-{seg["end"]} s ({seg["label"]}) has no paired frames; '
                  'left out', file=sys.stderr)
            continue
        (out / seg['clip'] / 'times.txt').write_text(''.join(f'{s:.9f}\n' for s in seg['stamps']))
        rows.append({'clip': seg['clip'], 'label': seg['label'], 'subject': seg['subject'], 'view': seg['view']})
    with open(out / 'clips.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=['clip', 'label', 'subject', 'view'])
        w.writeheader()
        w.writerows(rows)
    return {'clips': len(rows), 'empty_segments': len(segs) - len(rows),
            'frames': sum(len(s['stamps']) for s in segs), 'unpaired': pairer.unpaired,
            'undecodable': bad_depth, 'held_max': pairer.held_max}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bag', help='rosbag2 folder (sqlite3 or mcap)')
    p.add_argument('--depth-topic', required=True)
    p.add_argument('--rgb-topic', required=True)
    p.add_argument('--segments', required=True,
                   help="CSV: start_s,end_s,label,subject,view (seconds from the first depth frame's header stamp)")
    p.add_argument('--labels', required=True, help='labels.yaml (labels, alarm_labels)')
    p.add_argument('--max-skew-ms', type=float, default=50.0, help='largest depth/RGB stamp difference paired')
    p.add_argument('--out', required=True)
    a = p.parse_args(argv)
    try:
        stats = convert(a.bag, a.out, depth_topic=a.depth_topic, rgb_topic=a.rgb_topic, segments=a.segments,
                        labels_file=a.labels, max_skew_ms=a.max_skew_ms)
    except DataError as e:
        print(f'rosbag_convert: error: {e}', file=sys.stderr)
        return 2
    print(f'wrote {stats["clips"]} clips, {stats["frames"]} paired frames to {a.out} ({stats["unpaired"]} depth frames '
          f'without an RGB partner dropped, {stats["empty_segments"]} empty segments left out; at most '
          f'{stats["held_max"]} frames held at once)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
