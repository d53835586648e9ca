"""Peak memory of the real-data loaders on generated data of real size (a benchmark, not a test).

    .venv/bin/python bench/memory.py [--repo PATH] [--work /tmp/dar_memory] [--seconds 10] [--bag-gb 2.0]

ntu: one NTU RGB+D sample of ``--seconds`` s at 30 fps: a 1920x1080 MJPG ``_rgb.avi`` and 512x424 16-bit
     masked depth PNGs. A fresh process loads it once (``NTUSource(root, frames=16).load(0)``, no cache).
bag: a rosbag2 (sqlite3) of 640x480 16UC1 depth and 640x480 rgb8 colour at 30 fps, as long as it takes to
     reach ``--bag-gb`` GB, cut into 5 s segments; a fresh process converts it (``rosbag_convert.convert``).

Each line gives the process's resident memory before the call (imports done) and its peak (VmHWM).
``--repo`` is the checkout whose ``training`` is measured: a clone at an older commit gives the
before-figure on the same data. The data are written under ``--work`` once and reused (delete it after).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])

def kb(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1])

kind, data = sys.argv[2], sys.argv[3]
if kind == 'ntu':
    from training.ntu import NTUSource
    src = NTUSource(data, frames=16)
    before, t0 = kb('VmRSS:'), time.perf_counter()
    depth, rgb = src.load(0)
    what = f'clip {depth.shape} depth + {rgb.shape} rgb'
else:
    from training.rosbag_convert import convert
    before, t0 = kb('VmRSS:'), time.perf_counter()
    stats = convert(f'{data}/bag', sys.argv[4], depth_topic='/cam/depth', rgb_topic='/cam/color',
                    segments=f'{data}/segments.csv', labels_file=f'{data}/labels.yaml')
    what = f'{stats["clips"]} clips, {stats["frames"]} paired frames'
import training
print(json.dumps({'before_mb': before / 1024, 'peak_mb': kb('VmHWM:') / 1024, 'seconds': time.perf_counter() - t0,
                  'what': what, 'training': training.__file__}))
'''


def write_ntu(root: Path, seconds: float) -> None:
    name = 'S001C001P001R001A043'
    depth_dir = root / 'nturgb+d_depth_masked' / name
    depth_dir.mkdir(parents=True)
    (root / 'nturgb+d_rgb').mkdir()
    n = int(round(seconds * 30))
    vw = cv2.VideoWriter(str(root / 'nturgb+d_rgb' / f'{name}_rgb.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 30,
                         (1920, 1080))
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)     # MJPG of a flat image would be tiny
    for i in range(n):
        d = np.zeros((424, 512), np.uint16)
        d[120:380, 180 + i % 100:260 + i % 100] = 2500 + i % 500
        cv2.imwrite(str(depth_dir / f'MDepth-{i + 1:08d}.png'), d)
        vw.write(np.roll(texture, 8 * i, axis=1))
    vw.release()


def write_bag(root: Path, gigabytes: float) -> float:
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_KILTED)
    Image, Header, Time = (ts.types[t] for t in ('sensor_msgs/msg/Image', 'std_msgs/msg/Header',
                                                 'builtin_interfaces/msg/Time'))
    pair = 640 * 480 * 2 + 640 * 480 * 3
    n = int(np.ceil(gigabytes * 1e9 / pair))
    yy, xx = np.mgrid[0:480, 0:640]
    with Writer(root / 'bag', version=9) as w:
        cd = w.add_connection('/cam/depth', Image.__msgtype__, typestore=ts)
        cc = w.add_connection('/cam/color', Image.__msgtype__, typestore=ts)
        for i in range(n):
            t = 1_764_000_000.0 + i / 30
            header = Header(stamp=Time(sec=int(t), nanosec=int(round((t % 1) * 1e9)) % 1_000_000_000), frame_id='cam')
            d = (1500 + (xx + 3 * i) % 600 + yy).astype(np.uint16)
            c = np.stack([(xx + i) % 256, (yy + i) % 256, (xx + yy) % 256], -1).astype(np.uint8)
            md = Image(header=header, height=480, width=640, encoding='16UC1', is_bigendian=0, step=1280,
                       data=d.view(np.uint8).ravel())
            mc = Image(header=header, height=480, width=640, encoding='rgb8', is_bigendian=0, step=1920, data=c.ravel())
            w.write(cd, int(t * 1e9), ts.serialize_cdr(md, Image.__msgtype__))
            w.write(cc, int(t * 1e9) + 2_000_000, ts.serialize_cdr(mc, Image.__msgtype__))
    (root / 'labels.yaml').write_text('labels: [idle]\n')
    seconds = n / 30
    rows = [f'{s},{min(s + 5, seconds)},idle,1,0' for s in range(0, int(seconds), 5)]
    (root / 'segments.csv').write_text('start_s,end_s,label,subject,view\n' + '\n'.join(rows) + '\n')
    return seconds


def measure(repo: Path, kind: str, data: Path, out: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable, '-c', CHILD, str(repo), kind, str(data), str(out)], capture_output=True,
                       text=True, env=env, cwd=data)
    if r.returncode:
        raise SystemExit(f'{kind}: the child failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repo', type=Path, default=ROOT, help='checkout whose training/ is measured')
    p.add_argument('--work', type=Path, default=Path('/tmp/dar_memory'), help='where the generated data live')
    p.add_argument('--seconds', type=float, default=10.0, help='length of the NTU sample')
    p.add_argument('--bag-gb', type=float, default=2.0, help='size of the generated bag')
    p.add_argument('--only', choices=('ntu', 'bag'), default=None)
    args = p.parse_args()
    ntu, bag = args.work / f'ntu_{args.seconds:g}s', args.work / f'bag_{args.bag_gb:g}gb'
    if args.only in (None, 'ntu'):
        if not ntu.is_dir():
            t0 = time.perf_counter()
            write_ntu(ntu, args.seconds)
            print(f'wrote {ntu} in {time.perf_counter() - t0:.0f} s')
        video = next((ntu / 'nturgb+d_rgb').glob('*.avi'))
        m = measure(args.repo, 'ntu', ntu, args.work)
        print(f'ntu  {args.seconds:g} s 1920x1080 video ({video.stat().st_size / 1e6:.0f} MB on disk, '
              f'{int(round(args.seconds * 30)) * 1920 * 1080 * 3 / 1e6:.0f} MB decoded): RSS {m["before_mb"]:.0f} MB '
              f'before the load, peak {m["peak_mb"]:.0f} MB (+{m["peak_mb"] - m["before_mb"]:.0f} MB), '
              f'{m["seconds"]:.1f} s; {m["what"]}  [{m["training"]}]')
    if args.only in (None, 'bag'):
        if not (bag / 'bag').is_dir():
            bag.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            seconds = write_bag(bag, args.bag_gb)
            print(f'wrote {bag} ({seconds:.0f} s of 640x480 depth + RGB at 30 fps) in {time.perf_counter() - t0:.0f} s')
        size = sum(f.stat().st_size for f in (bag / 'bag').rglob('*') if f.is_file())
        out = args.work / 'converted'
        m = measure(args.repo, 'bag', bag, out)
        import shutil
        shutil.rmtree(out, ignore_errors=True)
        print(f'bag  {size / 1e9:.2f} GB rosbag2: RSS {m["before_mb"]:.0f} MB before the conversion, peak '
              f'{m["peak_mb"]:.0f} MB (+{m["peak_mb"] - m["before_mb"]:.0f} MB), {m["seconds"]:.0f} s; {m["what"]}  '
              f'[{m["training"]}]')


if __name__ == '__main__':
    main()
