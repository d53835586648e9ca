"""Re-measure any student checkpoint on a dataset split.

    python -m training.evaluate --model models/default.safetensors --data data/synth --subjects 31-40 --views 0-3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from depth_action_recognition.checkpoint import load_checkpoint
from depth_action_recognition.errors import CheckpointError
from training.data import DataError, InMemory, PairedClips, open_source, split_from_flags
from training.utils import classification_metrics, pick_device, predict, write_json


def get_args_parser():
    p = argparse.ArgumentParser(description='Evaluate a depth student checkpoint.')
    p.add_argument('--model', required=True, type=Path, help='student .safetensors')
    p.add_argument('--data', required=True, help='dataset folder')
    p.add_argument('--subjects', default='', help='subjects to evaluate on (default all)')
    p.add_argument('--views', default='', help='views to evaluate on (default all)')
    p.add_argument('--device', default='auto', help='auto, cpu or cuda')
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
    model = loaded.model.to(device).eval()
    from torch.utils.data import DataLoader
    logits, y = predict(model, DataLoader(ds, batch_size=32), device, 'depth')
    m = classification_metrics(logits, y, source.labels)
    print(f'{loaded.short_id} on {len(idx)} clips: top-1 {m["top1"]:.4f}  top-5 {m["top5"]:.4f}')
    for k, v in m['per_class'].items():
        print(f'  {k:<16} {"n/a" if v is None else f"{v:.3f}"}')
    if args.json:
        write_json(args.json, m)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
