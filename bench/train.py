"""Distillation step cost vs depth-only: one training step of the same student and batch, side by side.

    .venv/bin/python bench/train.py [--student tiny] [--batch-size 16]

With the teacher's outputs cached, a step of every method is one student forward/backward plus a few
small matrix products; the target is mix <= 1.3x none.
"""
import argparse
import time

from common import ROOT  # noqa: F401

import numpy as np
import torch
import torch.nn.functional as F

from depth_action_recognition.models import build_student, preset
from training.losses import build_distill


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--student', default='tiny')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--steps', type=int, default=12)
    p.add_argument('--device', default='cpu')
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    n, classes, dim_t = args.batch_size, 14, 192
    x = torch.rand(n, 1, 16, 60, 80, device=device)
    y = torch.randint(0, classes, (n,), device=device)
    feat_t, logits_t = torch.randn(n, dim_t, device=device), torch.randn(n, classes, device=device)
    head_t = torch.nn.Linear(dim_t, classes)
    runs = {}
    for method in ('none', 'kd', 'feat', 'mix'):
        student = build_student(preset(args.student, num_classes=classes)).to(device)
        distill = build_distill(method, dim_s=student.config.feature_dim, dim_t=dim_t, head_t=head_t, alpha=1.0,
                                temperature=4.0).to(device)
        opt = torch.optim.AdamW(list(student.parameters()) + [q for q in distill.parameters() if q.requires_grad])
        runs[method] = (student, distill, opt)
    times = {m: [] for m in runs}
    for step in range(args.steps + 2):
        for method, (student, distill, opt) in runs.items():   # interleaved: the same machine state for all
            t0 = time.perf_counter()
            feat_s = student.forward_features(x)
            logits_s = student.head(student.dropout(feat_s))
            terms = {'ce': F.cross_entropy(logits_s, y), **distill(feat_s, logits_s, feat_t, logits_t, y)}
            loss = sum(terms.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == 'cuda':
                torch.cuda.synchronize()
            if step >= 2:
                times[method].append(time.perf_counter() - t0)
    base = np.median(times['none'])
    for method, ts in times.items():
        ratio = np.median(ts) / base
        verdict = ('PASS' if ratio <= 1.3 else 'FAIL') if method == 'mix' else ''
        print(f'{method:<5} step ({args.student}, batch {n}, {device}): median {1000 * np.median(ts):7.1f} ms, '
              f'{ratio:.3f}x none  {verdict}')


if __name__ == '__main__':
    main()
