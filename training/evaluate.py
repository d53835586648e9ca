"""Re-measure any student checkpoint on a dataset split.

    python -m training.evaluate --model models/default.safetensors --data data/synth --subjects 31-40 --views 0-3

``--precision both`` (on CUDA) also runs the clips under bf16 autocast and reports the top-1 of each and how
many predictions differ: the accuracy side of choosing a serving precision (the engine serves fp32,
docs/performance.md says why).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.engine import mirror_mean_probs
from depth_action_recognition.errors import CheckpointError
from training.data import DataError, InMemory, PairedClips, open_source, split_from_flags
from training.utils import classification_metrics, pick_device, predict, same_shape_batches, write_json


def get_args_parser():
    p = argparse.ArgumentParser(description='Evaluate a depth student checkpoint.')
    p.add_argument('--model', required=True, type=Path, help='student .safetensors')
    p.add_argument('--data', required=True, help='dataset folder')
    p.add_argument('--subjects', default='', help='subjects to evaluate on (default all)')
    p.add_argument('--views', default='', help='views to evaluate on (default all)')
    p.add_argument('--device', default='auto', help='auto, cpu or cuda')
    p.add_argument('--precision', default='fp32', choices=('fp32', 'bf16', 'both'),
                   help='fp32, bf16 autocast, or both side by side (CUDA)')
    p.add_argument('--flip-average', action='store_true',
                   help="each clip and its mirror image, probabilities averaged (the node's flip_average)")
    p.add_argument('--json', type=Path, default=None, help='also write the metrics here')
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        loaded = load_checkpoint(args.model)
        source = open_source(args.data)
        if source.labels != loaded.meta.labels:
            raise DataError(f'--data {args.data} has labels {source.labels[:3]}..., the model {loaded.meta.labels[:3]}...')
        idx = split_from_flags(args.subjects, args.views).select(source.records)
        if not idx:
            raise DataError('no clips match --subjects/--views')
        ds = InMemory(PairedClips(source, idx, loaded.meta.preprocess, modalities=('depth',)))
    except (CheckpointError, DataError) as e:
        print(f'evaluate: error: {e}', file=sys.stderr)
        return 2
    device = pick_device(args.device)
    if args.precision != 'fp32' and device.type != 'cuda':
        print('evaluate: error: --precision bf16/both needs a CUDA device (the CPU path serves fp32)', file=sys.stderr)
        return 2
    model = loaded.model.to(device).eval()
    from torch.utils.data import DataLoader
    runs = {}
    for precision in (('fp32', 'bf16') if args.precision == 'both' else (args.precision,)):
        def forward(x, bf16=precision == 'bf16'):
            with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                if not args.flip_average:
                    return model(x)
                return torch.log(mirror_mean_probs(model, x))     # ranks the classes as the node's mean does
        # Batches of one input size: under fit 'extend' clips of wider cameras are wider (grouped, in order).
        logits, y = predict(forward, DataLoader(ds, batch_sampler=same_shape_batches(ds, 32, 'depth')), device, 'depth')
        runs[precision] = (logits, classification_metrics(logits, y, source.labels))
    for precision, (logits, m) in runs.items():
        print(f'{loaded.short_id} on {len(idx)} clips ({precision}): top-1 {m["top1"]:.4f}  top-5 {m["top5"]:.4f}')
    logits, m = runs[args.precision if args.precision != 'both' else 'fp32']
    for k, v in m['per_class'].items():
        print(f'  {k:<16} {"n/a" if v is None else f"{v:.3f}"}')
    if args.precision == 'both':
        a, b = runs['fp32'][0], runs['bf16'][0]
        pa, pb = torch.softmax(torch.from_numpy(a), 1), torch.softmax(torch.from_numpy(b), 1)
        m = {**m, 'bf16': runs['bf16'][1], 'predictions_changed': int((a.argmax(1) != b.argmax(1)).sum()),
             'max_prob_diff': float((pa - pb).abs().max())}
        print(f'bf16 - fp32: top-1 {100 * (m["bf16"]["top1"] - m["top1"]):+.2f} points, {m["predictions_changed"]} of '
              f'{len(idx)} predictions changed, largest probability difference {m["max_prob_diff"]:.4f}')
    if args.json:
        write_json(args.json, {**m, 'precision': args.precision, 'flip_average': args.flip_average})
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
