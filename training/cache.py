"""The frozen teacher's outputs for the training clips, for both horizontal flips: computed once, read by every run.

    python -m training.cache --data data/synth4 --teacher-checkpoint runs/r4_rgb20/teacher.safetensors \
        --out runs/cache/r4_synth4.safetensors
    torchrun --nproc_per_node N -m training.cache ...     # the same, the clips shared out over N processes

The student's augmentation is a horizontal flip, so the cache holds, per clip and per flip (0 = as
recorded, 1 = mirrored), everything a distillation loss reads of the teacher: its logits, its pooled
embedding and, for ResNet-style teachers, its feature maps after residual stages 2 and 3 (float16).
Every target is then of the very view the student sees; nothing is approximated at feature level.
Recorded videos (NTU RGB+D, paired folders, NW-UCLA) are longer than a clip: with ``--windows K`` the
cache holds K windows spread over each recording (``sampling.spread_index``), 2K views per clip in the
order window 0 as recorded, window 0 mirrored, window 1 ..., and training.distill draws one window per
clip and epoch. Synthetic clips are one window each (K is 1 for them).
Per-channel statistics of the embeddings and maps over all clips and both flips are stored beside them
(the projectors of ``feat`` and ``mix`` standardise to them).

The file is keyed by the teacher file's hash, the clips' content (each clip file's size and modification
time, and its manifest record), the clip list and the stages, and for recorded videos by the sampling rate,
the clip length and the number of windows. ``training.distill`` reads it and, in a
single process, builds it when it is missing or stale; under ``torchrun`` it asks for this step first,
so no rank waits at a barrier for hours while another builds it. Writes are atomic (a unique temporary
file, then a rename), so runs that share a cache never read half a file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from depth_action_recognition.checkpoint import file_sha256
from depth_action_recognition.files import atomic_path
from depth_action_recognition.preprocess import PreprocessSpec
from training.benchmarks import BENCHMARKS, benchmark_help, benchmark_indices
from training.data import DataError, Readable, RecordingWindows, open_sources, split_from_flags
from training.errors import SkippedSample
from training.teachers import TeacherError
from training.train_teacher import load_teacher
from training.utils import ddp_setup, pick_device

MAP_STAGES = (2, 3)


class CacheError(RuntimeError):
    """A teacher cache is missing, stale or unreadable where it cannot be rebuilt (the message says how)."""


def data_fingerprint(source, indices) -> str:
    """Changes when any listed clip's record or file changes (size or modification time)."""
    h = hashlib.sha256()
    files = getattr(source, 'files', None)
    for i in indices:
        h.update(json.dumps(source.records[i], sort_keys=True, default=str).encode())
        for f in (files(i) if files else []):
            st = os.stat(f)
            h.update(f'{f}:{st.st_size}:{st.st_mtime_ns}'.encode())
    return h.hexdigest()[:20]


def cache_key(teacher_path, source, indices, stages, windows: int = 1) -> str:
    # Recorded videos: which frames a clip holds depends on the sampling rate, the clip length and the windows
    # too (a synthetic clip is its file, so keys of synthetic data stay what they were).
    clip = {'fps': float(source.fps), 'frames': int(source.frames), 'windows': windows} \
        if getattr(source, 'recorded', False) else {}
    return json.dumps({'teacher': file_sha256(teacher_path)[:16], 'data': data_fingerprint(source, indices),
                       'indices': hashlib.sha256(np.asarray(indices, np.int64).tobytes()).hexdigest()[:16],
                       'stages': list(stages), 'flips': 2, **clip})


def windows_for(source, windows: int) -> int:
    """Windows per clip a run uses: ``windows`` for recorded videos, 1 for clips that are one window each."""
    if windows < 1:
        raise DataError(f'--windows must be 1 or more, got {windows}')
    return windows if getattr(source, 'recorded', False) else 1


def read_key(path: Path) -> str | None:
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework='pt') as f:
            return (f.metadata() or {}).get('key')
    except Exception:  # noqa: BLE001 - missing, cut short or foreign: not this cache
        return None


def atomic_save(tensors: dict, path: Path, metadata: dict) -> None:
    from safetensors.torch import save_file
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


