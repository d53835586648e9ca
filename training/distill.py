"""Distil a frozen RGB teacher into a depth-only student (or train the depth-only baseline).

    python -m training.distill --data data/synth --teacher-checkpoint runs/teacher/teacher.safetensors \
        --method mix --stage stage3 --direction both --student tiny --epochs 12 --out runs/mix

Methods (``--method``): ``none`` depth only, ``kd`` logit KD, ``feat`` feature KD, ``mix`` cross-modality
mixing distillation (training/losses.py). The teacher's outputs for every training clip and both
horizontal flips come from a cache (training/cache.py; built here when missing in a single process), so
an epoch never runs the teacher's trunk. Everything that trains (student and projectors) sits behind one
module whose forward returns the loss terms, called through DistributedDataParallel under torchrun, so
gradients are averaged across processes. The student is written as ``student.safetensors`` in the
runtime's format: the recognizer loads it as it is.
Several processes: ``python -m training.cache ...`` first, then ``torchrun --nproc_per_node N -m training.distill ...``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from depth_action_recognition.checkpoint import ModelMeta, file_sha256, load_checkpoint, save_checkpoint
from depth_action_recognition.errors import CheckpointError
from depth_action_recognition.files import atomic_path
from depth_action_recognition.models import PRESETS, build_student, count_flops, preset
from depth_action_recognition.preprocess import FITS, PreprocessSpec, max_input_width
from training import cache as teacher_cache
from training.benchmarks import BENCHMARKS, benchmark_help, benchmark_indices
from training.data import (DataError, InMemory, PairedClips, RecordingWindows, SkippedSample, open_sources,
                           per_class_subset, read_in_order, split_from_flags)
from training.losses import DIRECTIONS, METHODS, build_distill
from training.teachers import TeacherError
from training.train_teacher import load_teacher
from training.utils import (apply_yaml_defaults, classification_metrics, ddp_setup, pick_device, plot_confusion,
                            plot_curves, predict, same_shape_batches, save_config, seed_everything, write_json)

STAGES = {'embedding': 0, 'stage2': 2, 'stage3': 3}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', help='YAML file whose keys set defaults for these flags')
    p.add_argument('--data', required=True, nargs='+',
                   help='paired RGB-D dataset folder(s); several are read as one (same labels), splits apply to all')
    p.add_argument('--val-data', default=None,
                   help='validation folder (all its clips; used for model selection and tuning). Without it, '
                        'every 10th training clip is held out instead')
    p.add_argument('--val-every', type=int, default=1,
                   help='epochs between validation passes (the last epoch always validates); on a CPU a pass over a '
                        'large validation set can cost as much as the epoch')
    p.add_argument('--method', default='mix', choices=METHODS, help='distillation method')
    p.add_argument('--teacher-checkpoint', default=None, help='teacher from training.train_teacher (needed unless --method none)')
    p.add_argument('--teacher-cache', type=Path, default=None,
                   help='teacher outputs cache (training.cache; default: teacher_cache.safetensors in --out)')
    p.add_argument('--student', default='tiny', choices=sorted(PRESETS), help='student architecture preset')
    p.add_argument('--init', type=Path, default=None,
                   help='start from this student checkpoint (same architecture and labels), e.g. to adapt a shipped '
                        'model to new data without paying again for what it learnt')
    p.add_argument('--frames', type=int, default=16, help='clip length T')
    p.add_argument('--height', type=int, default=60, help='student input height')
    p.add_argument('--width', type=int, default=80, help='student input width')
    p.add_argument('--fit', default='pad', choices=FITS,
                   help="frames of another aspect than the input: 'pad' (letterbox), 'center' (crop), 'none' (stretch) "
                        "or 'extend' (a wider input for a wider frame, as served: a 16:9 clip trains at 60x106 in "
                        "front of a 60x80 input; each batch is drawn from clips of one width; not with feature maps, "
                        "whose teacher letterboxes)")
    p.add_argument('--zoom', type=float, default=0.0,
                   help='student augmentation: scale each training clip about its centre by a factor between '
                        '1/(1+ZOOM) and 1+ZOOM, the two axes apart (e.g. 0.15: a taller, shorter, broader or slimmer '
                        'person at the same distance); 0 (default) off; not with feature maps (stage 2 or 3), which '
                        'must stay aligned with the teacher\'s')
    p.add_argument('--train-subjects', default='1-30', help='training subjects')
    p.add_argument('--train-views', default='0-3', help='training camera views')
    p.add_argument('--test-subjects', default='31-40', help='held-out subjects (cross-subject test, training views)')
    p.add_argument('--test-views', default='4', help='held-out views (cross-view test, training subjects)')
    p.add_argument('--benchmark', default=None, choices=sorted(BENCHMARKS), help=benchmark_help())
    p.add_argument('--fps', type=float, default=None,
                   help="rate recorded videos are sampled at (default: the source's, e.g. 10 for NTU RGB+D)")
    p.add_argument('--ntu-classes', type=int, default=60, choices=(60, 120), help='NTU RGB+D 60 or 120')
    p.add_argument('--cache-dir', default=None, help='decoded-sample cache for NTU RGB+D (npz per sample)')
    p.add_argument('--windows', type=int, default=3,
                   help='recorded videos (NTU RGB+D, folders, NW-UCLA): clips spread over each recording, one drawn per '
                        'epoch, so training sees every phase of an action as a live stream does (memory and teacher '
                        'cache grow with it; synthetic clips are one window each); evaluation takes the centre clip')
    p.add_argument('--per-class', type=int, default=0, help='paired training clips per class (0 = all)')
    p.add_argument('--subset-seed', type=int, default=0, help='which clips --per-class picks (fixed across --seed)')
    p.add_argument('--epochs', type=int, default=12, help='passes over the training clips')
    p.add_argument('--batch-size', type=int, default=16, help='clips per step (per process)')
    p.add_argument('--lr', type=float, default=3e-3, help='AdamW peak learning rate (one-cycle)')
    p.add_argument('--weight-decay', type=float, default=0.05, help='AdamW weight decay')
    p.add_argument('--stage', default='stage3', choices=sorted(STAGES),
                   help='feat, mix: the feature map after residual stage 2 or 3, or (feat only) the pooled embedding')
    p.add_argument('--direction', default='both', choices=DIRECTIONS,
                   help="mix: 's2t' student map through the frozen teacher's remaining stages, 't2s' teacher map "
                        "through the student's own, or both")
    p.add_argument('--alpha', type=float, default=1.0, help='mix: lambda ~ Beta(alpha, alpha) per clip')
    p.add_argument('--temperature', type=float, default=4.0, help='KD temperature (kd, mix)')
    p.add_argument('--w-ce', type=float, default=1.0, help='weight of the student cross-entropy')
    p.add_argument('--w-kd', type=float, default=1.0, help='weight of logit KD (kd, mix)')
    p.add_argument('--w-feat', type=float, default=1.0, help='weight of feature KD (feat)')
    p.add_argument('--w-mix', type=float, default=1.0, help='weight of each mixed cross-entropy term (mix)')
    p.add_argument('--name', default=None, help='model name stored in the checkpoint (default: student-METHOD)')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument('--device', default='auto', help='auto, cpu or cuda')
    p.add_argument('--workers', type=int, default=0,
                   help='processes (per DDP rank) that decode the clips into memory, once, and read the '
                        'teacher\'s RGB for its cache')
    p.add_argument('--resume', action='store_true',
                   help='continue from --out/last_state.pt (more --epochs: the decay is stretched to the new end)')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    return p


class OneCycle:
    """One-cycle learning rate as a pure function of (step, planned steps): cosine warm-up from peak/25 to the
    peak over ``pct_start`` of the steps, cosine decay to peak/25e4 at the end.

    :meth:`stretch` re-plans the length (``--resume`` with more epochs): from the step reached, the rates are
    those of a run launched with the new length, so the decay is stretched to the new end and never turns
    back up. (torch's OneCycleLR keeps its phase ends when ``total_steps`` is changed, and past the old end
    its cosine runs on and climbs back to the peak.)
    """

    def __init__(self, optimizer, peak: float, total_steps: int, pct_start: float = 0.15):
        self.optimizer, self.peak, self.pct_start = optimizer, peak, pct_start
        self.start_lr, self.final_lr = peak / 25, peak / 25e4
        self.total = max(1, total_steps)
        self.step_num = 0
        self._apply()

    @staticmethod
    def _cos(a: float, b: float, frac: float) -> float:
        return b + (a - b) * (1 + math.cos(math.pi * min(max(frac, 0.0), 1.0))) / 2

    def lr_at(self, step: int) -> float:
        warm = max(1, int(self.pct_start * self.total))
        if step < warm:
            return self._cos(self.start_lr, self.peak, step / warm)
        return self._cos(self.peak, self.final_lr, (step - warm) / max(1, self.total - warm))

    def _apply(self) -> None:
        for g in self.optimizer.param_groups:
            g['lr'] = self.lr_at(self.step_num)

    def step(self) -> None:
        self.step_num += 1
        self._apply()

    def get_last_lr(self) -> list:
        return [g['lr'] for g in self.optimizer.param_groups]

    def stretch(self, total_steps: int) -> None:
        self.total = max(1, total_steps)
        self._apply()

    def state_dict(self) -> dict:
        return {'peak': self.peak, 'pct_start': self.pct_start, 'total': self.total, 'step_num': self.step_num}

    def load_state_dict(self, st: dict) -> None:
        self.peak, self.pct_start, self.total, self.step_num = st['peak'], st['pct_start'], st['total'], st['step_num']
        self.start_lr, self.final_lr = self.peak / 25, self.peak / 25e4
        self._apply()


class DistillModel(nn.Module):
    """Everything that trains, behind one forward that returns the loss terms: the student and the
    distillation module (projectors; the frozen teacher parts it holds have no trainable parameters).
    Wrapped in DistributedDataParallel as a whole, so every gradient is averaged across processes."""

    def __init__(self, student: nn.Module, distill: nn.Module, stage: int):
        super().__init__()
        self.student, self.distill, self.stage = student, distill, stage

    def forward(self, x: torch.Tensor, y: torch.Tensor, targets: dict | None) -> tuple:
        s = self.student
        x_s, feat_s = s.forward_with_map(x, self.stage)
        logits_s = s.head(s.dropout(feat_s))
        terms = {'ce': F.cross_entropy(logits_s.float(), y, label_smoothing=0.1)}
        if targets is not None:
            terms.update(self.distill(s, x_s.float(), logits_s.float(), targets, y))
        return terms, logits_s


def loss_weights(args) -> dict:
    return {'ce': args.w_ce, 'kd': args.w_kd, 'feat': args.w_feat, 'mix_s2t': args.w_mix, 'mix_t2s': args.w_mix}


def flip_views(x: torch.Tensor, gen: torch.Generator) -> tuple:
    """The student's augmentation: a horizontal flip per clip. Returns (clips, flips); the teacher cache
    holds the teacher's outputs for both flips, so every target is of the view the student sees."""
    flips = torch.rand(len(x), generator=gen) < 0.5
    return torch.where(flips.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x), flips


