"""A training step (forward and backward, batch 16, one thread) of the shipped student at four input sizes, timed
in turns in one run: why stage 9 (90 rows) trained 3.5 times as long an epoch as stage 8 (72 rows) for 1.56 times
the pixels.   .venv/bin/python bench/results/cpu_2026-11-28g/train_step.py  (ms per step, three rounds)"""
import time
from pathlib import Path

import torch
from depth_action_recognition.checkpoint import load_checkpoint
torch.set_num_threads(1)
m = load_checkpoint(str(Path(__file__).resolve().parents[3] / 'models' / 'default.safetensors'))
model = m[0] if isinstance(m, tuple) else m
model = getattr(model, 'model', model)
model.train()
shapes = [(72,96),(90,120),(72,127),(90,159)]
res = {s: [] for s in shapes}
for rep in range(3):
    for s in shapes:
        x = torch.randn(16,1,16,*s)
        t=time.perf_counter()
        out = model(x); out = out[0] if isinstance(out, tuple) else out
        out.float().sum().backward()
        res[s].append((time.perf_counter()-t)*1000)
for s in shapes: print(s, ['%.0f'%v for v in res[s]])