@torch.inference_mode()
def teacher_pass(teacher, meta, source, indices, *, device, workers=0, batch_size=32, frames=16, windows=1) -> dict:
    """Teacher outputs of ``indices`` for every window and flip: tensors of shape (len(indices), 2 * windows, ...),
    view ``2 * window + flip``."""
    stages = MAP_STAGES if teacher.has_stages else ()
    teacher = teacher.to(device).eval()
    # The RGB is fitted to the teacher's input as the teacher was trained (teachers older than the fit option saw
    # 4:3 frames only, where every fit is the same). Recording by recording, every window of one after the
    # other, and a batch holds whole recordings, so a loader worker decodes an NTU sample once for all its windows.
    ds = RecordingWindows(source, indices, PreprocessSpec(frames=frames, crop=meta.get('fit', 'none')), windows,
                          rgb_size=tuple(meta['rgb_size']), modalities=('rgb',),
                          rgb_frame_step=meta.get('rgb_frame_step', 1))
    batch_size = windows * max(1, batch_size // windows)
    got, parts = {}, {}                 # (clip position, window) -> row of parts; output name -> list of batches
    rows = 0
    # Batches stacked in the loader's workers (one tensor per batch to the process that drives the device).
    loader = DataLoader(Readable(ds), batch_size=batch_size, num_workers=workers, collate_fn=_collate_readable)
    for batch in loader:
        if batch is None:
            continue
        x = batch['rgb'].to(device)
        for k, w in zip(batch['index'], batch['window']):
            got[k, w] = rows
            rows += 1
        per_flip = [teacher.outputs(v, stages) for v in (x, x.flip(-1))]
        for name in per_flip[0]:
            v = torch.stack([o[name] for o in per_flip], 1).float().cpu()
            parts.setdefault(name, []).append(v.half() if name.startswith('map') else v)
    # A clip is kept when every one of its windows could be read (a damaged frame may sit in one window only).
    both = [k for k in range(len(indices)) if all((k, w) in got for w in range(windows))]
    if not both:
        return {'indices': torch.zeros(0, dtype=torch.int64)}
    order = torch.as_tensor([got[k, w] for k in both for w in range(windows)], dtype=torch.int64)
    out = {}
    for name, batches in parts.items():
        v = torch.cat(batches)[order]                            # (clips * K, 2, ...): window-major per clip
        out[name] = v.reshape(len(both), 2 * windows, *v.shape[2:])    # view 2 * window + flip
    out['indices'] = torch.as_tensor([indices[k] for k in both], dtype=torch.int64)
    return out


def _collate_readable(items):
    items = [it for it in items if not isinstance(it, SkippedSample)]
    if not items:
        return None
    return {'rgb': torch.stack([it['rgb'] for it in items]), 'index': [it['index'] for it in items],
            'window': [it['window'] for it in items]}


def statistics(outputs: dict) -> dict:
    """Per-channel mean and standard deviation of every embedding and map, over clips and flips."""
    stats = {}
    for k, v in outputs.items():
        if k == 'logits':
            continue
        v = v.float().flatten(0, 1)                      # (clips * flips, C, ...)
        dims = [0] + list(range(2, v.dim()))
        stats[f'{k}_mean'] = v.mean(dims)
        stats[f'{k}_std'] = (v.var(dims, unbiased=False) + 1e-5).sqrt()
    return stats


def build(path: Path, key: str, teacher, meta, source, indices, *, device, workers=0, rank=0, world=1,
          windows=1, log=print) -> None:
    """Compute and write the cache. Under torchrun every rank computes its share, rank 0 merges."""
    t0 = time.time()
    mine = list(indices)[rank::world]
    out = teacher_pass(teacher, meta, source, mine, device=device, workers=workers, windows=windows)
    if world > 1:
        part = path.with_name(f'{path.name}.part{rank}-of-{world}')
        atomic_save(out, part, {'key': key})
        dist.barrier()                   # every share is on disk; the waits are as long as one share
        if rank == 0:
            from safetensors.torch import load_file
            shares = [load_file(str(path.with_name(f'{path.name}.part{r}-of-{world}'))) for r in range(world)]
            # Shares hold the readable clips of indices[r::world], in order: put them back in one order.
            order = {int(i): n for n, i in enumerate(indices)}
            rows = sorted(((order[int(i)], r, j) for r, share in enumerate(shares)
                           for j, i in enumerate(share['indices'].tolist())))
            out = {k: torch.stack([shares[r][k][j] for _, r, j in rows]) for k in shares[0]}
        dist.barrier()
        part.unlink(missing_ok=True)
    if rank == 0:
        out.update(statistics({k: v for k, v in out.items() if k != 'indices'}))
        atomic_save(out, path, {'key': key})
        log(f'teacher cache: {len(indices)} clips x {f"{windows} windows x " if windows > 1 else ""}2 flips in '
            f'{time.time() - t0:.1f} s -> {path}')
    if world > 1:
        dist.barrier()


def load(path: Path, key: str) -> dict:
    from safetensors.torch import load_file
    if read_key(path) != key:
        raise CacheError(f'{path}: stale or not a teacher cache of this data and teacher')
    return load_file(str(path))


class TeacherTargets:
    """Row lookup into a loaded cache: ``targets(rows, flips, windows)`` -> {'logits', 'emb', 'map'} of those views."""

    def __init__(self, cache: dict, indices, stage: int):
        pos = {int(i): r for r, i in enumerate(cache['indices'].tolist())}
        missing = [i for i in indices if int(i) not in pos]
        if missing:
            raise CacheError(f'the teacher cache lacks {len(missing)} of the training clips (e.g. clip {missing[0]})')
        rows = torch.as_tensor([pos[int(i)] for i in indices])
        self.stage = stage
        self.logits = cache['logits'][rows]
        self.emb = cache['emb'][rows]
        self.map = cache[f'map{stage}'][rows] if stage else None
        name = f'map{stage}' if stage else 'emb'
        if f'{name}_mean' not in cache:
            raise CacheError(f'the teacher cache has no {name} (a teacher without residual stages?)')
        self.stats = {'mean': cache[f'{name}_mean'], 'std': cache[f'{name}_std']}

    def __call__(self, rows: torch.Tensor, flips: torch.Tensor, windows: torch.Tensor | None = None) -> dict:
        f = flips.long() + (0 if windows is None else 2 * windows.long())
        out = {'logits': self.logits[rows, f], 'emb': self.emb[rows, f]}
        if self.map is not None:
            out['map'] = self.map[rows, f].float()
        return out


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, nargs='+', help='dataset folder(s), as given to training.distill')
    p.add_argument('--teacher-checkpoint', required=True, help='teacher from training.train_teacher')
    p.add_argument('--out', required=True, type=Path, help='cache file to write (.safetensors)')
    p.add_argument('--train-subjects', default='1-30', help='subjects whose clips are cached')
    p.add_argument('--train-views', default='0-3', help='views whose clips are cached')
    p.add_argument('--frames', type=int, default=16, help='clip length T (as training.distill --frames)')
    p.add_argument('--benchmark', default=None, choices=sorted(BENCHMARKS), help=benchmark_help())
    p.add_argument('--fps', type=float, default=None, help='rate recorded videos are sampled at (as training.distill)')
    p.add_argument('--cache-dir', default=None, help='decoded-sample cache for NTU RGB+D (as training.distill)')
    p.add_argument('--ntu-classes', type=int, default=60, choices=(60, 120), help='NTU RGB+D 60 or 120')
    p.add_argument('--windows', type=int, default=3,
                   help='windows spread over each recorded video (as training.distill; synthetic clips have one)')
    p.add_argument('--device', default='auto', help='auto, cpu or cuda')
    p.add_argument('--workers', type=int, default=0, help='data loader processes')
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    device = pick_device(args.device)
    rank, world = ddp_setup(device)
    try:
        source = open_sources(args.data, ntu_classes=args.ntu_classes, frames=args.frames, cache_dir=args.cache_dir,
                              fps=args.fps)
        benchmark = args.benchmark or getattr(source, 'benchmark', None)
        if benchmark:
            indices = benchmark_indices(source.records, benchmark)[0]
        else:
            indices = split_from_flags(args.train_subjects, args.train_views).select(source.records)
        if not indices:
            raise DataError('no training clips (check --train-subjects/--train-views or --benchmark)')
        teacher, meta = load_teacher(args.teacher_checkpoint)
        stages = MAP_STAGES if teacher.has_stages else ()
        windows = windows_for(source, args.windows)
        key = cache_key(args.teacher_checkpoint, source, indices, stages, windows)
    except (DataError, TeacherError) as e:
        print(f'cache: error: {e}', file=sys.stderr)
        return 2
    if read_key(args.out) == key:
        if rank == 0:
            print(f'teacher cache {args.out} is up to date ({len(indices)} clips)')
    else:
        build(args.out, key, teacher, meta, source, indices, device=device, workers=args.workers, rank=rank,
              world=world, windows=windows)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