def zoom_views(x: torch.Tensor, gen: torch.Generator, zoom: float) -> torch.Tensor:
    """The student's second augmentation (``--zoom``): each clip (N, 1, T, H, W) scaled about its centre, by
    ``sx`` across and ``sy`` down, each log-uniform in [1 / (1 + zoom), 1 + zoom] and drawn apart, every frame of a
    clip alike. A depth frame scaled so keeps its depths: it is a person of another height and build at the same
    distance, which the 30 training subjects cover only sparsely. Nearest-neighbour sampling, so that no depth
    between a person and the wall behind is made up at their edge; what comes in from outside the frame reads 0,
    the value of no reading. Targets stay those of the clip: the teacher's class scores do not depend on a
    person's size."""
    if zoom <= 0:
        return x
    n, _, t, h, w = x.shape
    logs = (torch.rand(n, 2, generator=gen) * 2 - 1) * math.log1p(zoom)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = torch.exp(-logs[:, 0]), torch.exp(-logs[:, 1])   # output -> input coordinates
    grid = F.affine_grid(theta.to(x.device, x.dtype), (n, t, h, w), align_corners=False)
    out = F.grid_sample(x.reshape(n, t, h, w), grid, mode='nearest', padding_mode='zeros', align_corners=False)
    return out.reshape(n, 1, t, h, w)


