"""Distil a frozen RGB teacher into a depth-only student (or train the depth-only baseline).

    python -m training.distill --data data/synth --teacher-checkpoint runs/teacher/teacher.safetensors \
        --method mix --student tiny --epochs 12 --out runs/mix

Methods (``--method``): ``none`` depth only, ``kd`` logit KD, ``feat`` feature KD, ``mix`` cross-modality
mixing distillation (training/losses.py). The teacher's features and logits are computed once per
training clip and cached (``--teacher-cache``), so an epoch never runs the teacher. The student is
written as ``student.safetensors`` in the runtime's format: the recognizer loads it as it is.
Several processes: ``torchrun --nproc_per_node N -m training.distill ...`` (DDP; gloo on CPU).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from tqdm import tqdm

from depth_action_recognition.checkpoint import ModelMeta, file_sha256, save_checkpoint
from depth_action_recognition.models import PRESETS, build_student, count_flops, preset
from depth_action_recognition.preprocess import PreprocessSpec
from training.data import DataError, InMemory, PairedClips, open_sources, per_class_subset, split_from_flags
from training.losses import METHODS, build_distill
from training.teachers import TeacherError
from training.train_teacher import load_teacher
from training.utils import (apply_yaml_defaults, classification_metrics, ddp_setup, pick_device, plot_confusion,
                            plot_curves, predict, save_config, seed_everything, write_json)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', help='YAML file whose keys set defaults for these flags')
    p.add_argument('--data', required=True, nargs='+',
                   help='paired RGB-D dataset folder(s); several are read as one (same labels), splits apply to all')
    p.add_argument('--method', default='mix', choices=METHODS, help='distillation method')
    p.add_argument('--teacher-checkpoint', default=None, help='teacher from training.train_teacher (needed unless --method none)')
    p.add_argument('--teacher-cache', type=Path, default=None, help='teacher outputs cache file (default: in --out)')
    p.add_argument('--student', default='tiny', choices=sorted(PRESETS), help='student architecture preset')
    p.add_argument('--frames', type=int, default=16, help='clip length T')
    p.add_argument('--height', type=int, default=60, help='student input height')
    p.add_argument('--width', type=int, default=80, help='student input width')
    p.add_argument('--train-subjects', default='1-30', help='training subjects')
    p.add_argument('--train-views', default='0-3', help='training camera views')
    p.add_argument('--test-subjects', default='31-40', help='held-out subjects (cross-subject test, training views)')
    p.add_argument('--test-views', default='4', help='held-out views (cross-view test, training subjects)')
    p.add_argument('--benchmark', default=None, choices=('ntu60-xsub', 'ntu60-xview', 'ntu120-xsub', 'ntu120-xset'),
                   help='NTU RGB+D official split (replaces the subject/view flags)')
    p.add_argument('--ntu-classes', type=int, default=60, choices=(60, 120), help='NTU RGB+D 60 or 120')
    p.add_argument('--cache-dir', default=None, help='decoded-sample cache for NTU RGB+D (npz per sample)')
    p.add_argument('--per-class', type=int, default=0, help='paired training clips per class (0 = all)')
    p.add_argument('--subset-seed', type=int, default=0, help='which clips --per-class picks (fixed across --seed)')
    p.add_argument('--epochs', type=int, default=12, help='passes over the training clips')
    p.add_argument('--batch-size', type=int, default=16, help='clips per step (per process)')
    p.add_argument('--lr', type=float, default=3e-3, help='AdamW peak learning rate (one-cycle)')
    p.add_argument('--weight-decay', type=float, default=0.05, help='AdamW weight decay')
    p.add_argument('--alpha', type=float, default=1.0, help='mix: lambda ~ Beta(alpha, alpha)')
    p.add_argument('--mix-at', default='embedding', choices=('embedding', 'stage2', 'stage3'),
                   help='mix: pooled clip embeddings, or the feature maps after residual stage 2 or 3')
    p.add_argument('--temperature', type=float, default=4.0, help='KD temperature')
    p.add_argument('--w-ce', type=float, default=1.0, help='weight of the student cross-entropy')
    p.add_argument('--w-kd', type=float, default=1.0, help='weight of logit KD (kd, mix)')
    p.add_argument('--w-feat', type=float, default=1.0, help='weight of feature KD (feat)')
    p.add_argument('--w-mix', type=float, default=1.0, help='weight of the mixed-feature cross-entropy (mix)')
    p.add_argument('--name', default=None, help='model name stored in the checkpoint (default: student-METHOD)')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument('--device', default='auto', help='auto, cpu or cuda')
    p.add_argument('--workers', type=int, default=0, help='data loader processes')
    p.add_argument('--resume', action='store_true', help='continue from --out/last_state.pt')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    return p


def _cache_matches(cache: Path, key: str) -> bool:
    if not cache.is_file():
        return False
    from safetensors import safe_open
    try:
        with safe_open(str(cache), framework='pt') as f:
            return (f.metadata() or {}).get('key') == key
    except Exception:  # noqa: BLE001 - a cache cut short or from elsewhere is simply rebuilt
        return False


def _data_key(folders) -> str | list:
    """The folders as the cache key names them (one folder: a plain path, as before several were allowed)."""
    resolved = [str(Path(d).resolve()) for d in folders]
    return resolved[0] if len(resolved) == 1 else resolved


def teacher_outputs(args, source, indices, teacher, meta, device, rank):
    """Features and logits of the frozen teacher for each training clip: computed once, then read from disk.

    Every rank passes the same barrier: only rank 0 looks at the cache and (re)builds it, then all read
    it. (When each rank checked the file itself, a rank that found the cache rank 0 had just written
    skipped the barrier rank 0 was waiting in: a DDP hang that showed only under load.)
    """
    from safetensors.torch import load_file, save_file
    cache = args.teacher_cache or args.out / 'teacher_cache.safetensors'
    stage = mix_stage(args)
    key = json.dumps({'teacher': file_sha256(args.teacher_checkpoint)[:16], 'data': _data_key(args.data),
                      'indices': hashlib.sha256(np.asarray(indices).tobytes()).hexdigest()[:16],
                      **({'stage': stage} if stage else {})})
    if rank == 0 and not _cache_matches(cache, key):
        teacher = teacher.to(device)
        spec = PreprocessSpec(frames=args.frames)
        ds = PairedClips(source, indices, spec, rgb_size=tuple(meta['rgb_size']), modalities=('rgb',),
                         rgb_frame_step=meta.get('rgb_frame_step', 1))
        # Mixing at a feature map caches that map (float16: it is large) instead of the embedding.
        trunk, rest = teacher.split(stage) if stage else (teacher.features, None)
        feats, logits = [], []
        t0 = time.time()
        with torch.inference_mode():
            for batch in DataLoader(ds, batch_size=32, num_workers=args.workers):
                f = trunk(batch['rgb'].to(device))
                feats.append(f.half().cpu() if stage else f.float().cpu())
                logits.append(teacher.head(rest(f) if stage else f).float().cpu())
        feats, logits = torch.cat(feats), torch.cat(logits)
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(cache.name + '.partial')   # a run sharing --teacher-cache never reads half a file
        save_file({'features': feats, 'logits': logits}, str(partial), metadata={'key': key})
        partial.replace(cache)
        teacher.cpu()
        print(f'teacher cache: {len(indices)} clips in {time.time() - t0:.1f} s -> {cache}', flush=True)
    if dist.is_initialized():
        dist.barrier()
    t = load_file(str(cache))
    return t['features'], t['logits']


def mix_stage(args) -> int | None:
    """The residual stage whose feature maps ``mix`` mixes, or None for the pooled embeddings."""
    return int(args.mix_at[-1]) if args.method == 'mix' and args.mix_at != 'embedding' else None


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Depth-side augmentation on preprocessed clips: random horizontal flip and a small shift."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1, 1), x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-3, 4, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def train_one_epoch(student, distill, loader, optimizer, scheduler, weights, device, gen, amp, bar=None,
                    stage=None) -> dict:
    student.train()
    distill.train()
    sums, correct, total = {}, 0, 0
    for x, y, feat_t, logits_t in (bar or loader):
        x, y = augment(x, gen).to(device), y.to(device)
        feat_t, logits_t = feat_t.to(device), logits_t.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            s = student.module if isinstance(student, DistributedDataParallel) else student
            map_s, feat_s = s.forward_with_map(x, stage)   # the loss gets the map, the head the embedding
            logits_s = s.head(s.dropout(feat_s))
            terms = {'ce': F.cross_entropy(logits_s.float(), y, label_smoothing=0.1),
                     **distill(map_s.float(), logits_s.float(), feat_t.float(), logits_t, y)}
        loss = sum(weights[k] * v for k, v in terms.items())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n = len(y)
        for k, v in {'loss': loss, **terms}.items():
            sums[k] = sums.get(k, 0.0) + v.item() * n
        correct += (logits_s.argmax(1) == y).sum().item()
        total += n
        if bar is not None:
            bar.set_postfix(loss=f'{sums["loss"] / total:.3f}', acc=f'{correct / total:.3f}')
    return {**{k: v / total for k, v in sums.items()}, 'train_acc': correct / total}


def evaluate(model, dataset, device, labels) -> dict:
    model.eval()
    logits, y = predict(model, DataLoader(dataset, batch_size=32), device, 'depth')
    return classification_metrics(logits, y, labels)


def main(argv=None) -> int:
    parser = get_args_parser()
    apply_yaml_defaults(parser, argv)
    args = parser.parse_args(argv)
    # A --config file written by an older run names one folder as a string.
    args.data = [args.data] if isinstance(args.data, str) else list(args.data)
    data_name = ' '.join(str(d) for d in args.data)
    if args.method != 'none' and not args.teacher_checkpoint:
        parser.error(f'--method {args.method} needs --teacher-checkpoint')
    device = pick_device(args.device)
    rank, world = ddp_setup(device)
    seed_everything(args.seed + rank)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    try:
        source = open_sources(args.data, ntu_classes=args.ntu_classes, frames=args.frames, cache_dir=args.cache_dir)
        spec = PreprocessSpec(height=args.height, width=args.width, frames=args.frames, fps=source.fps)
        recs = source.records
        if args.benchmark:
            from training.ntu import official_split
            train_all = [i for i, r in enumerate(recs) if official_split(r, args.benchmark) == 'train']
            test_sets = {args.benchmark: [i for i, r in enumerate(recs) if official_split(r, args.benchmark) == 'test']}
        else:
            train_all = split_from_flags(args.train_subjects, args.train_views).select(recs)
            test_sets = {'cross_subject': split_from_flags(args.test_subjects, args.train_views).select(recs),
                         'cross_view': split_from_flags(args.train_subjects, args.test_views).select(recs)}
        idx = per_class_subset(recs, train_all, args.per_class, args.subset_seed)
        val_idx, tr_idx = idx[::10], [i for k, i in enumerate(idx) if k % 10]
        if not tr_idx:
            raise DataError('no training clips: check --train-subjects, --train-views and --per-class')
        train_set = InMemory(PairedClips(source, tr_idx, spec, modalities=('depth',)))
        tests = {name: InMemory(PairedClips(source, ix, spec, modalities=('depth',)))
                 for name, ix in (('val', val_idx), *test_sets.items()) if ix}
        config = preset(args.student, num_classes=len(source.labels))
        stage, rest_t = mix_stage(args), None
        if args.method != 'none':
            teacher, t_meta = load_teacher(args.teacher_checkpoint)
            if t_meta['labels'] != source.labels:      # checked on every rank: none is left at a barrier
                raise TeacherError(f'--teacher-checkpoint {args.teacher_checkpoint}: teacher has '
                                   f'{len(t_meta["labels"])} classes, the data {len(source.labels)} '
                                   '(or different label names)')
            if stage:
                rest_t = teacher.split(stage)[1]
            feat_t, logits_t = teacher_outputs(args, source, tr_idx, teacher, t_meta, device, rank)
            head_t = teacher.head
        else:
            feat_t = torch.zeros(len(tr_idx), 1)
            logits_t = torch.zeros(len(tr_idx), len(source.labels))
            head_t = None
    except (DataError, TeacherError) as e:
        print(f'distill: error: {e}', file=sys.stderr)
        return 2
    t_cache = time.time() - t_start
    if rank == 0:
        save_config(args, args.out)
    x = torch.stack([it['depth'] for it in train_set.items]).float()
    y = torch.tensor([it['label'] for it in train_set.items])
    data = TensorDataset(x, y, feat_t, logits_t)
    sampler = DistributedSampler(data, seed=args.seed) if world > 1 else None
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True)

    student = build_student(config).to(device)
    distill = build_distill(args.method, dim_s=config.channels_at(stage), dim_t=feat_t.shape[1], head_t=head_t,
                            alpha=args.alpha, temperature=args.temperature, rest_t=rest_t).to(device)
    if world > 1:
        student = DistributedDataParallel(student)
    params = list(student.parameters()) + [p for p in distill.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.epochs * len(loader),
                                                    pct_start=0.15)
    weights = {'ce': args.w_ce, 'kd': args.w_kd, 'feat': args.w_feat, 'mix': args.w_mix}
    gen = torch.Generator().manual_seed(args.seed + 1000 * rank)
    history, start_epoch = [], 0
    state_path = args.out / 'last_state.pt'
    if args.resume and state_path.is_file():
        st = torch.load(state_path, map_location='cpu', weights_only=True)
        (student.module if world > 1 else student).load_state_dict(st['student'])
        distill.load_state_dict(st['distill'])
        optimizer.load_state_dict(st['optimizer'])
        scheduler.load_state_dict(st['scheduler'])
        # Same --epochs: the schedule continues exactly; more epochs stretch it to the new end.
        scheduler.total_steps = args.epochs * len(loader)
        gen.set_state(st['generator'])
        history, start_epoch = json.loads(st['history']), int(st['epoch'])
        if rank == 0:
            print(f'resumed from {state_path} after epoch {start_epoch}', flush=True)
    amp = device.type == 'cuda'
    bare = student.module if world > 1 else student
    t_train = time.time()
    for epoch in range(start_epoch, args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        # A live bar on a terminal; logs and CI get the one line per epoch below.
        bar = tqdm(loader, desc=f'epoch {epoch + 1}/{args.epochs}', leave=False) \
            if rank == 0 and sys.stderr.isatty() else None
        stats = train_one_epoch(student, distill, loader, optimizer, scheduler, weights, device, gen, amp, bar, stage)
        if rank == 0:
            val = evaluate(bare, tests['val'], device, source.labels) if 'val' in tests else {'top1': float('nan')}
            history.append({'epoch': epoch + 1, **stats, 'val_top1': val['top1']})
            terms = '  '.join(f'{k} {v:.3f}' for k, v in stats.items() if k not in ('loss', 'train_acc'))
            print(f'[{args.method}] epoch {epoch + 1}/{args.epochs}  loss {stats["loss"]:.3f} ({terms})  '
                  f'train top-1 {stats["train_acc"]:.3f}  val top-1 {val["top1"]:.3f}  '
                  f'({time.time() - t_train:.0f} s)', flush=True)
            torch.save({'student': bare.state_dict(), 'distill': distill.state_dict(),
                        'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                        'generator': gen.get_state(), 'history': json.dumps(history), 'epoch': epoch + 1},
                       state_path)
    seconds_train = time.time() - t_train
    if rank != 0:
        dist.destroy_process_group()
        return 0
    bare = bare.cpu().eval()
    results = {name: evaluate(bare, ds, torch.device('cpu'), source.labels) for name, ds in tests.items()}
    flops = count_flops(bare, (1, spec.frames, spec.height, spec.width))
    metrics = {'method': args.method, **({'mix_at': args.mix_at} if args.method == 'mix' else {}), 'seed': args.seed, 'student': args.student, 'data': data_name,
               'train_clips': len(tr_idx), 'gflops_per_clip': flops / 1e9,
               'timings': {'setup_and_teacher_cache_s': round(t_cache, 1), 'train_s': round(seconds_train, 1),
                           'epochs': args.epochs, 'world_size': world, 'device': str(device)},
               **{name: r for name, r in results.items()}}
    meta = ModelMeta(name=args.name or f'student-{args.method}', labels=source.labels,
                     alarm_labels=source.alarm_labels, student=config, preprocess=spec,
                     provenance={'method': args.method, 'teacher': str(args.teacher_checkpoint), 'data': data_name,
                                 'seed': args.seed, 'epochs': args.epochs, 'train_clips': len(tr_idx),
                                 'command': 'python -m training.distill ' + ' '.join(sys.argv[1:] if argv is None else argv)},
                     metrics={k: {'top1': v['top1'], 'top5': v['top5'], 'n': v['n']} for k, v in results.items()})
    save_checkpoint(args.out / 'student.safetensors', bare, meta)
    write_json(args.out / 'metrics.json', metrics)
    main_test = results.get('cross_subject') or results.get(args.benchmark) or results.get('val')
    plot_confusion(main_test['confusion'], source.labels, args.out / 'confusion.png',
                   f'{args.method}: cross-subject top-1 {main_test["top1"]:.3f}')
    if history:
        plot_curves(history, args.out / 'curves.png')
    summary = '  '.join(f'{k} top-1 {v["top1"]:.3f}' for k, v in results.items())
    print(f'wrote {args.out / "student.safetensors"}: {summary}', flush=True)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
