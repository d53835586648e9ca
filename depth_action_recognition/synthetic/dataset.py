"""Write synthetic RGB-D clip datasets to disk with a manifest, and read them back.

Layout of a dataset folder::

    dataset.json        labels, alarm labels, clip shape, fps, how it was made
    manifest.jsonl      one line per clip: path, label, label_id, subject, view, seed, people, onset
    clips/000000.npz    depth (T, H, W) uint16 mm and rgb (T, H, W, 3) uint8

    python -m depth_action_recognition.synthetic.dataset --out data/synth --clips-per-class 200

Offline tooling: the runtime never writes frames anywhere.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .actions import ALARM_LABELS, LABELS, OBJECT_LABELS
from .scene import N_SUBJECTS, N_VIEWS, render_clip

FORMAT = 'depth_action_recognition/synthetic-dataset/1'


class DatasetError(ValueError):
    """A dataset folder is missing, incomplete or damaged (the message names the file)."""


def parse_range(text: str) -> list:
    """'1-20,25,30-32' -> [1..20, 25, 30, 31, 32]."""
    out = []
    for part in str(text).split(','):
        if '-' in part:
            a, b = part.split('-')
            out += list(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def plan(clips_per_class: int, subjects: list, views: list, seed: int, labels=LABELS) -> list:
    """Deterministic list of clip specs: every class gets the same count, subjects and views cycle."""
    rng = np.random.default_rng(seed)
    specs = []
    for li, label in enumerate(labels):
        subj = rng.permutation(np.resize(subjects, clips_per_class))
        view = rng.permutation(np.resize(views, clips_per_class))
        for j in range(clips_per_class):
            specs.append({'label': label, 'subject': int(subj[j]), 'view': int(view[j]),
                          'seed': int(seed * 1_000_003 + li * 100_000 + j)})
    return specs


def _render_one(job):
    index, spec, root, frames, size, fps = job
    clip = render_clip(spec['label'], spec['seed'], frames=frames, size=size, fps=fps,
                       subject=spec['subject'], view=spec['view'])
    rel = f'clips/{index:06d}.npz'
    # Compression: depth noise keeps this from being tiny, but it still halves the disk use.
    np.savez_compressed(Path(root) / rel, depth=clip.depth, rgb=clip.rgb)
    m = clip.meta
    return {'path': rel, 'label': clip.label, 'label_id': clip.label_id, 'subject': m['subject'],
            'view': m['view'], 'seed': m['seed'], 'people': m['people'], 'onset': m['onset']}


def write_dataset(out, *, clips_per_class=10, subjects=None, views=None, frames=16, size=(120, 160),
                  fps=10.0, seed=0, workers=1, progress=None) -> Path:
    out = Path(out)
    (out / 'clips').mkdir(parents=True, exist_ok=True)
    subjects = subjects or list(range(1, N_SUBJECTS + 1))
    views = views or list(range(N_VIEWS))
    specs = plan(clips_per_class, subjects, views, seed)
    jobs = [(i, s, str(out), frames, tuple(size), fps) for i, s in enumerate(specs)]
    t0 = time.perf_counter()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            records = list(pool.map(_render_one, jobs, chunksize=8))
    else:
        records = [_render_one(j) for j in jobs]
    seconds = time.perf_counter() - t0
    with open(out / 'manifest.jsonl', 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
    info = {'format': FORMAT, 'labels': LABELS, 'alarm_labels': ALARM_LABELS, 'object_labels': OBJECT_LABELS,
            'frames': frames, 'size': list(size), 'fps': fps, 'count': len(records), 'seed': seed,
            'subjects': subjects, 'views': views, 'render_seconds': round(seconds, 2)}
    (out / 'dataset.json').write_text(json.dumps(info, indent=2))
    if progress:
        progress(f'wrote {len(records)} clips to {out} in {seconds:.1f} s '
                 f'({len(records) * frames / seconds:.0f} RGB-D frames/s)')
    return out


@dataclass
class SyntheticDataset:
    """Read access to a written dataset: ``records`` (manifest lines) and :meth:`load`."""

    root: Path
    info: dict
    records: list

    @classmethod
    def open(cls, root) -> 'SyntheticDataset':
        root = Path(root)
        info_path, manifest = root / 'dataset.json', root / 'manifest.jsonl'
        for p in (info_path, manifest):
            if not p.is_file():
                raise DatasetError(f'{p}: missing (not a synthetic dataset folder?)')
        try:
            info = json.loads(info_path.read_text())
        except json.JSONDecodeError as e:
            raise DatasetError(f'{info_path}: not valid JSON ({e})') from None
        if info.get('format') != FORMAT:
            raise DatasetError(f'{info_path}: format {info.get("format")!r} is not {FORMAT!r}')
        records = []
        with open(manifest) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise DatasetError(f'{manifest}:{n}: not valid JSON') from None
        return cls(root=root, info=info, records=records)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int):
        """(depth (T,H,W) uint16, rgb (T,H,W,3) uint8, record) of clip ``i``."""
        rec = self.records[i]
        path = self.root / rec['path']
        try:
            with np.load(path) as z:
                depth, rgb = z['depth'], z['rgb']
        except FileNotFoundError:
            raise DatasetError(f'{path}: clip file missing') from None
        except Exception as e:  # noqa: BLE001 - zip/npy errors of a damaged file
            raise DatasetError(f'{path}: unreadable clip ({e})') from None
        if depth.shape[0] != rgb.shape[0] or depth.shape[1:] != rgb.shape[1:3]:
            raise DatasetError(f'{path}: depth {depth.shape} and rgb {rgb.shape} are not paired frame for frame')
        return depth, rgb, rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description='Render a synthetic paired RGB-D action dataset.')
    p.add_argument('--out', required=True, help='dataset folder to create')
    p.add_argument('--clips-per-class', type=int, default=50, help='clips rendered for each of the classes')
    p.add_argument('--subjects', default=f'1-{N_SUBJECTS}', help='subject ids to use, e.g. 1-30')
    p.add_argument('--views', default=f'0-{N_VIEWS - 1}', help='camera view ids to use, e.g. 0-3')
    p.add_argument('--frames', type=int, default=16, help='frames per clip')
    p.add_argument('--size', default='120x160', help='HEIGHTxWIDTH')
    p.add_argument('--fps', type=float, default=10.0, help='frame rate of the clips')
    p.add_argument('--seed', type=int, default=0, help='dataset seed (same seed, same dataset)')
    p.add_argument('--workers', type=int, default=1, help='rendering processes')
    args = p.parse_args(argv)
    h, w = (int(x) for x in args.size.lower().split('x'))
    write_dataset(args.out, clips_per_class=args.clips_per_class, subjects=parse_range(args.subjects),
                  views=parse_range(args.views), frames=args.frames, size=(h, w), fps=args.fps, seed=args.seed,
                  workers=args.workers, progress=print)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