class WindowDraws(Dataset):
    """Training clips with ``K`` windows each (recorded videos; K = 1 for clips that are one window): every epoch
    takes one window per clip, each clip going through its K windows in every K epochs from a random start
    (so every phase comes up, in no fixed order across clips). Items are (clip, label, cache row, window), so
    the teacher targets are of the window taken. The draws depend on the seed and the epoch only: every DDP
    rank takes the same. ``widths`` (fit 'extend'): each clip's own input width, its columns from the left of
    ``x`` (which is as wide as the widest); None when all are as wide as ``x``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, seed: int, widths: torch.Tensor | None = None):
        self.x, self.y, self.seed, self.widths = x, y, seed, widths      # x: (N, K, 1, T, H, W)
        self.start = torch.randint(x.shape[1], (len(y),), generator=torch.Generator().manual_seed(seed * 100_003))
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.drawn = (self.start + epoch) % self.x.shape[1]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, j: int) -> tuple:
        w = self.drawn[j]
        clip = self.x[j, w] if self.widths is None else self.x[j, w, ..., :int(self.widths[j])]
        return clip, self.y[j], j, w


class WidthBatches:
    """Batches of clips of one input width (fit 'extend': a 16:9 clip is wider than a 4:3 one, and a batch is one
    tensor), for a DataLoader's ``batch_sampler``. Every epoch, each width's clips are shuffled and cut into full
    batches (a width's remainder sits the epoch out, as ``drop_last`` does), and the batches of all widths are
    shuffled together, so a step's width is drawn in proportion to the clips of that width. Under DDP each rank
    takes every ``world``-th batch of the same order, all ranks the same number, so their steps stay in lockstep.
    The order depends on the seed and the epoch only (:meth:`set_epoch`)."""

    def __init__(self, widths, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.groups: dict = {}
        for i, w in enumerate(map(int, widths)):
            self.groups.setdefault(w, []).append(i)
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return sum(len(ix) // self.batch_size for ix in self.groups.values()) // self.world

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        batches = []
        for w in sorted(self.groups):
            ix = torch.tensor(self.groups[w])[torch.randperm(len(self.groups[w]), generator=g)].tolist()
            batches += [ix[s:s + self.batch_size] for s in range(0, len(ix) - self.batch_size + 1, self.batch_size)]
        order = torch.randperm(len(batches), generator=g).tolist()
        mine = [batches[k] for k in order][self.rank::self.world]
        return iter(mine[:len(self)])


def train_step(model, batch, targets_of, optimizer, weights, gen, device, amp=False, zoom=0.0) -> tuple:
    """One optimisation step on (clips, labels, cache rows, windows). Returns (loss terms, student logits)."""
    x, y, rows, windows = batch
    x, flips = flip_views(x.float(), gen)
    x, y = zoom_views(x.to(device), gen, zoom), y.to(device)
    targets = None if targets_of is None else \
        {k: v.to(device) for k, v in targets_of(rows, flips, windows).items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        terms, logits_s = model(x, y, targets)
    loss = sum(weights[k] * v for k, v in terms.items())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {'loss': loss.detach(), **{k: v.detach() for k, v in terms.items()}}, logits_s.detach()


def train_one_epoch(model, loader, targets_of, optimizer, scheduler, weights, device, gen, amp, bar=None,
                    zoom=0.0) -> dict:
    model.train()
    sums, correct, total, step_s = {}, 0, 0, []
    for batch in (bar or loader):
        t0 = time.perf_counter()
        terms, logits_s = train_step(model, batch, targets_of, optimizer, weights, gen, device, amp, zoom)
        scheduler.step()
        step_s.append(time.perf_counter() - t0)
        y = batch[1].to(device)
        n = len(y)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.item() * n
        correct += (logits_s.argmax(1) == y).sum().item()
        total += n
        if bar is not None:
            bar.set_postfix(loss=f'{sums["loss"] / total:.3f}', acc=f'{correct / total:.3f}')
    step_s.sort()
    return {**{k: v / total for k, v in sums.items()}, 'train_acc': correct / total,
            'step_ms': 1000 * step_s[len(step_s) // 2]}


def evaluate(model, dataset, device, labels) -> dict:
    model.eval()
    # batches of one input width (fit 'extend' gives wide cameras wider clips)
    logits, y = predict(model, DataLoader(dataset, batch_sampler=same_shape_batches(dataset, 32, 'depth')), device,
                        'depth')
    return classification_metrics(logits, y, labels)


def teacher_targets(args, source, cache_indices, tr_idx, stage, device, world, windows=1):
    """(frozen teacher, its metadata, TeacherTargets for the training clips) — building the cache if needed."""
    teacher, t_meta = load_teacher(args.teacher_checkpoint)
    if t_meta['labels'] != source.labels:      # checked on every rank: none is left at a barrier
        raise TeacherError(f'--teacher-checkpoint {args.teacher_checkpoint}: teacher has '
                           f'{len(t_meta["labels"])} classes, the data {len(source.labels)} (or different label names)')
    # Teachers from before the fit option (no 'fit' in their metadata) saw 4:3 frames, where every fit agrees.
    if stage and t_meta.get('fit') not in (None, args.fit):
        raise TeacherError(f'--fit {args.fit}: the teacher fits frames by {t_meta["fit"]!r}; feature maps of the two '
                           'would not line up on frames of another aspect (train the teacher with the same --fit)')
    if stage and not teacher.has_stages:
        raise TeacherError(f'--stage {args.stage}: teacher {teacher.name!r} has no residual stages; use a '
                           'ResNet-style teacher' + (' or --stage embedding (feat)' if args.method == 'feat' else ''))
    path = args.teacher_cache or args.out / 'teacher_cache.safetensors'
    stages = teacher_cache.MAP_STAGES if teacher.has_stages else ()
    key = teacher_cache.cache_key(args.teacher_checkpoint, source, cache_indices, stages, windows)
    if teacher_cache.read_key(path) != key:
        if world > 1:
            raise teacher_cache.CacheError(
                f'{path}: missing or stale. Under torchrun build it first (it can take hours on large data, longer '
                f'than a process group waits): python -m training.cache --data {" ".join(map(str, args.data))} '
                f'--teacher-checkpoint {args.teacher_checkpoint} --train-subjects {args.train_subjects} '
                f'--train-views {args.train_views} --frames {args.frames} --windows {windows} '
                f'--ntu-classes {args.ntu_classes}'
                + ''.join(f' --{k.replace("_", "-")} {v}' for k, v in (('benchmark', args.benchmark), ('fps', args.fps),
                                                                     ('cache_dir', args.cache_dir)) if v)
                + f' --out {path}')
        teacher_cache.build(path, key, teacher, t_meta, source, cache_indices, device=device, workers=args.workers,
                            windows=windows)
    return teacher, t_meta, teacher_cache.TeacherTargets(teacher_cache.load(path, key), tr_idx, stage)


# Decoded sets kept for the life of the process: training.experiment runs many trainings on the same clips in
# one process, and on a GPU decoding them again for every run would cost more than the training itself.
_LOADED: dict = {}


# What a resumed run must share with the run that saved the state (--epochs may grow: the decay is stretched).
RESUME_KEYS = ('method', 'student', 'stage', 'direction', 'alpha', 'temperature', 'w_ce', 'w_kd', 'w_feat', 'w_mix',
               'batch_size', 'lr', 'weight_decay', 'frames', 'height', 'width', 'fit', 'windows', 'seed')


def run_fingerprint(args, source, train_indices) -> str:
    """The training clips (their records: the same on every machine that renders or reads them) and the
    settings in RESUME_KEYS, the teacher's file, the --init file and --zoom, hashed: a --resume on anything else
    is refused."""
    teacher = file_sha256(args.teacher_checkpoint) if args.teacher_checkpoint else None    # its targets too
    doc = {'records': [source.records[i] for i in train_indices], 'teacher': teacher, 'fps': args.fps,
           **{k: getattr(args, k) for k in RESUME_KEYS}}
    # Keys only where given, so that a run without them keeps the fingerprint it always had. A state of a run
    # with --init written before --init was hashed is refused: nothing in it tells its starting weights.
    if args.init:           # the weights epoch 1 started from
        doc['init'] = file_sha256(args.init)
    if args.zoom:
        doc['zoom'] = args.zoom
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:20]


def resume_state(args, run_id: str, rank: int):
    """The state to continue from (``--resume`` and ``--out/last_state.pt`` there), else None. A state of another
    run (:func:`run_fingerprint`) is refused with a DataError."""
    path = args.out / 'last_state.pt'
    if not (args.resume and path.is_file()):
        return None
    st = torch.load(path, map_location='cpu', weights_only=True)
    if st.get('run', run_id) != run_id:
        raise DataError(f'--resume: {path} is the state of a run on other clips or settings (method, student, '
                        'knobs, batch, learning rate, input, seed, --init weights, --zoom); remove it or give '
                        'another --out')
    if 'run' not in st and rank == 0:
        print(f'distill: warning: {path} predates the check of its clips and settings: resumed unchecked',
              file=sys.stderr)
    return st


def loaded(source, indices, spec: PreprocessSpec, data_key: str, workers: int = 0) -> InMemory:
    # Keyed by the clips' records and files (size, mtime) as the teacher cache is: a folder rendered again
    # under the same path between two runs of one process is decoded again, not served stale.
    key = (data_key, tuple(indices), spec, teacher_cache.data_fingerprint(source, indices))
    if key not in _LOADED:
        _LOADED[key] = InMemory(PairedClips(source, list(indices), spec, modalities=('depth',)), workers)
    return _LOADED[key]


def stack_padded(clips: list) -> tuple:
    """Clips (1, T, H, W_i) -> ((N, 1, T, H, max W) zero-padded on the right, widths (N,) or None if all are one
    width). Under fit 'extend' a 16:9 clip is wider than a 4:3 one; :class:`WindowDraws` cuts each back."""
    widths = torch.tensor([c.shape[-1] for c in clips])
    wide = int(widths.max())
    if bool((widths == wide).all()):
        return torch.stack(clips), None
    x = torch.zeros((len(clips), *clips[0].shape[:-1], wide), dtype=clips[0].dtype)     # one copy, not two
    for k, c in enumerate(clips):
        x[k, ..., :c.shape[-1]] = c
    return x, widths


def loaded_windows(source, indices, spec: PreprocessSpec, data_key: str, windows: int, workers: int = 0) -> tuple:
    """The training clips, each window decoded once: (x (N, K, 1, T, H, W) float16, labels, kept source indices,
    unreadable count, widths). A recording is kept when all its windows could be read. One window is the memoised
    set (experiments reuse it); several are read recording by recording (all windows of one, then the next:
    one decode of an NTU sample for all its windows) into one preallocated tensor, so the memory is K clips
    per recording, not a second copy of everything. ``workers`` processes decode, a recording's windows in one.
    ``widths`` (N,) is each recording's input width when they differ (fit 'extend': ``x`` is then as wide as the
    widest, the others padded on the right), else None."""
    indices = list(indices)
    if windows == 1:
        ds = loaded(source, indices, spec, data_key, workers)
        if not ds.items:
            return torch.zeros(0), torch.zeros(0, dtype=torch.long), [], len(indices), None
        x, widths = stack_padded([it['depth'] for it in ds.items])
        return (x.unsqueeze(1), torch.tensor([it['label'] for it in ds.items]), list(ds.indices),
                len(indices) - len(ds.indices), widths)
    ds = RecordingWindows(source, indices, spec, windows, modalities=('depth',))
    x, y, readable = None, torch.full((len(indices),), -1, dtype=torch.long), [True] * len(indices)
    widths = torch.zeros(len(indices), dtype=torch.long)
    skipped = []
    for k, group in enumerate(read_in_order(ds, workers, group=windows)):
        for item in group:
            if isinstance(item, SkippedSample):
                readable[k] = False    # one unreadable window leaves the whole recording out
                skipped.append(str(item))
                break
            clip = item['depth']
            if x is None:
                x = torch.zeros((len(indices), windows, *clip.shape), dtype=torch.float16)
            elif clip.shape[-1] > x.shape[-1]:
                # A wider camera than any before (fit 'extend'): widened once, the earlier ones padded.
                x = F.pad(x, (0, clip.shape[-1] - x.shape[-1]))
            x[k, item['window'], ..., :clip.shape[-1]] = clip
            widths[k] = clip.shape[-1]
            y[k] = item['label']
    if skipped:
        print(f'data: {len(skipped)} of {len(indices)} recordings skipped as unreadable (first: {skipped[0]})',
              flush=True)
    kept = [i for i, ok in zip(indices, readable) if ok]
    if x is None or not kept:          # nothing read, or every recording left out after its first window
        return torch.zeros(0), torch.zeros(0, dtype=torch.long), [], len(indices), None
    if len(kept) < len(indices):
        # Unreadable recordings out, in place: moving the kept rows forward needs no second tensor.
        n = 0
        for k, ok in enumerate(readable):
            if ok:
                if k != n:
                    x[n], y[n], widths[n] = x[k], y[k], widths[k]
                n += 1
        # the recording that widened the store may be one of those left out
        x, y, widths = x[:n, ..., :int(widths[:n].max())], y[:n], widths[:n]
    return x, y, kept, len(indices) - len(kept), None if bool((widths == x.shape[-1]).all()) else widths


def restore_generator(gen: torch.Generator, state: dict, rank: int, seed: int, epoch: int) -> None:
    """Each rank goes on with its own random draws (flips, zooms) from a saved state. A rank the state has no
    generator of (a state of fewer processes, or one saved before every rank's was kept, which holds rank 0's
    alone) starts a stream of its own for the epochs left, unlike any other rank's."""
    gens = state.get('generators') or [state['generator']]      # 'generator': rank 0's, in older states
    if rank < len(gens):
        gen.set_state(gens[rank])
    else:
        gen.manual_seed(seed + 1000 * rank + 7919 * epoch)


