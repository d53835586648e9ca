"""The repository's version of the paper's table: four methods, same student, data and budget, 3 seeds.

    python -m training.experiment --data data/synth --teacher-checkpoint runs/teacher/teacher.safetensors \
        --per-class 20 --epochs 12 --out runs/experiment

Runs training.distill for each method and seed (one shared teacher cache), then prints mean and
standard deviation of top-1 on held-out subjects and held-out views as a markdown table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from training import distill
from training.losses import METHODS


def table(results: dict) -> str:
    lines = ['| method | cross-subject top-1 (mean ± std) | cross-view top-1 (mean ± std) | seeds |', '|---|---|---|---|']
    for method, runs in results.items():
        cells = []
        for split in ('cross_subject', 'cross_view'):
            v = np.array([r[split] for r in runs])
            cells.append(f'{100 * v.mean():.1f} ± {100 * v.std(ddof=1) if len(v) > 1 else 0:.1f}')
        lines.append(f'| {method} | {cells[0]} | {cells[1]} | {len(runs)} |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--teacher-checkpoint', required=True)
    p.add_argument('--out', type=Path, required=True)
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=METHODS)
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--per-class', type=int, default=20, help='size of the small paired set')
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--student', default='tiny')
    p.add_argument('--device', default='auto')
    p.add_argument('extra', nargs=argparse.REMAINDER, help='after --: more training.distill flags')
    args = p.parse_args(argv)
    extra = [a for a in args.extra if a != '--']
    results = {}
    cache = args.out / 'teacher_cache.safetensors'
    for method in args.methods:
        for seed in args.seeds:
            out = args.out / f'{method}_seed{seed}'
            if not (out / 'metrics.json').is_file():
                rc = distill.main(['--data', args.data, '--teacher-checkpoint', args.teacher_checkpoint,
                                   '--teacher-cache', str(cache), '--method', method, '--seed', str(seed),
                                   '--per-class', str(args.per_class), '--epochs', str(args.epochs),
                                   '--student', args.student, '--device', args.device, '--out', str(out), *extra])
                if rc:
                    return rc
            m = json.loads((out / 'metrics.json').read_text())
            results.setdefault(method, []).append({'seed': seed, 'cross_subject': m['cross_subject']['top1'],
                                                   'cross_view': m['cross_view']['top1'],
                                                   'train_s': m['timings']['train_s']})
    (args.out / 'results.json').write_text(json.dumps(results, indent=2))
    print(table(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
