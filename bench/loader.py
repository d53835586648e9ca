"""Data loading speed for the NTU RGB+D format: raw decoding vs the decode-once cache, N workers.

    .venv/bin/python bench/loader.py [--samples 12] [--frames 60]

Writes a format-faithful fixture (512x424 16-bit masked depth PNGs, 1920x1080 MJPG _rgb.avi per sample)
in a temporary folder, then times one pass of a DataLoader over it: first decoding from the raw files
(and filling the cache), then from the cache.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

import cv2
from torch.utils.data import DataLoader

sys.path.insert(0, str(ROOT / 'test'))
from test_ntu import write_sample  # noqa: E402

from depth_action_recognition.preprocess import PreprocessSpec  # noqa: E402
from training.data import PairedClips  # noqa: E402
from training.ntu import NTUSource  # noqa: E402


def one_pass(src, workers):
    ds = PairedClips(src, range(len(src.records)), PreprocessSpec(frames=src.frames), rgb_size=(112, 112))
    t0 = time.perf_counter()
    n = sum(len(b['label']) for b in DataLoader(ds, batch_size=4, num_workers=workers))
    return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--samples', type=int, default=12)
    p.add_argument('--frames', type=int, default=60, help='frames per fixture sample (NTU averages ~80)')
    p.add_argument('--workers', nargs='+', type=int, default=[0, 2])
    args = p.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / 'ntu'
        t0 = time.perf_counter()
        for i in range(args.samples):
            write_sample(root, f'S001C00{1 + i % 3}P{1 + i:03d}R001A0{43 + i % 8}', n=args.frames)
        print(f'fixture: {args.samples} samples x {args.frames} frames written in {time.perf_counter() - t0:.1f} s')
        for w in args.workers:
            cache = Path(tmp) / f'cache{w}'
            raw = one_pass(NTUSource(root, frames=16, cache_dir=cache), w)
            cached = one_pass(NTUSource(root, frames=16, cache_dir=cache), w)
            size = sum(f.stat().st_size for f in cache.rglob('*.npz')) / args.samples / 1e6
            print(f'workers {w}: raw decode {raw:6.2f} clips/s, from cache {cached:7.1f} clips/s '
                  f'({cached / raw:.0f}x; {size:.2f} MB per cached sample)')


if __name__ == '__main__':
    main()
