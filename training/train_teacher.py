"""Pre-train or fine-tune an RGB teacher on the RGB half of a dataset.

    python -m training.train_teacher --data data/synth --teacher rgb_small --epochs 8 --out runs/teacher

With Kinetics weights (``--teacher-weights kinetics`` or a path) this fine-tunes a torchvision video
model; without them it trains from scratch, which on the synthetic world stands in for large-scale
RGB pre-training (the synthetic world can render as much RGB as you like).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from training.data import DataError, InMemory, PairedClips, open_sources, per_class_subset, split_from_flags
from training.teachers import TEACHERS, Teacher, TeacherError, build_teacher
from training.utils import (apply_yaml_defaults, classification_metrics, pick_device, predict, save_config,
                            seed_everything, write_json)
from depth_action_recognition.files import atomic_path
from depth_action_recognition.preprocess import TRAIN_FITS, PreprocessSpec

FORMAT = 'depth_action_recognition/teacher/1'


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description='Train an RGB video teacher.')
    p.add_argument('--config', help='YAML file whose keys set defaults for these flags')
    p.add_argument('--data', required=True, nargs='+', help='dataset folder(s); several are read as one (same labels)')
    p.add_argument('--teacher', default='rgb_small', choices=TEACHERS, help='teacher architecture')
    p.add_argument('--teacher-weights', default=None, help="'kinetics' (local torch cache) or a weights file")
    p.add_argument('--modality', default='rgb', choices=('rgb', 'depth'),
                   help='train on RGB (a teacher) or, for comparison, the same network on depth')
    p.add_argument('--train-subjects', default='1-30', help='subjects used for training, e.g. 1-30')
    p.add_argument('--train-views', default='0-3', help='camera views used for training, e.g. 0-3')
    p.add_argument('--per-class', type=int, default=0, help='at most this many training clips per class (0 = all)')
    p.add_argument('--rgb-size', default='60x80', help='teacher input HEIGHTxWIDTH (112x112 for Kinetics r3d_18)')
    p.add_argument('--rgb-frame-step', type=int, default=2, help='teacher sees every Nth frame of a clip')
    p.add_argument('--fit', default='pad', choices=TRAIN_FITS,
                   help="frames of another aspect: 'pad' (letterbox), 'center' (crop) or 'none' (stretch); "
                        'students distilled at feature maps need the same fit')
    p.add_argument('--epochs', type=int, default=8, help='passes over the training clips')
    p.add_argument('--batch-size', type=int, default=16, help='clips per step')
    p.add_argument('--lr', type=float, default=2e-3, help='AdamW learning rate (cosine schedule)')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument('--device', default='auto', help='auto, cpu or cuda')
    p.add_argument('--workers', type=int, default=0, help='data loader processes')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    return p


def ModalityClips(source, indices, modality, size, frame_step, augment=False, seed=0, fit='none'):
    """Clips of one modality under the key 'x': RGB as the teacher sees it, or depth through the runtime's
    preprocessing at the same size and frame rate (for the RGB-versus-depth comparison)."""
    frames = int(source.frames)
    spec = PreprocessSpec(height=size[0], width=size[1], frames=frames // frame_step, fps=source.fps / frame_step,
                          crop=fit)
    ds = PairedClips(source, indices, PreprocessSpec(frames=frames, fps=source.fps, crop=fit), rgb_size=size,
                     modalities=(modality,), augment=augment, seed=seed, rgb_frame_step=frame_step)
    if modality == 'depth':
        ds.spec, ds.depth_frame_step = spec, frame_step
    return _Keyed(ds, modality)


class _Keyed(torch.utils.data.Dataset):
    def __init__(self, ds, key):
        self.ds, self.key = ds, key

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, k):
        item = self.ds[k]
        return {'x': item[self.key], 'label': item['label'], 'index': item['index']}

    @property
    def epoch(self):
        return self.ds.epoch

    @epoch.setter
    def epoch(self, value):
        self.ds.epoch = value


def save_teacher(path: Path, teacher: Teacher, meta: dict) -> None:
    from safetensors.torch import save_file
    sd = {k: v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}
    # Whole or not at all, and readable as any new file is (students load it from other accounts' runs).
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata={'teacher': json.dumps({'format': FORMAT, **meta})})


def load_teacher(path, device='cpu') -> tuple:
    """(Teacher in eval mode, its metadata) from a file written by this script."""
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise TeacherError(f'--teacher-checkpoint {path}: file not found')
    try:
        with safe_open(str(path), framework='pt') as f:
            meta = json.loads((f.metadata() or {})['teacher'])
    except Exception as e:  # noqa: BLE001
        raise TeacherError(f'--teacher-checkpoint {path}: not a teacher file of this package ({e})') from None
    teacher = build_teacher(meta['teacher'], len(meta['labels']), weights=str(path),
                            in_channels=1 if meta.get('modality') == 'depth' else 3)
    return teacher.to(device).eval().requires_grad_(False), meta


def train_one_epoch(model, loader, optimizer, scheduler, device) -> tuple:
    model.train()
    total = correct = loss_sum = 0
    for batch in loader:
        x, y = batch['x'].to(device), torch.as_tensor(batch['label']).to(device)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        total += len(y)
    return loss_sum / total, correct / total


def main(argv=None) -> int:
    parser = get_args_parser()
    apply_yaml_defaults(parser, argv)
    args = parser.parse_args(argv)
    seed_everything(args.seed)
    device = pick_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    h, w = (int(v) for v in args.rgb_size.lower().split('x'))
    try:
        args.data = [args.data] if isinstance(args.data, str) else list(args.data)   # a --config file's string
        source = open_sources(args.data)
        train_split = split_from_flags(args.train_subjects, args.train_views)
        idx = per_class_subset(source.records, train_split.select(source.records), args.per_class, args.seed)
        if not idx:
            raise DataError(f'--train-subjects {args.train_subjects} / --train-views {args.train_views}: no clips')
        spec = PreprocessSpec(frames=int(source.frames), fps=source.fps)
        # Hold out every 10th training clip for validation.
        val_idx, tr_idx = idx[::10], [i for k, i in enumerate(idx) if k % 10]
        train = ModalityClips(source, tr_idx, args.modality, (h, w), args.rgb_frame_step, augment=True, seed=args.seed,
                              fit=args.fit)
        val = InMemory(ModalityClips(source, val_idx, args.modality, (h, w), args.rgb_frame_step, fit=args.fit))
        teacher = build_teacher(args.teacher, len(source.labels), args.teacher_weights,
                                in_channels=3 if args.modality == 'rgb' else 1).to(device)
    except (DataError, TeacherError) as e:
        print(f'train_teacher: error: {e}', file=sys.stderr)
        return 2
    save_config(args, args.out)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, num_workers=args.workers, drop_last=True)
    opt = torch.optim.AdamW(teacher.parameters(), lr=args.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * len(loader), pct_start=0.15)
    t0 = time.time()
    for epoch in range(args.epochs):
        train.epoch = epoch
        loss, acc = train_one_epoch(teacher, loader, opt, sched, device)
        teacher.eval()
        logits, labels = predict(teacher, DataLoader(val, batch_size=32), device, 'x')
        val_acc = float((logits.argmax(1) == labels).mean())
        print(f'epoch {epoch + 1}/{args.epochs}  loss {loss:.3f}  train top-1 {acc:.3f}  val top-1 {val_acc:.3f}  '
              f'({time.time() - t0:.0f} s)', flush=True)
    metrics = classification_metrics(logits, labels, source.labels)
    meta = {'teacher': args.teacher, 'labels': source.labels, 'rgb_size': [h, w], 'frames': spec.frames,
            'rgb_frame_step': args.rgb_frame_step, 'modality': args.modality, 'fit': args.fit,
            'data': ' '.join(map(str, args.data)), 'train_clips': len(tr_idx), 'val_top1': metrics['top1'],
            'seconds': round(time.time() - t0, 1), 'weights': args.teacher_weights}
    save_teacher(args.out / 'teacher.safetensors', teacher.cpu(), meta)
    write_json(args.out / 'metrics.json', {**meta, 'val': metrics})
    print(f'wrote {args.out / "teacher.safetensors"} (val top-1 {metrics["top1"]:.3f})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