def unused_recordings(args, source, splits, rank: int) -> None:
    """Warn, per --data folder, of recordings in neither the training split nor a test split: a folder of other
    subjects or views (more people, say) trains only if --train-subjects/--train-views name them."""
    # A held-out subject seen from a held-out view is in no split by design (NTU's protocols leave it out too).
    corner = split_from_flags(args.test_subjects, args.test_views).select(source.records)
    used = set().union(*map(set, splits), corner)
    spans = getattr(source, 'spans', None) or [(os.path.normpath(str(args.data[0])), 0, len(source.records))]
    for name, lo, hi in spans:
        unused = sum(i not in used for i in range(lo, hi))
        if unused and rank == 0:
            print(f'distill: warning: --data {name}: {unused} of its {hi - lo} recordings are in neither the training '
                  f'split (--train-subjects {args.train_subjects} --train-views {args.train_views}) nor a test split '
                  f'(--test-subjects {args.test_subjects} --test-views {args.test_views}): they are not used',
                  file=sys.stderr, flush=True)


def main(argv=None) -> int:
    rc = None
    try:
        rc = run(argv)
        return rc
    finally:
        # Every way out, an error's included, leaves the process group: under torchrun the other ranks would
        # otherwise wait for this one.
        if dist.is_available() and dist.is_initialized():
            leave_process_group(wait=rc == 0)


