"""Student vs teacher: latency and throughput at several batch sizes, GFLOPs per clip, ratios; on CUDA also
the execution variants side by side (each against fp32 eager of the same model and batch, in one run).

    .venv/bin/python bench/engine.py [--device cpu|cuda] [--batches 1 8 32] [--student models/default.safetensors] [--camera 240x424]

The teacher is torchvision's r3d_18 on RGB 3x16x112x112 (the Kinetics teacher the paper's setting
would use); the student is the shipped default model at its own input (or, with `--camera HxW`, at the input
a camera of that size gets). The first table runs both through
the recognizer's own path (InferenceEngine's settings: inference_mode, fp32), one forward pass per clip (the
packaged flip_average: true runs each clip and its mirror image: twice the arithmetic of these rows). On CUDA a
second table times, per model and batch: fp32 eager, fp32 replayed from a CUDA graph captured at that fixed
batch shape, bf16 autocast, bf16 with channels_last_3d, and bf16 from a CUDA graph. The variants of one
model and batch are timed in turns (round robin), so a change in the machine's load hits them alike.
"""
import argparse
import copy
import time

import numpy as np
import torch

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.models import count_flops
from depth_action_recognition.preprocess import input_size
from depth_action_recognition.resources import default_model_path

VARIANTS = ('fp32', 'fp32+graph', 'bf16', 'bf16+channels_last', 'bf16+graph')


def runner(model, x, variant):
    """A zero-argument callable that runs ``model`` on ``x`` the way ``variant`` says."""
    bf16 = variant.startswith('bf16')
    if 'channels_last' in variant:
        model = copy.deepcopy(model).to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def eager():
        # cache_enabled=False: autocast's weight-cast cache must not outlive a graph capture.
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16,
                                                    cache_enabled=False):
            return model(x)
    if 'graph' not in variant:
        return eager
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):           # warm-up off the capture stream, as capture requires
        for _ in range(3):
            eager()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        eager()
    return graph.replay


def timed(run, device, repeats):
    run()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
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
    p.add_argument('--camera', default=None, metavar='HxW',
                   help="time the student's input for a camera of this size (under fit 'extend' a 16:9 camera's "
                        "input is wider than the model's own); default: the model's own input")
    args = p.parse_args()
    import torchvision
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    loaded = load_checkpoint(args.student)
    spec = loaded.meta.preprocess
    student = loaded.model.eval()
    teacher = torchvision.models.video.r3d_18(weights=None, num_classes=len(loaded.meta.labels)).eval()
    size = (spec.height, spec.width) if args.camera is None else input_size(*map(int, args.camera.split('x')), spec)
    s_shape, t_shape = (1, spec.frames) + tuple(size), (3, 16, 112, 112)
    fs = count_flops(student, s_shape) / 1e9
    ft = count_flops(teacher, t_shape) / 1e9
    student, teacher = student.to(device), teacher.to(device)
    name = torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} CPU threads'
    print(f'device: {name}; student {loaded.short_id} {s_shape}: {fs:.2f} GFLOPs/clip; '
          f'teacher r3d_18 {t_shape}: {ft:.1f} GFLOPs/clip; FLOP ratio {ft / fs:.1f}x (target >= 10x)')
    served = 'fp32'      # what InferenceEngine does on every device (the CUDA table below says why)
    for b in args.batches:
        reps = args.repeats if cuda or b <= 8 else max(2, args.repeats // 2)
        xs, xt = torch.rand((b,) + s_shape, device=device), torch.rand((b,) + t_shape, device=device)
        ts = timed(runner(student, xs, served), device, reps * 4)
        tt = timed(runner(teacher, xt, served), device, reps)
        print(f'batch {b:>2}: student {1000 * ts:8.2f} ms ({b / ts:8.1f} clips/s) | teacher {1000 * tt:8.2f} ms '
              f'({b / tt:7.1f} clips/s) | throughput ratio {tt / ts:5.1f}x (target >= 5x)')
    if not cuda:
        return
    print(f'\nexecution variants on {name}: median ms per batch (speed-up over fp32 eager of the same model and batch)')
    print('| model | batch | ' + ' | '.join(VARIANTS) + ' |')
    print('|---|---|' + '---|' * len(VARIANTS))
    for label, model, shape in (('student', student, s_shape), ('teacher r3d_18', teacher, t_shape)):
        for b in args.batches:
            x = torch.rand((b,) + shape, device=device)
            runs = {v: runner(model, x, v) for v in VARIANTS}
            samples = {v: [] for v in VARIANTS}
            for _ in range(args.repeats * 2):
                for v in VARIANTS:
                    samples[v].append(timed(runs[v], device, 5))
            ms = {v: 1000 * float(np.median(t)) for v, t in samples.items()}
            cells = [f'{ms[v]:.3f} ({ms["fp32"] / ms[v]:.2f}x)' for v in VARIANTS]
            print(f'| {label} | {b} | ' + ' | '.join(cells) + ' |', flush=True)


if __name__ == '__main__':
    main()
