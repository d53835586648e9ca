"""Distillation step cost vs depth-only: one training step of the same student and batch, side by side.

    .venv/bin/python bench/train.py [--student tiny] [--batch-size 16]

With the teacher's outputs cached, a step of every method is one student forward/backward plus a few
small matrix products; the target is mix <= 1.3x none. `mix@stage3` (``--mix-at stage3``) also runs the
frozen teacher's last stage forward and backward on the mixed map, so it is shown beside it.
"""
import argparse
import time

from common import ROOT  # noqa: F401

import numpy as np
import torch
import torch.nn.functional as F

from depth_action_recognition.models import build_student, preset
from training.losses import build_distill
from training.teachers import build_teacher


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
    teacher = build_teacher('rgb_small', classes).eval()          # dim 192, like dim_t
    head_t = teacher.head
    trunk, rest_t = teacher.split(3)
    with torch.no_grad():                                           # the cached stage-3 map of an 8x60x80 RGB clip
        map_t = trunk(torch.rand(n, 3, 8, 60, 80)).to(device)
    runs = {}
    for method in ('none', 'kd', 'feat', 'mix', 'mix@stage3'):
        student = build_student(preset(args.student, num_classes=classes)).to(device)
        stage = 3 if method.endswith('stage3') else None
        distill = build_distill(method.split('@')[0], dim_s=student.config.channels_at(stage), dim_t=map_t.shape[1] if stage else dim_t,
                                head_t=head_t, alpha=1.0, temperature=4.0, rest_t=rest_t if stage else None).to(device)
        opt = torch.optim.AdamW(list(student.parameters()) + [q for q in distill.parameters() if q.requires_grad])
        runs[method] = (student, distill, opt, stage)
    times = {m: [] for m in runs}
    for step in range(args.steps + 2):
        for method, (student, distill, opt, stage) in runs.items():   # interleaved: the same machine state
            t0 = time.perf_counter()
            map_s, feat_s = student.forward_with_map(x, stage)
            logits_s = student.head(student.dropout(feat_s))
            terms = {'ce': F.cross_entropy(logits_s, y),
                     **distill(map_s, logits_s, map_t if stage else feat_t, logits_t, y)}
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
        print(f'{method:<10} step ({args.student}, batch {n}, {device}): median {1000 * np.median(ts):7.1f} ms, '
              f'{ratio:.3f}x none  {verdict}')


if __name__ == '__main__':
    main()
