"""Is the synthetic world fit for the paper's question? The same network trained on RGB and on depth.

    python -m training.train_teacher --data data/synth --modality rgb   --out runs/teacher
    python -m training.train_teacher --data data/synth --modality depth --out runs/depth_twin
    python -m training.modality_check --data data/synth runs/teacher/teacher.safetensors runs/depth_twin/teacher.safetensors

Prints top-1 on held-out subjects and views, split into the object classes (told apart by what is in
the hand) and the rest, as a markdown table.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from torch.utils.data import DataLoader

from depth_action_recognition.synthetic import OBJECT_LABELS
from training.data import InMemory, open_source, split_from_flags
from training.train_teacher import ModalityClips, load_teacher
from training.utils import classification_metrics, predict


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoints', nargs='+', help='networks written by training.train_teacher')
    p.add_argument('--data', required=True, help='dataset folder')
    p.add_argument('--train-subjects', default='1-30')
    p.add_argument('--train-views', default='0-3')
    p.add_argument('--test-subjects', default='31-40')
    p.add_argument('--test-views', default='4')
    args = p.parse_args(argv)
    source = open_source(args.data)
    splits = {'cross-subject': split_from_flags(args.test_subjects, args.train_views).select(source.records),
              'cross-view': split_from_flags(args.train_subjects, args.test_views).select(source.records)}
    obj = [source.labels.index(a) for a in OBJECT_LABELS]
    rest = [i for i in range(len(source.labels)) if i not in obj]
    print('| network | modality | split | top-1 all | top-1 object classes | top-1 other classes |')
    print('|---|---|---|---|---|---|')
    for path in args.checkpoints:
        net, meta = load_teacher(path)
        modality = meta.get('modality', 'rgb')
        for name, idx in splits.items():
            ds = InMemory(ModalityClips(source, idx, modality, tuple(meta['rgb_size']), meta.get('rgb_frame_step', 1)))
            logits, y = predict(net, DataLoader(ds, batch_size=32), 'cpu', 'x')
            m = classification_metrics(logits, y, source.labels)
            pc = np.array([m['per_class'][source.labels[i]] or 0.0 for i in range(len(source.labels))])
            print(f'| {meta["teacher"]} | {modality} | {name} ({m["n"]} clips) | {m["top1"]:.3f} | '
                  f'{pc[obj].mean():.3f} | {pc[rest].mean():.3f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
