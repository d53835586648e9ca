"""Student vs teacher: latency and throughput at several batch sizes, GFLOPs per clip, ratios.

    .venv/bin/python bench/engine.py [--device cpu|cuda] [--batches 1 8 32] [--student models/default.safetensors]

The teacher is torchvision's r3d_18 on RGB 3x16x112x112 (the Kinetics teacher the paper's setting
would use); the student is the shipped default model at its own input. Both run through the same
inference code path as the recognizer (inference_mode; bf16 autocast on CUDA).
"""
import argparse
import time


import numpy as np
import torch

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.models import count_flops
from depth_action_recognition.resources import default_model_path


def timed(model, x, device, repeats):
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == 'cuda'):
        model(x)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--device', default='cpu')
    p.add_argument('--batches', nargs='+', type=int, default=[1, 8, 32])
    p.add_argument('--student', default=str(default_model_path()))
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args()
    import torchvision
    device = torch.device(args.device)
    loaded = load_checkpoint(args.student)
    spec = loaded.meta.preprocess
    student = loaded.model.to(device).eval()
    teacher = torchvision.models.video.r3d_18(weights=None, num_classes=len(loaded.meta.labels)).to(device).eval()
    s_shape, t_shape = (1, spec.frames, spec.height, spec.width), (3, 16, 112, 112)
    fs = count_flops(student.cpu(), s_shape) / 1e9
    ft = count_flops(teacher.cpu(), t_shape) / 1e9
    student, teacher = student.to(device), teacher.to(device)
    name = torch.cuda.get_device_name() if device.type == 'cuda' else f'{torch.get_num_threads()} CPU threads'
    print(f'device: {name}; student {loaded.short_id} {s_shape}: {fs:.2f} GFLOPs/clip; '
          f'teacher r3d_18 {t_shape}: {ft:.1f} GFLOPs/clip; FLOP ratio {ft / fs:.1f}x (target >= 10x)')
    for b in args.batches:
        reps = args.repeats if device.type == 'cuda' or b <= 8 else max(2, args.repeats // 2)
        ts = timed(student, torch.rand((b,) + s_shape, device=device), device, reps * 4)
        tt = timed(teacher, torch.rand((b,) + t_shape, device=device), device, reps)
        print(f'batch {b:>2}: student {1000 * ts:8.1f} ms ({b / ts:7.1f} clips/s) | teacher {1000 * tt:8.1f} ms '
              f'({b / tt:6.1f} clips/s) | throughput ratio {tt / ts:5.1f}x (target >= 5x)')


if __name__ == '__main__':
    main()