def leave_process_group(wait: bool) -> None:
    """Destroy the process group; on gloo, a rank that trained to the end (``wait``) first waits at a barrier for
    the others. Ranks other than 0 are done at the last epoch while rank 0 evaluates and saves, and a gloo rank that
    destroyed the group then aborted now and then ("terminate called without an active exception", SIGABRT;
    bench/ddp_teardown.py counts it). Every rank that returned 0 has run every epoch's collectives, so they all meet
    at this one; a rank that failed waits for nobody (the others may never come), and a rank waiting for it gets
    an error when it exits. Not on nccl, where the abort was not seen and whose watchdog would kill a rank
    waiting longer than its timeout."""
    if wait and dist.get_backend() == 'gloo':
        try:
            dist.barrier()
        except RuntimeError as e:      # a rank failed (its own error says why) or outlasted the group's timeout
            print(f'distill: rank {dist.get_rank()}: the barrier before leaving failed ({e})', file=sys.stderr,
                  flush=True)
    dist.destroy_process_group()


def run(argv=None) -> int:
    parser = get_args_parser()
    apply_yaml_defaults(parser, argv)
    args = parser.parse_args(argv)
    if args.val_every < 1:
        parser.error(f'--val-every must be 1 or more, got {args.val_every}')
    # A --config file written by an older run names one folder as a string.
    args.data = [args.data] if isinstance(args.data, str) else list(args.data)
    data_name = ' '.join(str(d) for d in args.data)
    data_key = f'{data_name} ntu{args.ntu_classes}'
    if args.method != 'none' and not args.teacher_checkpoint:
        parser.error(f'--method {args.method} needs --teacher-checkpoint')
    if args.method == 'mix' and args.stage == 'embedding':
        parser.error('--method mix needs --stage stage2 or stage3: mixing pooled embeddings in front of a linear '
                     'head is the same as mixing the logits (training/README.md)')
    stage = STAGES[args.stage] if args.method in ('feat', 'mix') else 0
    # Options that change the student's view alone: its feature maps would no longer line up with the teacher's
    # (letterboxed under --fit extend, unscaled under --zoom).
    unaligned = [o for o, on in (('--fit extend', args.fit == 'extend'), ('--zoom', args.zoom)) if on]
    if unaligned and stage:
        parser.error(f'{" and ".join(unaligned)} with --method {args.method} --stage {args.stage}: the student\'s '
                     'feature maps would not line up with the teacher\'s; use --method kd or none (or feat --stage '
                     'embedding)')
    if not 0 <= args.zoom < 1:
        parser.error(f'--zoom must be in [0, 1), got {args.zoom}')
    device = pick_device(args.device)
    rank, world = ddp_setup(device)
    seed_everything(args.seed + rank)
    args.out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    try:
        source = open_sources(args.data, ntu_classes=args.ntu_classes, frames=args.frames, cache_dir=args.cache_dir,
                              fps=args.fps)
        spec = PreprocessSpec(height=args.height, width=args.width, frames=args.frames, fps=source.fps, crop=args.fit)
        recs = source.records
        benchmark = args.benchmark or getattr(source, 'benchmark', None)
        if benchmark:
            train_all, test = benchmark_indices(recs, benchmark)
            test_sets = {benchmark: test}
        else:
            train_all = split_from_flags(args.train_subjects, args.train_views).select(recs)
            test_sets = {'cross_subject': split_from_flags(args.test_subjects, args.train_views).select(recs),
                         'cross_view': split_from_flags(args.train_subjects, args.test_views).select(recs)}
            unused_recordings(args, source, [train_all, *test_sets.values()], rank)
        idx = per_class_subset(recs, train_all, args.per_class, args.subset_seed)
        if args.val_data:
            val_source = open_sources([args.val_data], ntu_classes=args.ntu_classes, frames=args.frames, fps=args.fps)
            if val_source.labels != source.labels:
                raise DataError(f'--val-data {args.val_data}: labels differ from those of --data')
            val_set, tr_idx = loaded(val_source, range(len(val_source.records)), spec, f'{args.val_data} ntu{args.ntu_classes}',
                                     args.workers), idx
        else:
            val_idx, tr_idx = idx[::10], [i for k, i in enumerate(idx) if k % 10]
            val_set = loaded(source, val_idx, spec, data_key, args.workers) if val_idx else None
        if not tr_idx:
            raise DataError('no training clips: check --train-subjects, --train-views and --per-class')
        # Checked before anything is decoded, cached or written: a refused --resume leaves --out as it was.
        for flag, f in (('--init', args.init), ('--teacher-checkpoint', args.teacher_checkpoint)):
            if f and not Path(f).is_file():                     # named here, before their hashes are taken
                raise DataError(f'{flag} {f}: model file not found')
        run_id = run_fingerprint(args, source, tr_idx)          # of the clips planned, readable or not
        state = resume_state(args, run_id, rank)
        windows = teacher_cache.windows_for(source, args.windows)
        # Unreadable clips are left out and counted, not replaced by zeros.
        x_train, y_train, tr_idx, train_skipped, widths = loaded_windows(source, tr_idx, spec, data_key, windows,
                                                                         args.workers)
        if not tr_idx:
            raise DataError('no readable training clips')
        data = WindowDraws(x_train, y_train, args.seed, widths)          # float16 in memory; float per batch
        if rank == 0 and windows > 1:
            print(f'training on {windows} windows per recording ({len(tr_idx)} recordings), one drawn per epoch', flush=True)
        if widths is not None:
            # fit 'extend' on cameras of several aspects: each batch is of one input width
            sampler = WidthBatches(widths, args.batch_size, args.seed, rank, world)
            loader = DataLoader(data, batch_sampler=sampler)
            counts = {w: len(ix) for w, ix in sorted(sampler.groups.items())}
            if rank == 0:
                print('training at input widths ' + ', '.join(f'{w} ({n} clips)' for w, n in counts.items()), flush=True)
                for w, n in counts.items():
                    if n < args.batch_size:
                        print(f'distill: warning: the {n} clips of input width {w} are fewer than a batch '
                              f'(--batch-size {args.batch_size}): they never train', file=sys.stderr, flush=True)
        else:
            sampler = DistributedSampler(data, seed=args.seed) if world > 1 else None
            loader = DataLoader(data, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True)
        if len(loader) == 0:                # said before the teacher cache is built or anything is written
            raise DataError(f'no full batch of --batch-size {args.batch_size} (per process, {world} processes) in '
                            f'{len(data)} training clips' + (' of one input width' if widths is not None else ''))
        tests = {name: ds for name, ds in
                 (('val', val_set), *((n, loaded(source, ix, spec, data_key, args.workers)) for n, ix in test_sets.items() if ix))
                 if ds is not None}
        config = preset(args.student, num_classes=len(source.labels))
        student = build_student(config)
        init_id = None
        if args.init:
            init = load_checkpoint(args.init)
            if init.meta.student != config or init.meta.labels != source.labels:
                raise DataError(f'--init {args.init}: a {init.meta.student.arch} student with widths '
                                f'{list(init.meta.student.widths)} and {len(init.meta.labels)} labels does not fit '
                                f'--student {args.student} on these {len(source.labels)} labels')
            student.load_state_dict(init.model.state_dict())
            init_id = init.short_id
        if args.method != 'none':
            teacher, t_meta, targets_of = teacher_targets(args, source, train_all, tr_idx, stage, device, world, windows)
            rest_t = teacher.split(stage)[1] if stage else None
            distill = build_distill(args.method, c_s=config.channels_at(stage), stats_t=targets_of.stats, stage=stage,
                                    rest_t=rest_t, head_t=teacher.head, alpha=args.alpha,
                                    temperature=args.temperature, direction=args.direction)
        else:
            targets_of, distill = None, build_distill('none', c_s=config.feature_dim)
    except (DataError, TeacherError, teacher_cache.CacheError, CheckpointError, ValueError, OSError) as e:
        print(f'distill: error: {e}', file=sys.stderr)
        return 2
    t_cache = time.time() - t_start
    if rank == 0:
        save_config(args, args.out)
    model = DistillModel(student, distill, stage).to(device)
    trained = DistributedDataParallel(model) if world > 1 else model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = OneCycle(optimizer, args.lr, args.epochs * len(loader))
    weights = loss_weights(args)
    gen = torch.Generator().manual_seed(args.seed + 1000 * rank)
    history, start_epoch = [], 0
    state_path = args.out / 'last_state.pt'
    if state is not None:
        model.load_state_dict(state['model'])
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        scheduler.stretch(args.epochs * len(loader))
        history, start_epoch = json.loads(state['history']), int(state['epoch'])
        restore_generator(gen, state, rank, args.seed, start_epoch)
        if rank == 0:
            print(f'resumed from {state_path} after epoch {start_epoch}', flush=True)
    amp = device.type == 'cuda'
    t_train = time.time()
    final_val = None                   # the last epoch's validation, which is the final model's: not run twice
    for epoch in range(start_epoch, args.epochs):
        data.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        # A live bar on a terminal; logs and CI get the one line per epoch below.
        bar = tqdm(loader, desc=f'epoch {epoch + 1}/{args.epochs}', leave=False) \
            if rank == 0 and sys.stderr.isatty() else None
        stats = train_one_epoch(trained, loader, targets_of, optimizer, scheduler, weights, device, gen, amp, bar,
                                args.zoom)
        gens = [gen.get_state()] * world
        if world > 1:                   # every rank's draws, so that a resumed rank goes on with its own
            dist.all_gather_object(gens, gen.get_state())
        if rank == 0:
            due = (epoch + 1) % args.val_every == 0 or epoch + 1 == args.epochs
            val = evaluate(student, tests['val'], device, source.labels) if 'val' in tests and due \
                else {'top1': float('nan')}
            if epoch + 1 == args.epochs and 'val' in tests:
                final_val = val
            history.append({'epoch': epoch + 1, **stats, 'val_top1': val['top1'], 'lr': scheduler.get_last_lr()[0]})
            terms = '  '.join(f'{k} {v:.3f}' for k, v in stats.items() if k not in ('loss', 'train_acc', 'step_ms'))
            print(f'[{args.method}] epoch {epoch + 1}/{args.epochs}  loss {stats["loss"]:.3f} ({terms})  '
                  f'train top-1 {stats["train_acc"]:.3f}  val top-1 {val["top1"]:.3f}  '
                  f'({time.time() - t_train:.0f} s)', flush=True)
            # Written beside and renamed: a run stopped during the save (a time limit, a kill) keeps the
            # previous epoch's state for --resume instead of a truncated file.
            with atomic_path(state_path) as tmp:
                torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                            'scheduler': scheduler.state_dict(), 'generators': gens,
                            'history': json.dumps(history), 'epoch': epoch + 1, 'run': run_id}, tmp)
    seconds_train = time.time() - t_train
    if rank != 0:
        return 0
    # Evaluated where it trained (no autocast outside train_step), then saved from the CPU.
    results = {name: final_val if name == 'val' and final_val is not None else evaluate(student, ds, device, source.labels)
               for name, ds in tests.items()}
    bare = student.cpu().eval()
    flops = count_flops(bare, (1, spec.frames, spec.height, spec.width))
    # Under 'extend' a wider camera's clip is a wider input: what the widest one costs, beside the model's own.
    widest = max_input_width(spec)
    flops_widest = count_flops(bare, (1, spec.frames, spec.height, widest)) if widest != spec.width else flops
    knobs = {'stage': args.stage, 'direction': args.direction, 'alpha': args.alpha, 'temperature': args.temperature,
             'w_ce': args.w_ce, 'w_kd': args.w_kd, 'w_feat': args.w_feat, 'w_mix': args.w_mix}
    step_ms = sorted(h['step_ms'] for h in history)[len(history) // 2] if history else None
    metrics = {'method': args.method, 'knobs': knobs, 'seed': args.seed, 'student': args.student, 'data': data_name,
               'per_class': args.per_class, 'train_clips': len(tr_idx), 'gflops_per_clip': flops / 1e9,
               'gflops_per_clip_widest_input': {'width': widest, 'gflops': flops_widest / 1e9},
               'windows': windows, 'skipped': {'train': train_skipped, **{k: len(v.skipped) for k, v in tests.items()}},
               'timings': {'setup_and_teacher_cache_s': round(t_cache, 1), 'train_s': round(seconds_train, 1),
                           'step_ms': step_ms, 'batch_size': args.batch_size,
                           'epochs': args.epochs, 'world_size': world, 'device': str(device)},
               **{name: r for name, r in results.items()}}
    meta = ModelMeta(name=args.name or f'student-{args.method}', labels=source.labels,
                     alarm_labels=source.alarm_labels, student=config, preprocess=spec,
                     provenance={'method': args.method, 'teacher': str(args.teacher_checkpoint), 'data': data_name,
                                 'seed': args.seed, 'epochs': args.epochs, 'train_clips': len(tr_idx),
                                 **({'windows': windows} if windows > 1 else {}),
                                 **({'init': init_id} if args.init else {}),
                                 **({'knobs': knobs} if args.method in ('feat', 'mix') else {}),
                                 'command': 'python -m training.distill ' + ' '.join(sys.argv[1:] if argv is None else argv)},
                     metrics={k: {'top1': v['top1'], 'top5': v['top5'], 'n': v['n']} for k, v in results.items()})
    save_checkpoint(args.out / 'student.safetensors', bare, meta)
    write_json(args.out / 'metrics.json', metrics)
    main_test = results.get('cross_subject') or results.get(benchmark) or results.get('val')
    plot_confusion(main_test['confusion'], source.labels, args.out / 'confusion.png',
                   f'{args.method}: cross-subject top-1 {main_test["top1"]:.3f}')
    if history:
        plot_curves(history, args.out / 'curves.png')
    summary = '  '.join(f'{k} top-1 {v["top1"]:.3f}' for k, v in results.items())
    print(f'wrote {args.out / "student.safetensors"}: {summary}', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
