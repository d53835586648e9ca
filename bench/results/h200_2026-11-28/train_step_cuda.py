"""A training step (forward and backward, fp32) of the shipped student on CUDA at stage 8's and stage 9's input
sizes, batches 16 and 64, timed in turns after a warm-up: what the arithmetic of a 90-row stage costs on a GPU,
beside the one-thread CPU timing of ../cpu_2026-11-28g/train_step.py.
    python3 bench/results/h200_2026-11-28/train_step_cuda.py   (ms per step: median of 20 steps, three rounds)"""
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from depth_action_recognition.checkpoint import load_checkpoint

m = load_checkpoint(str(Path(__file__).resolve().parents[3] / 'models' / 'default.safetensors'))
model = m[0] if isinstance(m, tuple) else m
model = getattr(model, 'model', model).cuda().train()
shapes = [(72, 96), (90, 120), (72, 127), (90, 159)]


def step(x):
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    out.float().sum().backward()


print(torch.cuda.get_device_name(0), 'torch', torch.__version__)
for batch in (16, 64):
    xs = {s: torch.randn(batch, 1, 16, *s, device='cuda') for s in shapes}
    for s in shapes:                      # warm-up: cuDNN picks its kernels per shape
        for _ in range(3):
            step(xs[s])
    torch.cuda.synchronize()
    res = {s: [] for s in shapes}
    for rnd in range(3):
        for s in shapes:
            times = []
            for _ in range(20):
                t = time.perf_counter()
                step(xs[s])
                torch.cuda.synchronize()
                times.append((time.perf_counter() - t) * 1000)
            res[s].append(statistics.median(times))
    for s in shapes:
        print(f'batch {batch} {s[0]}x{s[1]}: ' + ' '.join(f'{v:.1f}' for v in res[s]) + ' ms')
