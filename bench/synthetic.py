"""Synthetic world rendering speed: paired RGB-D frames per second at 160x120 on this machine.

    .venv/bin/python bench/synthetic.py
"""
import time

from common import ROOT  # noqa: F401  (puts the repository on sys.path)

from depth_action_recognition.synthetic import LABELS, render_clip


def main():
    render_clip('walking', 0, frames=2)       # imports, first allocations
    for rgb in (True, False):
        frames, t0 = 0, time.perf_counter()
        for i, label in enumerate(LABELS * 2):
            frames += len(render_clip(label, 1000 + i, frames=16, size=(120, 160), rgb=rgb).depth)
        dt = time.perf_counter() - t0
        what = 'paired RGB-D' if rgb else 'depth only'
        verdict = ('PASS' if frames / dt >= 200 else 'FAIL') if rgb else 'info'
        print(f'{what:<13} 160x120: {frames} frames in {dt:.2f} s = {frames / dt:.0f} frames/s on one process '
              f'(target >= 200 for RGB-D: {verdict})')


if __name__ == '__main__':
    main()
