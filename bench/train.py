"""Distillation step cost vs depth-only: one training step of the same student and batch, side by side.

    .venv/bin/python bench/train.py [--student tiny] [--batch-size 16]

Every method runs the real ``training.distill.train_step`` on the same batch, interleaved step by step so
the machine's load hits them alike; the teacher's outputs come from a cache as in training (its trunk never
runs). ``mix`` also runs the frozen teacher's stages after the mixing point (``s2t``) and the student's own
(``t2s``) forward and backward; the printed ratios say what that costs against depth-only training.
"""
import argparse
import time

from common import ROOT  # noqa: F401

import numpy as np
import torch

from depth_action_recognition.models import build_student, preset
from training.cache import TeacherTargets
from training.distill import DistillModel, train_step
from training.losses import build_distill
from training.teachers import build_teacher

VARIANTS = {  # name: (method, stage, direction)
    'none': ('none', 0, 'both'), 'kd': ('kd', 0, 'both'), 'feat@stage3': ('feat', 3, 'both'),
    'mix s2t@stage3': ('mix', 3, 's2t'), 'mix t2s@stage3': ('mix', 3, 't2s'), 'mix both@stage3': ('mix', 3, 'both'),
    'mix both@stage2': ('mix', 2, 'both'),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--student', default='tiny')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--device', default='cpu')
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    n, classes = args.batch_size, 14
    teacher = build_teacher('rgb_small', classes).eval()
    with torch.no_grad():                                   # cached outputs of 8x60x80 RGB clips, both flips
        out = teacher.outputs(torch.rand(n, 3, 8, 60, 80), (2, 3))
    cache = {'indices': torch.arange(n)}
    for k, v in out.items():
        cache[k] = torch.stack([v, v], 1)
        if k != 'logits':
            dims = [0] + list(range(2, v.dim()))
            cache[f'{k}_mean'], cache[f'{k}_std'] = v.mean(dims), v.std(dims) + 1e-3
    batch = (torch.rand(n, 1, 16, 60, 80), torch.randint(0, classes, (n,)), torch.arange(n), torch.zeros(n, dtype=torch.long))
    weights = {'ce': 1.0, 'kd': 1.0, 'feat': 1.0, 'mix_s2t': 1.0, 'mix_t2s': 1.0}
    runs = {}
    for name, (method, stage, direction) in VARIANTS.items():
        student = build_student(preset(args.student, num_classes=classes))
        targets = TeacherTargets(cache, list(range(n)), stage) if method != 'none' else None
        distill = build_distill(method, c_s=student.config.channels_at(stage), stats_t=targets.stats if targets else None,
                                stage=stage, rest_t=teacher.split(stage)[1] if stage else None, head_t=teacher.head,
                                direction=direction)
        model = DistillModel(student, distill, stage).to(device).train()
        opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad])
        runs[name] = (model, targets, opt)
    times = {m: [] for m in runs}
    gen = torch.Generator().manual_seed(0)
    for step in range(args.steps + 2):
        for name, (model, targets, opt) in runs.items():   # interleaved: the same machine state
            t0 = time.perf_counter()
            train_step(model, batch, targets, opt, weights, gen, device)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            if step >= 2:
                times[name].append(time.perf_counter() - t0)
    base = np.median(times['none'])
    for name, ts in times.items():
        print(f'{name:<16} step ({args.student}, batch {n}, {device}): median {1000 * np.median(ts):7.1f} ms, '
              f'{np.median(ts) / base:.2f}x none')


if __name__ == '__main__':
    main()
